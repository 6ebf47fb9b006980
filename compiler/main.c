/* main.c — the xfc command line.
 *
 *   xfc build SPEC.xf -o BIN [--release | --instrument-all] [--strict] [--embed-weights W] [--link F.c]…
 *   xfc emit  SPEC.xf -o DIR [--release | --instrument-all] [--strict]
 *   xfc check SPEC.xf [--release | --instrument-all] [--strict]
 *   xfc help [COMMAND] | xfc COMMAND --help | xfc --help | --version | --print-runtime
 *
 * Exit status 0 on success, 1 on any error (with nothing written), 2 on a
 * usage error.  The manual page is docs/xfc.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "build.h"
#include "xfc_config.h"

static const char usage[] =
    "usage: xfc build SPEC.xf -o BIN [--release | --instrument-all] [--strict] [--embed-weights "
    "W.safetensors]\n"
    "                 [--link FILE.c]...\n"
    "       xfc emit  SPEC.xf -o DIR [--release | --instrument-all] [--strict]\n"
    "       xfc check SPEC.xf [--release | --instrument-all] [--strict]\n"
    "       xfc help [COMMAND] | --help | --version | --print-runtime\n";

static const char overview[] =
    "Commands:\n"
    "  build   compile SPEC.xf into a standalone executable (the model + its command-line driver)\n"
    "  emit    write the generated C (NAME.h, NAME.c, NAME_main.c) to embed the model in a "
    "program\n"
    "  check   parse and check SPEC.xf; print every dispatch point and which listeners fire there\n"
    "  help    `xfc help COMMAND` (or `xfc COMMAND --help`) describes a command\n"
    "\n"
    "Profiles (build, emit, check):\n"
    "  (default)          debug: dispatch points exactly where a listener can fire\n"
    "  --release          no dispatch point at all: the C of the spec without its listeners\n"
    "  --instrument-all   every point, through the runtime dispatcher (xf_listen from C)\n"
    "\n"
    "Other options:\n"
    "  --strict           warnings are errors (exit status 1, nothing written), like cc -Werror\n"
    "  --version          print the version\n"
    "  --print-runtime    print where `xfc build` finds the runtime headers and libxfrt.a\n"
    "\n"
    "Environment:\n"
    "  XFC_HOME           install prefix whose include/xfc and lib/libxfrt.a `xfc build` uses\n"
    "                     (default: the installation this xfc belongs to, else its build tree)\n"
    "  NO_COLOR           no colors in diagnostics\n"
    "\n"
    "Exit status: 0 success, 1 error (nothing written), 2 usage error.\n"
    "Docs: docs/DSL.md (the spec language), docs/C_API.md (the generated API), man xfc.\n";

static const char *const help_text[][2] = {
    {"build",
     "usage: xfc build SPEC.xf -o BIN [--release | --instrument-all] [--strict] [--embed-weights "
     "W.safetensors]\n"
     "                 [--link FILE.c]...\n"
     "\n"
     "Compiles the spec into a standalone executable BIN (the C compiler xfc was built with,\n"
     "the runtime libxfrt.a, OpenBLAS).  BIN runs the model on .npy files:\n"
     "\n"
     "  BIN --weights W.safetensors --input X.npy --output Y.npy [--lengths 37,20,5]\n"
     "      [--events-dir DIR] [--threads N] [--bench N] [--check-finite | --no-check-finite]\n"
     "  (--check-finite: NaN/Inf in the inputs is an error; on by default where a\n"
     "   listener is compiled in)\n"
     "  TransformerDecoder: --memory M.npy [--memory-lengths N,...] (the encoder output)\n"
     "  Transformer:        --source SRC.npy [--source-lengths N,...] (the encoder input);\n"
     "                      --input is the decoder input, the output the decoder output\n"
     "\n"
     "Options:\n"
     "  -o BIN            the executable to write (atomically: nothing on failure)\n"
     "  --release         no dispatch points at all (fastest; listeners are ignored)\n"
     "  --instrument-all  every point, through the runtime dispatcher\n"
     "                    (default: debug, points exactly where a listener can fire)\n"
     "  --strict          warnings (a listener that never fires, a setting without effect)\n"
     "                    are errors: exit status 1, no BIN\n"
     "  --embed-weights W compile W into BIN; --weights becomes optional.  W is checked\n"
     "                    against the spec first (every tensor's name and shape, as at load)\n"
     "                    (a progress line is printed for large files)\n"
     "  --link FILE.c     user C code, e.g. the functions named by call(symbol); repeatable\n"
     "\n"
     "Example:\n"
     "  xfc build encoder.xf -o encoder && ./encoder --weights w.safetensors --input x.npy "
     "--output y.npy\n"},
    {"emit", "usage: xfc emit SPEC.xf -o DIR [--release | --instrument-all] [--strict]\n"
             "\n"
             "Writes the generated C into DIR (created): NAME.h (the C API), NAME.c (the model),\n"
             "NAME_main.c (the command-line driver `xfc build` would compile).  To use the model\n"
             "from your program, compile NAME.c with it and link the runtime:\n"
             "\n"
             "  cc -I DIR app.c DIR/NAME.c $(pkg-config --cflags --libs xfrt)\n"
             "\n"
             "or, with CMake, find_package(xfc) and xfc_add_model(TARGET SPEC.xf [RELEASE]).\n"
             "The API (NAME_load, NAME_forward, NAME_free, …) is described in docs/C_API.md.\n"},
    {"check", "usage: xfc check SPEC.xf [--release | --instrument-all] [--strict]\n"
              "\n"
              "Parses and checks the spec (errors as file:line:col with the source line and a\n"
              "caret; warnings for listeners that can never fire) and prints the dispatch plan:\n"
              "every potential dispatch point of the model (event, source module), '*' on those\n"
              "the profile keeps, and which listeners fire there, with their run-time guards.\n"
              "Writes nothing.  --strict: warnings are errors (exit status 1).\n"},
    {"help", "usage: xfc help [COMMAND]\n"
             "\n"
             "Describes COMMAND (build, emit, check), or gives the overview.\n"},
};

typedef struct Options {
    const char *cmd, *spec, *out, *embed;
    const char *link[32];
    int n_link;
    Profile profile;
    int strict; /* --strict: warnings are errors */
} Options;

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "xfc: error: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

