/* vocab.c — the vocabulary of --vocab V.txt --text "…" (xf_generate.h, SPEC §8).
 *
 * File: one token per line, line i = id i, UTF-8, lines ended by "\n" or
 * "\r\n" (the last one may lack it).  Refused, naming file:line: an empty
 * line, a duplicate, invalid UTF-8 (overlong forms, surrogates and code
 * points past U+10FFFF included), a NUL byte, a line over XF_VOCAB_LINE_MAX
 * bytes, more than max_tokens lines, an empty file, a byte-order mark.
 *
 * Encoding is greedy longest match over a byte-sorted index of the tokens:
 * at each text position the candidates sharing the first d bytes form one
 * range of the index, narrowed by two binary searches per byte, and the
 * range's first entry is a match when its length is d.  O(match · log V) per
 * token, no trie to build, nothing allocated per lookup.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xf_generate.h"

enum { XF_VOCAB_LINE_MAX = 4096 }; /* bytes of one token (the header's limit) */

typedef struct {
    const char *s; /* the token's bytes (tok[id]) */
    int32_t len;   /* its byte length */
    int32_t id;    /* its id */
} entry;

struct xf_vocab {
    char **tok;   /* [n] NUL-terminated token texts, by id */
    int32_t *len; /* [n] their byte lengths */
    entry *order; /* [n] the tokens sorted by their bytes, a prefix before its extensions */
    int n;        /* number of tokens */
    char *name;   /* the file, for messages */
};

/* ---- UTF-8 -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
 * *cp receives the code point. */
static int utf8_char(const unsigned char *s, size_t n, uint32_t *cp) {
    int len = s[0] < 0x80             ? 1
              : (s[0] & 0xE0) == 0xC0 ? 2
              : (s[0] & 0xF0) == 0xE0 ? 3
              : (s[0] & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || (size_t)len > n)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_of[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0; /* overlong, past Unicode, surrogate */
    *cp = c;
    return len;
}

/* The token or character for a message: printable ASCII and valid UTF-8 as
 * is, control characters and bad bytes as \xNN, at most ~40 bytes. */
static void quote(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap && o < 40;) {
        uint32_t cp;
        int l = utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (l == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", (unsigned char)s[i]);
            i++;
        } else {
            memcpy(buf + o, s + i, (size_t)l);
            o += (size_t)l, i += (size_t)l;
        }
    }
    buf[o] = '\0';
}

/* ---- parse --------------------------------------------------------------- */

/* Byte order, a prefix before its extensions; equal texts by id. */
static int by_bytes(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    int c = memcmp(a->s, b->s, (size_t)(a->len < b->len ? a->len : b->len));
    if (c)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Checks one line (without its ending) and stores it as token `id`. */
static int add_line(xf_vocab *v, const char *s, size_t n, int line, xf_error *err) {
    if (n == 0)
        return xf_fail(err, "%s:%d: empty line (one token per line, line i is id i)", v->name,
                       line);
    if (n > XF_VOCAB_LINE_MAX)
        return xf_fail(err, "%s:%d: line of %zu bytes, longer than %d", v->name, line, n,
                       XF_VOCAB_LINE_MAX);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (l == 0)
            return xf_fail(err, "%s:%d:%zu: invalid UTF-8 (byte \\x%02X)", v->name, line, i + 1,
                           (unsigned char)s[i]);
        if (cp == 0)
            return xf_fail(err, "%s:%d:%zu: NUL byte in a token", v->name, line, i + 1);
        i += (size_t)l;
    }
    char *t = malloc(n + 1);
    if (!t)
        return xf_fail(err, "%s:%d: out of memory", v->name, line);
    memcpy(t, s, n);
    t[n] = '\0';
    v->tok[v->n] = t;
    v->len[v->n] = (int32_t)n;
    v->n++;
    return 0;
}

/* Lines of bytes into v->tok; counts them first so max_tokens is checked
 * before anything is allocated per line. */
static int split_lines(xf_vocab *v, const char *bytes, size_t len, int max_tokens, xf_error *err) {
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += bytes[i] == '\n';
    lines += len > 0 && bytes[len - 1] != '\n'; /* a last line without "\n" */
    if (lines == 0)
        return xf_fail(err, "%s: no tokens (an empty file)", v->name);
    if (len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) /* it would hide in token 0 */
        return xf_fail(err,
                       "%s:1: starts with a byte-order mark (U+FEFF): save it as UTF-8 "
                       "without BOM",
                       v->name);
    if (lines > max_tokens)
        return xf_fail(err, "%s:%d: more than %d lines (tokens)", v->name, max_tokens + 1,
                       max_tokens);
    v->tok = calloc((size_t)lines, sizeof *v->tok);
    v->len = calloc((size_t)lines, sizeof *v->len);
    v->order = calloc((size_t)lines, sizeof *v->order);
    if (!v->tok || !v->len || !v->order)
        return xf_fail(err, "%s: out of memory for %lld tokens", v->name, (long long)lines);
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(bytes + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - bytes) : len, n = end - start;
        if (n > 0 && bytes[start + n - 1] == '\r')
            n--; /* "\r\n" */
        if (add_line(v, bytes + start, n, v->n + 1, err))
            return -1;
        start = end + 1;
    }
    return 0;
}

