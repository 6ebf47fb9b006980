/* names.c — the tables of names.h and the one "did you mean" helper. */
#include "names.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "ast.h" /* ExprKind */
#include "strbuf.h"

#define X_NAME(id, name, ...) name,

const char *const model_kind_names[] = {MODEL_KINDS(X_NAME) NULL};

/* ---- events ------------------------------------------------------------------ */

#define X_EVENT(kind, name, c_enum, source) [kind] = {kind, name, c_enum, source},
const EventInfo event_info[N_EVENT_CLASSES] = {EVENT_CLASSES(X_EVENT)};
const char *const event_class_names[] = {EVENT_CLASSES(X_NAME) NULL};

const FieldInfo field_info[N_FIELDS] = {
    [FIELD_QUERIES] = {"queries", 4, XF_QKV_EVENT},
    [FIELD_KEYS] = {"keys", 4, XF_QKV_EVENT},
    [FIELD_VALUES] = {"values", 4, XF_QKV_EVENT},
    [FIELD_ATTENTION_MATRIX] = {"attention_matrix", 4, XF_ATTENTION_EVENT},
    [FIELD_X] = {"x", 3, XF_INTERMEDIATE_OUTPUT},
};
const char *const field_names[] = {"queries", "keys", "values", "attention_matrix", "x", NULL};
const char *const pred_names[] = {"layer", "step", "queries", "keys", "values", "attention_matrix",
                                  "x",     NULL};

/* ---- handlers ---------------------------------------------------------------- */

#define X_HANDLER(id, name, pos, named, fn, cfg, example)                                          \
    [id] = {name, pos, named, fn, cfg, example},
const HandlerInfo handler_info[N_HANDLERS] = {HANDLERS(X_HANDLER)};
const char *const handler_names[] = {HANDLERS(X_NAME) NULL};

const HandlerArgInfo handler_arg_info[N_HANDLER_ARGS] = {
    [HARG_I_HEAD] = {"head", 0, INT_MAX, 0},
    [HARG_I_SAMPLE] = {"sample", 0, INT_MAX, 0},
    [HARG_I_COLS] = {"cols", 1, 1024, 2},
};
const char *const handler_arg_names[] = {"head", "sample", "cols", NULL};

/* ---- settings ---------------------------------------------------------------- */

const char *const attention_type_names[] = {"full",
                                            "linear",
                                            "causal_linear",
                                            "local",
                                            "exact_topk",
                                            "aft_full",
                                            "aft_simple",
                                            "clustered",
                                            "improved_clustered",
                                            "causal_improved_clustered",
                                            "conditional_full",
                                            "reformer",
                                            NULL};
const char *const activation_names[] = {"relu", "gelu", NULL};
const char *const feature_map_names[] = {
    "elu", "favor", "random_fourier", "smoothed_random_fourier", "generalized_random", NULL};
const char *const normalization_names[] = {"post", "pre", NULL};
const char *const weights_layout_names[] = {"torch", "fast_transformers", NULL};
const char *const block_names[] = {"encoder", "decoder", "embedding", "head", NULL};
const char *const embedding_setting_names[] = {"vocab",     "weight",        "scale",
                                               "positions", "max_positions", NULL};
const char *const head_setting_names[] = {"weight", "bias", NULL};
const char *const positions_names[] = {"none", "sinusoidal", "learned", NULL};
const char *const bool_names[] = {"true", "false", NULL};
const char *const placeholder_names[] = {"source", "event", "field", "layer", "step", "call", NULL};

#define X_SETTING(id, name, type, lo, hi, values) [id] = {name, type, lo, hi, values},
const SetInfo setting_info[S_COUNT] = {SETTINGS(X_SETTING)};
const char *const setting_names[] = {SETTINGS(X_NAME) NULL};

/* ---- operators --------------------------------------------------------------- */

const char *expr_op_text(int expr_kind) {
    static const char *const ops[] = {
        [EX_ADD] = "+", [EX_SUB] = "-", [EX_MUL] = "*", [EX_EQ] = "==", [EX_NE] = "!=",
        [EX_LT] = "<",  [EX_LE] = "<=", [EX_GT] = ">",  [EX_GE] = ">=",
    };
    if (expr_kind < 0 || expr_kind >= (int)(sizeof ops / sizeof ops[0]))
        return NULL;
    return ops[expr_kind];
}

/* ---- lookups ----------------------------------------------------------------- */

int name_lookup(const char *word, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    return -1;
}

