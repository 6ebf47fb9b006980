/* fuzz_npy.c — libFuzzer harness for the .npy readers (and writer).
 *
 * The bytes are a .npy file, handed to xf_npy_read through a memfd (its
 * /proc/self/fd path: the reader takes a path and fstat()s a regular file).
 * Accepted arrays must be '<f4' C-order of rank 1..4 with exactly the file's
 * data; every float is read.  Small ones are written back with xf_npy_write
 * and read again: same shape, same bits.  Errors must be one line naming the
 * file, without control characters.  The same bytes go to the token-id
 * reader (xf_npy_read_ids, the same header code): accepted ids are rank 1
 * or 2, and are the file's last bytes as int32 or its last 8-byte integers
 * narrowed; failed reads leave the ids empty.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xf_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64], out_path[256];

static void setup(void) {
    if (memfd >= 0)
        return;
    memfd = memfd_create("fuzz.npy", MFD_CLOEXEC);
    if (memfd < 0)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out_path, sizeof out_path, "%s/xf-fuzz-npy-%d/rt.npy", dir, (int)getpid());
}

/* One line naming the file, no control character (the header's strings
 * come from the file). */
static void check_msg(const xf_error *err, const char *file) {
    if (strncmp(err->msg, file, strlen(file)) != 0 || err->msg[strlen(file)] != ':')
        __builtin_trap();
    for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            __builtin_trap();
}

/* The token-id reader on the same file. */
static void read_ids(const uint8_t *data, size_t size) {
    xf_error err = {""};
    xf_ids ids;
    if (xf_npy_read_ids(path, &ids, &err)) {
        check_msg(&err, path);
        if (ids.data || ids.rank)
            __builtin_trap();
        return;
    }
    uint64_t n = (uint64_t)ids.rows * (uint64_t)ids.cols;
    if (ids.rank < 1 || ids.rank > 2 || ids.rows < 0 || ids.cols < 0 || !ids.data || n * 4 > size)
        __builtin_trap();
    if (memcmp(data + size - n * 4, ids.data, n * 4) != 0) { /* not int32: int64 */
        if (n * 8 > size)
            __builtin_trap();
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *b = data + size - n * 8 + i * 8;
            uint32_t lo =
                (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            if ((uint32_t)ids.data[i] != lo)
                __builtin_trap();
        }
    }
    xf_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
        abort();
    read_ids(data, size);
    xf_error err = {""};
    xf_array a;
    if (xf_npy_read(path, &a, &err)) {
        check_msg(&err, path);
        if (a.data || a.rank)
            __builtin_trap(); /* a failed read leaves the array empty */
        return 0;
    }
    if (a.rank < 1 || a.rank > 4 || !a.data)
        __builtin_trap();
    uint64_t n = 1;
    for (int i = 0; i < a.rank; i++) {
        if (a.shape[i] < 0)
            __builtin_trap();
        n *= (uint64_t)a.shape[i];
    }
    if (n * 4 > size)
        __builtin_trap(); /* more floats than the file has bytes */
    if (memcmp(data + size - n * 4, a.data, n * 4))
        __builtin_trap(); /* the data is the file's last n*4 bytes, as they are */
    if (n <= 4096) {
        if (xf_npy_write(out_path, a.data, a.rank, a.shape, &err))
            __builtin_trap();
        xf_array b;
        if (xf_npy_read(out_path, &b, &err) || b.rank != a.rank ||
            memcmp(b.shape, a.shape, sizeof a.shape[0] * (size_t)a.rank) ||
            memcmp(b.data, a.data, n * 4))
            __builtin_trap();
        xf_array_free(&b);
    }
    xf_array_free(&a);
    return 0;
}
