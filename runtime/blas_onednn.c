/* blas_onednn.c — the linear layers' products on oneDNN (-DXF_BLAS=onednn).
 *
 * Each product is a matmul primitive created for its exact call shape: with
 * a fixed row count and weights in format `any`, oneDNN picks its brgemm
 * kernels and a blocked weight layout (BA16a64b on AVX-512), 2–3× OpenBLAS
 * for the few-row products of small batches (docs/PERFORMANCE.md).  So:
 *
 *   - at load, xf_weights_get_t hands each weight to xf_blas_weight, which
 *     reorders it once from torch's layout into that one and files it in a
 *     registry under the returned address: xf_linear finds the layout again
 *     by its `wt` argument, so generated code stays as it is;
 *   - primitives are created on first use per (rows, in, out, bias, act,
 *     layout) and kept in a small LRU cache: a forward and a generation
 *     step reuse theirs.  Bias and activation are post-ops of the product;
 *   - a pointer that was never packed (a caller's own array) runs as plain
 *     [in, out] weights;
 *   - products of packed weights with at most XF_GEMV_ROWS rows (generation
 *     steps) skip the primitive: xf_gemv (gemv.c) streams the same packed
 *     panels in place, faster, without a primitive call per product.
 *
 * oneDNN runs its loops on GNU OpenMP; xf_blas_set_threads sets that pool's
 * size once, and every call re-applies it on threads that have not seen it
 * (OpenMP's thread count is a per-thread setting).  dnnl_sgemm is never used:
 * its first call costs 40–67 ms of kernel generation.
 */
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "xf_blas.h"

/* ---- engine, streams, failures ------------------------------------------ */

static dnnl_engine_t engine; /* the CPU, created once */
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;    /* each thread's thread_ctx */
static _Atomic int want_threads; /* xf_blas_set_threads; 0 = OpenMP's default */

/* What a thread runs its products with.  Streams are not to be shared, nor is
 * oneDNN's own scratchpad (Debian builds it without concurrent execution), so
 * every primitive takes its scratch memory from the calling thread's here. */
/* Memory objects bound for one call shape, kept by the thread that made them:
 * creating and destroying four of them per product cost ~2 µs, as much as a
 * generation step's whole product at one row.  A later call of the same shape
 * only points them at its arrays (dnnl_memory_set_data_handle). */
typedef struct {
    int64_t sig[10];       /* the call shape the descriptors were made from */
    dnnl_memory_desc_t w;  /* + the weights layout (linear layers; zero for xf_gemm) */
    dnnl_memory_t mem[4];  /* src, weights, dst, bias or alpha; NULL: unused */
    dnnl_memory_t scratch; /* the primitive's scratchpad, or NULL */
    uint64_t used;         /* LRU clock of the last call */
} binding;

enum { BINDINGS = 24 }; /* a model's product shapes per row count, with room */

typedef struct {
    dnnl_stream_t stream;
    void *scratch; /* [cap] bytes, 64-byte aligned */
    size_t cap;
    float *small; /* [small_cap] floats: a small product's copied operands (small_gemm) */
    size_t small_cap;
    binding bind[BINDINGS]; /* [n_bind] in use */
    int n_bind;
    uint64_t clock;
} thread_ctx;

static void unbind(binding *b) {
    for (int i = 0; i < 4; i++)
        dnnl_memory_destroy(b->mem[i]);
    dnnl_memory_destroy(b->scratch);
}

/* A product that cannot run is not an input error a caller could handle:
 * oneDNN only fails here when memory is exhausted. */
static void die_dnnl(const char *what, dnnl_status_t st) {
    fprintf(stderr, "xfrt: oneDNN %s failed (status %d)\n", what, (int)st);
    abort();
}

static void check(dnnl_status_t st, const char *what) {
    if (st != dnnl_success)
        die_dnnl(what, st);
}

static void free_ctx(void *p) {
    thread_ctx *c = p;
    for (int i = 0; i < c->n_bind; i++)
        unbind(&c->bind[i]);
    dnnl_stream_destroy(c->stream);
    free(c->scratch);
    free(c->small);
    free(c);
}

/* oneDNN's first kernel generation asks VTune's JIT profiling library to take
 * the code: a dlopen of libJitPI.so searched through ~45 paths, 0.3–0.8 ms of
 * a first forward on this VM.  Skipped unless a profiler asked for it (VTune
 * names its library in INTEL_JIT_PROFILER64; oneDNN's own setting). */
static void jit_profiling_off(void) {
    static const char *const asked[] = {"INTEL_JIT_PROFILER64", "VS_PROFILER", "ONEDNN_JIT_PROFILE",
                                        "DNNL_JIT_PROFILE"};
    for (size_t i = 0; i < sizeof asked / sizeof *asked; i++)
        if (getenv(asked[i]))
            return;
    dnnl_set_jit_profiling_flags(0);
}

static void make_engine(void) {
    jit_profiling_off();
    check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine creation");
    if (pthread_key_create(&ctx_key, free_ctx) != 0)
        die_dnnl("thread key", dnnl_out_of_memory);
}

