/* diag.c — reading a spec and reporting problems in it, chibicc/gcc style:
 *
 *   spec.xf:3:16: error: unknown setting 'n_layer'; did you mean 'n_layers'?
 *       n_layer = 4
 *       ^
 *
 * The source line is printed as written (tabs kept, so the caret lines up),
 * the caret line copies the tabs of the source line and skips UTF-8
 * continuation bytes.  Very long lines are shown as a window around the
 * column.  Errors are counted, never fatal.
 */
#include "diag.h"
#include "alloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SRC_MAX_BYTES           (1024 * 1024)
#define DIAG_MAX_PRINTED_ERRORS 100
#define DIAG_LINE_WINDOW        160 /* bytes of a long line shown around the column */

static const Src *cur_src;
static FILE *diag_out; /* NULL = stderr */
static int n_errors, n_warnings;
static int strict; /* --strict: warnings are errors */
static int n_printed_errors, told_too_many;
/* Where the last reported line starts, so reports in file order cost O(file). */
static int cache_line;
static size_t cache_off;

static FILE *out_stream(void) {
    return diag_out ? diag_out : stderr;
}

static int use_color(void) {
    if (diag_out && diag_out != stderr)
        return 0;
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return 0;
    return isatty(fileno(stderr));
}

/* ---- src_read --------------------------------------------------------- */

/* Prints "path: error: …" for a file that cannot be used at all. */
static void file_problemv(const char *path, const char *fmt, va_list ap) {
    FILE *o = out_stream();
    fprintf(o, use_color() ? "\033[1m%s: \033[1;31merror:\033[0m " : "%s: error: ", path);
    vfprintf(o, fmt, ap);
    fputc('\n', o);
}

static void file_problem(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void file_problem(const char *path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    file_problemv(path, fmt, ap);
    va_end(ap);
}

int src_read(Src *src, const char *path) {
    memset(src, 0, sizeof *src);
    src->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) {
        file_problem(path, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        file_problem(path, "is a directory, not a spec file");
        fclose(f);
        return -1;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > SRC_MAX_BYTES) {
        file_problem(path, "file too large (%lld bytes; a spec may have at most 1 MiB)",
                     (long long)st.st_size);
        fclose(f);
        return -1;
    }
    /* Read to EOF whatever st_size says (pipes, /dev/stdin, files that grow). */
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > SRC_MAX_BYTES)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap + 1, 1);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        file_problem(path, "cannot read: %s", strerror(errno));
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    if (len > SRC_MAX_BYTES) {
        file_problem(path, "file too large (more than 1 MiB)");
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        int line = 1, col = 1;
        for (const char *p = buf; p < nul; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        /* reported like any error, source line and caret included (the NUL
         * shows as a blank); the counts start over at the caller's diag_init */
        Src tmp = {path, buf, len};
        diag_init(&tmp);
        diag_error((Loc){line, col}, "file contains a NUL byte (not a text file?)");
        diag_init(NULL);
        free(buf);
        return -1;
    }
    src->text = buf;
    src->len = len;
    return 0;
}

void src_free(Src *src) {
    if (cur_src == src)
        cur_src = NULL;
    free(src->text);
    src->text = NULL;
    src->len = 0;
}

/* ---- reporting -------------------------------------------------------- */

void diag_init(const Src *src) {
    cur_src = src;
    n_errors = n_warnings = 0;
    n_printed_errors = told_too_many = 0;
    cache_line = 1;
    cache_off = 0;
}

void diag_set_output(FILE *out) {
    diag_out = out;
}
const Src *diag_src(void) {
    return cur_src;
}

int diag_errors(void) {
    return n_errors;
}
int diag_warnings(void) {
    return n_warnings;
}

/* Offset of the first byte of `line` (1-based) in the current source, or
 * (size_t)-1 past the end. */
static size_t line_start(int line) {
    const char *t = cur_src->text;
    size_t len = cur_src->len;
    if (line < cache_line) {
        cache_line = 1;
        cache_off = 0;
    }
    while (cache_line < line) {
        const char *nl = cache_off < len ? memchr(t + cache_off, '\n', len - cache_off) : NULL;
        if (!nl)
            return (size_t)-1;
        cache_off = (size_t)(nl - t) + 1;
        cache_line++;
    }
    return cache_off;
}

