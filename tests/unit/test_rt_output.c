/* test_rt_output.c — xf_write_output (runtime/output.c), the output rules of
 * docs/RELIABILITY.md: regular files replaced through an fsync'd temporary,
 * "-" to standard output, FIFOs and devices written in place (never renamed
 * over), write errors as one line naming the path with no temporary left. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "xf_io.h"

static const char TEXT[] = "three\nlines\nof text\n";

/* Entries of dir other than . and .., by count; none may be a temporary. */
static int entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        cr_assert_null(strstr(e->d_name, ".tmp."), "temporary file left behind: %s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

Test(output, regular_file_new_and_replaced) {
    char *dir = th_tempdir(), path[4200];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    xf_error err = {""};
    cr_assert_eq(xf_write_bytes(path, "old", 3, &err), 0, "%s", err.msg);
    cr_assert_eq(xf_write_bytes(path, TEXT, strlen(TEXT), &err), 0, "%s", err.msg);
    size_t n;
    char *got = th_read_file(path, &n);
    cr_assert_eq(n, strlen(TEXT));
    cr_assert_eq(memcmp(got, TEXT, n), 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    mode_t um = umask(0);
    umask(um);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~um, "mode %o", (unsigned)(st.st_mode & 0777));
    cr_assert_eq(entries(dir), 1);
    free(got);
    th_rmtree(dir);
}

Test(output, missing_directory_is_one_line_error) {
    char *dir = th_tempdir(), path[4200];
    snprintf(path, sizeof path, "%s/no/such/dir/out.npy", dir);
    xf_error err = {""};
    cr_assert_eq(xf_write_bytes(path, TEXT, 3, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "cannot create: No such file or directory"), "%s", err.msg);
    cr_assert_null(strchr(err.msg, '\n'));
    cr_assert_eq(entries(dir), 0);
    th_rmtree(dir);
}

Test(output, directory_is_not_replaced) {
    char *dir = th_tempdir(), path[4200];
    snprintf(path, sizeof path, "%s/d", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    xf_error err = {""};
    cr_assert_eq(xf_write_bytes(path, TEXT, 3, &err), -1);
    cr_assert_not_null(strstr(err.msg, "cannot rename the temporary file into place"), "%s",
                       err.msg);
    struct stat st;
    cr_assert(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    cr_assert_eq(entries(dir), 1);
    th_rmtree(dir);
}

/* A writer that fails half way, as a full disk would. */
static int put_then_fail(FILE *fp, void *ctx) {
    (void)ctx;
    fputs("partial", fp);
    errno = EIO;
    return -1;
}

Test(output, failed_write_leaves_old_file_and_no_temporary) {
    char *dir = th_tempdir(), path[4200];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    xf_error err = {""};
    cr_assert_eq(xf_write_bytes(path, "old", 3, &err), 0, "%s", err.msg);
    cr_assert_eq(xf_write_output(path, put_then_fail, NULL, &err), -1);
    cr_assert_not_null(strstr(err.msg, "write failed: Input/output error"), "%s", err.msg);
    size_t n;
    char *got = th_read_file(path, &n);
    cr_assert(n == 3 && !memcmp(got, "old", 3), "the old file was touched");
    cr_assert_eq(entries(dir), 1);
    free(got);
    th_rmtree(dir);
}

/* /dev/full: every write is ENOSPC.  The error names it, and it stays the
 * character device it was (as root, a rename would replace the node). */
Test(output, dev_full_is_enospc_and_stays_a_device) {
    struct stat st;
    if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode))
        cr_skip_test("no /dev/full");
    char big[65536] = {0};
    xf_error err = {""};
    cr_assert_eq(xf_write_bytes("/dev/full", big, sizeof big, &err), -1);
    cr_assert_str_eq(err.msg, "/dev/full: write failed: No space left on device");
    cr_assert(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode));
}

typedef struct {
    const char *path;
    char buf[256];
    size_t n;
} fifo_reader;

static void *read_fifo(void *arg) {
    fifo_reader *r = arg;
    int fd = open(r->path, O_RDONLY);
    if (fd < 0)
        return NULL;
    for (ssize_t k; (k = read(fd, r->buf + r->n, sizeof r->buf - 1 - r->n)) > 0;)
        r->n += (size_t)k;
    close(fd);
    return NULL;
}