static thread_ctx *my_ctx(void) {
    pthread_once(&engine_once, make_engine);
    thread_ctx *c = pthread_getspecific(ctx_key);
    if (!c) {
        if (!(c = calloc(1, sizeof *c)))
            die_dnnl("thread context", dnnl_out_of_memory);
        check(dnnl_stream_create(&c->stream, engine, dnnl_stream_default_flags), "stream creation");
        pthread_setspecific(ctx_key, c);
    }
    return c;
}

/* This thread's scratch buffer, grown to at least `bytes`. */
static void *scratch_of(thread_ctx *c, size_t bytes) {
    if (bytes > c->cap) {
        free(c->scratch);
        c->cap = (bytes + 4095) & ~(size_t)4095;
        if (!(c->scratch = aligned_alloc(64, c->cap)))
            die_dnnl("scratchpad", dnnl_out_of_memory);
    }
    return c->scratch;
}

/* The scratchpad memory primitive p needs (pointing at this thread's buffer),
 * or NULL when it needs none. */
static dnnl_memory_t scratch_for(dnnl_primitive_t p) {
    const_dnnl_primitive_desc_t pd;
    check(dnnl_primitive_get_primitive_desc(p, &pd), "primitive query");
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    if (bytes == 0)
        return NULL;
    dnnl_memory_t m;
    check(dnnl_memory_create(&m, md, engine, scratch_of(my_ctx(), bytes)), "scratchpad");
    return m;
}

/* Runs p with args (+ scratch, its scratchpad or NULL) on this thread's stream,
 * to the end. */
static dnnl_status_t run(dnnl_primitive_t p, int nargs, dnnl_exec_arg_t *args,
                         dnnl_memory_t scratch) {
    if (scratch)
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
    dnnl_stream_t s = my_ctx()->stream;
    dnnl_status_t st = dnnl_primitive_execute(p, s, nargs, args);
    if (st == dnnl_success)
        st = dnnl_stream_wait(s);
    return st;
}

/* run() for a one-off call: its scratchpad memory made and dropped here. */
static dnnl_status_t execute(dnnl_primitive_t p, int nargs, dnnl_exec_arg_t *args) {
    dnnl_memory_t scratch = scratch_for(p);
    dnnl_status_t st = run(p, nargs, args, scratch);
    dnnl_memory_destroy(scratch);
    return st;
}

/* This thread's binding for call shape sig (+ weights layout w), NULL if none. */
static binding *find_binding(const int64_t sig[10], const dnnl_memory_desc_t *w) {
    thread_ctx *c = my_ctx();
    for (int i = 0; i < c->n_bind; i++) {
        binding *b = &c->bind[i];
        if (memcmp(b->sig, sig, sizeof b->sig) == 0 && dnnl_memory_desc_equal(&b->w, w)) {
            b->used = ++c->clock;
            return b;
        }
    }
    return NULL;
}

/* A new binding for sig: memory objects of descriptors md[0..n) (no data yet)
 * and p's scratchpad, in a free or the least recently used slot. */
static binding *new_binding(const int64_t sig[10], const dnnl_memory_desc_t *w,
                            const dnnl_memory_desc_t *md, int n, dnnl_primitive_t p) {
    thread_ctx *c = my_ctx();
    binding *b = &c->bind[0];
    if (c->n_bind < BINDINGS) {
        b = &c->bind[c->n_bind++];
    } else {
        for (int i = 1; i < BINDINGS; i++)
            if (c->bind[i].used < b->used)
                b = &c->bind[i];
        unbind(b);
    }
    *b = (binding){.w = *w, .used = ++c->clock};
    memcpy(b->sig, sig, sizeof b->sig);
    for (int i = 0; i < n; i++)
        check(dnnl_memory_create(&b->mem[i], &md[i], engine, DNNL_MEMORY_NONE), "memory");
    b->scratch = scratch_for(p);
    return b;
}

/* Runs p on b's memory objects pointed at data[0..n). */
static dnnl_status_t run_bound(dnnl_primitive_t p, binding *b, void *const *data, const int *arg,
                               int n) {
    dnnl_exec_arg_t args[5];
    for (int i = 0; i < n; i++) {
        check(dnnl_memory_set_data_handle(b->mem[i], data[i]), "memory");
        args[i] = (dnnl_exec_arg_t){arg[i], b->mem[i]};
    }
    if (b->scratch) { /* the thread's buffer may have moved since (grown for another) */
        const dnnl_memory_desc_t *md;
        check(dnnl_memory_get_memory_desc(b->scratch, &md), "scratchpad");
        check(dnnl_memory_set_data_handle(b->scratch,
                                          scratch_of(my_ctx(), dnnl_memory_desc_get_size(md))),
              "scratchpad");
    }
    return run(p, n, args, b->scratch);
}

/* Every primitive here: scratchpad from the caller (execute), plus post-ops. */
static dnnl_primitive_attr_t make_attr(const_dnnl_post_ops_t ops) {
    dnnl_primitive_attr_t attr;
    check(dnnl_primitive_attr_create(&attr), "attribute");
    check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attribute");
    if (ops)
        check(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    return attr;
}

void xf_blas_set_threads(int n) {
    pthread_once(&engine_once, make_engine);
    atomic_store(&want_threads, n);
    omp_set_num_threads(n);
}

static void apply_threads(void) {
    int n = atomic_load_explicit(&want_threads, memory_order_relaxed);
    if (n > 0 && omp_get_max_threads() != n)
        omp_set_num_threads(n);
}

int xf_blas_threads(void) {
    apply_threads();
    return omp_get_max_threads();
}

/* ---- memory descriptors --------------------------------------------------- */

static dnnl_memory_desc_t plain_md(int64_t rows, int64_t cols) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols};
    check(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab), "memory descriptor");
    return md;
}

