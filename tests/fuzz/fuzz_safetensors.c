/* fuzz_safetensors.c — libFuzzer harness for the safetensors loader.
 *
 * The bytes are a weights file: xf_weights_from_memory validates it; when it
 * is accepted, every tensor its header lists is fetched with its own shape
 * (converted from F16/BF16, or used in place, or realigned) and every float
 * read, fetched again (the cache), fetched with a wrong shape (must fail,
 * naming the tensor), then xf_weights_check_all_used must agree that nothing
 * is left (and, before the gets, that everything is).  The harness reads the tensor names from the header with cJSON,
 * as the loader does (the loader's API has no listing).  Every error message
 * must be one line starting with the file's name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "xf_io.h"

#define NAME "fuzz.safetensors"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A runtime error message: one line naming the file, no control character
 * (tensor names and dtypes come from the file: "\n", "\033[2J"…). */
static void check_msg(const xf_error *err) {
    if (strncmp(err->msg, NAME ": ", strlen(NAME) + 2) != 0)
        __builtin_trap();
    for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            __builtin_trap();
}

/* The start of a tensor name as messages show it: control characters as '?'. */
static const char *shown(const char *name) {
    static char buf[64];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof buf; n++)
        buf[n] = (unsigned char)name[n] < 0x20 || name[n] == 0x7f ? '?' : name[n];
    buf[n] = '\0';
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    xf_error err = {""};
    xf_weights *w = xf_weights_from_memory(data, size, NAME, &err);
    if (!w) {
        check_msg(&err);
        return 0;
    }
    /* accepted: the header is JSON of exactly the first u64 bytes */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | data[i];
    cJSON *root = cJSON_ParseWithLength((const char *)data + 8, (size_t)hl);
    if (!root)
        __builtin_trap();
    /* nothing asked for yet: every tensor is unused (the first is named) */
    int has_tensors = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) has_tensors |= strcmp(e->string, "__metadata__") != 0;
    if ((xf_weights_check_all_used(w, &err) != 0) != has_tensors)
        __builtin_trap();
    if (has_tensors)
        check_msg(&err);

    volatile float sink = 0;
    int failed_gets = 0;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__"))
            continue;
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int rank = cJSON_GetArraySize(sh);
        int64_t shape[9] = {0};
        int64_t n = 1;
        int i = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, sh) {
            if (i >= 8)
                __builtin_trap(); /* the loader accepted a rank > 8 */
            shape[i++] = (int64_t)d->valuedouble;
            n *= shape[i - 1];
        }
        const float *p = xf_weights_get(w, e->string, rank, shape, &err);
        if (!p) { /* only out of memory may fail here */
            check_msg(&err);
            if (!strstr(err.msg, "out of memory"))
                __builtin_trap();
            failed_gets++;
            continue;
        }
        for (int64_t k = 0; k < n; k++)
            sink += p[k];
        if (xf_weights_get(w, e->string, rank, shape, &err) != p)
            __builtin_trap(); /* a second get returns the same floats */
        shape[rank] = 1;      /* one dim too many: misshaped */
        if (xf_weights_get(w, e->string, rank + 1, shape, &err) ||
            !strstr(err.msg, shown(e->string)))
            __builtin_trap();
        check_msg(&err);
    }
    int64_t one = 1;
    if (xf_weights_get(w, "no.such.tensor", 1, &one, &err))
        __builtin_trap();
    check_msg(&err);
    if ((xf_weights_check_all_used(w, &err) == 0) != (failed_gets == 0))
        __builtin_trap();
    cJSON_Delete(root);
    xf_weights_close(w);
    (void)sink;
    return 0;
}
