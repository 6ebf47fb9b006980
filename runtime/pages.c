/* pages.c — memory for a model's packed weights, in 2 MiB-aligned chunks.
 *
 * A model's weights are packed once at load into ~2 dozen buffers of 0.25–4 MiB.
 * Taken from malloc, each is a fresh mmap whose pages fault in one 4 KiB page at a
 * time while the packing writes them, and page faults are what load time was made
 * of on this machine (a paravirtualised VM: ~6 µs per fault, 6 600 faults for the
 * getting-started model's file and packed copy = most of its 48 ms load).  Here
 * buffers are carved from chunks of at least XF_CHUNK bytes, asked for as
 * transparent huge pages, each buffer populated in one call, so a model's packed weights
 * cost a handful of faults (and sit in few TLB entries while a step reads them).
 *
 * A chunk is unmapped when the last buffer carved from it is freed; the chunk
 * being carved is kept and rewound instead, so load/free cycles reuse it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "xf_blas.h"

enum { XF_CHUNK = 8 << 20, XF_HUGE = 2 << 20, XF_ALIGN = 64 };

typedef struct chunk {
    char *base;  /* [size] bytes, XF_HUGE-aligned */
    size_t size; /* a multiple of XF_HUGE */
    size_t used; /* bytes carved so far (bump pointer) */
    int live;    /* buffers carved and not yet freed */
    struct chunk *next;
} chunk;

static chunk *chunks; /* every mapped chunk; the head is the one being carved */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* A fresh chunk of at least `bytes`, huge-page backed where the kernel allows,
 * already populated; NULL when out of memory. */
static chunk *map_chunk(size_t bytes) {
    size_t size = (bytes + XF_HUGE - 1) / XF_HUGE * XF_HUGE;
    chunk *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    /* Over-map by one huge page to align the start, then trim both ends. */
    char *m =
        mmap(NULL, size + XF_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(c);
        return NULL;
    }
    char *base = (char *)(((uintptr_t)m + XF_HUGE - 1) & ~(uintptr_t)(XF_HUGE - 1));
    if (base > m)
        munmap(m, (size_t)(base - m));
    munmap(base + size, (size_t)(m + XF_HUGE - base));
#ifdef MADV_HUGEPAGE
    madvise(base, size, MADV_HUGEPAGE); /* advice: a kernel without THP ignores it */
#endif
    *c = (chunk){base, size, 0, 0, NULL};
    return c;
}

void *xf_pages_alloc(size_t bytes) {
    bytes = (bytes + XF_ALIGN - 1) / XF_ALIGN * XF_ALIGN;
    if (bytes == 0)
        bytes = XF_ALIGN;
    pthread_mutex_lock(&lock);
    chunk *c = chunks;
    if (!c || c->size - c->used < bytes) {
        c = map_chunk(bytes > XF_CHUNK ? bytes : XF_CHUNK);
        if (!c) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        c->next = chunks;
        chunks = c;
    }
    char *p = c->base + c->used;
    c->used += bytes;
#ifdef MADV_POPULATE_WRITE
    /* Fault the buffer's pages in with one call (a huge page at a time where THP
     * took the advice); an old kernel says EINVAL and the pages then fault in on
     * first write, as malloc'd ones would. */
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095,
              hi = ((uintptr_t)p + bytes + 4095) & ~(uintptr_t)4095;
    madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#endif
    c->live++;
    pthread_mutex_unlock(&lock);
    return p;
}

void xf_pages_free(void *p) {
    if (!p)
        return;
    pthread_mutex_lock(&lock);
    for (chunk **pc = &chunks; *pc; pc = &(*pc)->next) {
        chunk *c = *pc;
        if ((char *)p < c->base || (char *)p >= c->base + c->size)
            continue;
        if (--c->live == 0) {
            if (c == chunks) {
                c->used = 0; /* the chunk being carved: rewind it for the next load */
            } else {
                *pc = c->next;
                munmap(c->base, c->size);
                free(c);
            }
        }
        break;
    }
    pthread_mutex_unlock(&lock);
}
