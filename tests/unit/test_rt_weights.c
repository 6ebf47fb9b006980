/* test_rt_weights.c — safetensors: the fixtures load, F16/BF16 convert
 * exactly, and every lie a file can tell is one error naming file + tensor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf_io.h"

#define GS     XF_FIXTURES "/encoder_getting_started/weights.safetensors"
#define CAUSAL XF_FIXTURES "/encoder_causal/weights.safetensors"

/* ---- a temp dir per test, and safetensors files written into it ------- */

static char tmpdir[64];

static void mk_tmp(void) {
    strcpy(tmpdir, "/tmp/xf_test_weights.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(weights, .init = mk_tmp, .fini = rm_tmp);

/* Raw bytes to tmpdir/name; returns the path (static buffer per call site
 * is not enough when two files are alive, so callers pass a buffer). */
static const char *write_raw(char *path, const char *name, const void *bytes, size_t len) {
    snprintf(path, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    return path;
}

/* [u64 LE header length][header][data] into a malloc'd buffer; hl_override
 * (if not ~0) is the length written instead of the true one. */
static unsigned char *st_bytes(const char *header, const void *data, size_t dlen,
                               uint64_t hl_override, size_t *len) {
    size_t hl = strlen(header);
    *len = 8 + hl + dlen;
    unsigned char *b = malloc(*len);
    uint64_t v = hl_override != ~(uint64_t)0 ? hl_override : hl;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dlen)
        memcpy(b + 8 + hl, data, dlen);
    return b;
}

static const char *write_st(char *path, const char *name, const char *header, const void *data,
                            size_t dlen) {
    size_t len;
    unsigned char *b = st_bytes(header, data, dlen, ~(uint64_t)0, &len);
    write_raw(path, name, b, len);
    free(b);
    return path;
}

/* Opening must fail with a message holding every one of the needles. */
static void expect_open_fails(const char *path, const char *n1, const char *n2) {
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_null(w, "%s opened, expected an error mentioning %s", path, n1);
    cr_assert_not_null(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, n1), "message lacks '%s': %s", n1, err.msg);
    if (n2)
        cr_assert_not_null(strstr(err.msg, n2), "message lacks '%s': %s", n2, err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
}

static const unsigned char zeros16[16]; /* 16 bytes of data */

/* A header with one tensor "t" of the given entry text and 16 data bytes. */
static void expect_entry_fails(const char *entry, const char *n1) {
    char header[512], path[256];
    snprintf(header, sizeof header, "{\"t\":%s}", entry);
    write_st(path, "bad.safetensors", header, zeros16, sizeof zeros16);
    expect_open_fails(path, "tensor t", n1);
}

/* ---- the fixtures ------------------------------------------------------- */

static float f16_ref(uint16_t h) { /* by arithmetic, independent of the bit trick */
    int e = (h >> 10) & 31, m = h & 1023;
    float s = (h & 0x8000) ? -1.0f : 1.0f;
    if (e == 31)
        return m ? NAN : s * INFINITY;
    return s * (e ? ldexpf(1024 + m, e - 25) : ldexpf(m, -24));
}

Test(weights, fixture_f16_all_tensors) {
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(GS, &err);
    cr_assert_not_null(w, "%s", err.msg);
    const char *names[] = {"self_attn.in_proj_weight",
                           "self_attn.in_proj_bias",
                           "self_attn.out_proj.weight",
                           "self_attn.out_proj.bias",
                           "linear1.weight",
                           "linear1.bias",
                           "linear2.weight",
                           "linear2.bias",
                           "norm1.weight",
                           "norm1.bias",
                           "norm2.weight",
                           "norm2.bias"};
    int64_t shapes[12][2] = {{768, 256},  {768}, {256, 256}, {256}, {1024, 256}, {1024},
                             {256, 1024}, {256}, {256},      {256}, {256},       {256}};
    int ranks[12] = {2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1};
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < 12; i++) {
            char nm[96];
            snprintf(nm, sizeof nm, "layers.%d.%s", l, names[i]);
            const float *p = xf_weights_get(w, nm, ranks[i], shapes[i], &err);
            cr_assert_not_null(p, "%s", err.msg);
            cr_assert((uintptr_t)p % 4 == 0);
        }
    cr_assert_eq(xf_weights_check_all_used(w, &err), -1, "norm.* were never asked for");
    cr_assert_not_null(strstr(err.msg, "tensor norm.weight"), "%s", err.msg);
    int64_t d[1] = {256};
    const float *g = xf_weights_get(w, "norm.weight", 1, d, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_not_null(xf_weights_get(w, "norm.bias", 1, d, &err), "%s", err.msg);
    cr_assert_eq(xf_weights_check_all_used(w, &err), 0, "%s", err.msg);

    /* the converted values are the file's halves: compare with the raw bytes */
    cr_assert_eq(xf_weights_get(w, "norm.weight", 1, d, &err), g, "conversion is cached");
    FILE *f = fopen(GS, "rb");
    unsigned char hb[8];
    cr_assert_eq(fread(hb, 1, 8, f), 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | hb[i];
    int64_t sh[2] = {768, 256};
    const float *ip = xf_weights_get(w, "layers.0.self_attn.in_proj_weight", 2, sh, &err);
    uint16_t raw[1000]; /* in_proj_weight of layer 0 is at data offset 0 */
    fseek(f, (long)(8 + hl), SEEK_SET);
    cr_assert_eq(fread(raw, 2, 1000, f), 1000);
    fclose(f);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(ip[i], f16_ref(raw[i]), "element %d: %g vs %g", i, ip[i], f16_ref(raw[i]));
    xf_weights_close(w);
}

Test(weights, fixture_f32_in_place) {
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(CAUSAL, &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t sh[2] = {192, 64};
    const float *p = xf_weights_get(w, "layers.0.self_attn.in_proj_weight", 2, sh, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_float_eq(p[0], -0.009580536745488644f, 0);
    cr_assert_float_eq(p[3], 0.008940966799855232f, 0);
    int64_t bad[2] = {96, 64};
    cr_assert_null(xf_weights_get(w, "layers.1.linear1.weight", 2, bad, &err));
    cr_assert_str_eq(err.msg,
                     CAUSAL ": tensor layers.1.linear1.weight: shape [128,64], expected [96,64]");
    cr_assert_eq(xf_weights_check_all_used(w, &err), -1);
    cr_assert_not_null(strstr(err.msg, "tensor layers.0.self_attn.in_proj_bias"), "%s", err.msg);
    xf_weights_close(w);
}

/* ---- conversions of known bit patterns ------------------------------------ */

Test(weights, f16_bit_patterns) {
    uint16_t h[12] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400,
                      0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555, 0x0000};
    float want[12] = {1.0f,  -2.0f,    65504.0f,  0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f,
                      -0.0f, INFINITY, -INFINITY, NAN,      0.333251953125f, 0.0f};
    char path[256];
    write_st(path, "h.safetensors",
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[3,4],\"data_offsets\":[0,24]},"
             "\"__metadata__\":{\"format\":\"pt\"}}",
             h, sizeof h);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t sh[2] = {3, 4};
    const float *p = xf_weights_get(w, "h", 2, sh, &err);
    cr_assert_not_null(p, "%s", err.msg);
    for (int i = 0; i < 12; i++) {
        if (isnan(want[i]))
            cr_assert(isnan(p[i]), "0x%04x -> %g, want NaN", h[i], p[i]);
        else
            cr_assert(p[i] == want[i] && signbit(p[i]) == signbit(want[i]), "0x%04x -> %a, want %a",
                      h[i], p[i], want[i]);
    }
    cr_assert_eq(xf_weights_check_all_used(w, &err), 0, "__metadata__ is not a tensor: %s",
                 err.msg);
    xf_weights_close(w);
}

Test(weights, bf16_bit_patterns) {
    uint16_t h[8] = {0x3f80, 0xc040, 0x7f80, 0x0001, 0x4049, 0x8000, 0xff80, 0x7fc0};
    float want[8] = {1.0f, -3.0f, INFINITY, 0x1p-133f, 3.140625f, -0.0f, -INFINITY, NAN};
    char path[256];
    write_st(path, "b.safetensors",
             "{\"b\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]}}", h, sizeof h);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t sh[1] = {8};
    const float *p = xf_weights_get(w, "b", 1, sh, &err);
    cr_assert_not_null(p, "%s", err.msg);
    for (int i = 0; i < 8; i++) {
        if (isnan(want[i]))
            cr_assert(isnan(p[i]));
        else
            cr_assert(p[i] == want[i] && signbit(p[i]) == signbit(want[i]), "0x%04x -> %a, want %a",
                      h[i], p[i], want[i]);
    }
    xf_weights_close(w);
}

/* The data starts at an odd byte, so F32 cannot be used in place: a copy. */
Test(weights, misaligned_f32_is_copied) {
    float v[3] = {1.5f, -2.25f, 1e-3f};
    const char *hdr = "{\"v\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
    char padded[96];
    strcpy(padded, hdr);
    while ((8 + strlen(padded)) % 4 != 1)
        strcat(padded, " "); /* writers pad with spaces; here to misalign */
    char path[256];
    write_st(path, "m.safetensors", padded, v, sizeof v);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t sh[1] = {3};
    const float *p = xf_weights_get(w, "v", 1, sh, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert((uintptr_t)p % 4 == 0);
    cr_assert(memcmp(p, v, sizeof v) == 0);
    xf_weights_close(w);
}

Test(weights, empty_tensor_and_scalar) {
    char path[256];
    write_st(path, "e.safetensors",
             "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]},"
             "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]}}",
             "\x00\x3c", 2);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t sh[2] = {0, 5};
    cr_assert_not_null(xf_weights_get(w, "e", 2, sh, &err), "%s", err.msg);
    const float *s = xf_weights_get(w, "s", 0, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(s[0], 1.0f);
    xf_weights_close(w);
}

/* ---- from memory ---------------------------------------------------------- */

Test(weights, from_memory) {
    float v[4] = {1, 2, 3, 4};
    size_t len;
    unsigned char *b =
        st_bytes("{\"v\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}} ", v,
                 sizeof v, ~(uint64_t)0, &len);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_from_memory(b, len, "embedded.safetensors", &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t sh[2] = {2, 2};
    const float *p = xf_weights_get(w, "v", 2, sh, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert(memcmp(p, v, sizeof v) == 0);
    cr_assert_null(xf_weights_get(w, "nope", 2, sh, &err));
    cr_assert_str_eq(err.msg, "embedded.safetensors: tensor nope: missing");
    xf_weights_close(w);

    /* misaligned base pointer: still right, via a copy */
    unsigned char *odd = malloc(len + 1);
    memcpy(odd + 1, b, len);
    w = xf_weights_from_memory(odd + 1, len, "embedded.safetensors", &err);
    cr_assert_not_null(w, "%s", err.msg);
    p = xf_weights_get(w, "v", 2, sh, &err);
    cr_assert(p && memcmp(p, v, sizeof v) == 0);
    xf_weights_close(w);

    /* and a lie is reported under the given name */
    cr_assert_null(xf_weights_from_memory(b, len - 1, "embedded.safetensors", &err));
    cr_assert_not_null(strstr(err.msg, "embedded.safetensors: tensor v:"), "%s", err.msg);
    free(odd);
    free(b);
}

/* ---- hostile files -------------------------------------------------------- */

Test(weights, missing_file) {
    xf_error err = {{0}};
    cr_assert_null(xf_weights_open("/nonexistent/w.safetensors", &err));
    cr_assert_not_null(strstr(err.msg, "/nonexistent/w.safetensors"), "%s", err.msg);
}

Test(weights, truncated_file) {
    /* the F32 fixture with its last 100 bytes cut off */
    FILE *f = fopen(CAUSAL, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    char path[256];
    write_raw(path, "cut.safetensors", b, (size_t)n - 100);
    expect_open_fails(path, "tensor layers.1.norm2.bias", "past the end");
    write_raw(path, "tiny.safetensors", b, 5);
    expect_open_fails(path, "truncated", NULL);
    write_raw(path, "empty.safetensors", b, 0);
    expect_open_fails(path, "truncated", NULL);
    write_raw(path, "halfheader.safetensors", b, 1000); /* cut inside the JSON */
    expect_open_fails(path, "header length", "exceeds the file");
    free(b);
}

/* A file cut short after it was opened (another process rewriting it): the
 * packed weights are read with pread, so the read comes up short and says
 * so, naming file and tensor, instead of a SIGBUS through the mapping. */
Test(weights, file_shrinks_after_open) {
    float v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (float)i;
    char path[256];
    write_st(path, "s.safetensors",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[8,8],\"data_offsets\":[0,256]}}    ", v,
             sizeof v);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    cr_assert_eq(truncate(path, 100), 0);
    cr_assert_null(xf_weights_get_t(w, "w", 8, 8, 4, 4, &err));
    cr_assert_not_null(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, "tensor w"), "message does not name the tensor: %s",
                       err.msg);
    cr_assert_not_null(strstr(err.msg, "shrank"), "%s", err.msg);
    xf_weights_close(w);
}

Test(weights, header_length_lies) {
    const char *hdr = "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    char path[256];
    size_t len;
    unsigned char *b = st_bytes(hdr, zeros16, 16, strlen(hdr) + 100, &len);
    write_raw(path, "long.safetensors", b, len);
    expect_open_fails(path, "header length", "exceeds the file");
    free(b);
    b = st_bytes(hdr, zeros16, 16, (uint64_t)1 << 62, &len);
    write_raw(path, "huge.safetensors", b, len);
    expect_open_fails(path, "header length", NULL);
    free(b);
    b = st_bytes(hdr, zeros16, 16, strlen(hdr) - 5, &len); /* JSON cut short */
    write_raw(path, "short.safetensors", b, len);
    expect_open_fails(path, "not valid JSON", NULL);
    free(b);
    b = st_bytes(hdr, zeros16, 16, strlen(hdr) + 8, &len); /* data read as header */
    memset(b + 8 + strlen(hdr), 0x41, 8);
    write_raw(path, "garbage.safetensors", b, len);
    expect_open_fails(path, "not valid JSON", NULL);
    free(b);
}

Test(weights, absurd_header_length) {
    /* a 100 MB + 1 header in a file large enough to hold it: sparse, cheap */
    char path[256];
    snprintf(path, sizeof path, "%s/absurd.safetensors", tmpdir);
    FILE *f = fopen(path, "wb");
    uint64_t hl = 100000001;
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(hl >> (8 * i));
    fwrite(b, 1, 8, f);
    fclose(f);
    cr_assert_eq(truncate(path, (off_t)(hl + 100)), 0);
    expect_open_fails(path, "absurd", NULL);
}

Test(weights, bad_json) {
    char path[256];
    write_st(path, "j.safetensors", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4]", zeros16, 16);
    expect_open_fails(path, "not valid JSON", NULL);
    write_st(path, "a.safetensors", "[1, 2, 3]", zeros16, 16);
    expect_open_fails(path, "not a JSON object", NULL);
    write_st(path, "m.safetensors", "{\"__metadata__\": 3}", zeros16, 16);
    expect_open_fails(path, "__metadata__", NULL);
}

Test(weights, entry_not_object) {
    expect_entry_fails("[1,2]", "not an object");
    expect_entry_fails("\"F32\"", "not an object");
}

Test(weights, bad_dtype) {
    expect_entry_fails("{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}", "F64");
    expect_entry_fails("{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}", "I32");
    expect_entry_fails("{\"dtype\":7,\"shape\":[4],\"data_offsets\":[0,16]}", "dtype");
    expect_entry_fails("{\"shape\":[4],\"data_offsets\":[0,16]}", "dtype");
}

Test(weights, bad_shape) {
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}", "shape");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,16]}", "shape");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}", "shape");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}", "shape");
    expect_entry_fails("{\"dtype\":\"F32\",\"data_offsets\":[0,16]}", "shape");
    /* 2^31 · 2^31 · 2^31 elements: the product overflows int64 */
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648,2147483648],"
                       "\"data_offsets\":[0,16]}",
                       "too many elements");
    /* numel fits int64 but the byte size does not */
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[4503599627370496,1536],"
                       "\"data_offsets\":[0,16]}",
                       "too large");
}

Test(weights, bad_offsets) {
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,32]}", "past the end");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}",
                       "end before begin");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}", "needs 12");
    expect_entry_fails("{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}", "needs 8");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}", "data_offsets");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}",
                       "data_offsets");
    expect_entry_fails("{\"dtype\":\"F32\",\"shape\":[4]}", "data_offsets");
}

