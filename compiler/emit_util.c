/* emit_util.c — the emitter's small helpers: holes, C literals, the spec
 * text in the header comment, and the dims of each stack. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "emit_int.h"
#include "xfc_config.h"

/* ---- small helpers ---------------------------------------------------------- */

void emit_kv_set(KV *k, const char *key, const char *val) {
    char *copy = xstrdup(val);
    k->owned[k->n_owned++] = copy;
    k->kv[k->n++] = key;
    k->kv[k->n++] = copy;
    k->kv[k->n] = NULL;
}

void emit_kv_int(KV *k, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    emit_kv_set(k, key, buf);
}

void emit_kv_take(KV *k, const char *key, char *val) {
    emit_kv_set(k, key, val);
    free(val);
}

static void kv_free(KV *k) {
    for (int i = 0; i < k->n_owned; i++)
        free(k->owned[i]);
    k->n = k->n_owned = 0;
}

void emit_fill_keep(StrBuf *out, const char *tmpl, KV *k) {
    KV none = {0};
    size_t len;
    const char *text = tmpl_get_n(tmpl, &len);
    k = k ? k : &none;
    k->kv[k->n] = NULL;
    tmpl_fill_n(out, text, len, k->kv);
}

void emit_fill(StrBuf *out, const char *tmpl, KV *k) {
    emit_fill_keep(out, tmpl, k);
    if (k)
        kv_free(k);
}

char *emit_part(const char *tmpl, KV *k) {
    StrBuf b;
    sb_init(&b);
    emit_fill(&b, tmpl, k);
    return sb_take(&b);
}

void emit_kv_drop(KV *k) {
    kv_free(k);
}

char *emit_nothing(void) {
    return xstrdup("");
}

char *emit_part_if(int cond, const char *tmpl, KV *k) {
    if (cond)
        return emit_part(tmpl, k);
    if (k)
        kv_free(k);
    return xstrdup("");
}

/* A float as a C literal that reads back exactly: 0.125f, 1e-05f. */
char *emit_c_float(double v) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", v);
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    strcat(buf, "f");
    return xstrdup(buf);
}

/* A C string literal (quotes included). */
char *emit_c_string(const char *s) {
    StrBuf b;
    sb_init(&b);
    sb_puts(&b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_printf(&b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            sb_printf(&b, "\\%03o", (unsigned char)*s);
        else
            sb_printf(&b, "%c", *s);
    }
    sb_puts(&b, "\"");
    return sb_take(&b);
}

/* Source text safe inside a C comment. */
void emit_comment_text(StrBuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' && i + 1 < n && s[i + 1] == '/')
            sb_puts(b, "* ");
        else
            sb_printf(b, "%c", s[i]);
    }
}

const char *emit_event_enum(xf_event_kind k) {
    return event_info[k].c_enum;
}

const char *emit_handler_name(HandlerKind k) {
    return handler_info[k].name;
}

/* ---- the spec in the header comment ----------------------------------------- */

/* Byte offset of a (line, col) position. */
size_t emit_offset_of(const Src *src, Loc loc) {
    size_t off = 0;
    for (int line = 1; line < loc.line && off < src->len; off++)
        if (src->text[off] == '\n')
            line++;
    off += (size_t)(loc.col > 0 ? loc.col - 1 : 0);
    return off < src->len ? off : src->len;
}

/* Offset of the `model` keyword (outside comments and strings). */
static size_t model_keyword(const Src *src) {
    const char *t = src->text;
    for (size_t i = 0; i < src->len; i++) {
        if (t[i] == '#') {
            while (i < src->len && t[i] != '\n')
                i++;
        } else if (t[i] == '"') {
            for (i++; i < src->len && t[i] != '"'; i++)
                if (t[i] == '\\')
                    i++;
        } else if (!strncmp(t + i, "model", 5) && (i == 0 || !isalnum((unsigned char)t[i - 1])) &&
                   !isalnum((unsigned char)t[i + 5]) && t[i + 5] != '_') {
            return i;
        }
    }
    return 0;
}

/* The model declaration only (from `model` to its closing brace): listeners
 * are left out so a release build's C equals that of the spec without them. */
