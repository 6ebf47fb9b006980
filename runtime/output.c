/* output.c — the one routine every writer of xfc goes through
 * (xf_write_output, xf_io.h): .npy outputs, PNG figures, and the sources
 * `xfc build` writes.  It is where the output rules of docs/RELIABILITY.md
 * live:
 *
 *   "-"                      standard output (a dup of fd 1, so closing it
 *                            leaves stdout open);
 *   a regular file, a new    PATH.tmp.XXXXXX in the same directory, written,
 *   path or a directory      fsync'd and renamed onto PATH: a reader never
 *                            sees half a file, a failure leaves PATH as it
 *                            was (a directory: the rename fails);
 *   anything else that       opened (O_WRONLY | O_TRUNC) and written in
 *   exists (FIFO, device,    place, never renamed over or unlinked: a FIFO's
 *   symlink: /dev/stdout)    reader gets the data, /dev/full stays a device.
 *
 * The kind is taken with lstat: a symbolic link is written through, in place,
 * so /dev/stdout (a link to /proc/self/fd/1) reaches whatever fd 1 is.
 *
 * A failed write (ENOSPC, EPIPE, EIO…), caught at the write, the flush, the
 * fsync or the close, is one line naming the path and the reason, and the
 * temporary file is removed.  SIGPIPE is blocked in the writing thread while
 * it writes (and a SIGPIPE it raised is consumed), so a closed pipe is an
 * EPIPE error the caller reports, not the death of the process.
 */
#define _GNU_SOURCE
#include "xf_io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- permissions of a new file ------------------------------------------------ */

static mode_t file_mode = 0644;
static pthread_once_t file_mode_once = PTHREAD_ONCE_INIT;

/* The process umask without changing it (umask(2) would race with other
 * threads creating files): Linux reports it in /proc/self/status. */
static void read_umask(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    unsigned m;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &m) == 1) {
            file_mode = (mode_t)(0666 & ~m);
            break;
        }
    fclose(f);
}

/* ---- writing one stream ---------------------------------------------------------- */

/* Runs put on fd (taken over: always closed), then flushes, fsyncs when
 * `sync`, closes.  Returns 0, or the errno of the first failure. */
static int write_fd(int fd, int sync, xf_put_fn put, void *ctx) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

    int e = 0;
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        e = errno;
        close(fd);
    } else {
        errno = 0;
        if (put(fp, ctx) != 0 || fflush(fp) != 0 || ferror(fp))
            e = errno ? errno : EIO;
        if (!e && sync && fsync(fd) != 0)
            e = errno;
        if (fclose(fp) != 0 && !e)
            e = errno ? errno : EIO;
    }

    if (e == EPIPE && !sigismember(&old, SIGPIPE)) {   /* the SIGPIPE this write raised */
        const struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &now) == SIGPIPE) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

/* "-" and existing non-regular files: in place. */
static int write_in_place(const char *path, xf_put_fn put, void *ctx, xf_error *err) {
    int fd;
    if (strcmp(path, "-") == 0) {
        fflush(stdout);   /* what the program printed comes first */
        fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    } else {
        fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
    }
    if (fd < 0)
        return xf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int e = write_fd(fd, 0, put, ctx);
    return e ? xf_fail(err, "%s: write failed: %s", path, strerror(e)) : 0;
}

/* Regular files, new paths: a temporary file renamed into place. */
static int write_replacing(const char *path, xf_put_fn put, void *ctx, xf_error *err) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 12);
    if (!tmp) return xf_fail(err, "%s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return xf_fail(err, "%s: cannot create: %s", path, strerror(e));
    }
    pthread_once(&file_mode_once, read_umask);
    (void)fchmod(fd, file_mode);   /* mkstemp's 0600 widened to 0666 & ~umask */
    int e = write_fd(fd, 1, put, ctx);
    if (e) {
        unlink(tmp);
        free(tmp);
        return xf_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        free(tmp);
        return xf_fail(err, "%s: cannot rename the temporary file into place: %s", path,
                       strerror(e));
    }
    free(tmp);
    return 0;
}

int xf_write_output(const char *path, xf_put_fn put, void *ctx, xf_error *err) {
    if (!path || !path[0]) return xf_fail(err, "no output file named");
    struct stat st;
    if (strcmp(path, "-") == 0 ||
        (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)))
        return write_in_place(path, put, ctx, err);
    return write_replacing(path, put, ctx, err);
}

/* ---- bytes ------------------------------------------------------------------------ */

typedef struct {
    const void *data;
    size_t len;
} bytes;

static int put_bytes(FILE *fp, void *ctx) {
    const bytes *b = ctx;
    return fwrite(b->data, 1, b->len, fp) == b->len ? 0 : -1;
}

int xf_write_bytes(const char *path, const void *data, size_t len, xf_error *err) {
    bytes b = {data, len};
    return xf_write_output(path, put_bytes, &b, err);
}
