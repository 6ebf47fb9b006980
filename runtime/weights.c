/* weights.c — safetensors files, mmap'd and validated up front, read with pread.
 *
 * Format: u64 little-endian N, N bytes of JSON
 *   {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, …,
 *    "__metadata__": {…}}
 * then the data; offsets are relative to the byte after the header.
 *
 * Everything a lying file could say is checked at open, so a get() can only
 * fail for the model's reasons (missing, misshaped).  F16/BF16 tensors are
 * converted to float32 on first get and cached in the tensor; F32 is
 * returned in place when 4-byte aligned, except that a file's small tensors
 * (biases, norms) are read into copies and the weights the backend packs are
 * read panel by panel into a staging buffer, both with pread: a mapping's
 * pages cost far more to touch on this machine (read_bytes).  The file
 * descriptor and the stage go at xf_weights_check_all_used, the end of a
 * load.  get() mutates that cache, so a
 * model calls it while loading only; afterwards the xf_weights is read-only
 * and may be shared by threads.  (cJSON's parser writes a global error
 * position: two threads opening files at the same moment race on it, which
 * is harmless to the results.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "xf_blas.h"
#include "xf_io.h"

enum { MAX_RANK = 8 };
#define MAX_HEADER   ((uint64_t)100 * 1000 * 1000) /* bigger is a lie, not a model */
#define MAX_JSON_INT 9007199254740992.0            /* 2^53: doubles stay exact */

/* I64: integer tensors a model reads as floats (clustered attention's
 * initial centroids, SPEC §9), exact below 2^24. */
typedef enum { DT_F32, DT_F16, DT_BF16, DT_I64 } dtype;
static const char *const dtype_names[] = {"F32", "F16", "BF16", "I64"};
static const size_t dtype_sizes[] = {4, 2, 2, 8};

typedef struct {
    char *name;
    dtype dt;
    int rank;
    int64_t shape[MAX_RANK];
    int64_t numel;
    uint64_t begin, end; /* byte range within the data section */
    float *owned;        /* converted (or realigned) copy, after the first get */
    float **panels;      /* [n_panels] row ranges as xf_linear operands (xf_weights_get_t) */
    int n_panels;
    int used;            /* asked for by get() */
    int mapped;          /* its pages of the mapping were read (not only pread) */
    int64_t packed_rows; /* rows handed to the backend so far (xf_weights_get_t) */
} tensor;

struct xf_weights {
    char *file; /* what errors call the file */
    void *map;  /* mmap'd file, or NULL for from_memory */
    size_t map_len;
    const uint8_t *data; /* the data section */
    uint64_t data_len;
    tensor *t; /* [nt] in header order */
    int nt;
    int *by_name;  /* [nt] indices into t, sorted by name */
    float **extra; /* [n_extra] buffers of xf_weights_alloc, freed at close */
    int n_extra;
    int fd;      /* the open file (xf_weights_get_t reads panels with pread), or -1 */
    void *stage; /* [stage_cap] bytes: the panel being packed, as read from fd */
    size_t stage_cap;
};

static void drop_stage(xf_weights *w);

/* ---- shapes in messages: "[96,64]" -------------------------------------- */

static const char *shape_str(char *buf, size_t cap, int rank, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
    return buf;
}

/* A string from the file (a tensor name, a dtype) as messages show it:
 * control characters become '?' so that an error stays one line and cannot
 * drive the terminal (a name may hold "\n" or "\033[2J"); long ones are cut
 * with "...". */