static int help(const char *cmd) {
    for (size_t i = 0; cmd && i < sizeof help_text / sizeof *help_text; i++)
        if (!strcmp(cmd, help_text[i][0])) {
            fputs(help_text[i][1], stdout);
            return 0;
        }
    if (cmd)
        return usage_error("no command '%s' (commands: build, emit, check, help)", cmd);
    printf("xfc %s — ahead-of-time compiler for transformer models\n\n%s\n%s", XFC_VERSION, usage,
           overview);
    return 0;
}

static int print_runtime(void) {
    BuildRuntime rt;
    if (build_find_runtime(&rt))
        return 1;
    printf("include %s\nlibrary %s\nfrom    %s\n", rt.include, rt.lib, rt.origin);
    return 0;
}

/* Weights this large take the C compiler a while to embed: say so. */
#define EMBED_PROGRESS_BYTES ((off_t)16 << 20)

static void embed_progress(const char *path, const char *out) {
    struct stat st;
    if (stat(path, &st) || st.st_size < EMBED_PROGRESS_BYTES)
        return;
    fprintf(stderr, "xfc: embedding %s (%.0f MiB) into %s…\n", path, (double)st.st_size / (1 << 20),
            out);
}

static int parse_args(int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    o->cmd = argv[1];
    int profiles = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--release")) {
            o->profile = PROFILE_RELEASE, profiles++;
        } else if (!strcmp(a, "--instrument-all")) {
            o->profile = PROFILE_INSTRUMENT_ALL, profiles++;
        } else if (!strcmp(a, "--strict")) {
            o->strict = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--embed-weights") || !strcmp(a, "--link")) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o"))
                o->out = v;
            else if (!strcmp(a, "--embed-weights"))
                o->embed = v;
            else if (o->n_link < 32)
                o->link[o->n_link++] = v;
            else
                return usage_error("too many --link files%s", "");
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!o->spec) {
            o->spec = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (profiles > 1)
        return usage_error("choose one of --release and --instrument-all%s", "");
    if (!o->spec)
        return usage_error("%s needs a SPEC.xf", o->cmd);
    if (strcmp(o->cmd, "check") && !o->out)
        return usage_error("%s needs -o", o->cmd);
    if (!strcmp(o->cmd, "check") && o->out)
        return usage_error("check writes nothing: drop -o%s", "");
    if (strcmp(o->cmd, "build") && (o->embed || o->n_link))
        return usage_error("--embed-weights and --link go with build%s", "");
    return 0;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A debug build calling call(symbol) needs the symbol from --link. */
static int check_links(const Plan *p, const Options *o) {
    if (o->n_link || !strcmp(o->cmd, "check") || !strcmp(o->cmd, "emit"))
        return 0;
    for (int i = 0; i < p->n_points; i++)
        for (int f = 0; p->points[i].kept && f < p->points[i].n_fires; f++) {
            const Listener *l = &p->model->listeners[p->points[i].fires[f].listener];
            if (l->handler.kind == HANDLER_CALL) {
                diag_error(l->handler.loc, "call(%s) needs its definition: pass --link FILE.c",
                           l->handler.symbol);
                return 1;
            }
        }
    if (p->profile == PROFILE_INSTRUMENT_ALL)
        for (int li = 0; li < p->model->n_listeners; li++)
            if (p->model->listeners[li].handler.kind == HANDLER_CALL) {
                diag_error(p->model->listeners[li].handler.loc,
                           "call(%s) needs its definition: pass --link FILE.c",
                           p->model->listeners[li].handler.symbol);
                return 1;
            }
    return 0;
}

static int check_embed(const char *path) {
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "xfc: error: %s: --embed-weights needs a readable safetensors file\n",
                path);
        return 1;
    }
    if (strpbrk(path, "\"\\\n")) {
        fprintf(stderr,
                "xfc: error: %s: --embed-weights path must not contain quotes or backslashes\n",
                path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage_error("no command%s", "");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return help(NULL);
    if (!strcmp(argv[1], "help"))
        return help(argc > 2 ? argv[2] : NULL);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("xfc %s\n", XFC_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "--print-runtime"))
        return print_runtime();
    if (strcmp(argv[1], "build") && strcmp(argv[1], "emit") && strcmp(argv[1], "check"))
        return usage_error("unknown command '%s' (commands: build, emit, check, help)", argv[1]);
    for (int i = 2; i < argc; i++) /* xfc build --help */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return help(argv[1]);
    Options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;

    Src src;
    if (src_read(&src, o.spec))
        return 1;
    diag_init(&src);
    diag_set_strict(o.strict);
    Spec spec;
    Model model;
    Plan plan;
    int status = 1;
    char embed_abs[4096];
    if (parse_spec(&src, &spec) || check_spec(&spec, &src, &model))
        goto done_ast;
    if (plan_build(&model, o.profile, &plan) || check_links(&plan, &o))
        goto done_plan;
    if (!strcmp(o.cmd, "check")) {
        plan_print(&plan, stdout);
        emit_print_random(&model, stdout);
        status = 0;
        goto done_plan;
    }
    if (o.embed) {
        if (check_embed(o.embed) || !realpath(o.embed, embed_abs))
            goto done_plan;
    }
    Emitted e;
    emit_model(&plan, base_name(o.spec), o.embed ? embed_abs : NULL, &e);
    if (!strcmp(o.cmd, "emit"))
        status = build_write_sources(&e, model.name, o.out) ? 1 : 0;
    else {
        if (o.embed)
            embed_progress(o.embed, o.out);
        status = build_binary(&e, model.name, o.out, o.link, o.n_link, o.embed) ? 1 : 0;
    }
    emit_free(&e);
done_plan:
    plan_free(&plan);
done_ast:
    ast_free_all();
    src_free(&src);
    return status;
}
