/* names.c — the tables of names.h and the one "did you mean" helper. */
#include "names.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "ast.h"   /* ExprKind */
#include "strbuf.h"

#define X_NAME(id, name, ...) name,

const char *const model_kind_names[] = { MODEL_KINDS(X_NAME) NULL };

/* ---- events ------------------------------------------------------------------ */

#define X_EVENT(kind, name, c_enum, source) [kind] = { kind, name, c_enum, source },
const EventInfo event_info[N_EVENT_CLASSES] = { EVENT_CLASSES(X_EVENT) };
const char *const event_class_names[] = { EVENT_CLASSES(X_NAME) NULL };

const FieldInfo field_info[N_FIELDS] = {
    [FIELD_QUERIES] = { "queries", 4, XF_QKV_EVENT },
    [FIELD_KEYS] = { "keys", 4, XF_QKV_EVENT },
    [FIELD_VALUES] = { "values", 4, XF_QKV_EVENT },
    [FIELD_ATTENTION_MATRIX] = { "attention_matrix", 4, XF_ATTENTION_EVENT },
    [FIELD_X] = { "x", 3, XF_INTERMEDIATE_OUTPUT },
};
const char *const field_names[] = { "queries", "keys", "values", "attention_matrix", "x", NULL };
const char *const pred_names[] = { "layer", "step", "queries", "keys", "values", "attention_matrix", "x", NULL };

/* ---- handlers ---------------------------------------------------------------- */

#define X_HANDLER(id, name, pos, named, fn, cfg, example) [id] = { name, pos, named, fn, cfg, example },
const HandlerInfo handler_info[N_HANDLERS] = { HANDLERS(X_HANDLER) };
const char *const handler_names[] = { HANDLERS(X_NAME) NULL };

const HandlerArgInfo handler_arg_info[N_HANDLER_ARGS] = {
    [HARG_I_HEAD] = { "head", 0, INT_MAX, 0 },
    [HARG_I_SAMPLE] = { "sample", 0, INT_MAX, 0 },
    [HARG_I_COLS] = { "cols", 1, 1024, 2 },
};
const char *const handler_arg_names[] = { "head", "sample", "cols", NULL };

/* ---- settings ---------------------------------------------------------------- */

const char *const attention_type_names[] = { "full", "linear", "causal_linear", "local", "exact_topk", NULL };
const char *const activation_names[] = { "relu", "gelu", NULL };
const char *const feature_map_names[] = { "elu", "favor", "random_fourier", "smoothed_random_fourier",
                                          "generalized_random", NULL };
const char *const normalization_names[] = { "post", "pre", NULL };
const char *const weights_layout_names[] = { "torch", "fast_transformers", NULL };
const char *const block_names[] = { "encoder", "decoder", "embedding", "head", NULL };
const char *const embedding_setting_names[] = { "vocab", "weight", "scale", "positions", "max_positions", NULL };
const char *const head_setting_names[] = { "weight", "bias", NULL };
const char *const positions_names[] = { "none", "sinusoidal", "learned", NULL };
const char *const bool_names[] = { "true", "false", NULL };
const char *const placeholder_names[] = { "source", "event", "field", "layer", "step", "call", NULL };

#define X_SETTING(id, name, type, lo, hi, values) [id] = { name, type, lo, hi, values },
const SetInfo setting_info[S_COUNT] = { SETTINGS(X_SETTING) };
const char *const setting_names[] = { SETTINGS(X_NAME) NULL };

/* ---- operators --------------------------------------------------------------- */

const char *expr_op_text(int expr_kind)
{
    static const char *const ops[] = {
        [EX_ADD] = "+", [EX_SUB] = "-", [EX_MUL] = "*", [EX_EQ] = "==", [EX_NE] = "!=",
        [EX_LT] = "<", [EX_LE] = "<=", [EX_GT] = ">", [EX_GE] = ">=",
    };
    if (expr_kind < 0 || expr_kind >= (int)(sizeof ops / sizeof ops[0]))
        return NULL;
    return ops[expr_kind];
}

/* ---- lookups ----------------------------------------------------------------- */

int name_lookup(const char *word, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    return -1;
}

const char *name_list_text(const char *const *names)
{
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

void unknown(Loc loc, int note, const char *word, const char *const *cands, const char *hint_fmt,
             const char *otherwise, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    const char *near = diag_suggest(word, cands);
    StrBuf tail;
    sb_init(&tail);
    if (near) {
        sb_puts(&tail, "; did you mean ");
        sb_printf(&tail, hint_fmt, near);
        sb_puts(&tail, "?");
    } else {
        sb_puts(&tail, otherwise);
    }
    if (note)
        diag_note(loc, "%s%s", msg, tail.s);
    else
        diag_error(loc, "%s%s", msg, tail.s);
    sb_free(&tail);
    free(msg);
}
