/* xf_handlers_int.h — what handlers.c shares with figure.c (not installed,
 * not the runtime's API). */
#ifndef XF_HANDLERS_INT_H
#define XF_HANDLERS_INT_H

#include <stddef.h>
#include "xfrt.h"

/* 1 the first time it is called with `key`, 0 afterwards. */
int xf__report_once(const void *key);
/* One stderr line per handler configuration `key`, the first time only. */
void xf__report(const void *key, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The file a handler writes for one field of ev (pattern expanded, events dir). */
int xf__handler_path(char *out, size_t cap, const char *pattern, const xf_event *ev,
                     const char *field, int nfields);
/* The payload fields of ev, by name; returns how many. */
int xf__event_fields(const xf_event *ev, const char *names[5], const xf_tensor *ts[5]);
/* ev->source, or "model" for the encoder/decoder itself (""). */
const char *xf__source_name(const xf_event *ev);

/* A source in words for titles: ".inner_attention" dropped, the attention
 * module named by what it does ("encoder.layers.0 self-attention",
 * "decoder.layers.1 cross-attention"), an IntermediateOutput by its layer
 * ("encoder layer 1 output"), "model" for the model itself. */
void xf__source_label(char *buf, size_t cap, const char *source, xf_event_kind kind, int layer);
/* A figure's title: "Attention weights: WHAT[, head H], sample S". */
void xf__figure_title(char *buf, size_t cap, xf_event_kind kind, const char *what, int head,
                      int sample);

/* A colour-bar end label: v, or "0" within a millionth of the range of 0. */
void xf__end_label(char *buf, size_t cap, double v, double range);

#endif /* XF_HANDLERS_INT_H */
