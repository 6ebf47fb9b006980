/* emit_load.c — the loading code: each tensor of the weight file by its
 * torch or fast-transformers name and exact shape, 2-D weights transposed.
 * A stack's layers load through one function, load_layer(m, &layers[l], l),
 * called for each l (templates/parts_load.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "emit_int.h"

#define PART(name) "parts_load.c/" name

/* The name of tensor `suffix` of layer l: AT("suffix"). */
static char *at(const char *suffix) {
    KV k = {0};
    emit_kv_set(&k, "suffix", suffix);
    return emit_part(PART("at"), &k);
}

/* `base`.`field`: a field of a weight struct. */
static char *field(const char *base, const char *fld) {
    KV k = {0};
    emit_kv_set(&k, "base", base);
    emit_kv_set(&k, "field", fld);
    return emit_part(PART("field"), &k);
}

/* A [rows, cols] weight (or its rows [row0, row0 + n)) stored transposed;
 * `dst` and `tensor` are taken. */
static void load_weight(StrBuf *b, char *dst, char *tensor, long long rows, long long cols,
                        long long row0, long long n) {
    KV k = {0};
    emit_kv_take(&k, "dst", dst);
    emit_kv_take(&k, "tensor", tensor);
    emit_kv_int(&k, "rows", rows);
    emit_kv_int(&k, "cols", cols);
    emit_kv_int(&k, "row0", row0);
    emit_kv_int(&k, "n", n);
    emit_fill(b, PART("weight"), &k);
}

/* A 1-D tensor of d0 floats; `dst` and `tensor` are taken. */
static void load_vector(StrBuf *b, char *dst, char *tensor, long long d0) {
    KV k = {0};
    emit_kv_take(&k, "dst", dst);
    emit_kv_take(&k, "tensor", tensor);
    emit_kv_int(&k, "d0", d0);
    emit_fill(b, PART("tensor"), &k);
}

/* `module`.`name` (a C string literal) in t. */
static char *module_tensor(char *t, size_t cap, const char *module, const char *name) {
    snprintf(t, cap, "%s.%s", module, name);
    return at(t);
}

/* Fast-transformers' projections `proj`[0..n) of `module` ([rows[j], cols]
 * each) as one operand `w` with one bias `b` (xf_weights_get_projections). */
static void load_stacked(StrBuf *b, const char *dst, const char *w, const char *bias,
                         const char *module, const char *const *proj, const long long *rows, int n,
                         long long cols) {
    KV k = {0};
    StrBuf names, sizes;
    sb_init(&names), sb_init(&sizes);
    for (int j = 0; j < n; j++) { /* C initializers: {"query_projection", …}, {256, …} */
        sb_printf(&names, "%s\"%s_projection\"", j ? ", " : "{", proj[j]);
        sb_printf(&sizes, "%s%lld", j ? ", " : "{", rows[j]);
    }
    sb_puts(&names, "}"), sb_puts(&sizes, "}");
    emit_kv_take(&k, "w", field(dst, w));
    emit_kv_take(&k, "b", field(dst, bias));
    emit_kv_take(&k, "module", at(module));
    emit_kv_int(&k, "n", n);
    emit_kv_take(&k, "names", sb_take(&names));
    emit_kv_take(&k, "rows", sb_take(&sizes));
    emit_kv_int(&k, "cols", cols);
    emit_fill(b, PART("stacked"), &k);
    sb_free(&names), sb_free(&sizes);
}

/* torch's packed in_proj of `module`: a self-attention's rows [0, 2HE + HDV)
 * as one operand, or (`split`: a cross-attention, a self-attention in blocks
 * of rows) its queries [0, HE) and keys and values [HE, 2HE + HDV) as two;
 * the biases point into in_proj_bias. */