static dnnl_memory_desc_t any_md(int64_t rows, int64_t cols) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols};
    check(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_format_tag_any),
          "memory descriptor");
    return md;
}

/* The matmul y[m,n] = act(x[m,k] · w[k,n] (+ b)) with weights laid out as
 * `w` (a blocked layout, or format any to let oneDNN choose). */
static dnnl_status_t matmul_pd(dnnl_primitive_desc_t *pd, int64_t m, int64_t k, int64_t n,
                               const dnnl_memory_desc_t *w, int bias, xf_activation act) {
    pthread_once(&engine_once, make_engine);
    dnnl_memory_desc_t src = plain_md(m, k), dst = plain_md(m, n), b = plain_md(1, n);
    dnnl_matmul_desc_t desc;
    dnnl_status_t st = dnnl_matmul_desc_init(&desc, &src, w, bias ? &b : NULL, &dst);
    if (st != dnnl_success)
        return st;
    dnnl_post_ops_t ops = NULL;
    if (act == XF_RELU || act == XF_GELU) {
        check(dnnl_post_ops_create(&ops), "post-ops");
        check(
            dnnl_post_ops_append_eltwise(
                ops, 1.0f, act == XF_RELU ? dnnl_eltwise_relu : dnnl_eltwise_gelu_erf, 0.0f, 0.0f),
            "post-op");
    }
    dnnl_primitive_attr_t attr = make_attr(ops);
    st = dnnl_primitive_desc_create(pd, &desc, attr, engine, NULL);
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* ---- packed weights: the registry ----------------------------------------- */

typedef struct packed {
    const float *wt;       /* key: the packed data, as xf_blas_weight returned it */
    int64_t in, out;       /* the product's shape */
    dnnl_memory_desc_t md; /* [in, out] in the layout the primitives chose */
    int64_t kpad;          /* > 0: md is xf_gemv's layout, kpad rows per panel */
    struct packed *next;   /* same bucket */
} packed;

enum { BUCKETS = 1024 };
static packed *registry[BUCKETS];
static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned bucket(const float *wt) {
    return (unsigned)(((uintptr_t)wt >> 6) * 2654435761u >> 8) % BUCKETS;
}

/* What xf_blas_weight filed under wt, or NULL (an array of the caller's). */
static const packed *find_packed(const float *wt) {
    const packed *p;
    pthread_rwlock_rdlock(&registry_lock);
    for (p = registry[bucket(wt)]; p && p->wt != wt; p = p->next)
        ;
    pthread_rwlock_unlock(&registry_lock);
    return p;
}

/* The rows per panel when md is xf_gemv's layout — the AVX-512 brgemm
 * kernels' BA16a64b, [out/64][in_padded/16][16][64]: each panel of 64
 * columns one contiguous [in_padded][64] run — else 0 (other ISAs pick other
 * layouts; their few-row products stay on oneDNN). */
static int64_t gemv_rows_of(const dnnl_memory_desc_t *md) {
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    if (md->format_kind != dnnl_blocked || md->extra.flags != 0 || md->offset0 != 0 ||
        bd->inner_nblks != 2 || bd->inner_idxs[0] != 0 || bd->inner_idxs[1] != 1 ||
        bd->inner_blks[1] != 64)
        return 0;
    const int64_t kpad = md->padded_dims[0];
    if (bd->strides[0] != bd->inner_blks[0] * 64 || bd->strides[1] != kpad * 64)
        return 0;
    return kpad;
}

/* How [in, out] weights are packed: the layout a fixed-row primitive picks (it
 * does not depend on the row count: measured for 1 to 4096 rows) and how to
 * get there from torch's layout.  xf_gemv's panels (AVX-512's BA16a64b, what
 * every weight of at least 64 outputs gets on this machine) are written by
 * xf_pack_panels; any other layout by a oneDNN reorder, whose kernel
 * generation cost ~1 ms of a 9 ms load.  A model has a few weight shapes and
 * many weights, so both are made once per shape and kept for the process
 * (creating them per weight was a third of load time). */
typedef struct {
    int64_t in, out;
    dnnl_memory_desc_t src;   /* torch's w[out, in] as [in, out], tag ba */
    dnnl_memory_desc_t md;    /* the primitives' layout */
    int64_t kpad;             /* > 0: md is xf_gemv's panels of kpad rows (xf_pack_panels) */
    dnnl_primitive_t reorder; /* else src -> md; NULL too: no blocked kernel takes the shape */
} packing;

enum { PACKINGS = 32 };
static packing packings[PACKINGS];
static int n_packings;
static pthread_mutex_t packing_lock = PTHREAD_MUTEX_INITIALIZER;

/* p for [in, out]: its layout and how to pack it; neither kpad nor reorder
 * when the shape runs as plain weights. */
/* The layout oneDNN's AVX-512 f32 matmul picks for [in, out] weights when it
 * is known without asking: BA16a64b, xf_gemv's panels, for in a multiple of
 * 16 and out of 64 (tests/unit/test_rt_gemv.c checks the prediction against
 * the primitives' own choice).  Asking means creating a matmul primitive
 * descriptor per weight shape, 1.3–1.5 ms of a 5–7 ms load for the
 * getting-started model (its first one carries oneDNN's one-time set-up,
 * which the first forward then pays instead). */
static int predict_panels(packing *p, int64_t in, int64_t out) {
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (in <= 0 || out <= 0 || in % 16 || out % 64 ||
        ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core) != (unsigned)dnnl_cpu_isa_avx512_core)
        return 0;
    dnnl_dims_t dims = {in, out};
    check(dnnl_memory_desc_init_by_tag(&p->md, 2, dims, dnnl_f32, dnnl_BA16a64b),
          "memory descriptor");
    return (p->kpad = gemv_rows_of(&p->md)) > 0;
}

