/* build.c — writes the emitted C and runs the C compiler on it. */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "build.h"
#include "xf_io.h" /* xf_write_bytes: runtime/output.c, compiled into xfc_core */
#include "xfc_config.h"

extern char **environ;

static int fail(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "xfc: error: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return -1;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return fail("%s: path too long%s", dir, "");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) && errno != EEXIST)
            return fail("%s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST)
        return fail("%s: %s", path, strerror(errno));
    return 0;
}

/* Writes text to dir/file by the runtime's output rules (xf_write_output:
 * a temporary file fsync'd and renamed; FIFOs and devices in place). */
static int write_file(const char *dir, const char *file, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    xf_error err;
    if (xf_write_bytes(path, text, strlen(text), &err))
        return fail("%s%s", err.msg, "");
    return 0;
}

int build_write_sources(const Emitted *e, const char *name, const char *dir) {
    char c[300], h[300], m[300];
    snprintf(c, sizeof c, "%s.c", name);
    snprintf(h, sizeof h, "%s.h", name);
    snprintf(m, sizeof m, "%s_main.c", name);
    if (make_dirs(dir) || write_file(dir, h, e->model_h) || write_file(dir, c, e->model_c) ||
        write_file(dir, m, e->main_c))
        return -1;
    return 0;
}

/* Splits a space-separated flag string onto argv. */
static void push_words(const char **argv, int *argc, char *words) {
    for (char *w = strtok(words, " "); w; w = strtok(NULL, " "))
        argv[(*argc)++] = w;
}

static void remove_tree(const char *dir, const char *name) {
    const char *files[] = {".c", ".h", "_main.c"};
    char path[4200];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The runtime's include dir holds xfrt.h and the library exists. */
static int runtime_at(const char *include, const char *lib) {
    char h[4200];
    snprintf(h, sizeof h, "%s/xfrt.h", include);
    return is_file(h) && is_file(lib);
}

/* dst = a/b (or b when absolute); realpath'd when it exists, for readable messages. */
static void join(char *dst, size_t cap, const char *a, const char *b) {
    char tmp[4200];
    if (b[0] == '/')
        snprintf(tmp, sizeof tmp, "%s", b);
    else
        snprintf(tmp, sizeof tmp, "%s/%s", a, b);
    char real[PATH_MAX];
    const char *src = realpath(tmp, real) ? real : tmp;
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int build_find_runtime(BuildRuntime *rt) {
    memset(rt, 0, sizeof *rt);
    const char *home = getenv("XFC_HOME");
    if (home && *home) {
        join(rt->include, sizeof rt->include, home, XFC_HOME_INCLUDE);
        join(rt->lib, sizeof rt->lib, home, XFC_HOME_LIB);
        rt->origin = "XFC_HOME";
        if (runtime_at(rt->include, rt->lib))
            return 0;
        return fail(
            "XFC_HOME=%s is not an xfc installation: no %s/xfrt.h or no $XFC_HOME/" XFC_HOME_LIB
            " (XFC_HOME is the prefix xfc was installed to; unset it to use this xfc's own "
            "runtime)",
            home, rt->include);
    }
    /* an installed xfc: <prefix>/bin/xfc -> <prefix>/include/xfc, <prefix>/lib/libxfrt.a */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            join(rt->include, sizeof rt->include, exe, XFC_INSTALL_INCLUDE_REL);
            join(rt->lib, sizeof rt->lib, exe, XFC_INSTALL_LIB_REL);
            rt->origin = "installation";
            if (runtime_at(rt->include, rt->lib))
                return 0;
        }
    }
    /* xfc run from its build tree */
    snprintf(rt->include, sizeof rt->include, "%s", XFC_RUNTIME_INCLUDE);
    snprintf(rt->lib, sizeof rt->lib, "%s", XFC_RUNTIME_LIB);
    rt->origin = "build tree";
    if (runtime_at(rt->include, rt->lib))
        return 0;
    return fail("cannot find the xfc runtime (xfrt.h, libxfrt.a): not installed next to this xfc "
                "(" XFC_INSTALL_INCLUDE_REL ", " XFC_INSTALL_LIB_REL ") and not in the build tree "
                "(%s, %s); set XFC_HOME to the prefix xfc was installed to",
                XFC_RUNTIME_INCLUDE, XFC_RUNTIME_LIB);
}

/* Runs `bin --check-weights` and reports its one-line complaint (without the
 * binary's "NAME: " prefix) as xfc's error.  0 when the weights load. */
static int check_embedded(const char *bin, const char *name) {
    int fd[2];
    if (pipe(fd))
        return fail("cannot check the embedded weights: %s%s", strerror(errno), "");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    char *const argv[] = {(char *)bin, (char *)"--check-weights", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    char msg[2048];
    size_t n = 0;
    ssize_t got;
    while ((got = read(fd[0], msg + n, sizeof msg - 1 - n)) > 0 || (got < 0 && errno == EINTR))
        n += got > 0 ? (size_t)got : 0;
    close(fd[0]);
    msg[n] = '\0';
    int status = 0;
    if (rc == 0 && waitpid(pid, &status, 0) < 0)
        rc = errno;
    if (rc)
        return fail("cannot run the new binary to check the embedded weights: %s%s", strerror(rc),
                    "");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    msg[strcspn(msg, "\n")] = '\0';
    size_t prefix = strlen(name);
    const char *what =
        !strncmp(msg, name, prefix) && !strncmp(msg + prefix, ": ", 2) ? msg + prefix + 2 : msg;
    fprintf(stderr, "xfc: error: --embed-weights: %s\n",
            what[0] ? what : "the weights do not load");
    return -1;
}

int build_binary(const Emitted *e, const char *name, const char *out, const char *const *link_files,
                 int n_link, const char *embedded) {
    BuildRuntime rt;
    if (build_find_runtime(&rt))
        return -1;
    char include_flag[4200];
    snprintf(include_flag, sizeof include_flag, "-I%s", rt.include);
    char dir[] = "/tmp/xfc-build-XXXXXX";
    if (!mkdtemp(dir))
        return fail("cannot make a temporary directory: %s%s", strerror(errno), "");
    if (build_write_sources(e, name, dir)) {
        remove_tree(dir, name);
        return -1;
    }
    char src_c[300], src_main[300], tmp_out[4200];
    snprintf(src_c, sizeof src_c, "%s/%s.c", dir, name);
    snprintf(src_main, sizeof src_main, "%s/%s_main.c", dir, name);
    snprintf(tmp_out, sizeof tmp_out, "%s.tmp.%d", out, (int)getpid());

    char sanitize[] = XFC_SANITIZE_FLAGS;
    const char *argv[64 + 16];
    int argc = 0;
    argv[argc++] = XFC_CC;
    argv[argc++] = "-std=gnu11";
    argv[argc++] = "-O2";
    argv[argc++] = "-Wall";
    argv[argc++] = "-Wno-unused-variable";
    argv[argc++] = include_flag;
    push_words(argv, &argc, sanitize);
    argv[argc++] = src_c;
    argv[argc++] = src_main;
    for (int i = 0; i < n_link && argc < 60; i++)
        argv[argc++] = link_files[i];
    argv[argc++] = rt.lib;
    argv[argc++] = "-Wl,--as-needed"; /* a release binary does not even load cairo */
    static const char *const libs[] = {XFC_LINK_LIBS};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
        argv[argc++] = libs[i];
    argv[argc++] = "-o";
    argv[argc++] = tmp_out;
    argv[argc] = NULL;

    pid_t pid;
    int status = 0;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
    if (rc == 0 && waitpid(pid, &status, 0) < 0)
        rc = errno;
    remove_tree(dir, name);
    if (rc)
        return fail("cannot run the C compiler %s: %s", XFC_CC, strerror(rc));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        unlink(tmp_out);
        return fail("the C compiler failed on the generated code for '%s'%s (see above)", name,
                    n_link ? " or the --link files" : "");
    }
    if (embedded && check_embedded(tmp_out, name)) {
        unlink(tmp_out);
        return -1;
    }
    if (rename(tmp_out, out)) {
        unlink(tmp_out);
        return fail("%s: %s", out, strerror(errno));
    }
    return 0;
}