/* A FIFO is written in place: the reader waiting on it gets the bytes, and
 * it is still a FIFO afterwards, alone in its directory. */
Test(output, fifo_is_written_in_place) {
    char *dir = th_tempdir(), path[4200];
    snprintf(path, sizeof path, "%s/pipe", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    fifo_reader r = {.path = path};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, read_fifo, &r), 0);
    xf_error err = {""};
    cr_assert_eq(xf_write_bytes(path, TEXT, strlen(TEXT), &err), 0, "%s", err.msg);
    pthread_join(th, NULL);
    cr_assert_eq(r.n, strlen(TEXT));
    cr_assert_eq(memcmp(r.buf, TEXT, r.n), 0);
    struct stat st;
    cr_assert(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    cr_assert_eq(entries(dir), 1);
    th_rmtree(dir);
}

/* "-": standard output, after what the program printed there, and fd 1
 * stays open. */
Test(output, dash_is_standard_output) {
    th_capture c = th_capture_start(STDOUT_FILENO);
    printf("before ");
    xf_error err = {""};
    int rc = xf_write_bytes("-", TEXT, strlen(TEXT), &err);
    printf("after");
    char *got = th_capture_end(&c);
    cr_assert_eq(rc, 0, "%s", err.msg);
    char want[128];
    snprintf(want, sizeof want, "before %safter", TEXT);
    cr_assert_str_eq(got, want);
    cr_assert_eq(access("-", F_OK), -1, "a file named '-' was created");
    free(got);
}

/* /dev/stdout is a link, not a regular file: written through, in place. */
Test(output, dev_stdout_is_written_through) {
    th_capture c = th_capture_start(STDOUT_FILENO);
    xf_error err = {""};
    int rc = xf_write_bytes("/dev/stdout", TEXT, strlen(TEXT), &err);
    char *got = th_capture_end(&c);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_str_eq(got, TEXT);
    free(got);
}

/* A reader that went away: EPIPE is an error naming the path, and SIGPIPE
 * (default action: death) neither kills the process nor stays pending. */
Test(output, closed_pipe_is_epipe_not_death) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[0]);
    int saved = dup(STDOUT_FILENO);
    dup2(p[1], STDOUT_FILENO);
    close(p[1]);
    char big[65536] = {0};
    xf_error err = {""};
    int rc = xf_write_bytes("-", big, sizeof big, &err);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    cr_assert_eq(rc, -1);
    cr_assert_str_eq(err.msg, "-: write failed: Broken pipe");
    sigset_t pending;
    sigpending(&pending);
    cr_assert_eq(sigismember(&pending, SIGPIPE), 0, "SIGPIPE left pending");
}

/* ---- interruption (xf_cleanup_on_signals) ------------------------------------------ */

/* Half the content, then the signal ctx names arrives in the middle of the write. */
static int put_then_signal(FILE *fp, void *ctx) {
    fputs("half of it", fp);
    fflush(fp);
    kill(getpid(), *(int *)ctx);
    fputs(" and the rest", fp);
    return 0;
}

/* A child writes PATH and is sent sig mid-write; returns its wait status. */
static int interrupted_write(const char *path, int sig, int ignore) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (ignore)
            signal(sig, SIG_IGN);
        xf_cleanup_on_signals();
        xf_error err = {""};
        _exit(xf_write_output(path, put_then_signal, &sig, &err) ? 1 : 0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* SIGINT and SIGTERM mid-write: the process dies of the signal (status 130 /
 * 143 in a shell), no temporary file and no output are left. */
Test(output, signal_mid_write_leaves_nothing) {
    const int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        char *dir = th_tempdir(), path[4200];
        snprintf(path, sizeof path, "%s/out.npy", dir);
        int status = interrupted_write(path, sigs[i], 0);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i], "status %#x", status);
        cr_assert_eq(entries(dir), 0, "files left after signal %d", sigs[i]);
        th_rmtree(dir);
    }
}

/* An ignored signal (nohup) stays ignored: the write completes. */
Test(output, ignored_signal_stays_ignored) {
    char *dir = th_tempdir(), path[4200];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    int status = interrupted_write(path, SIGHUP, 1);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    size_t n;
    char *got = th_read_file(path, &n);
    cr_assert_str_eq(got, "half of it and the rest");
    free(got);
    th_rmtree(dir);
}
