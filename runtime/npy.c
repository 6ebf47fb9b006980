/* npy.c — .npy arrays in and out (xf_io.h), float32 little-endian C order,
 * and token ids (int32 or int64, read only).
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0 (3.0 only differs by a
 * UTF-8 header, which is ASCII here anyway) whose header is a Python dict
 * literal with exactly the keys 'descr', 'fortran_order' and 'shape':
 * fortran_order False only, shape a tuple of 1..4 non-negative integers;
 * descr '<f4' for arrays, '<i4' or '<i8' of rank 1 or 2 for token ids.
 * Both readers share the header code (read_header) and the payload's size
 * checks (read_payload).  The data must be exactly product(shape) floats:
 * a file shorter than that is "truncated", and a file longer than that is
 * rejected too ("N bytes after the data"): numpy never writes such a file,
 * so the header lies about the shape — better said than silently ignored.
 * Every error is one line that starts with the file name.
 *
 * Writing produces version 1.0 with the header padded by spaces and a final
 * '\n' so that the data starts at a multiple of 64 bytes (numpy's layout),
 * through xf_write_output (output.c: "-", FIFOs and devices in place,
 * regular files replaced atomically).  Parent directories are created first.
 */
#include "xf_io.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define XF_BIG_ENDIAN 1
#else
#define XF_BIG_ENDIAN 0
#endif

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- header parsing -------------------------------------------------------- */

/* What the header of a .npy file says. */
typedef struct {
    char descr[32];      /* dtype, e.g. "<f4", "<i8" (checked by each reader) */
    int rank;            /* 1..4 */
    int64_t shape[4];    /* [rank] */
    uint64_t data_bytes; /* bytes of the file after the header */
} npy_header;

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept_char(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string ('…' or "…", no escapes needed for our keys and
 * dtypes) into buf; 0 if there is none or it does not fit. */
static int parse_string(cursor *c, char *buf, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        /* no escapes, no control characters: they would end up in messages */
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || *c->p == 0x7f || n + 1 >= cap)
            return 0;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    buf[n] = '\0';
    return 1;
}

static int accept_word(cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        const char *after = c->p + n;
        if (after < c->end &&
            (*after == '_' || (*after >= 'a' && *after <= 'z') ||
             (*after >= 'A' && *after <= 'Z') || (*after >= '0' && *after <= '9')))
            return 0;
        c->p = after;
        return 1;
    }
    return 0;
}

/* Copies up to n chars of the text at the cursor, printable, for messages. */
static void snippet(const cursor *c, char *buf, size_t cap) {
    size_t n = 0;
    for (const char *p = c->p; p < c->end && n + 1 < cap && n < 24; p++)
        buf[n++] = (*p >= 32 && *p < 127) ? *p : '?';
    buf[n] = '\0';
}

/* shape: '(' [int {',' int} [',']] ')'.  Returns rank, or -1 with msg. */
static int parse_shape(cursor *c, int64_t shape[4], char *msg, size_t cap) {
    if (!accept_char(c, '(')) {
        snprintf(msg, cap, "shape is not a tuple");
        return -1;
    }
    int rank = 0;
    for (;;) {
        if (accept_char(c, ')'))
            break;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
            char s[32];
            snippet(c, s, sizeof s);
            snprintf(msg, cap, "shape: expected a non-negative integer at '%s'", s);
            return -1;
        }
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            int digit = *c->p++ - '0';
            if (v > (INT64_MAX - digit) / 10) {
                snprintf(msg, cap, "shape: dimension too large");
                return -1;
            }
            v = v * 10 + digit;
        }
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
            c->p++; /* Python 2 longs */
        if (rank == 4) {
            /* count the rest for the message */
            int more = 1;
            while (accept_char(c, ',')) {
                skip_ws(c);
                if (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                    more++;
                    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
                        c->p++;
                } else
                    break;
            }
            snprintf(msg, cap, "rank %d, expected 1..4", 4 + more);
            return -1;
        }
        shape[rank++] = v;
        if (accept_char(c, ','))
            continue;
        if (accept_char(c, ')'))
            break;
        char s[32];
        snippet(c, s, sizeof s);
        snprintf(msg, cap, "shape: expected ',' or ')' at '%s'", s);
        return -1;
    }
    if (rank == 0) {
        snprintf(msg, cap, "rank 0 (a scalar), expected 1..4");
        return -1;
    }
    return rank;
}