static void load_in_proj(StrBuf *b, const char *dst, const char *module, long long HE,
                         long long HDV, long long D, int split) {
    char t[200];
    long long rows = 2 * HE + HDV;
    if (!split) {
        load_weight(b, field(dst, "qkv_w"), module_tensor(t, sizeof t, module, "in_proj_weight"),
                    rows, D, 0, rows);
        load_vector(b, field(dst, "qkv_b"), module_tensor(t, sizeof t, module, "in_proj_bias"),
                    rows);
        return;
    }
    load_weight(b, field(dst, "q_w"), module_tensor(t, sizeof t, module, "in_proj_weight"), rows, D,
                0, HE);
    load_weight(b, field(dst, "kv_w"), module_tensor(t, sizeof t, module, "in_proj_weight"), rows,
                D, HE, HE + HDV);
    load_vector(b, field(dst, "q_b"), module_tensor(t, sizeof t, module, "in_proj_bias"), rows);
    KV k = {0};
    emit_kv_set(&k, "dst", dst);
    emit_kv_int(&k, "HE", HE);
    emit_fill(b, PART("bias_view"), &k);
}

/* The tensors of one attention module `module` (its name in the layer) into
 * `dst`: d its heads and sizes, its keys and values projected from `dk` wide
 * rows (the memory's width for cross-attention); `split`: queries (q_w) and
 * keys|values (kv_w) as two operands. */
static void load_attention(StrBuf *b, const Model *m, Dims d, int dk, const char *dst,
                           const char *module, int split) {
    long long HE = (long long)d.H * d.E, HDV = (long long)d.H * d.DV;
    char t[200];
    if (m->weights == WEIGHTS_TORCH) {
        load_in_proj(b, dst, module, HE, HDV, d.D, split);
    } else if (!split) {
        static const char *const qkv[] = {"query", "key", "value"};
        load_stacked(b, dst, "qkv_w", "qkv_b", module, qkv, (long long[]){HE, HE, HDV}, 3, d.D);
    } else {
        static const char *const kv[] = {"key", "value"};
        load_weight(b, field(dst, "q_w"),
                    module_tensor(t, sizeof t, module, "query_projection.weight"), HE, d.D, 0, HE);
        load_vector(b, field(dst, "q_b"),
                    module_tensor(t, sizeof t, module, "query_projection.bias"), HE);
        load_stacked(b, dst, "kv_w", "kv_b", module, kv, (long long[]){HE, HDV}, 2, dk);
    }
    const char *out = m->weights == WEIGHTS_TORCH ? "out_proj" : "out_projection";
    char o[32];
    snprintf(o, sizeof o, "%s.weight", out);
    load_weight(b, field(dst, "o_w"), module_tensor(t, sizeof t, module, o), d.D, HDV, 0, d.D);
    snprintf(o, sizeof o, "%s.bias", out);
    load_vector(b, field(dst, "o_b"), module_tensor(t, sizeof t, module, o), d.D);
}

/* The feature map of one linear attention module: its parameters, and its
 * omega from the file (`module`.inner_attention.feature_map.omega, as
 * fast-transformers' state_dict names it) or drawn from random_seed. */
static void load_feature_map(StrBuf *b, const Stack *s, int E, const char *dst,
                             const char *module) {
    FeatureMapParams f = emit_feature_map_params(s, E);
    char kind[96], t[200];
    snprintf(kind, sizeof kind, PART("fmap_kind_%s"), feature_map_names[s->feature_map]);
    snprintf(t, sizeof t, "%s.inner_attention.feature_map.omega", module);
    KV k = {0};
    emit_kv_set(&k, "dst", dst);
    emit_kv_take(&k, "kind", emit_part(kind, NULL));
    emit_kv_int(&k, "m", f.m);
    emit_kv_take(&k, "temp", emit_c_float(f.temp));
    emit_kv_int(&k, "n_dims", f.n_dims);
    emit_kv_int(&k, "stabilize", s->stabilize);
    emit_kv_take(&k, "tensor", at(t));
    emit_kv_int(&k, "E", E);
    emit_kv_int(&k, "orthogonal", f.orthogonal);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->random_seed);
    emit_kv_set(&k, "seed", seed);
    emit_fill(b, PART("feature_map"), &k);
}

