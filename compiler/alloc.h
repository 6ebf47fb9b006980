/* alloc.h — the compiler's one allocator (jq's YYMALLOC): every allocation is
 * checked, and running out of memory is one message and one exit path. */
#ifndef XFC_ALLOC_H
#define XFC_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);           /* zeroed; n * size checked for overflow */
void *xrealloc(void *p, size_t n, size_t size); /* n * size checked for overflow */
char *xstrdup(const char *s);
/* Prints "xfc: out of memory" and exits with status 1. */
_Noreturn void out_of_memory(void);

#endif /* XFC_ALLOC_H */
