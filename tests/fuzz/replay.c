/* replay.c — the main() of fuzz_replay_<harness>: feeds every file given
 * (or found in a directory given, in name order) to the harness's
 * LLVMFuzzerTestOneInput, as libFuzzer would replay them.  Built with the
 * normal compiler, so tests/fuzz/regressions/ and the seed corpus run in
 * every ctest, with or without clang; a crash or sanitizer report fails it.
 *
 *   fuzz_replay_spec DIR|FILE...
 *   fuzz_replay_spec --expect-crash DIR|FILE...
 *       each input in a child process; exit 77 (ctest: skipped) while every
 *       one still crashes (open bugs, tests/fuzz/open/), 1 naming those that
 *       no longer do (fixed: move them to regressions/).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int expect_crash, ran, crashed, fixed;

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        exit(2);
    }
    *size = n;
    return buf;
}

static void run_one(const char *path) {
    size_t size;
    uint8_t *data = slurp(path, &size);
    ran++;
    if (!expect_crash) {
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* the child's crash report is expected: keep it out of the log */
        if (!freopen("/dev/null", "w", stderr))
            _exit(3);
        LLVMFuzzerTestOneInput(data, size);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("FIXED: %s no longer crashes: move it to tests/fuzz/regressions/\n", path);
        fixed++;
    } else {
        printf("still open: %s (%s %d)\n", path, WIFSIGNALED(status) ? "signal" : "exit status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        crashed++;
    }
    free(data);
}

static void run_path(const char *path) {
    struct stat st;
    if (stat(path, &st)) {
        if (errno == ENOENT)
            return; /* an empty regressions/ dir is not in git */
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_one(path);
        return;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
            run_path(sub);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    int i = 1;
    if (i < argc && !strcmp(argv[i], "--expect-crash")) {
        expect_crash = 1;
        i++;
    }
    for (; i < argc; i++)
        run_path(argv[i]);
    if (expect_crash) {
        printf("%d inputs: %d still crash, %d fixed\n", ran, crashed, fixed);
        return fixed ? 1 : crashed ? 77 : 0;
    }
    printf("replayed %d inputs without a crash\n", ran);
    return 0;
}
