/* emit_load.c — the loading code: each tensor of the weight file by its
 * torch or fast-transformers name and exact shape, 2-D weights transposed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"
#include "xfc_config.h"

/* ---- loading ---------------------------------------------------------------- */


static void load_line(StrBuf *b, const char *dst, const char *tensor, int rank, long long d0, long long d1) {
    if (rank == 1)
        sb_printf(b, "    TENSOR(%s, \"%s\", 1, %lld);\n", dst, tensor, d0);
    else
        sb_printf(b, "    TENSOR(%s, \"%s\", 2, %lld, %lld);\n", dst, tensor, d0, d1);
}

/* A [rows, cols] weight (or its rows [row0, row0 + n)) stored transposed. */
static void load_weight(StrBuf *b, const char *dst, const char *tensor, long long rows, long long cols,
                        long long row0, long long n) {
    sb_printf(b, "    WEIGHT(%s, \"%s\", %lld, %lld, %lld, %lld);\n", dst, tensor, rows, cols, row0, n);
}

/* The tensors of one attention module under `wprefix` into `dst`: d its
 * heads and sizes, its keys and values projected from `dk` wide rows (the
 * memory's width for cross-attention). */
static void load_attention(StrBuf *b, const Model *m, Dims d, int dk, const char *dst,
                           const char *wprefix) {
    long long HE = (long long)d.H * d.E, HDV = (long long)d.H * d.DV;
    char t[500], lhs[200];
    if (m->weights == WEIGHTS_TORCH) {
        /* packed in_proj: rows [0, D) queries, [D, 2D) keys, [2D, 3D) values */
        snprintf(t, sizeof t, "%s.in_proj_weight", wprefix);
        static const char *const fld[] = {"q", "k", "v"};
        for (int j = 0; j < 3; j++) {
            snprintf(lhs, sizeof lhs, "%s.%s_w", dst, fld[j]);
            load_weight(b, lhs, t, 2 * HE + HDV, d.D, j * HE, j < 2 ? HE : HDV);
        }
        snprintf(t, sizeof t, "%s.in_proj_bias", wprefix);
        snprintf(lhs, sizeof lhs, "%s.q_b", dst);
        load_line(b, lhs, t, 1, 2 * HE + HDV, 0);
        sb_printf(b, "    %s.k_b = %s.q_b + %lld;\n    %s.v_b = %s.q_b + %lld;\n", dst, dst, HE, dst,
                  dst, 2 * HE);
        snprintf(t, sizeof t, "%s.out_proj.weight", wprefix);
        snprintf(lhs, sizeof lhs, "%s.o_w", dst);
        load_weight(b, lhs, t, d.D, HDV, 0, d.D);
        snprintf(t, sizeof t, "%s.out_proj.bias", wprefix);
        snprintf(lhs, sizeof lhs, "%s.o_b", dst);
        load_line(b, lhs, t, 1, d.D, 0);
        return;
    }
    static const char *const proj[] = {"query", "key", "value", "out"};
    static const char *const fld[] = {"q", "k", "v", "o"};
    for (int j = 0; j < 4; j++) {
        long long rows = j < 2 ? HE : j == 2 ? HDV : d.D;
        long long cols = j == 0 ? d.D : j < 3 ? dk : HDV;
        snprintf(t, sizeof t, "%s.%s_projection.weight", wprefix, proj[j]);
        snprintf(lhs, sizeof lhs, "%s.%s_w", dst, fld[j]);
        load_weight(b, lhs, t, rows, cols, 0, rows);
        snprintf(t, sizeof t, "%s.%s_projection.bias", wprefix, proj[j]);
        snprintf(lhs, sizeof lhs, "%s.%s_b", dst, fld[j]);
        load_line(b, lhs, t, 1, rows, 0);
    }
}

/* The feature map of one linear attention module: its parameters, and its
 * omega from the file (`wprefix`.inner_attention.feature_map.omega, as
 * fast-transformers' state_dict names it) or drawn from random_seed. */
static void load_feature_map(StrBuf *b, const Stack *s, int E, const char *dst, const char *wprefix) {
    static const char *const kinds[] = {
        [FMAP_ELU] = "XF_FMAP_ELU", [FMAP_FAVOR] = "XF_FMAP_FAVOR",
        [FMAP_RANDOM_FOURIER] = "XF_FMAP_RANDOM_FOURIER",
        [FMAP_SMOOTHED_RANDOM_FOURIER] = "XF_FMAP_SMOOTHED_RANDOM_FOURIER",
        [FMAP_GENERALIZED_RANDOM] = "XF_FMAP_GENERALIZED_RANDOM",
    };
    FeatureMapParams f = feature_map_params(s, E);
    char *temp = c_float(f.temp);
    sb_printf(b, "    %s.fm = (xf_feature_map){%s, %d, NULL, %s, %d.0f, %d};\n", dst, kinds[s->feature_map],
              f.m, temp, f.n_dims, s->stabilize);
    sb_printf(b, "    if (xf_feature_map_load(&%s.fm, m->file, \"%s.inner_attention.feature_map.omega\", %d, %d, "
                 "%lluULL, err))\n        return -1;\n",
              dst, wprefix, E, f.orthogonal, (unsigned long long)s->random_seed);
    free(temp);
}

/* aft_full's learned position bias: `wprefix`.inner_attention.u and .v
 * [max_sequence_length, aft_parameterization], fast-transformers' parameters. */