/* The layout a fixed-row primitive picks for [in, out] when asked: p->md, and
 * p->kpad when it is xf_gemv's panels. */
static int asked_layout(packing *p, int64_t in, int64_t out) {
    dnnl_memory_desc_t any = any_md(in, out);
    dnnl_primitive_desc_t pd;
    if (matmul_pd(&pd, XF_FF_ROWS, in, out, &any, 1, XF_NO_ACTIVATION) != dnnl_success)
        return -1;
    p->md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    p->kpad = gemv_rows_of(&p->md);
    return 0;
}

int xf_blas_layout_predicted(int64_t in, int64_t out) {
    pthread_once(&engine_once, make_engine);
    packing predicted = {0}, asked = {0};
    if (!predict_panels(&predicted, in, out))
        return -1;
    return asked_layout(&asked, in, out) == 0 && dnnl_memory_desc_equal(&predicted.md, &asked.md);
}

static void make_packing(packing *p, int64_t in, int64_t out) {
    *p = (packing){.in = in, .out = out};
    dnnl_dims_t dims = {in, out};
    check(dnnl_memory_desc_init_by_tag(&p->src, 2, dims, dnnl_f32, dnnl_ba), "memory descriptor");
    if (predict_panels(p, in, out) || asked_layout(p, in, out) != 0 || p->kpad > 0)
        return;
    dnnl_primitive_attr_t attr = make_attr(NULL);
    dnnl_primitive_desc_t rpd;
    dnnl_status_t st =
        dnnl_reorder_primitive_desc_create(&rpd, &p->src, engine, &p->md, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return;
    if (dnnl_primitive_create(&p->reorder, rpd) != dnnl_success)
        p->reorder = NULL;
    dnnl_primitive_desc_destroy(rpd);
}

/* The packing of [in, out] weights, made on first use.  A shape past the table
 * (PACKINGS shapes in one process) gets one made for this call only, in *own. */
static const packing *packing_for(int64_t in, int64_t out, packing *own) {
    pthread_mutex_lock(&packing_lock);
    for (int i = 0; i < n_packings; i++)
        if (packings[i].in == in && packings[i].out == out) {
            pthread_mutex_unlock(&packing_lock);
            return &packings[i];
        }
    packing *p = n_packings < PACKINGS ? &packings[n_packings] : own;
    make_packing(p, in, out);
    if (p != own)
        n_packings++;
    pthread_mutex_unlock(&packing_lock);
    return p;
}

/* dst (the packing's layout) = src (torch's layout), with its reorder. */
static int pack(const packing *p, const float *src, float *dst) {
    dnnl_memory_t s, d;
    check(dnnl_memory_create(&s, &p->src, engine, (void *)src), "memory");
    check(dnnl_memory_create(&d, &p->md, engine, dst), "memory");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, s}, {DNNL_ARG_TO, d}};
    dnnl_status_t st = execute(p->reorder, 2, args);
    dnnl_memory_destroy(s);
    dnnl_memory_destroy(d);
    return st == dnnl_success ? 0 : -1;
}

/* dst (layout dmd) = src (layout smd), once. */
static int reorder(const dnnl_memory_desc_t *smd, const void *src, const dnnl_memory_desc_t *dmd,
                   void *dst) {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_attr_t attr = make_attr(NULL);
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, smd, engine, dmd, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return -1;
    dnnl_primitive_t r;
    dnnl_memory_t s, d;
    st = dnnl_primitive_create(&r, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return -1;
    check(dnnl_memory_create(&s, smd, engine, (void *)src), "memory");
    check(dnnl_memory_create(&d, dmd, engine, dst), "memory");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, s}, {DNNL_ARG_TO, d}};
    st = execute(r, 2, args);
    dnnl_memory_destroy(s);
    dnnl_memory_destroy(d);
    dnnl_primitive_destroy(r);
    return st == dnnl_success ? 0 : -1;
}

/* torch's w[out, in] is the [in, out] operand in column-major order (tag ba):
 * one pass (xf_pack_panels or a reorder) takes it straight into the blocked
 * layout, without a transposed copy in between. */
