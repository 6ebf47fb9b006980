// headers.cpp — a C++ program that includes every installed header of the
// runtime (the list XFC_PUBLIC_HEADERS installs) and calls a function of
// each, linked against libxfrt: the headers' extern "C" blocks give the C
// names, so this links only if every declaration has C linkage.
#include "xfrt.h"
#include "xf_kernels.h"
#include "xf_io.h"
#include "xf_handlers.h"
#include "xf_model.h"

#include <cstdio>
#include <cstring>

int main() {
    xf_error err;
    xf_fail(&err, "%s", "C linkage");                       // xfrt.h
    std::printf("%s %s\n", err.msg, xf_event_name(XF_ATTENTION_EVENT));
    xf_attn_shape sh = {};                                   // xf_kernels.h
    sh.N = 1, sh.L = 4, sh.S = 4, sh.H = 1, sh.E = 2, sh.D = 2;
    if (xf_attention_scratch(&sh) <= 0) return 1;
    xf_array a = {};                                         // xf_io.h
    if (xf_npy_read("/nonexistent.npy", &a, &err) == 0) return 1;
    xf_event ev = {};                                        // xf_handlers.h
    ev.source = "layers.0";
    ev.layer = 0;
    ev.step = -1;
    char path[256];
    if (xf_expand_pattern(path, sizeof path, "/x/{source}.npy", &ev, nullptr) != 0) return 1;
    if (std::strcmp(path, "/x/layers.0.npy") != 0) return 1;
    xf_workspace w;                                          // xf_model.h
    xf_workspace_init(&w);
    xf_workspace_destroy(&w);
    return xf_check_call(1, 4, nullptr, "lengths", &err);
}
