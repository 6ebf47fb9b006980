/* xfsignal.c — signals a program the moment it creates its temporary output.
 *
 *   xfsignal DIR SIGNAL DELAY_US PROGRAM [ARGS...]
 *
 * Watches DIR with inotify (set up before PROGRAM starts), runs PROGRAM, and
 * when a file whose name contains ".tmp." is created in DIR, waits DELAY_US
 * microseconds and sends SIGNAL (a number) to PROGRAM: mid-write, whatever the
 * machine's load, where polling `ls` from a shell could miss a write that
 * takes a few milliseconds (CI did).  Prints "signalled" or "not signalled"
 * (PROGRAM finished or exited before any temporary appeared) on stdout and
 * exits with PROGRAM's status as a shell reports it: its exit code, or
 * 128 + the signal that ended it.  SIGNAL's disposition is reset to the
 * default in PROGRAM (a program keeps signals ignored that were ignored when
 * it started, and a test run under nohup would otherwise never see SIGINT).  Status 2 with a message on stderr is a
 * broken test setup; a PROGRAM still running after 600 s is killed (status 2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what) {
    fprintf(stderr, "xfsignal: %s: %s\n", what, strerror(errno));
    return 2;
}

/* 1 when one of the events in buf[0..n) created a temporary output. */
static int saw_temporary(const char *buf, ssize_t n) {
    for (ssize_t at = 0; at < n;) {
        const struct inotify_event *ev = (const struct inotify_event *)(buf + at);
        if (ev->len && strstr(ev->name, ".tmp."))
            return 1;
        at += (ssize_t)sizeof *ev + ev->len;
    }
    return 0;
}

static int shell_status(int st) {
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: xfsignal DIR SIGNAL DELAY_US PROGRAM [ARGS...]\n");
        return 2;
    }
    int sig = atoi(argv[2]);
    long delay_us = atol(argv[3]);
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd < 0)
        return die("inotify_init1");
    if (inotify_add_watch(fd, argv[1], IN_CREATE) < 0)
        return die(argv[1]);
    pid_t pid = fork();
    if (pid < 0)
        return die("fork");
    if (pid == 0) {
        signal(sig, SIG_DFL); /* not ignored, even when the test runs under nohup */
        execv(argv[4], argv + 4);
        fprintf(stderr, "xfsignal: %s: %s\n", argv[4], strerror(errno));
        _exit(127);
    }
    int signalled = 0, st = 0;
    for (int waited_ms = 0;; waited_ms += 10) {
        pid_t done = waitpid(pid, &st, WNOHANG);
        if (done == pid)
            break;
        if (done < 0)
            return die("waitpid");
        if (waited_ms > 600 * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "xfsignal: %s still running after 600 s\n", argv[4]);
            return 2;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (signalled || poll(&p, 1, 10) <= 0) {
            if (signalled)
                usleep(10 * 1000);
            continue;
        }
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0 && saw_temporary(buf, n)) {
            if (delay_us > 0)
                usleep((useconds_t)delay_us);
            kill(pid, sig);
            signalled = 1;
        }
    }
    puts(signalled ? "signalled" : "not signalled");
    return shell_status(st);
}