float *xf_blas_weight(const float *w, int64_t out, int64_t in, const char *file, const char *tensor,
                      xf_error *err) {
    pthread_once(&engine_once, make_engine);
    packing own = {0};
    const packing *k = packing_for(in, out, &own);
    if (!k->kpad && !k->reorder)
        return xf_transposed_copy(w, out, in, file, tensor, err); /* no blocked kernel takes it */
    dnnl_memory_desc_t md = k->md;
    packed *p = malloc(sizeof *p);
    float *data = p ? xf_pages_alloc(dnnl_memory_desc_get_size(&md)) : NULL;
    if (data && k->kpad)
        xf_pack_panels(data, w, out, in, k->kpad);
    int failed = !data || (!k->kpad && pack(k, w, data) != 0);
    if (k == &own && own.reorder)
        dnnl_primitive_destroy(own.reorder);
    if (failed) {
        xf_pages_free(data);
        free(p);
        xf_fail(err, "%s: tensor %s: out of memory packing [%lld,%lld] weights", file, tensor,
                (long long)out, (long long)in);
        return NULL;
    }
    *p = (packed){data, in, out, md, k->kpad, NULL};
    pthread_rwlock_wrlock(&registry_lock);
    unsigned h = bucket(data);
    p->next = registry[h];
    registry[h] = p;
    pthread_rwlock_unlock(&registry_lock);
    return data;
}

void xf_blas_free_weight(float *wt) {
    pthread_rwlock_wrlock(&registry_lock);
    for (packed **pp = &registry[bucket(wt)]; *pp; pp = &(*pp)->next)
        if ((*pp)->wt == wt) {
            packed *p = *pp;
            *pp = p->next;
            free(p);
            break;
        }
    pthread_rwlock_unlock(&registry_lock);
    xf_pages_free(wt);
}

/* ---- primitives: a small LRU cache per call shape -------------------------- */

typedef struct {
    int64_t m, k, n;      /* rows, in, out */
    int bias;             /* 1: with a bias input */
    xf_activation act;    /* fused post-op */
    dnnl_memory_desc_t w; /* weights layout (plain [k, n] or a packed one) */
} prim_key;

typedef struct {
    prim_key key;
    dnnl_primitive_t prim; /* NULL: free slot */
    uint64_t used;         /* LRU clock of the last lookup */
    int refs;              /* callers executing it right now */
} prim_slot;

enum { CACHE_SLOTS = 64 }; /* a model uses ~4 shapes per row count it sees */
static prim_slot cache[CACHE_SLOTS];
static uint64_t cache_clock;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_key(const prim_key *a, const prim_key *b) {
    return a->m == b->m && a->k == b->k && a->n == b->n && a->bias == b->bias && a->act == b->act &&
           dnnl_memory_desc_equal(&a->w, &b->w);
}

static dnnl_primitive_t create_prim(const prim_key *key) {
    dnnl_primitive_desc_t pd;
    if (matmul_pd(&pd, key->m, key->k, key->n, &key->w, key->bias, key->act) != dnnl_success)
        return NULL;
    dnnl_primitive_t p = NULL;
    if (dnnl_primitive_create(&p, pd) != dnnl_success)
        p = NULL;
    dnnl_primitive_desc_destroy(pd);
    return p;
}

/* The slot holding key's primitive (created on a miss, in the least recently
 * used idle slot), with a reference taken; NULL when no primitive exists for
 * that layout.  When every slot is busy, *uncached gets a primitive the
 * caller destroys. */
static prim_slot *acquire_prim(const prim_key *key, dnnl_primitive_t *uncached) {
    *uncached = NULL;
    pthread_mutex_lock(&cache_lock);
    prim_slot *victim = NULL;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        prim_slot *s = &cache[i];
        if (s->prim && same_key(&s->key, key)) {
            s->refs++;
            s->used = ++cache_clock;
            pthread_mutex_unlock(&cache_lock);
            return s;
        }
        if (s->refs == 0 && (!victim || !s->prim || (victim->prim && s->used < victim->used)))
            victim = s;
    }
    dnnl_primitive_t p = create_prim(key);
    if (p && victim) {
        if (victim->prim)
            dnnl_primitive_destroy(victim->prim);
        *victim = (prim_slot){*key, p, ++cache_clock, 1};
    } else {
        *uncached = p;
        victim = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    return victim;
}

static void release_prim(prim_slot *s, dnnl_primitive_t uncached) {
    if (uncached)
        dnnl_primitive_destroy(uncached);
    if (s) {
        pthread_mutex_lock(&cache_lock);
        s->refs--;
        pthread_mutex_unlock(&cache_lock);
    }
}

/* ---- y = act(x w + b) ------------------------------------------------------ */

static void run_matmul(dnnl_primitive_t prim, const prim_key *key, float *y, const float *x,
                       const void *w, const float *b) {
    const int64_t sig[10] = {1, key->m, key->k, key->n, b != NULL, key->act};
    binding *bd = find_binding(sig, &key->w);
    if (!bd) {
        const dnnl_memory_desc_t md[4] = {plain_md(key->m, key->k), key->w,
                                          plain_md(key->m, key->n), plain_md(1, key->n)};
        bd = new_binding(sig, &key->w, md, b ? 4 : 3, prim);
    }
    static const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    void *const data[4] = {(void *)x, (void *)w, y, (void *)b};
    apply_threads();
    check(run_bound(prim, bd, data, arg, b ? 4 : 3), "matmul");
}

