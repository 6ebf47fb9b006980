/* xfhostile.c — makes hostile input files from real fixtures, at test time.
 *
 *   xfhostile truncate   IN OUT N            first N bytes (N < 0: all but the last -N)
 *   xfhostile patch      IN OUT OFFSET BYTE  one byte replaced (BYTE: 0..255, 0x..)
 *   xfhostile st-hlen    IN OUT VALUE        safetensors: the u64 header length replaced
 *   xfhostile st-json    IN OUT TEXT         safetensors: the header JSON replaced by TEXT
 *   xfhostile st-set     IN OUT TENSOR KEY JSON   header entry TENSOR: KEY = JSON
 *   xfhostile st-drop    IN OUT TENSOR       header entry removed (its bytes stay)
 *   xfhostile st-add     IN OUT TENSOR [DIM…]  an extra F32 tensor of ones appended ([1] without DIMs)
 *   xfhostile npy-header IN OUT DICT         .npy v1.0 with header DICT, IN's data
 *   xfhostile npy-set    IN OUT INDEX VALUE  float INDEX of the data set (nan, inf, -inf, 1.5)
 *
 * The safetensors header is re-serialized by cJSON (compact, space padded to a
 * multiple of 8); data bytes are copied unchanged.  Exit status 0, or 2 with a
 * message on stderr (a broken test setup, never a test result).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef struct {
    unsigned char *p;
    size_t n;
} bytes;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("xfhostile: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static bytes slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    bytes b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        if (b.n == cap) {
            cap = cap ? cap * 2 : 65536;
            if (!(b.p = realloc(b.p, cap)))
                die("out of memory");
        }
        size_t k = fread(b.p + b.n, 1, cap - b.n, f);
        b.n += k;
        if (k == 0)
            break;
    }
    if (ferror(f))
        die("%s: read error", path);
    fclose(f);
    return b;
}

static void spill(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    FILE *f = fopen(path, "wb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    if ((na && fwrite(a, 1, na, f) != na) || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f))
        die("%s: write error", path);
}

static long long number(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (*end || end == s || errno)
        die("'%s' is not a number", s);
    return v;
}

/* ---- safetensors ---------------------------------------------------------- */

typedef struct {
    cJSON *header;
    bytes file;
    size_t data_at; /* offset of the data section in file */
} st_file;

static st_file st_read(const char *path) {
    st_file s = {NULL, slurp(path), 0};
    if (s.file.n < 8)
        die("%s: not safetensors", path);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | s.file.p[i];
    if (hl > s.file.n - 8)
        die("%s: not safetensors", path);
    s.data_at = 8 + (size_t)hl;
    if (!(s.header = cJSON_ParseWithLength((const char *)s.file.p + 8, (size_t)hl)))
        die("%s: header is not JSON", path);
    return s;
}

/* Writes header (as JSON text) + data + extra to out. */
static void st_write_text(const char *out, const char *json, const st_file *s, const void *extra,
                          size_t nextra) {
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    size_t total = 8 + padded + (s->file.n - s->data_at) + nextra;
    unsigned char *buf = malloc(total);
    if (!buf)
        die("out of memory");
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, json, n);
    memset(buf + 8 + n, ' ', padded - n);
    memcpy(buf + 8 + padded, s->file.p + s->data_at, s->file.n - s->data_at);
    if (nextra)
        memcpy(buf + total - nextra, extra, nextra);
    spill(out, buf, total, NULL, 0);
    free(buf);
}

static void st_write(const char *out, const st_file *s, const void *extra, size_t nextra) {
    char *json = cJSON_PrintUnformatted(s->header);
    if (!json)
        die("out of memory");
    st_write_text(out, json, s, extra, nextra);
    free(json);
}

static void st_free(st_file *s) {
    cJSON_Delete(s->header);
    free(s->file.p);
}

static cJSON *st_entry(const st_file *s, const char *tensor) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(s->header, tensor);
    if (!e)
        die("no tensor '%s' in the input", tensor);
    return e;
}

/* ---- .npy ------------------------------------------------------------------- */

/* The offset of the data of a .npy file (any version). */
static size_t npy_data_at(const bytes *b, const char *path) {
    if (b->n < 10 || memcmp(b->p, "\x93NUMPY", 6))
        die("%s: not .npy", path);
    size_t at =
        b->p[6] == 1
            ? 10 + (size_t)(b->p[8] | b->p[9] << 8)
            : 12 + (size_t)(b->p[8] | b->p[9] << 8 | b->p[10] << 16 | (size_t)b->p[11] << 24);
    if (at > b->n)
        die("%s: not .npy", path);
    return at;
}

