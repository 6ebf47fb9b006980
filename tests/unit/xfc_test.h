/* xfc_test.h — what the compiler's unit tests share: a spec text made the
 * source being compiled, its diagnostics captured in memory (out()), and the
 * teardown of what the front end allocated.  Header-only (static): each test
 * file is a program of its own. */
#ifndef XFC_TEST_H
#define XFC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "diag.h"

static Src src;        /* the spec being compiled */
static char *out_buf;  /* its diagnostics, as printed */
static size_t out_len; /* strlen(out_buf) after a flush */
static FILE *out_f;    /* the stream writing out_buf */

/* Makes `len` bytes of `text` the source `path` (NUL-terminated copy) and
 * sends diagnostics to out_buf. */
static inline void test_src(const char *path, const char *text, size_t len) {
    src.path = path;
    src.text = malloc(len + 1);
    memcpy(src.text, text, len);
    src.text[len] = '\0';
    src.len = len;
    out_f = open_memstream(&out_buf, &out_len);
    diag_set_output(out_f);
    diag_init(&src);
}

/* The diagnostics so far. */
static inline const char *out(void) {
    if (out_f)
        fflush(out_f);
    return out_buf ? out_buf : "";
}

/* Occurrences of needle in hay (overlapping ones too). */
static inline int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Closes the capture, frees the source and the AST. */
static inline void test_src_free(void) {
    if (out_f)
        fclose(out_f);
    out_f = NULL;
    free(out_buf);
    out_buf = NULL;
    diag_set_output(NULL);
    ast_free_all();
    src_free(&src);
}

#define assert_out_has(s)                                                                          \
    cr_assert(strstr(out(), (s)) != NULL, "expected \"%s\" in:\n%s", (s), out())

#endif /* XFC_TEST_H */