/* y = act(b) or 0 for every row: a product over nothing (in = 0). */
static void empty_product(float *y, const float *b, int n, int out, xf_activation act) {
    for (int i = 0; i < n; i++) {
        float *r = y + (int64_t)i * out;
        if (b)
            memcpy(r, b, (size_t)out * sizeof(float));
        else
            memset(r, 0, (size_t)out * sizeof(float));
    }
    if (act == XF_RELU)
        xf_relu(y, (int64_t)n * out);
    else if (act == XF_GELU)
        xf_gelu(y, (int64_t)n * out);
}

/* y = act(x wt + b) with wt in the layout `p` describes: on the primitive
 * made for it, or — should none take that layout at this row count — via a
 * plain copy unpacked for this call. */
static void packed_product(float *y, const float *x, const packed *p, const float *b, int n,
                           xf_activation act) {
    prim_key key = {n, p->in, p->out, b != NULL, act, p->md};
    dnnl_primitive_t uncached;
    prim_slot *slot = acquire_prim(&key, &uncached);
    if (slot || uncached) {
        run_matmul(slot ? slot->prim : uncached, &key, y, x, p->wt, b);
        release_prim(slot, uncached);
        return;
    }
    dnnl_memory_desc_t plain = plain_md(p->in, p->out);
    float *wt = malloc(sizeof(float) * (size_t)(p->in * p->out));
    if (!wt || reorder(&p->md, p->wt, &plain, wt) != 0)
        die_dnnl("unpacking weights", dnnl_out_of_memory);
    key.w = plain;
    slot = acquire_prim(&key, &uncached);
    if (!slot && !uncached)
        die_dnnl("matmul creation", dnnl_unimplemented);
    run_matmul(slot ? slot->prim : uncached, &key, y, x, wt, b);
    release_prim(slot, uncached);
    free(wt);
}

void xf_linear_act(float *y, const float *x, const float *wt, const float *b, int n, int in,
                   int out, xf_activation act) {
    if (n <= 0 || out <= 0)
        return;
    if (in <= 0) {
        empty_product(y, b, n, out, act);
        return;
    }
    const packed *p = find_packed(wt);
    if (p) {
        if (p->in != in || p->out != out) {
            fprintf(stderr, "xfrt: xf_linear: weights packed as [%lld,%lld] used as [%d,%d]\n",
                    (long long)p->in, (long long)p->out, in, out);
            abort();
        }
        if (n <= XF_GEMV_ROWS && p->kpad)
            xf_gemv(y, x, p->wt, p->kpad, b, n, in, out, act);
        else
            packed_product(y, x, p, b, n, act);
        return;
    }
    prim_key key = {n, in, out, b != NULL, act, plain_md(in, out)}; /* a caller's [in, out] */
    dnnl_primitive_t uncached;
    prim_slot *slot = acquire_prim(&key, &uncached);
    if (!slot && !uncached)
        die_dnnl("matmul creation", dnnl_unimplemented);
    run_matmul(slot ? slot->prim : uncached, &key, y, x, wt, b);
    release_prim(slot, uncached);
}

void xf_linear(float *y, const float *x, const float *wt, const float *b, int n, int in, int out) {
    xf_linear_act(y, x, wt, b, n, in, out, XF_NO_ACTIVATION);
}

/* ---- attention's products: one primitive per kind, shapes at run time ------ */

/* A matrix of run-time size whose rows (or, transposed, columns) are a
 * run-time stride apart; with rows/cols/ld given, the actual one. */
static dnnl_memory_desc_t strided_md(int64_t rows, int64_t cols, xf_trans t, int64_t ld) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols}, strides = {ld, 1};
    if (t == XF_TRANS) {
        strides[0] = 1;
        strides[1] = ld;
    }
    check(dnnl_memory_desc_init_by_strides(&md, 2, dims, dnnl_f32, strides), "memory descriptor");
    return md;
}

typedef struct {
    xf_trans ta, tb; /* operand layouts */
    int accumulate;  /* beta = 1: a sum post-op */
    dnnl_primitive_t prim;
} gemm_kind;

enum { GEMM_KINDS = 8 }; /* 2 × 2 × 2 */
static gemm_kind gemm_kinds[GEMM_KINDS];
static int n_gemm_kinds;

/* The primitive of a kind: dims and strides at run time (so oneDNN runs its
 * gemm kernels, no per-shape generation), alpha a run-time output scale. */