/* Sorts the index and refuses the first duplicate (adjacent once sorted). */
static int index_tokens(xf_vocab *v, xf_error *err) {
    for (int i = 0; i < v->n; i++)
        v->order[i] = (entry){v->tok[i], v->len[i], i};
    qsort(v->order, (size_t)v->n, sizeof *v->order, by_bytes);
    for (int i = 1; i < v->n; i++) {
        const entry *a = &v->order[i - 1], *b = &v->order[i]; /* equal: a->id < b->id */
        if (a->len == b->len && memcmp(a->s, b->s, (size_t)a->len) == 0) {
            char q[64];
            quote(q, sizeof q, a->s, (size_t)a->len);
            return xf_fail(err, "%s:%d: duplicate token '%s' (also line %d)", v->name, b->id + 1, q,
                           a->id + 1);
        }
    }
    return 0;
}

xf_vocab *xf_vocab_parse(const char *bytes, size_t len, const char *name, int max_tokens,
                         xf_error *err) {
    xf_vocab *v = calloc(1, sizeof *v);
    if (!v || !(v->name = strdup(name))) {
        free(v);
        xf_fail(err, "%s: out of memory", name);
        return NULL;
    }
    if (max_tokens <= 0 || max_tokens > INT32_MAX / 2)
        max_tokens = INT32_MAX / 2;
    if (split_lines(v, bytes, len, max_tokens, err) || index_tokens(v, err)) {
        xf_vocab_free(v);
        return NULL;
    }
    return v;
}

xf_vocab *xf_vocab_read(const char *path, int max_tokens, xf_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        xf_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    /* a bound before reading: max_tokens full lines with their "\r\n" */
    int64_t limit =
        (int64_t)(max_tokens > 0 ? max_tokens : INT32_MAX / 2) * (XF_VOCAB_LINE_MAX + 2);
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        xf_fail(err, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_size > limit) {
        fclose(f);
        xf_fail(err, "%s: %lld bytes, more than %d lines of at most %d bytes can hold", path,
                (long long)st.st_size, max_tokens, XF_VOCAB_LINE_MAX);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    int bad = !buf || got != (size_t)st.st_size || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        xf_fail(err, "%s: %s", path, buf ? "read error" : "out of memory");
        return NULL;
    }
    xf_vocab *v = xf_vocab_parse(buf, got, path, max_tokens, err);
    free(buf);
    return v;
}

/* ---- use ------------------------------------------------------------------ */

int xf_vocab_size(const xf_vocab *v) {
    return v->n;
}

const char *xf_vocab_token(const xf_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? v->tok[id] : NULL;
}

/* In order[lo, hi) (tokens sharing their first d bytes), the first index
 * whose byte d is ≥ c (upper = 0) or > c (upper = 1); a token of length d
 * has no byte d and sorts first. */
static int bound(const xf_vocab *v, int lo, int hi, int d, unsigned char c, int upper) {
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const entry *e = &v->order[mid];
        int b = e->len > d ? (unsigned char)e->s[d] : -1;
        if (upper ? b <= c : b < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The id of the longest token that starts text[0, n), or -1. */
static int32_t longest_match(const xf_vocab *v, const char *text, size_t n) {
    int lo = 0, hi = v->n;
    int32_t best = -1;
    for (int d = 0; (size_t)d < n && lo < hi; d++) {
        unsigned char c = (unsigned char)text[d];
        lo = bound(v, lo, hi, d, c, 0);
        hi = bound(v, lo, hi, d, c, 1);
        if (lo < hi && v->order[lo].len == d + 1)
            best = v->order[lo].id;
    }
    return best;
}

int32_t *xf_vocab_encode(const xf_vocab *v, const char *text, int *n, xf_error *err) {
    size_t len = strlen(text);
    if (len > INT32_MAX) {
        xf_fail(err, "text: %zu bytes, too long", len);
        return NULL;
    }
    int32_t *ids = malloc((len ? len : 1) * sizeof *ids); /* ≤ one id per byte */
    if (!ids) {
        xf_fail(err, "text: out of memory for %zu bytes", len);
        return NULL;
    }
    int count = 0;
    for (size_t i = 0; i < len;) {
        int32_t id = longest_match(v, text + i, len - i);
        if (id < 0) {
            uint32_t cp = 0;
            int l = utf8_char((const unsigned char *)text + i, len - i, &cp);
            char q[64];
            quote(q, sizeof q, text + i, l ? (size_t)l : 1);
            free(ids);
            if (l)
                xf_fail(err, "text: no token of %s starts with '%s' (U+%04X) at byte %zu", v->name,
                        q, cp, i);
            else
                xf_fail(err, "text: invalid UTF-8 at byte %zu ('%s'), no token of %s matches", i, q,
                        v->name);
            return NULL;
        }
        ids[count++] = id;
        i += (size_t)v->len[id];
    }
    *n = count;
    return ids;
}

void xf_vocab_free(xf_vocab *v) {
    if (!v)
        return;
    for (int i = 0; v->tok && i < v->n; i++)
        free(v->tok[i]);
    free(v->tok);
    free(v->len);
    free(v->order);
    free(v->name);
    free(v);
}
