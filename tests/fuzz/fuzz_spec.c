/* fuzz_spec.c — libFuzzer harness for the DSL front end.
 *
 * The bytes are a spec: parse_spec, then check_spec, then, for each of the
 * three profiles, plan_build + plan_print (xfc check's report) and, for
 * small models, emit_model (the C text xfc would write).  Diagnostics go to
 * /dev/null.  Anything but a clean return is a bug: a crash, a sanitizer
 * report, a leak, an abort in tmpl_fill (an unbound template hole), or a
 * broken invariant (below, __builtin_trap).
 *
 * XF_FUZZ_EMIT=0 in the environment leaves emit_model out (to fuzz the
 * front end alone, faster).  Specs holding "{{" once made the emitter abort
 * (a second template pass over user strings): tests/fuzz/regressions/spec/.
 *
 * Built with clang -fsanitize=fuzzer when XF_FUZZ=ON (fuzz_spec), and with
 * the normal compiler into fuzz_replay_spec, which replays
 * tests/fuzz/regressions/spec/ and corpus/spec/ in every ctest run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "diag.h"
#include "emit.h"
#include "model.h"
#include "plan.h"

#define SPEC_MAX_BYTES  (1024 * 1024) /* src_read's limit */
#define EMIT_MAX_LAYERS 16            /* emitting 2 × 1024 layers is slow, not interesting */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int env_is(const char *name, const char *value) {
    const char *e = getenv(name);
    return e && !strcmp(e, value);
}

static int emit_enabled(void) {
    static int on = -1;
    if (on < 0)
        on = !env_is("XF_FUZZ_EMIT", "0");
    return on;
}

static FILE *sink(void) {
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        abort();
    return null;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > SPEC_MAX_BYTES)
        return 0;
    /* what src_read hands the parser: the bytes, NUL-terminated.  (src_read
     * refuses NUL bytes; parse_spec gets them anyway here, as a unit test
     * calling it directly could.) */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    Src src = {"fuzz.xf", text, size};
    FILE *null = sink();
    diag_set_output(null);
    diag_init(&src);

    Spec spec;
    Model model;
    int errors = parse_spec(&src, &spec);
    if (errors == 0)
        errors = check_spec(&spec, &src, &model);
    if (errors < 0 || (errors > 0) != (diag_errors() > 0))
        __builtin_trap(); /* the counts returned and the diagnostics printed must agree */
    if (errors == 0) {
        if (!model.name || !model.name[0])
            __builtin_trap();
        int layers = (model.kind != MODEL_DECODER ? model.enc.n_layers : 0) +
                     (model.kind != MODEL_ENCODER ? model.dec.n_layers : 0);
        for (int profile = PROFILE_DEBUG; profile <= PROFILE_INSTRUMENT_ALL; profile++) {
            Plan plan;
            if (plan_build(&model, (Profile)profile, &plan) == 0) {
                plan_print(&plan, null);
                for (int i = 0; i < plan.n_points; i++)
                    if (profile == PROFILE_RELEASE && plan.points[i].kept)
                        __builtin_trap(); /* SPEC §3: a release build has no dispatch point */
                if (layers <= EMIT_MAX_LAYERS && emit_enabled()) {
                    Emitted e;
                    emit_model(&plan, "fuzz.xf", NULL, &e);
                    /* an unfilled template hole (the spec's own strings may hold "{{") */
                    if (!e.model_c || !e.model_h || !e.main_c ||
                        (!strstr(text, "{{") &&
                         (strstr(e.model_c, "{{") || strstr(e.main_c, "{{"))))
                        __builtin_trap();
                    emit_free(&e);
                }
            }
            plan_free(&plan);
        }
    }
    ast_free_all();
    diag_init(NULL);
    free(text);
    return 0;
}