const char *name_list_text(const char *const *names) {
    static char buf[512];
    size_t n = 0;
    int count = 0;
    while (names[count])
        count++;
    buf[0] = '\0';
    for (int i = 0; i < count && n < sizeof buf; i++) {
        const char *sep = i == 0 ? "" : i == count - 1 ? " or " : ", ";
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", sep, names[i]);
    }
    return buf;
}

/* ---- PyTorch / fast-transformers spellings ---------------------------------- */

const Alias aliases[] = {
    /* settings: torch nn.Transformer* arguments, fast-transformers builder names */
    {"nhead", NULL, "n_heads"},
    {"num_heads", NULL, "n_heads"},
    {"n_head", NULL, "n_heads"},
    {"num_layers", NULL, "n_layers"},
    {"num_encoder_layers", NULL, "n_layers"},
    {"num_decoder_layers", NULL, "n_layers"},
    {"dim_feedforward", NULL, "feed_forward_dimensions"},
    {"d_ff", NULL, "feed_forward_dimensions"},
    {"ffn_dim", NULL, "feed_forward_dimensions"},
    {"intermediate_size", NULL, "feed_forward_dimensions"},
    {"d_keys", NULL, "query_dimensions"},
    {"d_values", NULL, "value_dimensions"},
    {"d_model", NULL, "value_dimensions = d_model / n_heads"},
    {"norm_first", "true", "normalization = pre"},
    {"norm_first", "false", "normalization = post"},
    {"norm_first", NULL, "normalization"},
    {"is_causal", NULL, "causal"},
    {"eps", NULL, "layer_norm_eps"},
    {"layer_norm_epsilon", NULL, "layer_norm_eps"},
    {"norm", NULL, "final_normalization"},
    {"attention", NULL, "attention_type"},
    {"cross_attention", NULL, "cross_attention_type"},
    /* enum values */
    {"softmax", NULL, "full"},
    {"scaled_dot_product", NULL, "full"},
    {"prenorm", NULL, "pre"},
    {"pre_norm", NULL, "pre"},
    {"norm_first", NULL, "pre"},
    {"postnorm", NULL, "post"},
    {"post_norm", NULL, "post"},
    /* module path components: torch's, and one stack's name in the other */
    {"self_attn", NULL, "attention"},
    {"self_attn", NULL, "self_attention"},
    {"multihead_attn", NULL, "cross_attention"},
    {"attn", NULL, "attention"},
    {"attn", NULL, "self_attention"},
    {"attention", NULL, "self_attention"},
    {"self_attention", NULL, "attention"},
    {"layer", NULL, "layers"},
    {"inner", NULL, "inner_attention"},
    {NULL, NULL, NULL},
};

/* Whether the first word of `text` (up to a blank) is one of cands. */
static int first_word_in(const char *text, const char *const *cands) {
    size_t n = strcspn(text, " ");
    for (int i = 0; cands[i]; i++)
        if (strlen(cands[i]) == n && !strncmp(cands[i], text, n))
            return 1;
    return 0;
}

const char *alias_find(const char *word, const char *value, const char *const *cands) {
    for (const Alias *a = aliases; a->word; a++) {
        if (strcmp(a->word, word) || (a->value && (!value || strcmp(a->value, value))))
            continue;
        if (first_word_in(a->instead, cands))
            return a->instead;
    }
    return NULL;
}

/* `word` in lower case when that spelling is a candidate ("GELU" -> "gelu"). */
static const char *lower_case_match(const char *word, const char *const *cands) {
    char low[64];
    size_t n = strlen(word);
    if (n >= sizeof low)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] - 'A' + 'a' : word[i]);
    int k = strcmp(low, word) ? name_lookup(low, cands) : -1;
    return k >= 0 ? cands[k] : NULL;
}

void unknown(Loc loc, int note, const char *word, const char *const *cands, const char *hint_fmt,
             const char *otherwise, const char *doc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    const char *near = alias_find(word, NULL, cands);
    if (!near)
        near = lower_case_match(word, cands);
    if (!near)
        near = diag_suggest(word, cands);
    StrBuf tail;
    sb_init(&tail);
    if (near) {
        sb_puts(&tail, "; did you mean ");
        sb_printf(&tail, hint_fmt, near);
        sb_puts(&tail, "?");
    } else {
        sb_puts(&tail, otherwise);
    }
    if (doc)
        sb_printf(&tail, " (see %s)", doc);
    if (note)
        diag_note(loc, "%s%s", msg, tail.s);
    else
        diag_error(loc, "%s%s", msg, tail.s);
    sb_free(&tail);
    free(msg);
}

int name_is_identifier(const char *s) {
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}