static const char *shown(char *buf, size_t cap, const char *s) {
    size_t n = 0;
    for (; s[n] && n + 1 < cap; n++) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    buf[n] = '\0';
    if (s[n] && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    return buf;
}

enum { SHOWN = 160 }; /* bytes of a name in a message (two fit in xf_error) */

/* ---- header validation -------------------------------------------------- */

/* A JSON number that is an exact non-negative integer a double can hold. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j))
        return 0;
    double d = j->valuedouble;
    if (!(d >= 0.0 && d <= MAX_JSON_INT) || d != (double)(uint64_t)d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

/* Fills t from one header entry; every complaint names the tensor. */
static int parse_entry(tensor *t, const cJSON *e, const xf_weights *w, xf_error *err) {
    const char *f = w->file;
    char nm[SHOWN];
    shown(nm, sizeof nm, e->string);
    if (!cJSON_IsObject(e))
        return xf_fail(err, "%s: tensor %s: header entry is not an object", f, nm);

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt))
        return xf_fail(err, "%s: tensor %s: dtype missing or not a string", f, nm);
    int found = 0;
    for (int i = 0; i < 4; i++)
        if (strcmp(dt->valuestring, dtype_names[i]) == 0) {
            t->dt = (dtype)i;
            found = 1;
        }
    char dts[40];
    if (!found)
        return xf_fail(err, "%s: tensor %s: dtype %s not supported (F32, F16, BF16, I64)", f, nm,
                       shown(dts, sizeof dts, dt->valuestring));

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(sh))
        return xf_fail(err, "%s: tensor %s: shape missing or not a list", f, nm);
    int rank = cJSON_GetArraySize(sh);
    if (rank > MAX_RANK)
        return xf_fail(err, "%s: tensor %s: rank %d, at most %d supported", f, nm, rank, MAX_RANK);
    t->rank = rank;
    t->numel = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!json_uint(d, &v) || v > INT64_MAX)
            return xf_fail(err, "%s: tensor %s: shape must be a list of non-negative integers", f,
                           nm);
        t->shape[i++] = (int64_t)v;
        if (__builtin_mul_overflow(t->numel, (int64_t)v, &t->numel))
            return xf_fail(err, "%s: tensor %s: shape has too many elements", f, nm);
    }

    char sb[160];
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_uint(cJSON_GetArrayItem(off, 0), &t->begin) ||
        !json_uint(cJSON_GetArrayItem(off, 1), &t->end))
        return xf_fail(
            err, "%s: tensor %s: data_offsets must be [begin, end], non-negative integers", f, nm);
    if (t->end < t->begin)
        return xf_fail(err, "%s: tensor %s: data_offsets [%llu,%llu] end before begin", f, nm,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > w->data_len)
        return xf_fail(err,
                       "%s: tensor %s: data_offsets [%llu,%llu] past the end of the data "
                       "(%llu bytes; file truncated?)",
                       f, nm, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)w->data_len);
    uint64_t need;
    if (__builtin_mul_overflow((uint64_t)t->numel, dtype_sizes[t->dt], &need))
        return xf_fail(err, "%s: tensor %s: shape %s %s is too large", f, nm,
                       shape_str(sb, sizeof sb, t->rank, t->shape), dtype_names[t->dt]);
    if (need != t->end - t->begin)
        return xf_fail(err, "%s: tensor %s: data_offsets hold %llu bytes, shape %s %s needs %llu",
                       f, nm, (unsigned long long)(t->end - t->begin),
                       shape_str(sb, sizeof sb, t->rank, t->shape), dtype_names[t->dt],
                       (unsigned long long)need);
    return 0;
}