static void load_aft(StrBuf *b, const Stack *s, const char *dst, const char *wprefix) {
    char t[500], lhs[220];
    for (int j = 0; j < 2; j++) {
        snprintf(t, sizeof t, "%s.inner_attention.%c", wprefix, "uv"[j]);
        snprintf(lhs, sizeof lhs, "%s.aft_%c", dst, "uv"[j]);
        load_line(b, lhs, t, 2, s->max_sequence_length, s->aft_parameterization);
    }
}

static void load_norm(StrBuf *b, const char *dst, const char *tensor, int D) {
    char t[500], lhs[220];
    snprintf(t, sizeof t, "%s.weight", tensor);
    snprintf(lhs, sizeof lhs, "%s.g", dst);
    load_line(b, lhs, t, 1, D, 0);
    snprintf(t, sizeof t, "%s.bias", tensor);
    snprintf(lhs, sizeof lhs, "%s.b", dst);
    load_line(b, lhs, t, 1, D, 0);
}

/* The tensor-name prefix of layer i's self (cross = 0) or cross attention. */
static void attention_prefix(char *buf, size_t cap, const Model *m, int stack, int i, int cross) {
    int torch = m->weights == WEIGHTS_TORCH;
    const char *mod = cross ? (torch ? "multihead_attn" : "cross_attention")
                            : torch ? "self_attn" : stack == 0 ? "attention" : "self_attention";
    snprintf(buf, cap, "%s%slayers.%d.%s", m->weights_prefix,
             m->kind == MODEL_TRANSFORMER ? (stack == 0 ? "encoder." : "decoder.") : "", i, mod);
}

void emit_print_random(const Model *m, FILE *out) {
    for (int stack = 0; stack < 2; stack++) {
        if (!has_stack(m, stack))
            continue;
        const Stack *s = get_stack(m, stack);
        for (int i = 0; i < s->n_layers; i++)
            for (int cross = 0; cross <= (stack == 1); cross++) {
                if (!uses_feature_map(s, cross ? s->cross_attention_type : s->attention_type))
                    continue;
                int E = attention_dims(s, cross).E;
                FeatureMapParams f = feature_map_params(s, E);
                char t[300];
                attention_prefix(t, sizeof t, m, stack, i, cross);
                fprintf(out, "  random %s.inner_attention.feature_map.omega [%d, %d] (%s): the weight file's "
                             "tensor when it has one, else drawn at load: %s normals from splitmix64 seeded "
                             "by random_seed %lld XOR FNV-1a(name)\n",
                        t, E, f.m, feature_map_names[s->feature_map],
                        f.orthogonal ? "orthogonal" : "independent", s->random_seed);
            }
    }
}

void emit_load_stack(StrBuf *b, const Model *m, int stack) {
    const Stack *s = get_stack(m, stack);
    Dims d = stack_dims(s);
    char wp[200];   /* weights_prefix (<= 128 bytes, check.c) + the stack's own prefix */
    snprintf(wp, sizeof wp, "%s%s", m->weights_prefix,
             m->kind == MODEL_TRANSFORMER ? (stack == 0 ? "encoder." : "decoder.") : "");
    char dst[200], t[400];
    for (int i = 0; i < s->n_layers; i++) {
        sb_printf(b, "    /* %slayers.%d */\n", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].self", stack_field(m, stack), i);
        attention_prefix(t, sizeof t, m, stack, i, 0);
        load_attention(b, m, d, d.D, dst, t);
        if (uses_feature_map(s, s->attention_type))
            load_feature_map(b, s, d.E, dst, t);
        if (s->attention_type == ATT_AFT_FULL)
            load_aft(b, s, dst, t);
        if (stack == 1) {
            snprintf(dst, sizeof dst, "m->%s[%d].cross", stack_field(m, stack), i);
            attention_prefix(t, sizeof t, m, stack, i, 1);
            load_attention(b, m, cross_dims(s), s->memory_dimensions, dst, t);
            if (uses_feature_map(s, s->cross_attention_type))
                load_feature_map(b, s, cross_dims(s).E, dst, t);
            if (s->cross_attention_type == ATT_AFT_FULL)
                load_aft(b, s, dst, t);
        }
        snprintf(t, sizeof t, "%slayers.%d.linear1.weight", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.w1", stack_field(m, stack), i);
        load_weight(b, dst, t, d.F, d.D, 0, d.F);
        snprintf(t, sizeof t, "%slayers.%d.linear1.bias", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.b1", stack_field(m, stack), i);
        load_line(b, dst, t, 1, d.F, 0);
        snprintf(t, sizeof t, "%slayers.%d.linear2.weight", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.w2", stack_field(m, stack), i);
        load_weight(b, dst, t, d.D, d.F, 0, d.D);
        snprintf(t, sizeof t, "%slayers.%d.linear2.bias", wp, i);
        snprintf(dst, sizeof dst, "m->%s[%d].ff.b2", stack_field(m, stack), i);
        load_line(b, dst, t, 1, d.D, 0);
        for (int n = 1; n <= (stack == 1 ? 3 : 2); n++) {
            snprintf(t, sizeof t, "%slayers.%d.norm%d", wp, i, n);
            snprintf(dst, sizeof dst, "m->%s[%d].norm%d", stack_field(m, stack), i, n);
            load_norm(b, dst, t, d.D);
        }
    }
    if (s->final_normalization) {
        snprintf(t, sizeof t, "%snorm", wp);
        snprintf(dst, sizeof dst, "m->%s", norm_field(m, stack));
        sb_printf(b, "    /* %snorm: final LayerNorm */\n", wp);
        load_norm(b, dst, t, d.D);
    }
}
