/* xf_handlers.h — the built-in handlers of the DSL (SPEC §2 "Handlers").
 *
 * Each is an xf_handler: `void h(const xf_event *ev, void *user)` whose user
 * pointer is its configuration below.  A generated debug build calls them
 * directly at its dispatch points; an instrument-all build registers them with
 * the dispatcher.  Handlers never abort the forward: a failure (unwritable
 * directory…) is reported once per handler on stderr, and counted.
 */
#ifndef XF_HANDLERS_H
#define XF_HANDLERS_H

#include "xfrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How many times a built-in handler failed in this process (a file not
 * written, a figure not drawn: one per event and field lost), all models and
 * threads together; never reset.  Read it before and after a call to know
 * whether that call lost events.  The generated drivers exit with status 3
 * when it is not 0 (docs/RELIABILITY.md "Handler failures"). */
int64_t xf_handler_failures(void);

/* Directory that relative handler paths resolve against (--events-dir);
 * NULL or "" = the current directory. */
void xf_set_events_dir(const char *dir);

/* Expands {source} {event} {field} {layer} {step} {call} in `pattern` (field
 * may be NULL when the pattern has no {field}) and prefixes the events dir
 * (absolute patterns are not prefixed).  {source} of the encoder/decoder
 * itself (source "") is "model"; {layer} -1 and {step} -1 (a plain forward)
 * are "none".  Returns 0, or -1 if
 * the result would not fit in `cap` or the pattern has {field} and field is
 * NULL.  save/heatmap insert ".{field}" before the extension when an event
 * has several fields (QKVEvent) and the pattern has no {field}. */
int xf_expand_pattern(char *out, size_t cap, const char *pattern, const xf_event *ev,
                      const char *field);

/* save("pattern.npy"): one .npy per payload field. */
typedef struct {
    const char *pattern;
} xf_save_cfg;
void xf_save(const xf_event *ev, void *cfg /* xf_save_cfg */);

/* heatmap("pattern.png", head = H, sample = N): a viridis PNG of the [L,S]
 * attention (or [L,D] x / [L,H*E] q,k,v) of one sample; head = -1 tiles
 * every head.  Titled with the source and head, with a colorbar.
 *
 * In a generation (SPEC §8, ev->step ≥ 0) the rows of every step of one call
 * are assembled: the prefill's [P, w] (drawn at once, as a forward's, and
 * kept), then each step's row ([1, t] attention, [1, D] x; keys/values that
 * are the whole cache replace), narrower rows zero-padded on the right, so
 * xf_heatmap_flush(cfg, call) at the end of the generation draws what a
 * forward over the final sequence draws ({step} in the pattern: the last
 * step).  A prefill replaces the kept rows of a (source, field) that has not
 * stepped yet, so plain forwards keep at most one copy per source and field. */
typedef struct xf_heatmap_cfg {
    const char *pattern;
    int head;
    int sample;
    struct xf_heatmap_state *state; /* steps collected so far, owned by the runtime */
} xf_heatmap_cfg;
void xf_heatmap(const xf_event *ev, void *cfg /* xf_heatmap_cfg */);
void xf_heatmap_flush(xf_heatmap_cfg *cfg, int64_t call);

/* stats: one line per field on stderr: source, shape, layer=L and (in a
 * generation) step=S, min/max/mean/std and, for attention, the mean row
 * entropy (nats). */
void xf_stats(const xf_event *ev, void *cfg /* unused, may be NULL */);

/* print: source, shape, layer=L and (in a generation) step=S, and the
 * leading values of each field, numpy style, stdout. */
void xf_print(const xf_event *ev, void *cfg /* unused, may be NULL */);

/* figure("pattern.png", head = H, sample = N, cols = C): collects one panel
 * per matching event during a forward call (titled with the source in words,
 * "encoder.layers.0 self-attention head 1"; shared colorbar) and writes one
 * grid figure when the call ends (xf_figure_flush, called by the generated
 * forward, and at the end of a generation).  In a generation a step's rows
 * are appended to the panel of the same call, source, field and head (as
 * heatmap), so the figure is the one of a forward over the final sequence.
 * The getting-started figure. */
typedef struct xf_figure_cfg {
    const char *pattern;
    int head;
    int sample;
    int cols;
    struct xf_figure_state *state; /* panels collected so far, owned by the runtime */
} xf_figure_cfg;
void xf_figure(const xf_event *ev, void *cfg /* xf_figure_cfg */);
void xf_figure_flush(xf_figure_cfg *cfg, int64_t call);

/* Writes one [rows, cols] matrix as a viridis PNG with a title and colorbar
 * (the drawing under heatmap and figure; public for user handlers). */
int xf_png_matrix(const char *path, const float *m, int rows, int cols, const char *title,
                  xf_error *err);

#ifdef __cplusplus
}
#endif

#endif /* XF_HANDLERS_H */