/* qsort_r comparators over indices into a tensor array (no global context). */
static int cmp_name_r(const void *a, const void *b, void *ctx) {
    const tensor *t = ctx;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int cmp_begin_r(const void *a, const void *b, void *ctx) {
    const tensor *t = ctx;
    const tensor *x = &t[*(const int *)a], *y = &t[*(const int *)b];
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* No two tensors share a byte, no name appears twice. */
static int check_layout(xf_weights *w, xf_error *err) {
    int n = w->nt;
    if (n == 0)
        return 0;
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!idx)
        return xf_fail(err, "%s: out of memory", w->file);
    for (int i = 0; i < n; i++)
        idx[i] = w->by_name[i] = i;

    qsort_r(w->by_name, (size_t)n, sizeof(int), cmp_name_r, w->t);
    for (int i = 1; i < n; i++)
        if (strcmp(w->t[w->by_name[i]].name, w->t[w->by_name[i - 1]].name) == 0) {
            free(idx);
            char nm[SHOWN];
            return xf_fail(err, "%s: tensor %s: listed twice in the header", w->file,
                           shown(nm, sizeof nm, w->t[w->by_name[i]].name));
        }

    qsort_r(idx, (size_t)n, sizeof(int), cmp_begin_r, w->t);
    const tensor *prev = NULL;
    for (int i = 0; i < n; i++) {
        const tensor *t = &w->t[idx[i]];
        if (t->end == t->begin)
            continue; /* empty tensors occupy no bytes */
        if (prev && t->begin < prev->end) {
            free(idx);
            char a[SHOWN], b[SHOWN];
            return xf_fail(err,
                           "%s: tensor %s: data_offsets [%llu,%llu] overlap tensor %s [%llu,%llu]",
                           w->file, shown(a, sizeof a, t->name), (unsigned long long)t->begin,
                           (unsigned long long)t->end, shown(b, sizeof b, prev->name),
                           (unsigned long long)prev->begin, (unsigned long long)prev->end);
        }
        prev = t;
    }
    free(idx);
    return 0;
}

/* Parses and validates the whole header of bytes[0..len). */
static int parse(xf_weights *w, const uint8_t *bytes, size_t len, xf_error *err) {
    const char *f = w->file;
    if (len < 8)
        return xf_fail(err, "%s: truncated: %zu bytes, not even a safetensors header length", f,
                       len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | bytes[i]; /* little-endian, whatever the host */
    if (hl > len - 8)
        return xf_fail(
            err,
            "%s: header length %llu exceeds the file (%zu bytes): truncated or not safetensors", f,
            (unsigned long long)hl, len);
    if (hl > MAX_HEADER)
        return xf_fail(err, "%s: header length %llu is absurd (over 100 MB): not safetensors", f,
                       (unsigned long long)hl);
    w->data = bytes + 8 + hl;
    w->data_len = len - 8 - hl;

    const char *js = (const char *)bytes + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(js, (size_t)hl, &end, 0);
    if (!root)
        return xf_fail(err, "%s: header is not valid JSON (near byte %lld of %llu)", f,
                       end ? (long long)(end - js) : -1LL, (unsigned long long)hl);
    /* writers pad the header with spaces; anything else after the JSON is a lie */
    for (const char *p = end; p < js + hl; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
            cJSON_Delete(root);
            return xf_fail(err, "%s: header is not valid JSON (garbage after byte %lld of %llu)", f,
                           (long long)(p - js), (unsigned long long)hl);
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return xf_fail(err, "%s: header is not a JSON object", f);
    }

    int n = cJSON_GetArraySize(root), rc = 0;
    w->t = calloc((size_t)(n ? n : 1), sizeof *w->t);
    w->by_name = calloc((size_t)(n ? n : 1), sizeof *w->by_name);
    if (!w->t || !w->by_name) {
        cJSON_Delete(root);
        return xf_fail(err, "%s: out of memory", f);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                rc = xf_fail(err, "%s: __metadata__ is not an object", f);
                break;
            }
            continue;
        }
        tensor *t = &w->t[w->nt];
        if (!(t->name = strdup(e->string))) {
            rc = xf_fail(err, "%s: out of memory", f);
            break;
        }
        w->nt++;
        if ((rc = parse_entry(t, e, w, err)) != 0)
            break;
    }
    cJSON_Delete(root);
    return rc ? rc : check_layout(w, err);
}

/* ---- open / close -------------------------------------------------------- */

static xf_weights *new_weights(const char *file, xf_error *err) {
    xf_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->file = strdup(file))) {
        free(w);
        xf_fail(err, "%s: out of memory", file);
        return NULL;
    }
    w->fd = -1;
    return w;
}

xf_weights *xf_weights_from_memory(const void *bytes, size_t len, const char *name, xf_error *err) {
    xf_weights *w = new_weights(name ? name : "(embedded weights)", err);
    if (!w)
        return NULL;
    if (parse(w, bytes, len, err) != 0) {
        xf_weights_close(w);
        return NULL;
    }
    return w;
}

xf_weights *xf_weights_open(const char *path, xf_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        xf_fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        xf_fail(err, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        xf_fail(err, "%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return NULL;
    }
    xf_weights *w = new_weights(path, err);
    if (!w) {
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *bytes = (const uint8_t *)"";
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            xf_fail(err, "%s: mmap: %s", path, strerror(errno));
            close(fd);
            xf_weights_close(w);
            return NULL;
        }
        w->map = m;
        w->map_len = len;
        bytes = m;
    }
    w->fd = fd; /* kept for pread of the packed weights (make_panel) */
    if (parse(w, bytes, len, err) != 0) {
        xf_weights_close(w);
        return NULL;
    }
    return w;
}

