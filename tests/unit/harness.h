/* harness.h — what the Criterion unit tests share instead of copying it:
 * a scratch directory per test, paths in it, reading files back, capturing a
 * file descriptor, deterministic random buffers, the fixtures' .npy files
 * (read by a reader of its own, so a test of npy.c does not trust npy.c),
 * and the check of an attention kernel against a PyTorch fixture.
 * Header-only: every function is static inline (no unused-function
 * warnings), th_ prefixed. */
#ifndef XF_TEST_HARNESS_H
#define XF_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf_handlers.h"
#include "xf_io.h"
#include "xf_kernels.h"

/* ---- files and directories --------------------------------------------------- */

/* A fresh directory under /tmp (malloc'd path). */
static inline char *th_tempdir(void) {
    char *d = malloc(64);
    cr_assert_not_null(d);
    snprintf(d, 64, "/tmp/xf_test_XXXXXX");
    cr_assert_not_null(mkdtemp(d), "mkdtemp failed");
    return d;
}

/* rm -rf path, then free it (a th_tempdir result). */
static inline void th_rmtree(char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
    free(path);
}

/* The suite's directory: th_dir_setup/teardown as .init/.fini; with
 * th_events_setup it is also the handlers' events dir. */
__attribute__((unused)) static char *th_dir;

static inline void th_dir_setup(void) {
    th_dir = th_tempdir();
}
static inline void th_dir_teardown(void) {
    th_rmtree(th_dir);
    th_dir = NULL;
}
static inline void th_events_setup(void) {
    th_dir_setup();
    xf_set_events_dir(th_dir);
}
static inline void th_events_teardown(void) {
    xf_set_events_dir(NULL);
    th_dir_teardown();
}

/* th_dir/rel, in one of four rotating buffers (up to four live at once). */
static inline char *th_in_dir(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", th_dir, rel);
    return buf[k];
}

/* Entries of d other than . and .. (0 when d does not exist). */
static inline int th_count_files(const char *d) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | wc -l", d);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    int n = 0;
    cr_assert_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* The whole file (malloc'd, NUL-terminated); *n its size. */
static inline char *th_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)len + 1);
    cr_assert_not_null(s);
    cr_assert_eq(fread(s, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return s;
}

static inline void th_write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* ---- capturing stdout / stderr ------------------------------------------------- */

typedef struct {
    int fd, saved; /* the captured descriptor, and a dup of what it was */
    FILE *tmp;     /* where it writes meanwhile */
} th_capture;

static inline th_capture th_capture_start(int fd) {
    th_capture c = {fd, -1, tmpfile()};
    fflush(fd == STDOUT_FILENO ? stdout : stderr);
    cr_assert_not_null(c.tmp);
    c.saved = dup(fd);
    dup2(fileno(c.tmp), fd);
    return c;
}

/* What was written meanwhile (malloc'd); fd restored. */
static inline char *th_capture_end(th_capture *c) {
    fflush(c->fd == STDOUT_FILENO ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    fseek(c->tmp, 0, SEEK_END);
    long n = ftell(c->tmp);
    rewind(c->tmp);
    char *s = calloc(1, (size_t)n + 1);
    cr_assert_not_null(s);
    if (n)
        cr_assert_eq(fread(s, 1, (size_t)n, c->tmp), (size_t)n);
    fclose(c->tmp);
    return s;
}

/* ---- data ---------------------------------------------------------------------------- */

/* One tensor of a safetensors file built by th_weights: `dtype` ("F32",
 * "I64"), `shape` as JSON ("[3]", "[64,4]") and its `bytes` of `data`. */
typedef struct {
    const char *name, *dtype, *shape;
    const void *data;
    size_t bytes;
} th_tensor;

/* A safetensors file built in buf[cap] holding the n tensors t[] back to
 * back, opened from memory (asserted). */
static inline xf_weights *th_weights(char *buf, size_t cap, int n, const th_tensor *t) {
    char header[2048];
    int hl = 1;
    size_t at = 0;
    header[0] = '{';
    for (int i = 0; i < n; i++, at += t[i - 1].bytes) {
        hl += snprintf(header + hl, sizeof header - (size_t)hl,
                       "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                       i ? "," : "", t[i].name, t[i].dtype, t[i].shape, at, at + t[i].bytes);
        cr_assert(hl < (int)sizeof header - 8);
    }
    header[hl++] = '}';
    while (hl % 8)
        header[hl++] = ' ';
    uint64_t hn = (uint64_t)hl;
    cr_assert(8 + hn + at <= cap);
    memcpy(buf, &hn, 8);
    memcpy(buf + 8, header, hn);
    for (int i = 0, off = 0; i < n; off += (int)t[i].bytes, i++)
        memcpy(buf + 8 + hn + off, t[i].data, t[i].bytes);
    xf_error err = {0};
    xf_weights *w = xf_weights_from_memory(buf, 8 + hn + at, "mem.safetensors", &err);
    cr_assert_not_null(w, "%s", err.msg);
    return w;
}

/* th_weights of one tensor. */
static inline xf_weights *th_one_tensor_weights(char *buf, size_t cap, const char *name,
                                                const char *dtype, const char *shape,
                                                const void *data, size_t dlen) {
    return th_weights(buf, cap, 1, &(th_tensor){name, dtype, shape, data, dlen});
}

/* n floats uniform in [-amp, amp), the same for the same seed. */
static inline float *th_rand_buf(int64_t n, unsigned seed, float amp) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    cr_assert_not_null(x);
    uint32_t s = seed * 2654435761u + 7;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = amp * ((float)((s >> 8) * (1.0 / 8388608.0)) - 1.0f);
    }
    return x;
}

/* XF_FIXTURES/cas/name.npy, '<f4' C order, rank ≤ 4 (shape padded with 1s),
 * read without npy.c. */
static inline float *th_fixture_npy(const char *cas, const char *name, int64_t shape[4]) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s.npy", XF_FIXTURES, cas, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    unsigned char pre[10];
    cr_assert_eq(fread(pre, 1, 10, f), 10);
    cr_assert(memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1);
    size_t hl = pre[8] | (size_t)pre[9] << 8;
    char *h = calloc(1, hl + 1);
    cr_assert_eq(fread(h, 1, hl, f), hl);
    cr_assert_not_null(strstr(h, "'<f4'"), "%s: not <f4", path);
    char *p = strstr(h, "'shape': (");
    cr_assert_not_null(p);
    p += 10;
    int64_t n = 1;
    for (int i = 0; i < 4; i++) {
        shape[i] = 1;
        if (*p == ')')
            continue;
        shape[i] = strtoll(p, &p, 10);
        n *= shape[i];
        while (*p == ',' || *p == ' ')
            p++;
    }
    free(h);
    float *x = malloc((size_t)n * sizeof *x);
    cr_assert_eq(fread(x, sizeof *x, (size_t)n, f), (size_t)n, "%s truncated", path);
    fclose(f);
    return x;
}

