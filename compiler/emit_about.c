/* emit_about.c — what the built binary says about itself: the paragraph at
 * the top of its --help (the model, its input and output, its listeners) and
 * its --version line (xfc's version, the spec's name and hash).
 *
 * A user who finds a binary weeks later learns from it what it computes
 * without the spec at hand; the hash tells two builds of different specs apart.
 * Both depend only on what is compiled in, so a release build stays
 * byte-identical to the build of the spec without its listeners.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit_int.h"
#include "xfc_config.h"

uint64_t emit_spec_hash(const char *text, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, 64 bits */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static const char *const profile_names[] = {"debug", "release", "instrument-all"};

/* "2 layers, d_model 512 (8 heads x 64), feed-forward 2048, relu, post-norm,
 * full self-attention" for one stack. */
static void stack_text(StrBuf *b, const Stack *s, int is_decoder) {
    sb_printf(
        b, "%d layer%s, d_model %d (%d heads x %d), feed-forward %d, %s, %s-norm, %s%s attention",
        s->n_layers, s->n_layers == 1 ? "" : "s", s->d_model, s->n_heads, s->value_dimensions,
        s->feed_forward_dimensions, activation_names[s->activation],
        normalization_names[s->normalization],
        s->causal && s->attention_type != ATT_CAUSAL_LINEAR ? "causal " : "",
        attention_type_name(s->attention_type));
    if (s->attention_type == ATT_CONDITIONAL_FULL)
        sb_printf(b, " (full up to length %d, else %s)", s->length_limit,
                  attention_type_name(s->fallback));
    if (attention_runs(s, s->attention_type, ATT_REFORMER))
        sb_printf(b, " (chunk_size %d, %d rounds of %d bits%s)", s->chunk_size, s->rounds, s->bits,
                  s->masked ? ", masked" : "");
    if (attention_runs(s, s->attention_type, ATT_LOCAL))
        sb_printf(b, " (local_context %d)", s->local_context);
    if (attention_runs(s, s->attention_type, ATT_EXACT_TOPK))
        sb_printf(b, " (topk %d)", s->topk);
    if (is_decoder)
        sb_printf(b, ", %s cross-attention", attention_type_name(s->cross_attention_type));
}

/* What goes in and comes out of the driver. */
static void io_text(StrBuf *b, const Model *m) {
    const Stack *in = emit_stack(m, m->kind == MODEL_DECODER ? 1 : 0),
                *out = emit_stack(m, m->kind == MODEL_ENCODER ? 0 : 1);
    if (emit_is_token_model(m)) {
        sb_printf(b, " Takes token ids (vocab %d, at most %d positions)", in->emb.vocab,
                  in->emb.max_positions);
        if (out->head.present)
            sb_printf(b, " and returns logits [batch, seq, %d]%s.", out->emb.vocab,
                      emit_generate_refusal(m) ? "" : "; --generate K continues the sequence");
        else
            sb_printf(b, " and returns hidden states [batch, seq, %d].", out->d_model);
        return;
    }
    sb_printf(b, " Takes --input X.npy float32 [batch, seq, %d] (%sor [seq, %d], one sequence)",
              in->d_model, m->kind == MODEL_TRANSFORMER ? "the decoder input; " : "", in->d_model);
    if (m->kind == MODEL_DECODER)
        sb_printf(b, " and --memory M.npy [batch, mem, %d]", in->d_model);
    if (m->kind == MODEL_TRANSFORMER)
        sb_printf(b, " and --source S.npy [batch, src, %d]", m->enc.d_model);
    sb_printf(b, "; writes [batch, seq, %d] (the same rank).", out->d_model);
}

/* The first line of listener l's statement, without its indentation. */
static void listener_line(StrBuf *b, const Src *src, const Listener *l) {
    size_t off = emit_offset_of(src, (Loc){l->loc.line, 1}), n = 0;
    while (off < src->len && (src->text[off] == ' ' || src->text[off] == '\t'))
        off++;
    while (off + n < src->len && src->text[off + n] != '\n' && src->text[off + n] != '\r')
        n++;
    if (n > 100)
        sb_printf(b, "%.97s...", src->text + off);
    else
        sb_printf(b, "%.*s", (int)n, src->text + off);
}