/* aft_full's learned position bias: `module`.inner_attention.u and .v
 * [max_sequence_length, aft_parameterization], fast-transformers' parameters. */
static void load_aft(StrBuf *b, const Stack *s, const char *dst, const char *module) {
    char t[200];
    for (int j = 0; j < 2; j++) {
        char fld[8];
        snprintf(t, sizeof t, "%s.inner_attention.%c", module, "uv"[j]);
        snprintf(fld, sizeof fld, "aft_%c", "uv"[j]);
        KV k = {0};
        emit_kv_take(&k, "dst", field(dst, fld));
        emit_kv_take(&k, "tensor", at(t));
        emit_kv_int(&k, "d0", s->max_sequence_length);
        emit_kv_int(&k, "d1", s->aft_parameterization);
        emit_fill(b, PART("tensor2"), &k);
    }
}

/* A clustered type's settings and draws: `module`.inner_attention.planes and
 * .initial_centroids from the file, or drawn (xf_clustering_load). */
static void load_clustering(StrBuf *b, const Stack *s, AttentionType t, int E, const char *dst,
                            const char *module) {
    char base[200], seed[32];
    snprintf(base, sizeof base, "%s.inner_attention", module);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->random_seed);
    KV k = {0};
    emit_kv_set(&k, "dst", dst);
    emit_kv_int(&k, "clusters", s->clusters);
    emit_kv_int(&k, "iterations", s->iterations);
    emit_kv_int(&k, "bits", s->bits);
    emit_kv_int(&k, "topk", t == ATT_CLUSTERED ? 0 : s->topk);
    emit_kv_take(&k, "base", at(base));
    emit_kv_int(&k, "E", E);
    emit_kv_int(&k, "hash_bias", s->hash_bias);
    emit_kv_set(&k, "seed", seed);
    emit_fill(b, PART("clustering"), &k);
}

/* Reformer's hashing planes: `module`.inner_attention.planes [rounds, bits, E]
 * from the file, else drawn from random_seed (SPEC §9). */
static void load_planes(StrBuf *b, const Stack *s, int E, const char *dst, const char *module) {
    char t[200], seed[32];
    snprintf(t, sizeof t, "%s.inner_attention.planes", module);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->random_seed);
    KV k = {0};
    emit_kv_take(&k, "dst", field(dst, "planes"));
    emit_kv_take(&k, "tensor", at(t));
    emit_kv_int(&k, "R", s->rounds);
    emit_kv_int(&k, "B", s->bits);
    emit_kv_int(&k, "E", E);
    emit_kv_set(&k, "seed", seed);
    emit_fill(b, PART("planes"), &k);
}

/* The name of layer i's self (cross = 0) or cross attention module, within the layer. */
static const char *attention_module(const Model *m, int stack, int cross) {
    int torch = m->weights == WEIGHTS_TORCH;
    return cross        ? (torch ? "multihead_attn" : "cross_attention")
           : torch      ? "self_attn"
           : stack == 0 ? "attention"
                        : "self_attention";
}

/* The body of load_layer: attention module(s), feed-forward, norms;
 * `split_self`: the self-attention's queries and keys|values as two
 * operands, as a cross-attention's (a stack in blocks of rows). */
