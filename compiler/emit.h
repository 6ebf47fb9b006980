/* emit.h — C text for a planned model, by filling templates/.
 *
 * The emitter prints only what the plan holds: the layers with constant dims
 * (one function a stack shares, a layer's own where a kept point makes it
 * differ), and a dispatch block at each kept point.  Nothing here decides
 * whether a point exists.
 */
#ifndef XFC_EMIT_H
#define XFC_EMIT_H

#include <stdio.h>

#include "plan.h"
#include "strbuf.h"

typedef struct Emitted {
    char *model_c; /* NAME.c: weights, layers, forward */
    char *model_h; /* NAME.h: the C API */
    char *main_c;  /* NAME_main.c: the command-line driver */
} Emitted;

/* `spec_name` is how the header comments name the spec (its base name);
 * `embed_path`, when not NULL, is the safetensors file the driver embeds. */
void emit_model(const Plan *p, const char *spec_name, const char *embed_path, Emitted *out);
void emit_free(Emitted *e);

/* For `xfc check`: what the model draws at load when the weight file lacks
 * it (a random feature map's omega), with the file's tensor names. */
void emit_print_random(const Model *m, FILE *out);

#endif /* XFC_EMIT_H */