/* The header dict.  Returns 0, or -1 with msg (without the file name). */
static int parse_header(const char *text, size_t len, npy_header *out, char *msg, size_t cap) {
    cursor c = {text, text + len};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!accept_char(&c, '{')) {
        snprintf(msg, cap, "malformed header: not a dict");
        return -1;
    }
    for (;;) {
        if (accept_char(&c, '}'))
            break;
        char key[32];
        if (!parse_string(&c, key, sizeof key)) {
            char s[32];
            snippet(&c, s, sizeof s);
            snprintf(msg, cap, "malformed header: expected a key at '%s'", s);
            return -1;
        }
        if (!accept_char(&c, ':')) {
            snprintf(msg, cap, "malformed header: expected ':' after '%s'", key);
            return -1;
        }
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_string(&c, out->descr, sizeof out->descr)) {
                snprintf(msg, cap, "unsupported dtype (not a simple type string)");
                return -1;
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (accept_word(&c, "True")) {
                snprintf(msg, cap, "fortran_order True, expected C order (False)");
                return -1;
            }
            if (!accept_word(&c, "False")) {
                snprintf(msg, cap, "malformed header: fortran_order is not True/False");
                return -1;
            }
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            int rank = parse_shape(&c, out->shape, msg, cap);
            if (rank < 0)
                return -1;
            out->rank = rank;
            have_shape = 1;
        } else {
            snprintf(
                msg, cap, "malformed header: %s key '%s'",
                (!strcmp(key, "descr") || !strcmp(key, "fortran_order") || !strcmp(key, "shape"))
                    ? "duplicate"
                    : "unexpected",
                key);
            return -1;
        }
        if (accept_char(&c, ','))
            continue;
        if (accept_char(&c, '}'))
            break;
        snprintf(msg, cap, "malformed header: expected ',' or '}' after '%s'", key);
        return -1;
    }
    skip_ws(&c);
    if (c.p != c.end) {
        snprintf(msg, cap, "malformed header: text after the dict");
        return -1;
    }
    if (!have_descr || !have_fortran || !have_shape) {
        snprintf(msg, cap, "malformed header: missing '%s'",
                 !have_descr     ? "descr"
                 : !have_fortran ? "fortran_order"
                                 : "shape");
        return -1;
    }
    return 0;
}

static void shape_str(char *buf, size_t cap, int rank, const int64_t *shape) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static void swap32(float *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &d[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&d[i], &u, 4);
    }
}

/* ---- read ------------------------------------------------------------------ */

/* Magic and version; the header's length and where it starts.  0, or -1
 * with err. */
static int read_preamble(FILE *fp, const char *path, uint64_t *hlen, uint64_t *hstart,
                         xf_error *err) {
    unsigned char pre[12];
    if (fread(pre, 1, 8, fp) != 8 || memcmp(pre, NPY_MAGIC, 6) != 0)
        return xf_fail(err, "%s: not a .npy file (bad magic)", path);
    int major = pre[6], minor = pre[7];
    if (major == 1 && minor == 0) {
        if (fread(pre + 8, 1, 2, fp) != 2)
            return xf_fail(err, "%s: truncated header", path);
        *hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        *hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 8, 1, 4, fp) != 4)
            return xf_fail(err, "%s: truncated header", path);
        *hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
                (uint64_t)pre[11] << 24;
        *hstart = 12;
    } else {
        return xf_fail(err, "%s: unsupported .npy format version %d.%d (1.0, 2.0, 3.0 are)", path,
                       major, minor);
    }
    return 0;
}

/* Reads and parses the header; fp is left at the first data byte. */
static int read_header(FILE *fp, const char *path, npy_header *h, xf_error *err) {
    memset(h, 0, sizeof *h);
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode))
        return xf_fail(err, "%s: not a regular file", path);
    uint64_t fsize = (uint64_t)st.st_size, hlen = 0, hstart = 0;
    if (read_preamble(fp, path, &hlen, &hstart, err))
        return -1;
    if (hstart + hlen > fsize)
        return xf_fail(err, "%s: header length %llu runs past the end of the file (%llu bytes)",
                       path, (unsigned long long)hlen, (unsigned long long)fsize);
    char *text = malloc(hlen + 1);
    if (!text)
        return xf_fail(err, "%s: out of memory reading the header", path);
    char msg[256] = "";
    int rc = fread(text, 1, hlen, fp) != hlen ? xf_fail(err, "%s: truncated header", path) : 0;
    if (rc == 0 && memchr(text, '\0', hlen))
        rc = xf_fail(err, "%s: malformed header: NUL byte", path);
    if (rc == 0 && parse_header(text, hlen, h, msg, sizeof msg) != 0)
        rc = xf_fail(err, "%s: %s", path, msg);
    free(text);
    h->data_bytes = fsize - hstart - hlen;
    return rc;
}

