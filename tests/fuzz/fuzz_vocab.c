/* fuzz_vocab.c — libFuzzer harness for the vocabulary of --vocab/--text
 * (xf_vocab_parse, xf_vocab_encode).
 *
 * The input up to its last NUL byte is a vocabulary file, what follows is a
 * text (no NUL: the whole input is both).  Refusals must be one line naming
 * the file ("fuzz.txt:"), without control characters.  An accepted
 * vocabulary must hold valid tokens (non-empty, no "\n", no NUL, ≤ 4096
 * bytes), encode each token to its own id (longest match), and encode the
 * text either into ids whose tokens spell the text exactly, or fail with a
 * message that starts "text:" and names a byte offset inside the text.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf_generate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const xf_error *err, const char *prefix) {
    if (strncmp(err->msg, prefix, strlen(prefix)) != 0)
        __builtin_trap();
    for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            __builtin_trap();
}

/* The text's ids must spell it exactly. */
static void check_encoding(const xf_vocab *v, const char *text) {
    xf_error err = {""};
    int n = -1;
    int32_t *ids = xf_vocab_encode(v, text, &n, &err);
    if (!ids) {
        check_msg(&err, "text: ");
        return;
    }
    size_t at = 0, len = strlen(text);
    for (int i = 0; i < n; i++) {
        const char *t = xf_vocab_token(v, ids[i]);
        size_t tl = t ? strlen(t) : 0;
        if (!t || tl == 0 || at + tl > len || memcmp(text + at, t, tl) != 0)
            __builtin_trap();
        at += tl;
    }
    if (at != len || n < 0)
        __builtin_trap();
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = size ? memrchr(data, 0, size) : NULL;
    size_t vlen = nul ? (size_t)(nul - data) : size;
    xf_error err = {""};
    xf_vocab *v = xf_vocab_parse((const char *)data, vlen, "fuzz.txt", 1000, &err);
    if (!v) {
        check_msg(&err, "fuzz.txt:");
        return 0;
    }
    int V = xf_vocab_size(v);
    if (V < 1 || V > 1000)
        __builtin_trap();
    for (int32_t id = 0; id < V; id++) { /* each token: valid, and its own longest match */
        const char *t = xf_vocab_token(v, id);
        size_t tl = strlen(t);
        if (tl == 0 || tl > 4096 || memchr(t, '\n', tl))
            __builtin_trap();
        int n;
        int32_t *ids = xf_vocab_encode(v, t, &n, &err);
        if (!ids || n != 1 || ids[0] != id)
            __builtin_trap();
        free(ids);
    }
    size_t tlen = nul ? size - vlen - 1 : size;
    char *text = malloc(tlen + 1);
    if (!text)
        abort();
    memcpy(text, nul ? nul + 1 : data, tlen);
    text[tlen] = '\0';
    check_encoding(v, text); /* may stop at an embedded NUL: strlen is the text */
    free(text);
    xf_vocab_free(v);
    return 0;
}