static dnnl_primitive_t gemm_prim(xf_trans ta, xf_trans tb, int accumulate) {
    const int64_t RT = DNNL_RUNTIME_DIM_VAL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < n_gemm_kinds; i++)
        if (gemm_kinds[i].ta == ta && gemm_kinds[i].tb == tb &&
            gemm_kinds[i].accumulate == accumulate) {
            pthread_mutex_unlock(&cache_lock);
            return gemm_kinds[i].prim;
        }
    pthread_once(&engine_once, make_engine);
    dnnl_memory_desc_t a = strided_md(RT, RT, ta, RT), b = strided_md(RT, RT, tb, RT),
                       c = strided_md(RT, RT, XF_NOTRANS, RT);
    dnnl_matmul_desc_t desc;
    check(dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c), "matmul descriptor");
    dnnl_post_ops_t ops = NULL;
    if (accumulate) {
        check(dnnl_post_ops_create(&ops), "post-ops");
        check(dnnl_post_ops_append_sum(ops, 1.0f), "post-op");
    }
    dnnl_primitive_attr_t attr = make_attr(ops);
    check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &DNNL_RUNTIME_F32_VAL), "scales");
    dnnl_primitive_desc_t pd;
    check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL), "matmul");
    dnnl_primitive_t p;
    check(dnnl_primitive_create(&p, pd), "matmul");
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    dnnl_post_ops_destroy(ops);
    gemm_kinds[n_gemm_kinds++] = (gemm_kind){ta, tb, accumulate, p};
    pthread_mutex_unlock(&cache_lock);
    return p;
}

/* ---- fixed-shape products: one primitive per exact shape, for the process ---- */

/* oneDNN's brgemm kernels need every dimension fixed when the primitive is
 * made (0.1–1 ms); with run-time dimensions it picks gemm:jit, which
 * generates its kernels at its first execution (80 ms of CPU: nearly all of
 * a short sequence's first forward) and runs a repeated tile ~20% slower.
 * So two kinds of products run on a primitive made for their exact shape:
 *   - xf_gemm's small products that xf_gemm_small (gemm_small.c) does not
 *     take in place (m·n·k up to 32 × 32 × 64 with k·n past its
 *     XF_SMALL_PACKED), on contiguous untransposed copies of their
 *     operands (brgemm wants dense ones; copying costs less than a call),
 *     alpha and beta applied when the result is copied out, so the two
 *     products of a head are often one shape;
 *   - xf_gemm_tile's repeated shapes (attention's online tiles where
 *     attention_tile.c has no AVX-512 kernels), in place.
 * One table holds both, first come first served, never evicted (a primitive
 * in use is never destroyed): XF_FIXED_SHAPES shapes per process.  Past it
 * a product runs on the run-time-shape primitive — correct, slower to start
 * — so kernels whose shapes change within a call (clustered attention's
 * cluster sizes, local attention's edge blocks) cannot make a primitive per
 * product. */
enum { SMALL_PRODUCT = 32 * 32 * 64 };

typedef struct {
    int64_t sig[10]; /* 4, ta | tb << 1 | beta 1 << 2, m, n, k, lda, ldb, ldc, alpha's bits, 0 */
    dnnl_primitive_t prim;
} fixed_kind;

static fixed_kind fixed_kinds[XF_FIXED_SHAPES]; /* [n_fixed] */
static int n_fixed;

int xf_blas_fixed_shapes(void) {
    pthread_mutex_lock(&cache_lock);
    int n = n_fixed;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

/* The signature of a product: its table and binding key. */
static void fixed_sig(int64_t sig[10], xf_trans ta, xf_trans tb, int accumulate, int m, int n,
                      int k, int lda, int ldb, int ldc, float alpha) {
    uint32_t bits;
    memcpy(&bits, &alpha, sizeof bits);
    const int64_t s[10] = {4, ta | tb << 1 | accumulate << 2, m, n, k, lda, ldb, ldc, bits, 0};
    memcpy(sig, s, sizeof s);
}

/* The operands' descriptors of sig: a, b, c. */
static void fixed_mds(dnnl_memory_desc_t md[3], const int64_t sig[10]) {
    const xf_trans ta = (xf_trans)(sig[1] & 1), tb = (xf_trans)(sig[1] >> 1 & 1);
    md[0] = strided_md(sig[2], sig[4], ta, sig[5]);
    md[1] = strided_md(sig[4], sig[3], tb, sig[6]);
    md[2] = strided_md(sig[2], sig[3], XF_NOTRANS, sig[7]);
}

/* A new primitive for sig (alpha a constant output scale, beta 1 a sum
 * post-op), or NULL if oneDNN has none. */
static dnnl_primitive_t create_fixed_prim(const int64_t sig[10], float alpha) {
    pthread_once(&engine_once, make_engine);
    dnnl_memory_desc_t md[3];
    fixed_mds(md, sig);
    dnnl_matmul_desc_t desc;
    check(dnnl_matmul_desc_init(&desc, &md[0], &md[1], NULL, &md[2]), "matmul descriptor");
    dnnl_post_ops_t ops = NULL;
    if (sig[1] & 4) {
        check(dnnl_post_ops_create(&ops), "post-ops");
        check(dnnl_post_ops_append_sum(ops, 1.0f), "post-op");
    }
    dnnl_primitive_attr_t attr = make_attr(ops);
    if (alpha != 1.0f)
        check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "scales");
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p = NULL;
    if (dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success) {
        if (dnnl_primitive_create(&p, pd) != dnnl_success)
            p = NULL;
        dnnl_primitive_desc_destroy(pd);
    }
    dnnl_primitive_attr_destroy(attr);
    dnnl_post_ops_destroy(ops);
    return p;
}

/* The primitive of sig, made on first use; NULL when the table is full or
 * oneDNN has none (the caller runs the run-time-shape path). */