void xf_weights_close(xf_weights *w) {
    if (!w)
        return;
    for (int i = 0; i < w->nt; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
        for (int p = 0; p < w->t[i].n_panels; p++)
            xf_blas_free_weight(w->t[i].panels[p]);
        free(w->t[i].panels);
    }
    free(w->t);
    free(w->by_name);
    for (int i = 0; i < w->n_extra; i++)
        free(w->extra[i]);
    free(w->extra);
    if (w->map)
        munmap(w->map, w->map_len);
    if (w->fd >= 0)
        close(w->fd);
    drop_stage(w);
    free(w->file);
    free(w);
}

/* ---- get ---------------------------------------------------------------- */

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half → float, exact: the 15 magnitude bits shifted into place are a
 * float 2¹¹² too small (normals and subnormals alike); inf/NaN keep an
 * all-ones exponent. */
static float f16_to_f32(uint16_t h) {
    uint32_t mag = (uint32_t)(h & 0x7fffu) << 13;
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t bits;
    if ((h & 0x7c00u) == 0x7c00u) {
        bits = mag | 0x7f800000u;
    } else {
        float f = f32_from_bits(mag) * 0x1p112f;
        memcpy(&bits, &f, 4);
    }
    return f32_from_bits(bits | sign);
}

/* dst[n] = the n values of type dt at src, as float32. */
static void convert(float *dst, const uint8_t *src, dtype dt, size_t n) {
    switch (dt) {
        case DT_F32: memcpy(dst, src, n * sizeof(float)); break;
        case DT_F16:
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, src + 2 * i, 2);
                dst[i] = f16_to_f32(h);
            }
            break;
        case DT_BF16: /* the top half of a float32 */
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, src + 2 * i, 2);
                dst[i] = f32_from_bits((uint32_t)h << 16);
            }
            break;
        case DT_I64:
            for (size_t i = 0; i < n; i++) {
                int64_t x;
                memcpy(&x, src + 8 * i, 8);
                dst[i] = (float)x;
            }
            break;
    }
}

/* Converts (or copies, for misaligned F32) tensor t into t->owned. */
static int materialize(tensor *t, const uint8_t *src, const char *file, xf_error *err) {
    size_t n = (size_t)t->numel;
    t->owned = malloc((n ? n : 1) * sizeof(float));
    char nm[SHOWN];
    if (!t->owned)
        return xf_fail(err, "%s: tensor %s: out of memory converting %zu values", file,
                       shown(nm, sizeof nm, t->name), n);
    convert(t->owned, src, t->dt, n);
    return 0;
}

static tensor *find(const xf_weights *w, const char *name) {
    int lo = 0, hi = w->nt;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->t[w->by_name[mid]].name);
        if (c == 0)
            return &w->t[w->by_name[mid]];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* madvise(advice) over the whole pages of the file mapping that hold t's bytes;
 * nothing for embedded weights (not mapped) or an empty tensor. */
static void advise(const xf_weights *w, const tensor *t, int advice) {
    if (!w->map || t->end <= t->begin)
        return;
    uintptr_t lo = (uintptr_t)(w->data + t->begin) & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)(w->data + t->end) + 4095) & ~(uintptr_t)4095;
    uintptr_t top = ((uintptr_t)w->map + w->map_len + 4095) & ~(uintptr_t)4095;
    madvise((void *)lo, (hi < top ? hi : top) - lo, advice);
}

/* Maps t's bytes of the file in with one call before the first read of them:
 * faulting the mapping 4 KiB at a time was most of a model's load time on this
 * machine (runtime/pages.c).  Only the tensors a model asks for are read, so a
 * file padded with junk costs nothing.  Advice: an old kernel ignores it. */
static void populate(const xf_weights *w, const tensor *t) {
#ifdef MADV_POPULATE_READ
    advise(w, t, MADV_POPULATE_READ);
#else
    (void)w, (void)t;
#endif
}

/* Gives t's pages of the file back once the backend holds its own copy of
 * every row: packed weights are read from there, and the mapped copy was a
 * model's largest resident block after the packed one (12 of 72 MiB for the
 * getting-started model at seq 4096).  A later read of t (xf_weights_get of a
 * tied weight) faults the pages in again from the page cache, so this is only
 * advice: pages shared with a neighbour tensor are re-read the same way. */