static void put_source_line(FILE *o, Loc loc, int color) {
    if (!cur_src || !cur_src->text || loc.line < 1)
        return;
    size_t start = line_start(loc.line);
    if (start == (size_t)-1 || start > cur_src->len)
        return;
    const char *t = cur_src->text + start;
    size_t avail = cur_src->len - start;
    const char *nl = memchr(t, '\n', avail);
    size_t n = nl ? (size_t)(nl - t) : avail;
    if (n > 0 && t[n - 1] == '\r')
        n--;
    size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0; /* byte offset of the caret */
    size_t from = 0, to = n;
    if (n > DIAG_LINE_WINDOW) {
        from = col > DIAG_LINE_WINDOW / 2 ? col - DIAG_LINE_WINDOW / 2 : 0;
        while (from > 0 && ((unsigned char)t[from] & 0xC0) == 0x80)
            from--;
        to = from + DIAG_LINE_WINDOW < n ? from + DIAG_LINE_WINDOW : n;
    }
    const char *pre = from > 0 ? "..." : "";
    fprintf(o, "    %s", pre);
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)t[i];
        fputc(c < 0x20 && c != '\t' ? ' ' : c, o);
    }
    fputs(to < n ? "...\n" : "\n", o);
    fprintf(o, "    %s", from > 0 ? "   " : "");
    for (size_t i = from; i < col && i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c & 0xC0) == 0x80)
            continue; /* UTF-8 continuation: same screen column */
        fputc(c == '\t' ? '\t' : ' ', o);
    }
    if (col > n)
        for (size_t i = n; i < col; i++)
            fputc(' ', o);
    fputs(color ? "\033[1;32m^\033[0m\n" : "^\n", o);
}

static void report(Loc loc, const char *kind, const char *kind_color, const char *suffix,
                   const char *fmt, va_list ap) {
    FILE *o = out_stream();
    int color = use_color();
    const char *path = cur_src && cur_src->path ? cur_src->path : "<spec>";
    if (color)
        fprintf(o, "\033[1m%s:%d:%d: %s%s:\033[0m ", path, loc.line, loc.col, kind_color, kind);
    else
        fprintf(o, "%s:%d:%d: %s: ", path, loc.line, loc.col, kind);
    vfprintf(o, fmt, ap);
    fputs(suffix, o);
    fputc('\n', o);
    put_source_line(o, loc, color);
}

/* After DIAG_MAX_PRINTED_ERRORS errors, everything is only counted. */
static int quiet(void) {
    return n_printed_errors >= DIAG_MAX_PRINTED_ERRORS;
}

void diag_error(Loc loc, const char *fmt, ...) {
    n_errors++;
    if (quiet()) {
        if (!told_too_many) {
            told_too_many = 1;
            FILE *o = out_stream();
            fprintf(o, "%s: note: too many errors; the rest are not shown\n",
                    cur_src && cur_src->path ? cur_src->path : "<spec>");
        }
        return;
    }
    n_printed_errors++;
    va_list ap;
    va_start(ap, fmt);
    report(loc, "error", "\033[1;31m", "", fmt, ap);
    va_end(ap);
}

void diag_set_strict(int on) {
    strict = on;
}

void diag_warning(Loc loc, const char *fmt, ...) {
    n_warnings++;
    if (strict)
        n_errors++;
    if (quiet())
        return;
    if (strict)
        n_printed_errors++;
    va_list ap;
    va_start(ap, fmt);
    if (strict)
        report(loc, "error", "\033[1;31m", " [--strict]", fmt, ap);
    else
        report(loc, "warning", "\033[1;35m", "", fmt, ap);
    va_end(ap);
}

void diag_note(Loc loc, const char *fmt, ...) {
    if (quiet())
        return;
    va_list ap;
    va_start(ap, fmt);
    report(loc, "note", "\033[1;36m", "", fmt, ap);
    va_end(ap);
}

void diag_file_error(const char *fmt, ...) {
    n_errors++;
    if (quiet())
        return;
    n_printed_errors++;
    va_list ap;
    va_start(ap, fmt);
    file_problemv(cur_src && cur_src->path ? cur_src->path : "xfc", fmt, ap);
    va_end(ap);
}

/* ---- suggestions ------------------------------------------------------ */

/* Levenshtein distance, stopping early above `limit` (returns limit + 1). */
static size_t edit_distance(const char *a, const char *b, size_t limit) {
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    size_t *row = xrealloc(NULL, lb + 1, sizeof *row);
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best = i;
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = diag + cost;
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > limit) {
            free(row);
            return limit + 1;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

const char *diag_suggest(const char *word, const char *const *cands) {
    if (!word || !cands)
        return NULL;
    size_t wl = strlen(word);
    if (wl > 256)
        return NULL;
    size_t limit = wl / 3 > 2 ? wl / 3 : 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (const char *const *c = cands; *c; c++) {
        if (strcmp(word, *c) == 0)
            continue;
        size_t d = edit_distance(word, *c, limit);
        size_t cl = strlen(*c);
        /* Not a complete rewrite: "x" is no suggestion for "n". */
        if (d >= wl || d >= cl)
            continue;
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
    }
    return best;
}