/* Whether the binary holds listener i: all of them with instrument-all, none
 * in a release build, those that can fire in a debug build. */
static int compiled_in(const Plan *p, int i) {
    return p->profile == PROFILE_INSTRUMENT_ALL ||
           (p->profile == PROFILE_DEBUG && emit_listener_used(p, i));
}

/* A debug build without dispatch points is a release build, byte for byte
 * (docs/DSL.md §7): it says so. */
static const char *profile_name(const Plan *p) {
    for (int i = 0; p->profile == PROFILE_DEBUG && i < p->model->n_listeners; i++)
        if (compiled_in(p, i))
            return profile_names[PROFILE_DEBUG];
    return profile_names[p->profile == PROFILE_DEBUG ? PROFILE_RELEASE : p->profile];
}

static void listeners_text(StrBuf *b, const Plan *p) {
    const Model *m = p->model;
    int n = 0;
    for (int i = 0; i < m->n_listeners; i++)
        n += compiled_in(p, i);
    if (n == 0) {
        sb_puts(b, " No listeners compiled in.");
        return;
    }
    sb_printf(b, " Listeners:");
    for (int i = 0; i < m->n_listeners; i++)
        if (compiled_in(p, i)) {
            sb_printf(b, "\n  line %d: ", m->listeners[i].loc.line);
            listener_line(b, m->src, &m->listeners[i]);
        }
}

/* Wraps the paragraph at 78 columns (the listener lines stay as they are). */
static char *wrap(const char *s) {
    StrBuf b;
    sb_init(&b);
    size_t col = 0;
    while (*s) {
        if (*s == '\n') { /* from here on, one listener per line */
            sb_puts(&b, s);
            break;
        }
        size_t n = strcspn(s, " \n");
        if (col && col + 1 + n > 78) {
            sb_puts(&b, "\n");
            col = 0;
        } else if (col) {
            sb_puts(&b, " ");
            col++;
        }
        sb_printf(&b, "%.*s", (int)n, s);
        col += n;
        s += n;
        while (*s == ' ')
            s++;
    }
    sb_puts(&b, "\n\n");
    return sb_take(&b);
}

char *emit_about(const Plan *p, const char *spec_name) {
    const Model *m = p->model;
    StrBuf b;
    sb_init(&b);
    sb_printf(&b, "%s: a %s compiled by xfc %s from %s (profile %s).", m->name,
              model_kind_names[m->kind], XFC_VERSION, spec_name, profile_name(p));
    if (m->kind == MODEL_TRANSFORMER) {
        sb_puts(&b, " Encoder: ");
        stack_text(&b, &m->enc, 0);
        sb_puts(&b, ". Decoder: ");
        stack_text(&b, &m->dec, 1);
    } else {
        sb_puts(&b, " ");
        stack_text(&b, emit_stack(m, m->kind == MODEL_DECODER), m->kind == MODEL_DECODER);
    }
    sb_puts(&b, ".");
    io_text(&b, m);
    listeners_text(&b, p);
    char *text = wrap(b.s);
    sb_free(&b);
    return text;
}

/* The hash of what the binary was compiled from: the model declaration and
 * the listeners compiled in (a release build of a spec hashes as the same spec
 * without its listeners, as its C is the same). */
char *emit_version(const Plan *p, const char *spec_name) {
    const Model *m = p->model;
    StrBuf what;
    sb_init(&what);
    char *decl = emit_spec_text(m);
    sb_puts(&what, decl);
    free(decl);
    for (int i = 0; i < m->n_listeners; i++)
        if (compiled_in(p, i)) {
            sb_puts(&what, "\n");
            listener_line(&what, m->src, &m->listeners[i]);
        }
    StrBuf b;
    sb_init(&b);
    sb_printf(&b, "%s (spec %s, fnv1a64 %016llx) built by xfc %s, profile %s\n", m->name, spec_name,
              (unsigned long long)emit_spec_hash(what.s, strlen(what.s)), XFC_VERSION,
              profile_name(p));
    sb_free(&what);
    return sb_take(&b);
}
