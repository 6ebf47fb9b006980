/* diag.h — one way to report a problem in a spec.
 *
 * chibicc/gcc style: "file:line:col: error: message", then the source line
 * and a caret under the column.  Errors are counted, not fatal, so one run
 * reports every independent problem; callers stop between phases when
 * diag_errors() > 0.  Warnings change the exit status only with --strict.
 */
#ifndef XFC_DIAG_H
#define XFC_DIAG_H

#include <stddef.h>
#include <stdio.h>

/* A spec file held in memory for the whole compilation. */
typedef struct Src {
    const char *path; /* as given on the command line */
    char *text;       /* NUL-terminated contents */
    size_t len;       /* bytes, without the NUL */
} Src;

/* A position in the spec: 1-based line and column (bytes). */
typedef struct Loc {
    int line, col;
} Loc;

/* Reads a spec; on failure prints "path: error: …" and returns -1.
 * Rejects files with NUL bytes and files over 1 MiB. */
int src_read(Src *src, const char *path);
void src_free(Src *src);

/* Makes src the file positions refer to and resets the error/warning
 * counts.  parse_spec/check_spec call it themselves when src is not the
 * current file, so calling it first is optional. */
void diag_init(const Src *src);
/* Where diagnostics go (NULL = stderr, the default).  Colors only when the
 * output is stderr, stderr is a tty and NO_COLOR is unset.  After 100 errors
 * further errors are counted but not printed (a note says so once). */
void diag_set_output(FILE *out);
const Src *diag_src(void); /* the file diag_init last chose, or NULL */
void diag_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warning(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error about the file as a whole (no position): "path: error: …". */
void diag_file_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --strict: every warning is reported and counted as an error (with
 * " [--strict]" after the message), so xfc stops and exits with status 1. */
void diag_set_strict(int on);
int diag_errors(void);
int diag_warnings(void);

/* Closest candidate to `word` by edit distance, or NULL if none is close
 * (for "did you mean" hints).  `cands` ends with NULL. */
const char *diag_suggest(const char *word, const char *const *cands);

#endif /* XFC_DIAG_H */
