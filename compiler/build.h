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
 * renamed); `link_files` are user C files (handlers for call()).  When
 * `embedded` (the --embed-weights file) is not NULL, the new executable first
 * loads its weights (`--check-weights`): a tensor missing, extra or of
 * another shape is reported as a run would report it, and nothing is written. */
int build_binary(const Emitted *e, const char *name, const char *out, const char *const *link_files,
                 int n_link, const char *embedded);

/* Where `xfc build` finds the runtime (the directory of xfrt.h, and libxfrt.a),
 * the first that exists of: $XFC_HOME (an install prefix: XFC_HOME/include/xfc,
 * XFC_HOME/lib/libxfrt.a; set but wrong is an error), the installation the
 * running xfc belongs to (<prefix>/bin/xfc -> <prefix>/include/xfc,
 * <prefix>/lib/libxfrt.a), the build tree xfc was built in.  Returns 0, or -1
 * after printing "xfc: error: …". */
typedef struct BuildRuntime {
    char include[4096];
    char lib[4096];
    const char *origin; /* "XFC_HOME", "installation" or "build tree" */
} BuildRuntime;
int build_find_runtime(BuildRuntime *rt);

#endif /* XFC_BUILD_H */