/* The data of h, elem bytes per element, exactly what the file holds after
 * its header (no more, no less), into *data (malloc'd). */
static int read_payload(FILE *fp, const char *path, const npy_header *h, int elem, void **data,
                        xf_error *err) {
    char shp[128];
    shape_str(shp, sizeof shp, h->rank, h->shape);
    uint64_t count = 1, bytes;
    for (int i = 0; i < h->rank; i++)
        if (__builtin_mul_overflow(count, (uint64_t)h->shape[i], &count))
            return xf_fail(err, "%s: shape %s is too large", path, shp);
    if (__builtin_mul_overflow(count, (uint64_t)elem, &bytes) || bytes > (uint64_t)SIZE_MAX / 2)
        return xf_fail(err, "%s: shape %s is too large", path, shp);
    if (h->data_bytes < bytes)
        return xf_fail(err, "%s: truncated: shape %s needs %llu data bytes, the file has %llu",
                       path, shp, (unsigned long long)bytes, (unsigned long long)h->data_bytes);
    if (h->data_bytes > bytes)
        return xf_fail(err, "%s: %llu bytes after the data of shape %s (header and size disagree)",
                       path, (unsigned long long)(h->data_bytes - bytes), shp);
    *data = malloc(bytes ? (size_t)bytes : 1);
    if (!*data)
        return xf_fail(err, "%s: out of memory for shape %s", path, shp);
    if (bytes && fread(*data, 1, (size_t)bytes, fp) != bytes) {
        const char *why = ferror(fp) ? strerror(errno) : "short read";
        free(*data);
        *data = NULL;
        return xf_fail(err, "%s: read error: %s", path, why);
    }
    return 0;
}

/* Opens path and reads its header; NULL with err on failure. */
static FILE *open_npy(const char *path, npy_header *h, xf_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        xf_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (read_header(fp, path, h, err)) {
        fclose(fp);
        return NULL;
    }
    return fp;
}

int xf_npy_read(const char *path, xf_array *out, xf_error *err) {
    memset(out, 0, sizeof *out);
    npy_header h;
    FILE *fp = open_npy(path, &h, err);
    if (!fp)
        return -1;
    void *data = NULL;
    int rc = strcmp(h.descr, "<f4") != 0
                 ? xf_fail(err, "%s: dtype '%s', expected float32 '<f4'", path, h.descr)
                 : read_payload(fp, path, &h, 4, &data, err);
    fclose(fp);
    if (rc)
        return -1;
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = data;
    if (XF_BIG_ENDIAN) {
        uint64_t count = 1;
        for (int i = 0; i < h.rank; i++)
            count *= (uint64_t)h.shape[i];
        swap32(data, (size_t)count);
    }
    return 0;
}

int xf_npy_reread(const char *path, xf_array *a, xf_error *err) {
    npy_header h;
    FILE *fp = open_npy(path, &h, err);
    if (!fp)
        return -1;
    uint64_t want = 1, have = 1;
    for (int i = 0; i < a->rank; i++)
        want *= (uint64_t)a->shape[i];
    for (int i = 0; i < h.rank; i++)
        have *= (uint64_t)h.shape[i];
    int rc = 0;
    if (strcmp(h.descr, "<f4") != 0 || have != want || h.data_bytes != want * 4)
        rc = xf_fail(err, "%s: changed since it was first read (dtype, shape or size)", path);
    else if (want && fread(a->data, 4, (size_t)want, fp) != want)
        rc = xf_fail(err, "%s: read error: %s", path, ferror(fp) ? strerror(errno) : "short read");
    fclose(fp);
    if (rc == 0 && XF_BIG_ENDIAN)
        swap32(a->data, (size_t)want);
    return rc;
}

