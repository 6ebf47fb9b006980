/* error.c — the one way runtime errors are reported (xfrt.h). */
#include <stdarg.h>
#include <stdio.h>

#include "xfrt.h"

int xf_fail(xf_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
