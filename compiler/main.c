/* main.c — the xfc command line.
 *
 *   xfc build SPEC.xf -o BIN [--release | --instrument-all] [--embed-weights W] [--link F.c]…
 *   xfc emit  SPEC.xf -o DIR [--release | --instrument-all]
 *   xfc check SPEC.xf [--release | --instrument-all]
 *
 * Exit status 0 on success, 1 on any error (with nothing written), 2 on a
 * usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "build.h"
#include "xfc_config.h"

static const char usage[] =
    "usage: xfc build SPEC.xf -o BIN [--release | --instrument-all] [--embed-weights W.safetensors] [--link FILE.c]...\n"
    "       xfc emit  SPEC.xf -o DIR [--release | --instrument-all]\n"
    "       xfc check SPEC.xf [--release | --instrument-all]\n"
    "       xfc help [COMMAND] | --help | --version\n";

static const char *const help_text[][2] = {
    {"build", "xfc build SPEC.xf -o BIN [profile] [--embed-weights W.safetensors] [--link FILE.c]...\n"
              "  Compiles the spec into a standalone executable BIN:\n"
              "    BIN --weights W.safetensors --input X.npy --output Y.npy [--lengths 37,20,5]\n"
              "        [--events-dir DIR] [--threads N] [--bench N]\n"
              "  --release         no dispatch points at all (fastest kernels)\n"
              "  --instrument-all  every point, through the runtime dispatcher\n"
              "  (default: debug, points exactly where a listener can fire)\n"
              "  --embed-weights W compiles W into BIN; --weights becomes optional\n"
              "  --link FILE.c     user C code, e.g. the functions named by call(symbol)\n"},
    {"emit", "xfc emit SPEC.xf -o DIR [profile]\n"
             "  Writes the generated C into DIR: NAME.h (the C API), NAME.c (the model),\n"
             "  NAME_main.c (the command-line driver).  Compile NAME.c with -I<xfc>/runtime and\n"
             "  link libxfrt.a and OpenBLAS to embed the model in your own program.\n"},
    {"check", "xfc check SPEC.xf [profile]\n"
              "  Parses and checks the spec and prints the dispatch plan: every potential\n"
              "  dispatch point of the model and which listeners fire there (guards included).\n"},
};

typedef struct Options {
    const char *cmd, *spec, *out, *embed;
    const char *link[32];
    int n_link;
    Profile profile;
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
        return usage_error("no command '%s'", cmd);
    printf("xfc %s — ahead-of-time compiler for transformer models\n\n%s\n"
           "`xfc help COMMAND` tells more; the DSL is described in docs/DSL.md.\n",
           XFC_VERSION, usage);
    return 0;
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
        fprintf(stderr, "xfc: error: %s: --embed-weights needs a readable safetensors file\n", path);
        return 1;
    }
    if (strpbrk(path, "\"\\\n")) {
        fprintf(stderr, "xfc: error: %s: --embed-weights path must not contain quotes or backslashes\n", path);
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
    if (!strcmp(argv[1], "--version")) {
        printf("xfc %s\n", XFC_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "build") && strcmp(argv[1], "emit") && strcmp(argv[1], "check"))
        return usage_error("unknown command '%s'", argv[1]);
    Options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;

    Src src;
    if (src_read(&src, o.spec))
        return 1;
    diag_init(&src);
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
    else
        status = build_binary(&e, model.name, o.out, o.link, o.n_link) ? 1 : 0;
    emit_free(&e);
done_plan:
    plan_free(&plan);
done_ast:
    ast_free_all();
    src_free(&src);
    return status;
}