int xf_npy_read_mask(const char *path, int batch, int L, int S, xf_array *out, xf_error *err) {
    memset(out, 0, sizeof *out);
    npy_header h;
    FILE *fp = open_npy(path, &h, err);
    if (!fp)
        return -1;
    char shp[128], want[160];
    shape_str(shp, sizeof shp, h.rank, h.shape);
    snprintf(want, sizeof want, "[%d, %d] or [%d, %d, %d]", L, S, batch, L, S);
    int is_bool = strcmp(h.descr, "|b1") == 0, rc = 0;
    void *data = NULL;
    if (!is_bool && strcmp(h.descr, "<f4") != 0)
        rc = xf_fail(
            err,
            "%s: dtype '%s', expected a mask as float32 '<f4' (0 keep, -inf drop) or bool '|b1'",
            path, h.descr);
    else if (!((h.rank == 2 && h.shape[0] == L && h.shape[1] == S) ||
               (h.rank == 3 && h.shape[0] == batch && h.shape[1] == L && h.shape[2] == S)))
        rc = xf_fail(err, "%s: mask shape %s, expected %s (queries × keys)", path, shp, want);
    else
        rc = read_payload(fp, path, &h, is_bool ? 1 : 4, &data, err);
    fclose(fp);
    if (rc)
        return -1;
    int64_t count = (int64_t)(h.rank == 3 ? batch : 1) * L * S;
    float *f = is_bool ? malloc((size_t)(count ? count : 1) * sizeof *f) : data;
    if (!f) {
        free(data);
        return xf_fail(err, "%s: out of memory for the mask", path);
    }
    if (XF_BIG_ENDIAN && !is_bool)
        swap32(f, (size_t)count);
    for (int64_t i = 0; i < count; i++) {
        if (is_bool)
            f[i] = ((unsigned char *)data)[i] ? 0.0f : -INFINITY;
        else if (isnan(f[i]) || f[i] == INFINITY) {
            double bad = f[i];
            free(f);
            return xf_fail(err,
                           "%s: mask value %g at flat index %lld (a mask holds 0 or -inf, or "
                           "finite values added to the scores)",
                           path, bad, (long long)i);
        }
    }
    if (is_bool)
        free(data);
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = f;
    return 0;
}

/* Token ids: int32 used as they are, int64 narrowed (each checked to fit). */
static int ids_from(xf_ids *out, void *data, int wide, const char *path, xf_error *err) {
    int64_t count = (int64_t)out->rows * out->cols;
    if (!wide) {
        out->data = data;
        if (XF_BIG_ENDIAN)
            swap32(data, (size_t)count);
        return 0;
    }
    const unsigned char *b = data;
    int32_t *ids = malloc((size_t)(count ? count : 1) * sizeof *ids);
    if (!ids)
        return xf_fail(err, "%s: out of memory for %lld ids", path, (long long)count);
    for (int64_t i = 0; i < count; i++) {
        uint64_t u = 0;
        for (int j = 7; j >= 0; j--)
            u = u << 8 | b[i * 8 + j]; /* little-endian on any host */
        int64_t x = (int64_t)u;
        if (x < INT32_MIN || x > INT32_MAX) {
            free(ids);
            return xf_fail(err, "%s: token id %lld at [%lld, %lld] does not fit in int32", path,
                           (long long)x, (long long)(i / (out->cols ? out->cols : 1)),
                           (long long)(i % (out->cols ? out->cols : 1)));
        }
        ids[i] = (int32_t)x;
    }
    out->data = ids;
    free(data);
    return 0;
}