static void release(const xf_weights *w, const tensor *t) {
    advise(w, t, MADV_DONTNEED);
}

/* The tensor `name`, checked to have exactly `rank` dims equal to `shape`,
 * marked used; NULL + error when missing or misshaped. */
static tensor *checked(xf_weights *w, const char *name, int rank, const int64_t *shape,
                       xf_error *err) {
    tensor *t = find(w, name);
    char nm[SHOWN];
    if (!t) {
        xf_fail(err, "%s: tensor %s: missing", w->file, shown(nm, sizeof nm, name));
        return NULL;
    }
    int same = t->rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char a[160], b[160];
        xf_fail(err, "%s: tensor %s: shape %s, expected %s", w->file, shown(nm, sizeof nm, name),
                shape_str(a, sizeof a, t->rank, t->shape),
                shape_str(b, sizeof b, rank < 0 ? 0 : rank, shape));
        return NULL;
    }
    t->used = 1;
    return t;
}

/* Before t's bytes are first read through the mapping. */
static void map_in(const xf_weights *w, tensor *t) {
    if (!t->mapped)
        populate(w, t);
    t->mapped = 1;
}

int xf_weights_has(const xf_weights *w, const char *name) {
    return find(w, name) != NULL;
}

float *xf_weights_alloc(xf_weights *w, int64_t floats, xf_error *err) {
    float **extra = realloc(w->extra, sizeof *extra * (size_t)(w->n_extra + 1));
    if (!extra) {
        xf_fail(err, "%s: out of memory", w->file);
        return NULL;
    }
    w->extra = extra;
    float *p =
        floats > 0 && floats < ((int64_t)1 << 40) ? malloc((size_t)floats * sizeof(float)) : NULL;
    if (!p) {
        xf_fail(err, "%s: out of memory for %lld drawn values", w->file, (long long)floats);
        return NULL;
    }
    return w->extra[w->n_extra++] = p;
}

/* The stage (w->stage), grown for `bytes`: a panel of a model the size of the
 * getting-started one (≥ 256 KiB) gets 2 MiB-aligned huge pages (one fault
 * where 4 KiB pages were 256 per MiB); a small model's few KiB come from
 * malloc, which keeps its address space small (a capped process must still
 * have room for oneDNN's kernels: tests/cli/memcap.sh). */
enum { STAGE_HUGE = 2 << 20 };

static void drop_stage(xf_weights *w) {
    if (w->stage_cap >= STAGE_HUGE)
        munmap(w->stage, w->stage_cap);
    else
        free(w->stage);
    w->stage = NULL;
    w->stage_cap = 0;
}

static int grow_stage(xf_weights *w, size_t bytes) {
    drop_stage(w);
    if (bytes < STAGE_HUGE / 8) {
        size_t cap = (bytes + 65535) & ~(size_t)65535;
        if (!(w->stage = malloc(cap)))
            return -1;
        w->stage_cap = cap;
        return 0;
    }
    size_t cap = (bytes + STAGE_HUGE - 1) & ~(size_t)(STAGE_HUGE - 1);
    void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
#ifdef MADV_HUGEPAGE
    madvise(m, cap, MADV_HUGEPAGE); /* advice: ignored without THP */
#endif
    w->stage = m;
    w->stage_cap = cap;
    return 0;
}

/* Bytes [off, off + bytes) of t, read with pread into w's staging buffer;
 * NULL + error when the file cannot be read.  Read, not mapped: on
 * this machine (a paravirtualised VM) every page of a mapping costs a few µs
 * at its first touch even after MADV_POPULATE_READ, 6–8 ms for a 12 MB model,
 * while pread copies from the page cache at memory speed (~1 ms). */
static const uint8_t *read_bytes(xf_weights *w, const tensor *t, size_t off, size_t bytes,
                                 xf_error *err) {
    char nm[SHOWN];
    shown(nm, sizeof nm, t->name);
    if (bytes > w->stage_cap && grow_stage(w, bytes) != 0) {
        xf_fail(err, "%s: tensor %s: out of memory", w->file, nm);
        return NULL;
    }
    off_t at = (off_t)((size_t)(w->data - (const uint8_t *)w->map) + t->begin + off);
    for (size_t done = 0; done < bytes;) {
        ssize_t got = pread(w->fd, (char *)w->stage + done, bytes - done, at + (off_t)done);
        if (got <= 0 && !(got < 0 && errno == EINTR)) {
            xf_fail(err, "%s: tensor %s: %s", w->file, nm,
                    got < 0 ? strerror(errno) : "file shrank while loading");
            return NULL;
        }
        done += got > 0 ? (size_t)got : 0;
    }
    return w->stage;
}

