/* strbuf.h — a growable string, for building C text and names. */
#ifndef XFC_STRBUF_H
#define XFC_STRBUF_H

#include <stddef.h>

typedef struct StrBuf {
    char *s;    /* NUL-terminated, "" when empty (NULL after sb_take until the next write) */
    size_t len; /* bytes, without the NUL */
    size_t cap;
} StrBuf;

void sb_init(StrBuf *b);
void sb_puts(StrBuf *b, const char *s);
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_take(StrBuf *b); /* the string, now the caller's; b is emptied (no allocation) */
void sb_free(StrBuf *b);

#endif /* XFC_STRBUF_H */