int xf_npy_read_ids(const char *path, xf_ids *out, xf_error *err) {
    memset(out, 0, sizeof *out);
    npy_header h;
    FILE *fp = open_npy(path, &h, err);
    if (!fp)
        return -1;
    char shp[128];
    shape_str(shp, sizeof shp, h.rank, h.shape);
    int wide = strcmp(h.descr, "<i8") == 0, rc = 0;
    void *data = NULL;
    if (!wide && strcmp(h.descr, "<i4") != 0)
        rc = xf_fail(err, "%s: dtype '%s', expected token ids as int32 '<i4' or int64 '<i8'", path,
                     h.descr);
    else if (h.rank > 2)
        rc = xf_fail(err, "%s: rank %d (shape %s), expected token ids [L] or [N, L]", path, h.rank,
                     shp);
    else if (h.shape[0] > INT32_MAX || (h.rank == 2 && h.shape[1] > INT32_MAX))
        rc = xf_fail(err, "%s: shape %s is too large", path, shp);
    else if (h.shape[0] < 1 || (h.rank == 2 && h.shape[1] < 1))
        rc = xf_fail(err, "%s: shape %s holds no token ids", path, shp);
    else
        rc = read_payload(fp, path, &h, wide ? 8 : 4, &data, err);
    fclose(fp);
    if (rc)
        return -1;
    out->rank = h.rank;
    out->rows = h.rank == 2 ? (int)h.shape[0] : 1;
    out->cols = (int)h.shape[h.rank - 1];
    if (ids_from(out, data, wide, path, err)) {
        free(data);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

void xf_ids_free(xf_ids *a) {
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

void xf_array_free(xf_array *a) {
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- directories ------------------------------------------------------------ */

int xf_make_parent_dirs(const char *path, xf_error *err) {
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p)
        return xf_fail(err, "%s: out of memory", path);
    memcpy(p, path, n + 1);
    char *slash = strrchr(p, '/');
    if (!slash) {
        free(p);
        return 0;
    }
    *slash = '\0';
    if (p[0] == '\0') { /* "/file": the root */
        free(p);
        return 0;
    }
    for (char *q = p + 1;; q++) { /* p + 1: an absolute path's root exists */
        int last = (*q == '\0');
        if (*q == '/' || last) {
            char saved = *q;
            *q = '\0';
            if (p[0] && mkdir(p, 0777) != 0) {
                int e = errno;
                struct stat st;
                if (e != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                    int rc = xf_fail(err, "%s: cannot create directory %s: %s", path, p,
                                     e == EEXIST ? "a file of that name exists" : strerror(e));
                    free(p);
                    return rc;
                }
            }
            *q = saved;
            if (last)
                break;
        }
    }
    free(p);
    return 0;
}

/* ---- write ------------------------------------------------------------------ */

typedef struct {
    const unsigned char *pre; /* magic, version, header length: 10 bytes */
    const char *header;       /* the dict, padded, '\n' */
    size_t header_len;
    const float *data; /* count 4-byte elements (floats, or int32 ids: stored alike) */
    uint64_t count;
} npy_out;

/* The file's bytes, little-endian whatever the host (xf_put_fn). */
static int put_npy(FILE *fp, void *ctx) {
    const npy_out *o = ctx;
    if (fwrite(o->pre, 1, 10, fp) != 10 || fwrite(o->header, 1, o->header_len, fp) != o->header_len)
        return -1;
    if (o->count == 0)
        return 0; /* data may be NULL */
    if (!XF_BIG_ENDIAN)
        return fwrite(o->data, sizeof(float), (size_t)o->count, fp) == (size_t)o->count ? 0 : -1;
    float buf[1024];
    for (uint64_t off = 0; off < o->count; off += 1024) {
        size_t k = o->count - off < 1024 ? (size_t)(o->count - off) : 1024;
        memcpy(buf, o->data + off, k * sizeof(float));
        swap32(buf, k);
        if (fwrite(buf, sizeof(float), k, fp) != k)
            return -1;
    }
    return 0;
}

/* One writer for the 4-byte dtypes: `descr` is "<f4" (floats) or "<i4" (token ids). */
static int write_npy4(const char *path, const char *descr, const void *data, int rank,
                      const int64_t *shape, xf_error *err) {
    if (rank < 1 || rank > 4)
        return xf_fail(err, "%s: cannot write rank %d, expected 1..4", path, rank);
    uint64_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return xf_fail(err, "%s: negative dimension %lld", path, (long long)shape[i]);
        if (__builtin_mul_overflow(count, (uint64_t)shape[i], &count) ||
            count > (uint64_t)SIZE_MAX / 8)
            return xf_fail(err, "%s: shape too large", path);
    }
    if (count && !data)
        return xf_fail(err, "%s: no data to write", path);

    /* header: dict, spaces, '\n'; 10 + len is a multiple of 64 */
    char header[256];
    int hn = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                      descr);
    for (int i = 0; i < rank; i++)
        hn += snprintf(header + hn, sizeof header - (size_t)hn, "%lld%s", (long long)shape[i],
                       (rank == 1 || i + 1 < rank) ? ", " : "");
    if (rank == 1)
        hn -= 1; /* "(5,)" as numpy writes it */
    hn += snprintf(header + hn, sizeof header - (size_t)hn, "), }");
    int total = 10 + hn + 1;
    int padded = (total + 63) / 64 * 64;
    memset(header + hn, ' ', (size_t)(padded - total));
    hn += padded - total;
    header[hn++] = '\n';
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hn & 0xff);
    pre[9] = (unsigned char)(hn >> 8);

    if (xf_make_parent_dirs(path, err) != 0)
        return -1;
    npy_out o = {pre, header, (size_t)hn, data, count};
    return xf_write_output(path, put_npy, &o, err);
}

int xf_npy_write(const char *path, const float *data, int rank, const int64_t *shape,
                 xf_error *err) {
    return write_npy4(path, "<f4", data, rank, shape, err);
}

int xf_npy_write_ids(const char *path, const int32_t *ids, int rank, const int64_t *shape,
                     xf_error *err) {
    return write_npy4(path, "<i4", ids, rank, shape, err);
}
