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
 * temporary file is removed.  So is the temporary of a write that SIGINT or
 * SIGTERM interrupts, once xf_cleanup_on_signals is installed: each temporary
 * in flight is named in a fixed table the signal handler reads (it only
 * unlinks, then dies of the signal: async-signal-safe).  SIGPIPE is blocked in the writing thread while
 * it writes (and a SIGPIPE it raised is consumed), so a closed pipe is an
 * EPIPE error the caller reports, not the death of the process.
 */
#define _GNU_SOURCE
#include "xf_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
    if (!f)
        return;
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

    if (e == EPIPE && !sigismember(&old, SIGPIPE)) { /* the SIGPIPE this write raised */
        const struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &now) == SIGPIPE) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

/* "-" and existing non-regular files: in place. */
static int write_in_place(const char *path, xf_put_fn put, void *ctx, xf_error *err) {
    int fd;
    if (strcmp(path, "-") == 0) {
        fflush(stdout); /* what the program printed comes first */
        fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    } else {
        fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
    }
    if (fd < 0)
        return xf_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int e = write_fd(fd, 0, put, ctx);
    return e ? xf_fail(err, "%s: write failed: %s", path, strerror(e)) : 0;
}

/* ---- temporaries in flight (what a signal removes) ------------------------------- */

/* PENDING slots of PATH_MAX bytes: the names of the temporary files being
 * written.  A writer claims a free slot (0 -> 1), lets mkostemp write the
 * name into it, and frees it after the rename or the unlink; the handler
 * unlinks every claimed slot's name (a name half-written by mkostemp, or
 * already renamed away, is an unlink that fails: harmless).  More writers at
 * once than slots, or a path longer than PATH_MAX, go unregistered. */
enum { PENDING = 64 };
static char pending_name[PENDING][PATH_MAX];
static atomic_int pending_used[PENDING];

/* The temporary name buffer for `path`: a claimed slot, or malloc'd (*slot -1). */
static char *tmp_name(const char *path, int *slot) {
    size_t n = strlen(path);
    *slot = -1;
    for (int i = 0; n + 12 <= PATH_MAX && i < PENDING; i++) {
        int free_ = 0;
        if (atomic_compare_exchange_strong(&pending_used[i], &free_, 1)) {
            *slot = i;
            break;
        }
    }
    char *tmp = *slot >= 0 ? pending_name[*slot] : malloc(n + 12);
    if (tmp) {
        memcpy(tmp, path, n);
        memcpy(tmp + n, ".tmp.XXXXXX", 12);
    }
    return tmp;
}

static void tmp_done(char *tmp, int slot) {
    if (slot >= 0)
        atomic_store(&pending_used[slot], 0);
    else
        free(tmp);
}

void xf_remove_pending_outputs(void) {
    for (int i = 0; i < PENDING; i++)
        if (atomic_load(&pending_used[i]))
            unlink(pending_name[i]);
}

static void on_signal(int sig) {
    xf_remove_pending_outputs();
    raise(sig); /* SA_RESETHAND: the default action now, so the process dies of sig */
}

void xf_cleanup_on_signals(void) {
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue; /* ignored (nohup, a background job): stays ignored */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Regular files, new paths: a temporary file renamed into place. */
static int write_replacing(const char *path, xf_put_fn put, void *ctx, xf_error *err) {
    int slot;
    char *tmp = tmp_name(path, &slot);
    if (!tmp)
        return xf_fail(err, "%s: out of memory", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        tmp_done(tmp, slot);
        return xf_fail(err, "%s: cannot create: %s", path, strerror(e));
    }
    pthread_once(&file_mode_once, read_umask);
    (void)fchmod(fd, file_mode); /* mkstemp's 0600 widened to 0666 & ~umask */
    int e = write_fd(fd, 1, put, ctx);
    if (e) {
        unlink(tmp);
        tmp_done(tmp, slot);
        return xf_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        tmp_done(tmp, slot);
        return xf_fail(err, "%s: cannot rename the temporary file into place: %s", path,
                       strerror(e));
    }
    tmp_done(tmp, slot);
    return 0;
}

int xf_write_output(const char *path, xf_put_fn put, void *ctx, xf_error *err) {
    if (!path || !path[0])
        return xf_fail(err, "no output file named");
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
