/* plan.h — the one place that decides what exists in the generated code.
 *
 * The model's layer sequence is walked once to list every potential dispatch
 * point (event class × source module).  Each listener's filter is folded on
 * each point: class and source become constants, shape comparisons on static
 * dims fold too, and what depends on run-time dims (batch, sequence lengths)
 * becomes a C guard.  The profile then decides which points are kept:
 *   debug          — points some listener may fire at, handlers called directly
 *   release        — none
 *   instrument-all — every point, through the runtime dispatcher
 */
#ifndef XFC_PLAN_H
#define XFC_PLAN_H

#include "model.h"
#include <stdio.h>
#include "xfrt.h" /* xf_event_kind */

typedef enum { PROFILE_DEBUG, PROFILE_RELEASE, PROFILE_INSTRUMENT_ALL } Profile;

/* Which attention module of a layer a point belongs to. */
typedef enum {
    SLOT_SELF,  /* encoder "attention", decoder "self_attention" */
    SLOT_CROSS, /* decoder "cross_attention" */
    SLOT_LAYER, /* the whole stack (IntermediateOutput) */
} Slot;

/* One listener firing at one point, guarded by a run-time condition. */
typedef struct Fire {
    int listener; /* index into Model.listeners */
    char *guard;  /* C expression over N, L, S (NULL = always) */
} Fire;

typedef struct Point {
    xf_event_kind kind; /* XF_QKV_EVENT, XF_ATTENTION_EVENT, XF_INTERMEDIATE_OUTPUT */
    char *source;       /* "layers.2.attention.inner_attention", "" for the encoder */
    int stack;          /* 0 encoder, 1 decoder */
    int layer;          /* layer index within its stack */
    Slot slot;
    Fire *fires; /* [n_fires], listener order (debug profile) */
    int n_fires;
    int kept; /* 1: the emitter prints a dispatch here */
} Point;

typedef struct Plan {
    const Model *model;
    Profile profile;
    Point *points; /* [n_points] in execution order */
    int n_points;
} Plan;

/* Builds the plan; errors (predicate on a field the matched events cannot
 * have, index past a payload's rank) and warnings (a listener that matches
 * no point, with the nearest points that emit its event) go through diag.
 * Returns the number of errors. */
int plan_build(const Model *m, Profile profile, Plan *out);

/* The kept point for (kind, stack, layer, slot), or NULL: the emitter asks
 * this at each place in the layer sequence where an event could happen. */
const Point *plan_point(const Plan *p, xf_event_kind kind, int stack, int layer, Slot slot);

/* `xfc check`'s report: every point and which listeners fire there. */
void plan_print(const Plan *p, FILE *out);

void plan_free(Plan *p);

#endif /* XFC_PLAN_H */