/* ---- attention against a fixture ------------------------------------------------ */

typedef void (*th_attn_fn)(float *out, float *attn, const float *q, const float *k, const float *v,
                           const xf_attn_shape *sh, float *scratch);

/* out (both paths) of one (n, l, h) row within 1e-4 of the fixture's
 * attention times v. */
static inline void th_check_out_row(const char *cas, const xf_attn_shape *sh, const float *ref,
                                    const float *v, const float *o, const float *o2, int n, int h,
                                    int l) {
    for (int d = 0; d < sh->D; d++) {
        double want = 0;
        for (int s = 0; s < sh->S; s++)
            want += (double)ref[(((int64_t)n * sh->H + h) * sh->L + l) * sh->S + s] *
                    v[(((int64_t)n * sh->S + s) * sh->H + h) * sh->D + d];
        int64_t i = (((int64_t)n * sh->L + l) * sh->H + h) * sh->D + d;
        cr_assert(fabs(o[i] - want) <= 1e-4 && fabs(o2[i] - want) <= 1e-4,
                  "%s out[%d,%d,%d,%d]: got %g / %g, want %g", cas, n, l, h, d, o[i], o2[i], want);
    }
}

/* One layer's attention recomputed by fn from the fixture's PREFIXqueries /
 * keys / values: attn within 1e-4 of PREFIXattention on valid query rows
 * (l < qlen[n], all when qlen is NULL), out (both paths) within 1e-4 of that
 * matrix times v.  proto gives the masks and variant settings. */
static inline void th_check_attention_fixture(th_attn_fn fn, const char *cas, const char *prefix,
                                              xf_attn_shape proto, const int *qlen) {
    char qn[96], kn[96], vn[96], an[96];
    snprintf(qn, sizeof qn, "%squeries", prefix);
    snprintf(kn, sizeof kn, "%skeys", prefix);
    snprintf(vn, sizeof vn, "%svalues", prefix);
    snprintf(an, sizeof an, "%sattention", prefix);
    int64_t qs[4], ks[4], vs[4], as[4];
    float *q = th_fixture_npy(cas, qn, qs), *k = th_fixture_npy(cas, kn, ks);
    float *v = th_fixture_npy(cas, vn, vs), *ref = th_fixture_npy(cas, an, as);
    xf_attn_shape sh = proto;
    sh.N = (int)qs[0], sh.L = (int)qs[1], sh.S = (int)ks[1], sh.H = (int)qs[2];
    sh.E = (int)qs[3], sh.D = (int)vs[3];
    sh.temp = 1.0f / sqrtf((float)qs[3]);
    cr_assert(as[0] == sh.N && as[1] == sh.H && as[2] == sh.L && as[3] == sh.S, "%s %s shape", cas,
              an);
    int64_t na = as[0] * as[1] * as[2] * as[3], no = (int64_t)sh.N * sh.L * sh.H * sh.D;
    float *a = malloc((size_t)na * sizeof *a), *o = malloc((size_t)no * sizeof *o);
    float *o2 = malloc((size_t)no * sizeof *o2);
    float *scratch = th_rand_buf(xf_attention_scratch(&sh), 77, 1e3f); /* garbage-filled */
    fn(o, a, q, k, v, &sh, scratch);
    fn(o2, NULL, q, k, v, &sh, scratch);
    for (int n = 0; n < sh.N; n++)
        for (int h = 0; h < sh.H; h++)
            for (int l = 0; l < (qlen ? qlen[n] : sh.L); l++) {
                for (int s = 0; s < sh.S; s++) {
                    int64_t i = (((int64_t)n * sh.H + h) * sh.L + l) * sh.S + s;
                    cr_assert(fabsf(a[i] - ref[i]) <= 1e-4f,
                              "%s %s[%d,%d,%d,%d]: got %g, fixture %g", cas, an, n, h, l, s, a[i],
                              ref[i]);
                }
                th_check_out_row(cas, &sh, ref, v, o, o2, n, h, l);
            }
    free(q);
    free(k);
    free(v);
    free(ref);
    free(a);
    free(o);
    free(o2);
    free(scratch);
}

#endif /* XF_TEST_HARNESS_H */