Test(weights, overlapping_tensors) {
    char path[256];
    write_st(path, "o.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
             "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
             zeros16, 16);
    expect_open_fails(path, "tensor b", "overlap tensor a");
    /* the same bytes claimed twice */
    write_st(path, "o2.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]}}",
             zeros16, 16);
    expect_open_fails(path, "overlap", NULL);
}

Test(weights, duplicate_name) {
    char path[256];
    write_st(path, "d.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
             zeros16, 16);
    expect_open_fails(path, "tensor a", "twice");
}

Test(weights, get_checks_rank_shape_and_presence) {
    char path[256];
    write_st(path, "g.safetensors",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", zeros16, 16);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    char want[512];
    int64_t s22[2] = {2, 2}, s4[1] = {4}, s23[2] = {2, 3};
    cr_assert_null(xf_weights_get(w, "w", 1, s4, &err));
    snprintf(want, sizeof want, "%s: tensor w: shape [2,2], expected [4]", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(xf_weights_get(w, "w", 2, s23, &err));
    snprintf(want, sizeof want, "%s: tensor w: shape [2,2], expected [2,3]", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(xf_weights_get(w, "norm.weight", 1, s4, &err));
    snprintf(want, sizeof want, "%s: tensor norm.weight: missing", path);
    cr_assert_str_eq(err.msg, want);
    /* misshaped gets do not count as uses */
    cr_assert_eq(xf_weights_check_all_used(w, &err), -1);
    snprintf(want, sizeof want, "%s: tensor w:", path);
    cr_assert_not_null(strstr(err.msg, want), "%s", err.msg);
    cr_assert_not_null(xf_weights_get(w, "w", 2, s22, &err), "%s", err.msg);
    cr_assert_eq(xf_weights_check_all_used(w, &err), 0, "%s", err.msg);
    xf_weights_close(w);
}

Test(weights, unused_tensor_is_named) {
    char path[256];
    write_st(path, "u.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"layers.9.extra\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
             zeros16, 16);
    xf_error err = {{0}};
    xf_weights *w = xf_weights_open(path, &err);
    cr_assert_not_null(w, "%s", err.msg);
    int64_t s2[1] = {2};
    cr_assert_not_null(xf_weights_get(w, "a", 1, s2, &err));
    cr_assert_eq(xf_weights_check_all_used(w, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "tensor layers.9.extra"), "%s", err.msg);
    xf_weights_close(w);
}

Test(weights, null_error_is_allowed) {
    cr_assert_null(xf_weights_open("/nonexistent/w.safetensors", NULL));
    cr_assert_eq(xf_fail(NULL, "x %d", 1), -1);
}
