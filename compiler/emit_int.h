/* emit_int.h — what the parts of the emitter share (not used outside emit*.c).
 *
 *   emit_util.c       key/value holes, C literals, the spec text, model dims
 *   emit_listeners.c  handler configurations, instrument-all registration,
 *                     the calls at a dispatch point
 *   emit_layers.c     one function per layer: projections, attention, events
 *   emit_load.c       the tensors of the weight file, by name and shape
 *   emit_tokens.c     a token model's embedding, positions, head, forward on ids
 *   emit.c            the model, its header and its command-line driver
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
    int H, E, DV, D, F;   /* heads, q/k head dim, v head dim, d_model, feed-forward */
} Dims;

void kv_set(KV *k, const char *key, const char *val);
void kv_int(KV *k, const char *key, long long v);
void kv_take(KV *k, const char *key, char *val);
void fill(StrBuf *out, const char *tmpl, KV *k);
char *c_float(double v);
char *c_string(const char *s);
void comment_text(StrBuf *b, const char *s, size_t n);
const char *event_enum(xf_event_kind k);
const char *handler_kind_name(HandlerKind k);
size_t offset_of(const Src *src, Loc loc);
char *spec_model_text(const Model *m);
Dims stack_dims(const Stack *s);
Dims cross_dims(const Stack *s);                /* the decoder's cross-attention */
Dims attention_dims(const Stack *s, int cross); /* self (0) or cross (1) attention's */
int imax(int a, int b);

/* A random feature map as the runtime's xf_feature_map holds it. */
typedef struct FeatureMapParams {
    int m;            /* omega's columns */
    int n_dims;       /* fast-transformers' n_dims in its base class */
    int width;        /* φ's width F (E for elu) */
    int orthogonal;   /* drawn as orthogonal random features (favor, generalized) */
    double temp;      /* inputs scaled by sqrt(temp) */
} FeatureMapParams;
FeatureMapParams feature_map_params(const Stack *s, int E);   /* E: the attention's query size */
/* Does attention of type t in stack s apply a random feature map? */
int uses_feature_map(const Stack *s, AttentionType t);
int has_stack(const Model *m, int stack);
const Stack *get_stack(const Model *m, int stack);
const char *stack_field(const Model *m, int stack);
const char *norm_field(const Model *m, int stack);
const char *source_prefix(const Model *m, int stack);
int listener_used(const Plan *p, int li);
char *emit_listeners(const Plan *p, const char *name);
char *point_calls(const Plan *p, const Point *pt, int indent);
char *wants(const Point *pt);
char *matrix_line(const Plan *p, const Point *pt, const char *buf);
void emit_layer(StrBuf *out, const Plan *p, int stack, int i, const char *name, int step);
void emit_load_stack(StrBuf *b, const Model *m, int stack);
/* emit_about.c: the binary's --help paragraph and --version line (text, newline-terminated) */
char *emit_about(const Plan *p, const char *spec_name);
char *emit_version(const Plan *p, const char *spec_name);
uint64_t spec_hash(const char *text, size_t len);   /* FNV-1a 64 of the spec text */
/* emit_tokens.c: embedding, positions, head and NAME_forward on ids (SPEC §8) */
int emit_is_token_model(const Model *m);
/* emit_generate.c: the generation state and API (prefill, step, generate) */
int emit_generates(const Model *m);
const char *emit_generate_refusal(const Model *m);   /* why a model cannot generate, or NULL */
char *emit_generate_state(const Plan *p, const char *name);
char *emit_generate(const Plan *p, const char *name, const char *enter, const char *leave, const char *flushes);
char *emit_generate_decl(const Model *m, const char *name);
char *emit_token_fields(const Model *m);
void emit_load_tokens(StrBuf *b, const Model *m);
char *emit_token_free(const Model *m);
char *emit_forward_tokens(const Model *m, const char *name);
char *emit_forward_tokens_decl(const Model *m, const char *name);

#endif /* XFC_EMIT_INT_H */