/* Tensors up to this many bytes are read into their own copy rather than
 * used in the mapping: a model's biases and norms, scattered between the
 * weights, would each map (and keep resident) a 64 KiB fault-around window
 * of the file, 1 MiB for the getting-started model. */
enum { SMALL_TENSOR = 16 << 10 };

const float *xf_weights_get(xf_weights *w, const char *name, int rank, const int64_t *shape,
                            xf_error *err) {
    tensor *t = checked(w, name, rank, shape, err);
    if (!t)
        return NULL;
    if (t->owned)
        return t->owned;
    if (w->fd >= 0 && t->numel > 0 && t->end - t->begin <= SMALL_TENSOR) {
        const uint8_t *raw = read_bytes(w, t, 0, t->end - t->begin, err);
        return raw && materialize(t, raw, w->file, err) == 0 ? t->owned : NULL;
    }
    map_in(w, t);
    const uint8_t *src = w->data + t->begin;
    if (t->dt == DT_F32 && (uintptr_t)src % sizeof(float) == 0)
        return (const float *)src;
    return materialize(t, src, w->file, err) == 0 ? t->owned : NULL;
}

/* The backend's operand for rows [row0, row0 + nrows) of t (xf_blas_weight),
 * filed in t->panels.  The rows come from t's converted copy when a get made
 * one, else from the file (read_bytes, or the mapping of embedded weights);
 * what is not aligned float32 is converted into a buffer for this call only:
 * the backend keeps its own copy. */
static const float *make_panel(xf_weights *w, tensor *t, int64_t row0, int64_t nrows,
                               xf_error *err) {
    char nm[SHOWN];
    shown(nm, sizeof nm, t->name);
    size_t n = (size_t)(nrows * t->shape[1]);
    float **panels = realloc(t->panels, sizeof *panels * (size_t)(t->n_panels + 1));
    if (!panels) {
        xf_fail(err, "%s: tensor %s: out of memory", w->file, nm);
        return NULL;
    }
    t->panels = panels;
    const float *rows = t->owned ? t->owned + row0 * t->shape[1] : NULL;
    const size_t dsize = dtype_sizes[t->dt], off = (size_t)row0 * t->shape[1] * dsize;
    const uint8_t *raw = w->data + t->begin + off;
    if (!rows && n > 0 && w->fd >= 0 && !(raw = read_bytes(w, t, off, n * dsize, err)))
        return NULL;
    if (!rows && w->fd < 0)
        map_in(w, t);
    float *tmp = NULL;
    if (!rows && t->dt == DT_F32 && (uintptr_t)raw % sizeof(float) == 0)
        rows = (const float *)raw;
    if (!rows) {
        if (!(tmp = malloc(n * sizeof(float)))) {
            xf_fail(err, "%s: tensor %s: out of memory", w->file, nm);
            return NULL;
        }
        convert(tmp, raw, t->dt, n);
        rows = tmp;
    }
    float *op = xf_blas_weight(rows, nrows, t->shape[1], w->file, nm, err);
    free(tmp);
    if (op)
        t->panels[t->n_panels++] = op;
    return op;
}

const float *xf_weights_get_t(xf_weights *w, const char *name, int64_t rows, int64_t cols,
                              int64_t row0, int64_t nrows, xf_error *err) {
    const int64_t shape[2] = {rows, cols};
    tensor *t = checked(w, name, 2, shape, err);
    if (!t)
        return NULL;
    if (row0 < 0 || nrows < 1 || row0 + nrows > rows) {
        char nm[SHOWN];
        xf_fail(err, "%s: tensor %s: rows %lld..%lld outside [0, %lld)", w->file,
                shown(nm, sizeof nm, name), (long long)row0, (long long)(row0 + nrows),
                (long long)rows);
        return NULL;
    }
    const float *op = make_panel(w, t, row0, nrows, err);
    if (op && (t->packed_rows += nrows) >= rows && t->mapped)
        release(w, t);
    return op;
}