int main(int argc, char **argv) {
    if (argc < 4)
        die("usage: xfhostile OP IN OUT ARGS… (see the source)");
    const char *op = argv[1], *in = argv[2], *out = argv[3];
    int nargs = argc - 4;
    char **a = argv + 4;
#define NEED(k)                                                                                    \
    if (nargs != (k))                                                                              \
    die("%s takes %d argument(s)", op, (k))

    if (!strcmp(op, "truncate")) {
        NEED(1);
        bytes b = slurp(in);
        long long n = number(a[0]);
        size_t keep = n >= 0 ? (size_t)n : (size_t)-n > b.n ? 0 : b.n - (size_t)-n;
        if (keep > b.n)
            die("%s has only %zu bytes", in, b.n);
        spill(out, b.p, keep, NULL, 0);
        free(b.p);
    } else if (!strcmp(op, "patch")) {
        NEED(2);
        bytes b = slurp(in);
        long long off = number(a[0]), v = number(a[1]);
        if (off < 0 || (size_t)off >= b.n || v < 0 || v > 255)
            die("patch: offset or byte out of range");
        b.p[off] = (unsigned char)v;
        spill(out, b.p, b.n, NULL, 0);
        free(b.p);
    } else if (!strcmp(op, "st-hlen")) {
        NEED(1);
        bytes b = slurp(in);
        if (b.n < 8)
            die("%s: not safetensors", in);
        unsigned long long v = strtoull(a[0], NULL, 0);
        for (int i = 0; i < 8; i++)
            b.p[i] = (unsigned char)(v >> (8 * i));
        spill(out, b.p, b.n, NULL, 0);
        free(b.p);
    } else if (!strcmp(op, "st-json")) {
        NEED(1);
        st_file s = st_read(in);
        st_write_text(out, a[0], &s, NULL, 0);
        st_free(&s);
    } else if (!strcmp(op, "st-set")) {
        NEED(3);
        st_file s = st_read(in);
        cJSON *e = st_entry(&s, a[0]);
        cJSON *v = cJSON_Parse(a[2]);
        if (!v)
            die("'%s' is not JSON", a[2]);
        if (cJSON_GetObjectItemCaseSensitive(e, a[1]))
            cJSON_ReplaceItemInObjectCaseSensitive(e, a[1], v);
        else
            cJSON_AddItemToObject(e, a[1], v);
        st_write(out, &s, NULL, 0);
        st_free(&s);
    } else if (!strcmp(op, "st-drop")) {
        NEED(1);
        st_file s = st_read(in);
        st_entry(&s, a[0]);
        cJSON_DeleteItemFromObjectCaseSensitive(s.header, a[0]);
        st_write(out, &s, NULL, 0);
        st_free(&s);
    } else if (!strcmp(op, "st-add")) {
        if (nargs < 1 || nargs > 9)
            die("st-add takes a tensor name and at most 8 dimensions");
        st_file s = st_read(in);
        double shape[8] = {1}, count = 1;
        for (int i = 1; i < nargs; i++) {
            long long d = number(a[i]);
            if (d < 1 || d > (1 << 20))
                die("st-add: dimension %s out of range 1..%d", a[i], 1 << 20);
            shape[i - 1] = (double)d;
            count *= (double)d;
        }
        if (count > (1 << 24))
            die("st-add: more than %d floats", 1 << 24);
        double end = (double)(s.file.n - s.data_at);
        const double offsets[2] = {end, end + 4 * count};
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON_AddItemToObject(e, "shape",
                              cJSON_CreateDoubleArray(shape, nargs > 1 ? nargs - 1 : 1));
        cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offsets, 2));
        cJSON_AddItemToObject(s.header, a[0], e);
        float *ones = malloc(sizeof(float) * (size_t)count);
        if (!ones)
            die("out of memory");
        for (size_t i = 0; i < (size_t)count; i++)
            ones[i] = 1.0f;
        st_write(out, &s, ones, sizeof(float) * (size_t)count);
        free(ones);
        st_free(&s);
    } else if (!strcmp(op, "npy-header")) {
        NEED(1);
        bytes b = slurp(in);
        size_t at = npy_data_at(&b, in);
        size_t n = strlen(a[0]), total = (10 + n + 1 + 63) / 64 * 64, hl = total - 10;
        if (hl > 65535)
            die("npy-header: header too long");
        unsigned char *h = malloc(total);
        memcpy(h, "\x93NUMPY\x01\x00", 8);
        h[8] = (unsigned char)(hl & 0xff);
        h[9] = (unsigned char)(hl >> 8);
        memcpy(h + 10, a[0], n);
        memset(h + 10 + n, ' ', hl - n - 1);
        h[total - 1] = '\n';
        spill(out, h, total, b.p + at, b.n - at);
        free(h);
        free(b.p);
    } else if (!strcmp(op, "npy-set")) {
        NEED(2);
        bytes b = slurp(in);
        size_t at = npy_data_at(&b, in);
        long long i = number(a[0]);
        float v = !strcmp(a[1], "nan")    ? NAN
                  : !strcmp(a[1], "inf")  ? INFINITY
                  : !strcmp(a[1], "-inf") ? -INFINITY
                                          : strtof(a[1], NULL);
        if (i < 0 || at + 4 * (size_t)(i + 1) > b.n)
            die("npy-set: index %lld past the data", i);
        memcpy(b.p + at + 4 * (size_t)i, &v, 4); /* little-endian hosts only, as the runtime */
        spill(out, b.p, b.n, NULL, 0);
        free(b.p);
    } else {
        die("unknown operation '%s'", op);
    }
    return 0;
}