char *emit_spec_text(const Model *m) {
    const Src *src = m->src;
    size_t start = model_keyword(src), end = start;
    int depth = 0, seen = 0;
    for (; end < src->len; end++) {
        char ch = src->text[end];
        if (ch == '#') {
            while (end < src->len && src->text[end] != '\n')
                end++;
        } else if (ch == '"') {
            for (end++; end < src->len && src->text[end] != '"'; end++)
                if (src->text[end] == '\\')
                    end++;
        } else if (ch == '{') {
            depth++, seen = 1;
        } else if (ch == '}' && --depth == 0 && seen) {
            end++;
            break;
        }
    }
    StrBuf b;
    sb_init(&b);
    size_t line_start = start;
    for (size_t i = start; i <= end && i <= src->len; i++) {
        if (i == end || src->text[i] == '\n') {
            sb_puts(&b, " *   ");
            emit_comment_text(&b, src->text + line_start, i - line_start);
            sb_puts(&b, "\n");
            line_start = i + 1;
            if (i == end)
                break;
        }
    }
    return sb_take(&b);
}

/* ---- model dims ------------------------------------------------------------- */

Dims emit_dims(const Stack *s) {
    Dims d = {s->n_heads, s->query_dimensions, s->value_dimensions, s->d_model,
              s->feed_forward_dimensions};
    return d;
}

/* A decoder's cross-attention: its own heads and head sizes (fast-transformers'
 * cross_n_heads, cross_query_dimensions, cross_value_dimensions). */
Dims emit_cross_dims(const Stack *s) {
    Dims d = {s->cross_n_heads, s->cross_query_dimensions, s->cross_value_dimensions, s->d_model,
              s->feed_forward_dimensions};
    return d;
}

Dims emit_attention_dims(const Stack *s, int cross) {
    return cross ? emit_cross_dims(s) : emit_dims(s);
}

int emit_imax(int a, int b) {
    return a > b ? a : b;
}

/* fast-transformers' feature maps, from their constructors: n is the n_dims
 * argument (feature_dimensions); its base class keeps n' (smoothed: n - 1,
 * generalized: 2n) and draws omega [E, n'/2]. */
FeatureMapParams emit_feature_map_params(const Stack *s, int E) {
    FeatureMapParams f = {0};
    int n = s->feature_dimensions;
    f.temp = 1.0 / sqrt((double)E);
    switch (s->feature_map) {
        case FMAP_ELU: f.width = E; return f;
        case FMAP_FAVOR: f.n_dims = n, f.orthogonal = 1; break;
        case FMAP_RANDOM_FOURIER: f.n_dims = n; break;
        case FMAP_SMOOTHED_RANDOM_FOURIER: f.n_dims = n - 1; break;
        case FMAP_GENERALIZED_RANDOM: f.n_dims = 2 * n, f.orthogonal = 1, f.temp = 1.0; break;
    }
    f.m = f.n_dims / 2;
    f.width = s->feature_map == FMAP_GENERALIZED_RANDOM        ? f.m
              : s->feature_map == FMAP_SMOOTHED_RANDOM_FOURIER ? 2 * f.m + 1
                                                               : 2 * f.m;
    return f;
}

int emit_uses_feature_map(const Stack *s, AttentionType t) {
    return s->feature_map != FMAP_ELU &&
           (attention_runs(s, t, ATT_LINEAR) || attention_runs(s, t, ATT_CAUSAL_LINEAR));
}

int emit_is_clustered(AttentionType t) {
    return t == ATT_CLUSTERED || t == ATT_IMPROVED_CLUSTERED || t == ATT_CAUSAL_IMPROVED_CLUSTERED;
}

int emit_has_stack(const Model *m, int stack) {
    return stack == 0 ? m->kind != MODEL_DECODER : m->kind != MODEL_ENCODER;
}

const Stack *emit_stack(const Model *m, int stack) {
    return stack == 0 ? &m->enc : &m->dec;
}

/* The C name of a stack's layer array and final norm, and its weight prefix. */
const char *emit_stack_field(const Model *m, int stack) {
    if (m->kind != MODEL_TRANSFORMER)
        return "layers";
    return stack == 0 ? "encoder_layers" : "decoder_layers";
}
const char *emit_norm_field(const Model *m, int stack) {
    if (m->kind != MODEL_TRANSFORMER)
        return "norm";
    return stack == 0 ? "encoder_norm" : "decoder_norm";
}
const char *emit_source_prefix(const Model *m, int stack) {
    if (m->kind != MODEL_TRANSFORMER)
        return "";
    return stack == 0 ? "encoder." : "decoder.";
}