/* t's float32 values (all of it) into dst: from its converted copy, the file
 * (read_bytes) or the mapping of embedded weights. */
static int read_all(xf_weights *w, tensor *t, float *dst, xf_error *err) {
    size_t n = (size_t)t->numel;
    if (t->owned) {
        memcpy(dst, t->owned, n * sizeof(float));
        return 0;
    }
    const uint8_t *raw = w->data + t->begin;
    if (n > 0 && w->fd >= 0 && !(raw = read_bytes(w, t, 0, n * dtype_sizes[t->dt], err)))
        return -1;
    if (w->fd < 0)
        map_in(w, t);
    convert(dst, raw, t->dt, n);
    if (t->mapped)
        release(w, t);
    return 0;
}

/* The rows of the 2-D tensors names[0..n) (each [rows[i], cols]) stacked in
 * that order, as one xf_linear operand filed with names[0]'s panels. */
static const float *stacked_weight(xf_weights *w, int n, char names[][XF_NAME_CAP],
                                   const int64_t *rows, int64_t cols, xf_error *err) {
    tensor *ts[XF_MAX_STACKED];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!(ts[i] = checked(w, names[i], 2, (const int64_t[]){rows[i], cols}, err)))
            return NULL;
        total += rows[i];
    }
    char nm[SHOWN];
    shown(nm, sizeof nm, names[0]);
    float **panels = realloc(ts[0]->panels, sizeof *panels * (size_t)(ts[0]->n_panels + 1));
    float *all = panels ? malloc((size_t)(total * cols) * sizeof(float) + 1) : NULL;
    if (panels)
        ts[0]->panels = panels;
    if (!all) {
        xf_fail(err, "%s: tensor %s: out of memory", w->file, nm);
        return NULL;
    }
    int64_t at = 0;
    for (int i = 0; i < n; at += rows[i++] * cols)
        if (read_all(w, ts[i], all + at, err)) {
            free(all);
            return NULL;
        }
    float *op = xf_blas_weight(all, total, cols, w->file, nm, err);
    free(all);
    if (op)
        ts[0]->panels[ts[0]->n_panels++] = op;
    return op;
}

/* The 1-D tensors names[0..n) [lens[i]] one after the other, in a copy owned by w. */
static const float *stacked_vector(xf_weights *w, int n, char names[][XF_NAME_CAP],
                                   const int64_t *lens, xf_error *err) {
    int64_t total = 0;
    const float *parts[XF_MAX_STACKED];
    for (int i = 0; i < n; i++) {
        if (!(parts[i] = xf_weights_get(w, names[i], 1, &lens[i], err)))
            return NULL;
        total += lens[i];
    }
    float *all = xf_weights_alloc(w, total, err);
    for (int64_t i = 0, at = 0; all && i < n; at += lens[i++])
        memcpy(all + at, parts[i], (size_t)lens[i] * sizeof(float));
    return all;
}

int xf_weights_get_projections(xf_weights *w, const char *module, int n, const char *const *proj,
                               const int64_t *rows, int64_t cols, const float **wt,
                               const float **bias, xf_error *err) {
    char names[XF_MAX_STACKED][XF_NAME_CAP];
    for (int i = 0; i < n; i++)
        snprintf(names[i], XF_NAME_CAP, "%s.%s.weight", module, proj[i]);
    if (!(*wt = stacked_weight(w, n, names, rows, cols, err)))
        return -1;
    for (int i = 0; i < n; i++)
        snprintf(names[i], XF_NAME_CAP, "%s.%s.bias", module, proj[i]);
    return (*bias = stacked_vector(w, n, names, rows, err)) ? 0 : -1;
}

int xf_weights_check_all_used(xf_weights *w, xf_error *err) {
    drop_stage(w); /* the load is over: packing needs neither the stage nor the file */
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    char nm[SHOWN];
    for (int i = 0; i < w->nt; i++)
        if (!w->t[i].used)
            return xf_fail(err,
                           "%s: tensor %s: not used by the model "
                           "(weights of a different model, or a layer too many?)",
                           w->file, shown(nm, sizeof nm, w->t[i].name));
    return 0;
}
