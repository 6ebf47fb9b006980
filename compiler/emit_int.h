/* emit_int.h — what the parts of the emitter share (not used outside emit*.c).
 *
 *   emit_util.c       key/value holes, C literals, the spec text, model dims
 *   emit_listeners.c  handler configurations, instrument-all registration,
 *                     the calls at a dispatch point
 *   emit_layers.c     the layer function a stack shares, a layer's own where a
 *                     dispatch point makes it differ, and their calls
 *   emit_load.c       the tensors of the weight file, by name and shape
 *   emit_tokens.c     a token model's embedding, positions, head, forward on ids
 *   emit_generate.c   a token model's generation state and API
 *   emit_main.c       the command-line driver
 *   emit.c            the model and its header
 * Every C text they write is a template or a snippet of templates/parts_*.in.
 */
#ifndef XFC_EMIT_INT_H
#define XFC_EMIT_INT_H

#include <stdint.h>
#include "emit.h"
#include "templates.h"

/* A key/value list for tmpl_fill; values are owned copies. */
typedef struct KV {
    const char *kv[96];
    char *owned[48];
    int n, n_owned;
} KV;

typedef struct Dims {
    int H, E, DV, D, F; /* heads, q/k head dim, v head dim, d_model, feed-forward */
} Dims;

void emit_kv_set(KV *k, const char *key, const char *val);
void emit_kv_int(KV *k, const char *key, long long v);
void emit_kv_take(KV *k, const char *key, char *val);
/* `tmpl` is a template ("model.c") or a snippet of a parts file ("parts_model.c/enter"). */
void emit_fill(StrBuf *out, const char *tmpl, KV *k);
void emit_fill_keep(StrBuf *out, const char *tmpl, KV *k); /* k stays bound (emit_kv_drop) */
char *emit_part(const char *tmpl, KV *k); /* the filled text, owned; k NULL: no holes */
char *emit_part_if(int cond, const char *tmpl, KV *k); /* cond false: "" */
char *emit_nothing(void);                              /* "", owned: a part that is absent */
void emit_kv_drop(KV *k);                              /* frees holes that were not filled */
char *emit_c_float(double v);
char *emit_c_string(const char *s);
void emit_comment_text(StrBuf *b, const char *s, size_t n);
const char *emit_event_enum(xf_event_kind k);
const char *emit_handler_name(HandlerKind k);
size_t emit_offset_of(const Src *src, Loc loc);
char *emit_spec_text(const Model *m);
Dims emit_dims(const Stack *s);
Dims emit_cross_dims(const Stack *s);                /* the decoder's cross-attention */
Dims emit_attention_dims(const Stack *s, int cross); /* self (0) or cross (1) attention's */
int emit_imax(int a, int b);

/* A random feature map as the runtime's xf_feature_map holds it. */
typedef struct FeatureMapParams {
    int m;          /* omega's columns */
    int n_dims;     /* fast-transformers' n_dims in its base class */
    int width;      /* φ's width F (E for elu) */
    int orthogonal; /* drawn as orthogonal random features (favor, generalized) */
    double temp;    /* inputs scaled by sqrt(temp) */
} FeatureMapParams;
FeatureMapParams emit_feature_map_params(const Stack *s, int E); /* E: the attention's query size */
/* Does attention of type t in stack s apply a random feature map? */
int emit_uses_feature_map(const Stack *s, AttentionType t);
/* Is t clustered, improved_clustered or causal_improved_clustered? */
int emit_is_clustered(AttentionType t);
int emit_has_stack(const Model *m, int stack);
const Stack *emit_stack(const Model *m, int stack);
const char *emit_stack_field(const Model *m, int stack);
const char *emit_norm_field(const Model *m, int stack);
const char *emit_source_prefix(const Model *m, int stack);
int emit_listener_used(const Plan *p, int li);
char *emit_listeners(const Plan *p, const char *name);
char *emit_point_calls(const Plan *p, const Point *pt, int indent);
char *emit_wants(const Point *pt);
char *emit_matrix_line(const Plan *p, const Point *pt, const char *buf);
int emit_has_handlers(const Plan *p);
void emit_final_norm(StrBuf *b, const Model *m, int stack, const char *x, const char *rows);
char *emit_main_c(const Plan *p, const char *spec_name, const char *embed_path); /* emit_main.c */
/* emit_layers.c: a stack's layer functions (`step`: the generation-step twins) and their calls */
int emit_layer_distinct(const Plan *p, int stack, int i);
int emit_row_blocked(const Plan *p, int stack); /* layers in blocks of rows (row_blocks.c) */
void emit_layers(StrBuf *out, const Plan *p, int stack, const char *name, int step);
void emit_layer_calls(StrBuf *b, const Plan *p, int stack, int step, const char *call,
                      const char *x, const char *memory);
/* emit_load.c: a stack's load_layer function (fns) and its calls (body) */
void emit_load_stack(StrBuf *fns, StrBuf *body, const Model *m, const char *name, int stack,
                     int split_self);
/* emit_about.c: the binary's --help paragraph and --version line (text, newline-terminated) */
char *emit_about(const Plan *p, const char *spec_name);
char *emit_version(const Plan *p, const char *spec_name);
uint64_t emit_spec_hash(const char *text, size_t len); /* FNV-1a 64 of the spec text */
/* emit_tokens.c: embedding, positions, head and NAME_forward on ids (SPEC §8) */
int emit_is_token_model(const Model *m);
/* emit_generate.c: the generation state and API (prefill, step, generate) */
int emit_generates(const Model *m);
const char *emit_generate_refusal(const Model *m); /* why a model cannot generate, or NULL */
char *emit_generate_state(const Plan *p, const char *name);
char *emit_generate(const Plan *p, const char *name, const char *enter, const char *leave,
                    const char *flushes);
char *emit_generate_decl(const Model *m, const char *name);
/* emit.c: a Transformer encoder's call checks on src_seq / src_lengths (NAME_forward's, for NAME_encode) */
char *emit_encoder_length_checks(const Model *m);
char *emit_token_fields(const Model *m);
void emit_load_tokens(StrBuf *b, const Model *m);
char *emit_token_free(const Model *m);
char *emit_forward_tokens(const Model *m, const char *name);
char *emit_forward_tokens_decl(const Model *m, const char *name);

#endif /* XFC_EMIT_INT_H */
