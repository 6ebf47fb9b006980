// app.cpp — a C++ program using a model xfc emitted (encoder.xf of
// examples/cmake_project), linked exactly as the README says (pkg-config, or
// find_package(xfc) + xfc_add_model); tests/install/readme.sh builds and runs it.
//
//   app INPUT.npy WEIGHTS.safetensors OUTPUT.npy
//
// The generated header and the runtime's are C with extern "C" guards: a C++
// program includes them as they are and links the C objects.
#include <cstdio>
#include <memory>
#include <vector>

#include "encoder.h"   // the model's C API, generated from encoder.xf
#include "xf_io.h"     // the runtime's .npy reader and writer

namespace {

struct ModelFree {
    void operator()(encoder *m) const { encoder_free(m); }
};

int fail(const char *what) {
    std::fprintf(stderr, "app: %s\n", what);
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4)
        return fail("usage: app INPUT.npy WEIGHTS.safetensors OUTPUT.npy");
    xf_error err = {""};
    xf_array x = {};
    if (xf_npy_read(argv[1], &x, &err))
        return fail(err.msg);
    if (x.rank != 3 || x.shape[2] != encoder_D_MODEL)
        return fail("the input must be [batch, seq, d_model]");
    std::unique_ptr<encoder, ModelFree> m(encoder_load(argv[2], &err));
    if (!m)
        return fail(err.msg);
    const int batch = static_cast<int>(x.shape[0]), seq = static_cast<int>(x.shape[1]);
    std::vector<float> y(static_cast<size_t>(batch) * seq * encoder_D_MODEL);
    if (encoder_forward(m.get(), x.data, batch, seq, nullptr, y.data(), &err))
        return fail(err.msg);
    const int64_t shape[3] = {batch, seq, encoder_D_MODEL};
    if (xf_npy_write(argv[3], y.data(), 3, shape, &err))
        return fail(err.msg);
    xf_array_free(&x);
    std::printf("app (C++): [%d, %d, %d] written to %s\n", batch, seq, encoder_D_MODEL, argv[3]);
    return 0;
}