static void layer_body(StrBuf *b, const Model *m, int stack, int split_self) {
    const Stack *s = emit_stack(m, stack);
    Dims d = emit_dims(s);
    char *self = emit_part(PART("self"), NULL), *cross = emit_part(PART("cross"), NULL),
         *ff = emit_part(PART("ff"), NULL);
    load_attention(b, m, d, d.D, self, attention_module(m, stack, 0), split_self);
    if (emit_uses_feature_map(s, s->attention_type))
        load_feature_map(b, s, d.E, self, attention_module(m, stack, 0));
    if (attention_runs(s, s->attention_type, ATT_AFT_FULL))
        load_aft(b, s, self, attention_module(m, stack, 0));
    if (emit_is_clustered(s->attention_type))
        load_clustering(b, s, s->attention_type, d.E, self, attention_module(m, stack, 0));
    if (attention_runs(s, s->attention_type, ATT_REFORMER))
        load_planes(b, s, d.E, self, attention_module(m, stack, 0));
    if (stack == 1) {
        Dims cd = emit_cross_dims(s);
        load_attention(b, m, cd, s->memory_dimensions, cross, attention_module(m, stack, 1), 1);
        if (emit_uses_feature_map(s, s->cross_attention_type))
            load_feature_map(b, s, cd.E, cross, attention_module(m, stack, 1));
        if (attention_runs(s, s->cross_attention_type, ATT_AFT_FULL))
            load_aft(b, s, cross, attention_module(m, stack, 1));
        if (emit_is_clustered(s->cross_attention_type))
            load_clustering(b, s, s->cross_attention_type, cd.E, cross,
                            attention_module(m, stack, 1));
    }
    load_weight(b, field(ff, "w1"), at("linear1.weight"), d.F, d.D, 0, d.F);
    load_vector(b, field(ff, "b1"), at("linear1.bias"), d.F);
    load_weight(b, field(ff, "w2"), at("linear2.weight"), d.D, d.F, 0, d.D);
    load_vector(b, field(ff, "b2"), at("linear2.bias"), d.D);
    for (int n = 1; n <= (stack == 1 ? 3 : 2); n++) {
        char t[32];
        KV k = {0};
        emit_kv_int(&k, "n", n);
        char *norm = emit_part(PART("norm"), &k);
        snprintf(t, sizeof t, "norm%d.weight", n);
        load_vector(b, field(norm, "g"), at(t), d.D);
        snprintf(t, sizeof t, "norm%d.bias", n);
        load_vector(b, field(norm, "b"), at(t), d.D);
        free(norm);
    }
    free(self), free(cross), free(ff);
}

/* The weight-name prefix of a stack: weights_prefix, then encoder./decoder. */
static void stack_prefix(char *wp, size_t cap, const Model *m, int stack) {
    snprintf(wp, cap, "%s%s", m->weights_prefix,
             m->kind == MODEL_TRANSFORMER ? (stack == 0 ? "encoder." : "decoder.") : "");
}

/* A stack's load_layer function (`fns`) and its calls and final norm (`body`). */
void emit_load_stack(StrBuf *fns, StrBuf *body, const Model *m, const char *name, int stack,
                     int split_self) {
    const Stack *s = emit_stack(m, stack);
    char wp[200], layer[64]; /* weights_prefix (<= 128 bytes, check.c) + the stack's own prefix */
    stack_prefix(wp, sizeof wp, m, stack);
    snprintf(layer, sizeof layer, "%.*s", (int)strlen(emit_stack_field(m, stack)) - 1,
             emit_stack_field(m, stack));
    StrBuf fmt, lb;
    sb_init(&fmt);
    for (const char *c = wp; *c; c++) /* the prefix inside a printf format */
        sb_printf(&fmt, *c == '%' ? "%%%%" : "%c", *c);
    sb_puts(&fmt, "layers.%d.");
    sb_init(&lb);
    layer_body(&lb, m, stack, split_self);
    KV f = {0}, c = {0};
    emit_kv_set(&f, "prefix", wp);
    emit_kv_set(&f, "layer", layer);
    emit_kv_set(&f, "name", name);
    emit_kv_int(&f, "cap", (long long)strlen(wp) + 128);
    emit_kv_take(&f, "fmt", emit_c_string(fmt.s));
    emit_kv_take(&f, "body", sb_take(&lb));
    emit_fill(fns, PART("fn"), &f);
    sb_free(&fmt), sb_free(&lb);
    emit_kv_int(&c, "n", s->n_layers);
    emit_kv_set(&c, "prefix", wp);
    emit_kv_set(&c, "layer", layer);
    emit_kv_set(&c, "field", emit_stack_field(m, stack));
    emit_fill(body, PART("calls"), &c);
    if (!s->final_normalization)
        return;
    KV n = {0}, g = {0};
    emit_kv_set(&n, "prefix", wp);
    emit_fill(body, PART("final_norm"), &n);
    emit_kv_set(&g, "field", emit_norm_field(m, stack));
    char *dst = emit_part(PART("global"), &g), t[240];
    snprintf(t, sizeof t, "%snorm.weight", wp);
    load_vector(body, field(dst, "g"), emit_c_string(t), s->d_model);
    snprintf(t, sizeof t, "%snorm.bias", wp);
    load_vector(body, field(dst, "b"), emit_c_string(t), s->d_model);
    free(dst);
}