static dnnl_primitive_t fixed_prim(const int64_t sig[10], float alpha) {
    pthread_mutex_lock(&cache_lock);
    dnnl_primitive_t p = NULL;
    for (int i = 0; i < n_fixed && !p; i++)
        if (memcmp(fixed_kinds[i].sig, sig, sizeof fixed_kinds[i].sig) == 0)
            p = fixed_kinds[i].prim;
    if (!p && n_fixed < XF_FIXED_SHAPES && (p = create_fixed_prim(sig, alpha))) {
        memcpy(fixed_kinds[n_fixed].sig, sig, sizeof fixed_kinds[0].sig);
        fixed_kinds[n_fixed++].prim = p;
    }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

/* Runs sig's primitive on a, b, c (laid out as sig says). */
static void fixed_run(dnnl_primitive_t prim, const int64_t sig[10], const float *a, const float *b,
                      float *c) {
    static const dnnl_memory_desc_t no_weights; /* these bindings have no packed layout */
    binding *bd = find_binding(sig, &no_weights);
    if (!bd) {
        dnnl_memory_desc_t md[3];
        fixed_mds(md, sig);
        bd = new_binding(sig, &no_weights, md, 3, prim);
    }
    static const int arg[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    void *const data[3] = {(void *)a, (void *)b, c};
    apply_threads();
    check(run_bound(prim, bd, data, arg, 3), "matmul");
}

/* This thread's buffer for a small product's operands, at least `floats`. */
static float *small_of(thread_ctx *c, size_t floats) {
    if (floats > c->small_cap) {
        free(c->small);
        c->small_cap = (floats + 1023) & ~(size_t)1023;
        if (!(c->small = aligned_alloc(64, c->small_cap * sizeof(float))))
            die_dnnl("small product", dnnl_out_of_memory);
    }
    return c->small;
}

/* dst[rows, cols] (contiguous) = op(src), src rows ld apart; op(src) = srcᵀ
 * when t is XF_TRANS (src then [cols, rows]). */
static void gather(float *dst, const float *src, int rows, int cols, int ld, xf_trans t) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            dst[(int64_t)i * cols + j] =
                t == XF_TRANS ? src[(int64_t)j * ld + i] : src[(int64_t)i * ld + j];
}

/* xf_gemm for m·n·k <= SMALL_PRODUCT (beta 0 or 1) on copies; 0 when no
 * fixed-shape primitive takes it. */
static int small_gemm(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    int64_t sig[10];
    fixed_sig(sig, XF_NOTRANS, XF_NOTRANS, 0, m, n, k, k, n, n, 1.0f);
    dnnl_primitive_t prim = fixed_prim(sig, 1.0f);
    if (!prim)
        return 0;
    float *x = small_of(my_ctx(), (size_t)m * k + (size_t)k * n + (size_t)m * n);
    float *w = x + (size_t)m * k, *y = w + (size_t)k * n;
    gather(x, a, m, k, lda, ta);
    gather(w, b, k, n, ldb, tb);
    fixed_run(prim, sig, x, w, y);
    for (int i = 0; i < m; i++) {
        float *ci = c + (int64_t)i * ldc;
        const float *yi = y + (int64_t)i * n;
        for (int j = 0; j < n; j++)
            ci[j] = alpha * yi[j] + (beta != 0.0f ? ci[j] : 0.0f);
    }
    return 1;
}

void xf_gemm(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || (beta != 0.0f && beta != 1.0f)) {
        xf_scale_matrix(c, m, n, ldc, beta);
        if (k <= 0)
            return;
        beta = 1.0f; /* any other beta: scaled above, then accumulated */
    }
    if (xf_gemm_small(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    if ((int64_t)m * n * k <= SMALL_PRODUCT &&
        small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    dnnl_primitive_t prim = gemm_prim(ta, tb, beta == 1.0f);
    static const dnnl_memory_desc_t no_weights; /* gemm bindings have no packed layout */
    const int64_t sig[10] = {2, ta, tb, beta == 1.0f, m, n, k, lda, ldb, ldc};
    binding *bd = find_binding(sig, &no_weights);
    if (!bd) {
        dnnl_memory_desc_t md[4] = {strided_md(m, k, ta, lda), strided_md(k, n, tb, ldb),
                                    strided_md(m, n, XF_NOTRANS, ldc)};
        dnnl_dims_t one = {1};
        check(dnnl_memory_desc_init_by_tag(&md[3], 1, one, dnnl_f32, dnnl_a), "memory descriptor");
        bd = new_binding(sig, &no_weights, md, 4, prim);
    }
    static const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST,
                               DNNL_ARG_ATTR_OUTPUT_SCALES};
    void *const data[4] = {(void *)a, (void *)b, c, &alpha};
    apply_threads();
    check(run_bound(prim, bd, data, arg, 4), "matmul");
}

void xf_gemm_tile(xf_trans ta, xf_trans tb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    dnnl_primitive_t prim = NULL;
    int64_t sig[10];
    fixed_sig(sig, ta, tb, beta == 1.0f, m, n, k, lda, ldb, ldc, alpha);
    if (m > 0 && n > 0 && k > 0 && (beta == 0.0f || beta == 1.0f))
        prim = fixed_prim(sig, alpha);
    if (prim)
        fixed_run(prim, sig, a, b, c);
    else
        xf_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *xf_blas_name(void) {
    return "onednn";
}
