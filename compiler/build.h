/* build.h — from emitted C to files on disk: `xfc emit` writes the sources,
 * `xfc build` compiles them with the C compiler xfc was built with and links
 * libxfrt + OpenBLAS.  Nothing is left behind on failure. */
#ifndef XFC_BUILD_H
#define XFC_BUILD_H

#include "emit.h"

/* Writes NAME.c, NAME.h, NAME_main.c into dir (created).  Returns 0 or -1
 * after printing "xfc: error: …". */
int build_write_sources(const Emitted *e, const char *name, const char *dir);

/* Compiles e into the executable `out` (written to a temporary name, then
 * renamed); `link_files` are user C files (handlers for call()). */
int build_binary(const Emitted *e, const char *name, const char *out,
                 const char *const *link_files, int n_link);

#endif /* XFC_BUILD_H */