/* `xfc check`'s lines for one clustered module: where its draws come from. */
static void print_clustering(FILE *out, const Stack *s, const char *wp, int layer,
                             const char *module, int E) {
    fprintf(out,
            "  random %slayers.%d.%s.inner_attention.planes [1, %d, %d]: the weight file's "
            "tensor when it has one, else drawn at load: normals from splitmix64 seeded by "
            "random_seed %lld XOR FNV-1a(name)%s\n",
            wp, layer, module, s->bits, E + 1, s->random_seed,
            s->hash_bias ? "" : ", last column zeroed (hash_bias = false)");
    fprintf(out,
            "  random %slayers.%d.%s.inner_attention.initial_centroids [%d]: the weight file's "
            "tensor when it has one, else drawn at each call: %d distinct positions of [0, L) by "
            "selection sampling with splitmix64 seeded by random_seed %lld XOR FNV-1a(name)\n",
            wp, layer, module, s->clusters, s->clusters, s->random_seed);
}

/* `xfc check`'s line for reformer's planes of one layer. */
static void print_planes(FILE *out, const Model *m, const Stack *s, const char *wp, int stack,
                         int i) {
    fprintf(out,
            "  random %slayers.%d.%s.inner_attention.planes [%d, %d, %d] (reformer hashing "
            "planes): the weight file's tensor when it has one, else drawn at load: independent "
            "normals from splitmix64 seeded by random_seed %lld XOR FNV-1a(name)\n",
            wp, i, attention_module(m, stack, 0), s->rounds, s->bits, emit_dims(s).E,
            s->random_seed);
}

void emit_print_random(const Model *m, FILE *out) {
    for (int stack = 0; stack < 2; stack++) {
        if (!emit_has_stack(m, stack))
            continue;
        const Stack *s = emit_stack(m, stack);
        char wp[200];
        stack_prefix(wp, sizeof wp, m, stack);
        for (int i = 0; i < s->n_layers; i++)
            for (int cross = 0; cross <= (stack == 1); cross++) {
                AttentionType t = cross ? s->cross_attention_type : s->attention_type;
                int E = emit_attention_dims(s, cross).E;
                if (emit_is_clustered(t))
                    print_clustering(out, s, wp, i, attention_module(m, stack, cross), E);
                if (!cross && attention_runs(s, t, ATT_REFORMER))
                    print_planes(out, m, s, wp, stack, i);
                if (!emit_uses_feature_map(s, t))
                    continue;
                FeatureMapParams f = emit_feature_map_params(s, E);
                fprintf(
                    out,
                    "  random %slayers.%d.%s.inner_attention.feature_map.omega [%d, %d] (%s): the "
                    "weight file's "
                    "tensor when it has one, else drawn at load: %s normals from splitmix64 seeded "
                    "by random_seed %lld XOR FNV-1a(name)\n",
                    wp, i, attention_module(m, stack, cross), E, f.m,
                    feature_map_names[s->feature_map], f.orthogonal ? "orthogonal" : "independent",
                    s->random_seed);
            }
    }
}
