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

/* A run-time dim of a call, which a guard reads from the call's context. */
typedef enum {
    DIM_N,    /* batch */
    DIM_L,    /* query length */
    DIM_T,    /* self-attention key length: L, or the positions so far in a step */
    DIM_S,    /* cross-attention key length (the memory's) */
    DIM_STEP, /* the generation step, -1 in a forward */
} RunDim;

/* What is left of a filter at a point once everything static has folded: a
 * condition over run-time dims (evaluated in long long; plan.c rejects one
 * whose values could leave ±2^62). */
typedef enum {
    G_CONST, /* v */
    G_DIM,   /* dim */
    G_NEG,   /* -lhs */
    G_BIN,   /* lhs op rhs, op an arithmetic or comparison ExprKind */
    G_NOT,   /* !lhs */
    G_AND,   /* lhs && rhs */
    G_OR,    /* lhs || rhs */
} GuardKind;

typedef struct Guard {
    GuardKind kind;
    ExprKind op;             /* G_BIN */
    RunDim dim;              /* G_DIM */
    long long v;             /* G_CONST */
    struct Guard *lhs, *rhs; /* operands (rhs: G_BIN, G_AND, G_OR) */
} Guard;

/* One listener firing at one point, guarded by a run-time condition. */
typedef struct Fire {
    int listener; /* index into Model.listeners */
    Guard *guard; /* NULL = always */
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

/* A guard as a C condition over the call context `c` ("(c->L >= 100)",
 * arithmetic on dims in long long): what the emitter prints before a
 * handler call and `xfc check` shows.  Caller frees. */
char *plan_guard_c(const Guard *g);

/* `xfc check`'s report: every point and which listeners fire there. */
void plan_print(const Plan *p, FILE *out);

void plan_free(Plan *p);

#endif /* XFC_PLAN_H */
