/* test_rt_npy.c — .npy read/write (xf_io.h): round trips, the fixture format
 * byte for byte, hostile files, directories, no partial files. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "xf_io.h"

TestSuite(npy, .init = th_dir_setup, .fini = th_dir_teardown);

/* A v1.0 (or v2.0) file with header text `dict` (padded like numpy) followed
 * by `ndata` bytes of data. */
static void write_npy_raw(const char *path, int major, const char *dict, size_t ndata) {
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    size_t hl = total - pre;
    unsigned char *buf = calloc(1, total + ndata);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = hl & 0xff;
        buf[9] = (hl >> 8) & 0xff;
    } else {
        buf[8] = hl & 0xff;
        buf[9] = (hl >> 8) & 0xff;
        buf[10] = buf[11] = 0;
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[total - 1] = '\n';
    for (size_t i = 0; i < ndata; i++)
        buf[total + i] = (unsigned char)i;
    th_write_file(path, buf, total + ndata);
    free(buf);
}

/* Reading `path` fails; the message names the file and contains `what`. */
static void expect_fail(const char *path, const char *what) {
    xf_array a;
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_read(path, &a, &err), -1, "%s should be rejected", path);
    cr_assert_null(a.data);
    cr_assert_not_null(strstr(err.msg, path), "message '%s' should name the file", err.msg);
    cr_assert_not_null(strstr(err.msg, what), "message '%s' should say '%s'", err.msg, what);
    cr_assert_null(strchr(err.msg, '\n'), "one line");
}

/* ---- round trips ----------------------------------------------------------- */

static void round_trip(int rank, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)i * 0.25f - 3.0f;
    char name[64];
    snprintf(name, sizeof name, "rank%d.npy", rank);
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_write(th_in_dir(name), x, rank, shape, &err), 0, "%s", err.msg);
    xf_array a;
    cr_assert_eq(xf_npy_read(th_in_dir(name), &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.rank, rank);
    for (int i = 0; i < rank; i++)
        cr_assert_eq(a.shape[i], shape[i]);
    cr_assert_arr_eq(a.data, x, (size_t)n * sizeof *x);
    /* numpy's layout: the data starts at a multiple of 64 */
    struct stat st;
    cr_assert_eq(stat(th_in_dir(name), &st), 0);
    cr_assert_eq(((size_t)st.st_size - (size_t)n * 4) % 64, 0);
    xf_array_free(&a);
    cr_assert_null(a.data);
    free(x);
}

Test(npy, round_trip_rank_1_to_4) {
    int64_t s1[] = {7}, s2[] = {3, 5}, s3[] = {2, 3, 4}, s4[] = {2, 4, 3, 5};
    round_trip(1, s1);
    round_trip(2, s2);
    round_trip(3, s3);
    round_trip(4, s4);
}

Test(npy, rank1_header_is_a_python_one_tuple) {
    int64_t s[] = {5};
    float x[5] = {0};
    xf_error err;
    cr_assert_eq(xf_npy_write(th_in_dir("one.npy"), x, 1, s, &err), 0);
    FILE *f = fopen(th_in_dir("one.npy"), "rb");
    char buf[128] = {0};
    cr_assert(fread(buf, 1, 64, f) == 64);
    fclose(f);
    cr_assert_not_null(strstr(buf + 10, "'shape': (5,)"), "%s", buf + 10);
}

Test(npy, zero_sized_dimension) {
    int64_t s[] = {0, 3};
    xf_error err;
    cr_assert_eq(xf_npy_write(th_in_dir("empty.npy"), NULL, 2, s, &err), 0, "%s", err.msg);
    xf_array a;
    cr_assert_eq(xf_npy_read(th_in_dir("empty.npy"), &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.rank, 2);
    cr_assert_eq(a.shape[0], 0);
    cr_assert_eq(a.shape[1], 3);
    xf_array_free(&a);
}

/* --bench's restore: the data read again into the same buffer, even when the
 * caller gave the shape another rank; a file that changed is refused by name
 * and leaves the buffer as it was. */
Test(npy, reread_restores_the_buffer_and_refuses_a_changed_file) {
    int64_t s[] = {4, 6};
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = 0.5f * (float)i - 2.0f;
    xf_error err = {{0}};
    const char *path = th_in_dir("x.npy");
    cr_assert_eq(xf_npy_write(path, x, 2, s, &err), 0, "%s", err.msg);
    xf_array a;
    cr_assert_eq(xf_npy_read(path, &a, &err), 0, "%s", err.msg);
    a.rank = 3, a.shape[2] = a.shape[1], a.shape[1] = a.shape[0], a.shape[0] = 1; /* [1, 4, 6] */
    for (int i = 0; i < 24; i++)
        a.data[i] = 99.0f; /* what an in-place forward leaves */
    cr_assert_eq(xf_npy_reread(path, &a, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(a.data, x, sizeof x);

    int64_t s2[] = {5, 6};
    float y[30] = {0};
    cr_assert_eq(xf_npy_write(path, y, 2, s2, &err), 0, "%s", err.msg);
    a.data[0] = 7.0f;
    cr_assert_eq(xf_npy_reread(path, &a, &err), -1, "a file of 30 floats read into 24");
    cr_assert_not_null(strstr(err.msg, path), "message '%s' should name the file", err.msg);
    cr_assert_not_null(strstr(err.msg, "changed"), "%s", err.msg);
    cr_assert_eq(a.data[0], 7.0f, "the buffer must be left as it was");
    xf_array_free(&a);
}

/* ---- the fixture ------------------------------------------------------------ */

Test(npy, reads_fixture_and_writes_it_byte_for_byte) {
    const char *fx = XF_FIXTURES "/encoder_causal/input.npy";
    xf_array a;
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_read(fx, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.rank, 3);
    cr_assert_eq(a.shape[0], 2);
    cr_assert_eq(a.shape[1], 24);
    cr_assert_eq(a.shape[2], 64);
    cr_assert_float_eq(a.data[0], 0.34015798568725586f, 1e-7);
    cr_assert_float_eq(a.data[3], 0.8235899806022644f, 1e-7);
    cr_assert_float_eq(a.data[2 * 24 * 64 - 1], 0.6080546975135803f, 1e-7);

    /* what we write is what numpy wrote */
    cr_assert_eq(xf_npy_write(th_in_dir("copy.npy"), a.data, a.rank, a.shape, &err), 0, "%s",
                 err.msg);
    FILE *f1 = fopen(fx, "rb"), *f2 = fopen(th_in_dir("copy.npy"), "rb");
    cr_assert(f1 && f2);
    static unsigned char b1[20000], b2[20000];
    size_t n1 = fread(b1, 1, sizeof b1, f1), n2 = fread(b2, 1, sizeof b2, f2);
    fclose(f1);
    fclose(f2);
    cr_assert_eq(n1, n2);
    cr_assert_arr_eq(b1, b2, n1);
    xf_array_free(&a);
}

Test(npy, version_2_and_3_headers) {
    char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    write_npy_raw(th_in_dir("v2.npy"), 2, dict, 24);
    write_npy_raw(th_in_dir("v3.npy"), 3, dict, 24);
    for (int v = 2; v <= 3; v++) {
        xf_array a;
        xf_error err;
        cr_assert_eq(xf_npy_read(th_in_dir(v == 2 ? "v2.npy" : "v3.npy"), &a, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(a.rank, 2);
        cr_assert_eq(a.shape[1], 3);
        unsigned char *b = (unsigned char *)a.data;
        cr_assert_eq(b[23], 23);
        xf_array_free(&a);
    }
}

Test(npy, header_variants_numpy_accepts) {
    /* double quotes, key order, no trailing comma, extra spaces */
    write_npy_raw(th_in_dir("var.npy"), 1,
                  "{ \"shape\" : ( 4 , ) ,\"fortran_order\":False,'descr':'<f4'}", 16);
    xf_array a;
    xf_error err;
    cr_assert_eq(xf_npy_read(th_in_dir("var.npy"), &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.rank, 1);
    cr_assert_eq(a.shape[0], 4);
    xf_array_free(&a);
}

/* ---- hostile files ------------------------------------------------------------ */

Test(npy, rejects_missing_file) {
    expect_fail(th_in_dir("nope.npy"), "cannot open");
}

Test(npy, rejects_wrong_magic) {
    th_write_file(th_in_dir("magic.npy"), "\x93NUMPZ\x01\x00\x10\x00{}              ", 26);
    expect_fail(th_in_dir("magic.npy"), "magic");
    th_write_file(th_in_dir("short.npy"), "\x93NU", 3);
    expect_fail(th_in_dir("short.npy"), "magic");
}

Test(npy, rejects_version_9) {
    write_npy_raw(th_in_dir("v9.npy"), 9,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    expect_fail(th_in_dir("v9.npy"), "version 9.0");
}

Test(npy, rejects_f8_naming_it) {
    write_npy_raw(th_in_dir("f8.npy"), 1,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
    expect_fail(th_in_dir("f8.npy"), "dtype '<f8', expected float32 '<f4'");
    write_npy_raw(th_in_dir("be.npy"), 1,
                  "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
    expect_fail(th_in_dir("be.npy"), "dtype '>f4'");
    write_npy_raw(th_in_dir("rec.npy"), 1,
                  "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8);
    expect_fail(th_in_dir("rec.npy"), "dtype");
}

Test(npy, rejects_fortran_order) {
    write_npy_raw(th_in_dir("fo.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
    expect_fail(th_in_dir("fo.npy"), "fortran_order True");
}

Test(npy, rejects_rank_5_and_0) {
    write_npy_raw(th_in_dir("r5.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", 8);
    expect_fail(th_in_dir("r5.npy"), "rank 5");
    write_npy_raw(th_in_dir("r0.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                  4);
    expect_fail(th_in_dir("r0.npy"), "rank 0");
}

Test(npy, rejects_garbage_shapes) {
    const char *bad[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': 7, }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "not a dict at all",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_npy_raw(th_in_dir("g.npy"), 1, bad[i], 64);
        xf_array a;
        xf_error err = {{0}};
        cr_assert_eq(xf_npy_read(th_in_dir("g.npy"), &a, &err), -1, "accepted: %s", bad[i]);
        cr_assert_not_null(strstr(err.msg, "g.npy: "), "%s", err.msg);
    }
}

Test(npy, rejects_product_overflow) {
    write_npy_raw(
        th_in_dir("big.npy"), 1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 8);
    expect_fail(th_in_dir("big.npy"), "too large");
    write_npy_raw(th_in_dir("big2.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", 8);
    expect_fail(th_in_dir("big2.npy"), "truncated");
}

Test(npy, rejects_truncated_data) {
    write_npy_raw(th_in_dir("trunc.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20);
    expect_fail(th_in_dir("trunc.npy"), "truncated");
}

Test(npy, rejects_trailing_bytes) {
    write_npy_raw(th_in_dir("trail.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28);
    expect_fail(th_in_dir("trail.npy"), "4 bytes after the data");
}

Test(npy, rejects_header_length_past_eof) {
    unsigned char b[20] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f, '{', '}'};
    th_write_file(th_in_dir("hlen.npy"), b, sizeof b);
    expect_fail(th_in_dir("hlen.npy"), "past the end");
    unsigned char c[9] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0x10};
    th_write_file(th_in_dir("hcut.npy"), c, sizeof c);
    expect_fail(th_in_dir("hcut.npy"), "truncated header");
}

Test(npy, rejects_a_directory) {
    char *p = th_in_dir("adir.npy");
    cr_assert_eq(mkdir(p, 0755), 0);
    expect_fail(p, "adir.npy");
}

/* ---- token ids (xf_npy_read_ids) ------------------------------------------------ */

/* A numpy-like file of `dict` whose data is `data` (n bytes). */
static void write_npy_data(const char *path, const char *dict, const void *data, size_t n) {
    write_npy_raw(path, 1, dict, n);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, -(long)n, SEEK_END), 0);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_ids_fail(const char *path, const char *what) {
    xf_ids a;
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_read_ids(path, &a, &err), -1, "%s should be rejected", path);
    cr_assert_null(a.data);
    cr_assert_not_null(strstr(err.msg, path), "message '%s' should name the file", err.msg);
    cr_assert_not_null(strstr(err.msg, what), "message '%s' should say '%s'", err.msg, what);
    cr_assert_null(strchr(err.msg, '\n'), "one line");
}

Test(npy, ids_int32_made_by_numpy) {
    xf_ids a;
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_read_ids(XF_FIXTURES "/gen_lm_eos/prompt.npy", &a, &err), 0, "%s", err.msg);
    cr_assert(a.rank == 2 && a.rows == 3 && a.cols == 5);
    const int32_t want[15] = {27, 11, 2, 12, 5, 16, 13, 21, 11, 5, 25, 0, 25, 14, 30};
    cr_assert_arr_eq(a.data, want, sizeof want);
    xf_ids_free(&a);
    cr_assert_null(a.data);
}

Test(npy, ids_int64_rank1_narrowed) {
    const int64_t ids[4] = {3, 17, -5, 2147483647};
    write_npy_data(th_in_dir("i8.npy"), "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }",
                   ids, sizeof ids);
    xf_ids a;
    xf_error err = {{0}};
    cr_assert_eq(xf_npy_read_ids(th_in_dir("i8.npy"), &a, &err), 0, "%s", err.msg);
    cr_assert(a.rank == 1 && a.rows == 1 && a.cols == 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(a.data[i], (int32_t)ids[i]);
    xf_ids_free(&a);
    const int64_t wide[2] = {1, (int64_t)1 << 40};
    write_npy_data(th_in_dir("w.npy"),
                   "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", wide,
                   sizeof wide);
    expect_ids_fail(th_in_dir("w.npy"), "token id 1099511627776 at [0, 1] does not fit in int32");
}

Test(npy, ids_refuse_floats_and_other_dtypes) {
    write_npy_raw(th_in_dir("f.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    expect_ids_fail(th_in_dir("f.npy"),
                    "dtype '<f4', expected token ids as int32 '<i4' or int64 '<i8'");
    write_npy_raw(th_in_dir("u.npy"), 1,
                  "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }", 6);
    expect_ids_fail(th_in_dir("u.npy"), "dtype '<u2'");
    write_npy_raw(th_in_dir("be.npy"), 1,
                  "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", 12);
    expect_ids_fail(th_in_dir("be.npy"), "dtype '>i4'");
    /* and the float reader refuses ids */
    expect_fail(XF_FIXTURES "/gen_lm_eos/prompt.npy", "dtype '<i4', expected float32 '<f4'");
}

Test(npy, ids_refuse_rank_3) {
    write_npy_raw(th_in_dir("r3.npy"), 1,
                  "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 3), }", 24);
    expect_ids_fail(th_in_dir("r3.npy"),
                    "rank 3 (shape [1,2,3]), expected token ids [L] or [N, L]");
}

Test(npy, ids_refuse_huge_dims) {
    write_npy_raw(th_in_dir("h1.npy"), 1,
                  "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3000000000), }", 8);
    expect_ids_fail(th_in_dir("h1.npy"), "shape [1,3000000000] is too large");
    write_npy_raw(th_in_dir("h2.npy"), 1,
                  "{'descr': '<i8', 'fortran_order': False, 'shape': (2000000000, 2000000000), }",
                  8);
    expect_ids_fail(th_in_dir("h2.npy"), "shape [2000000000,2000000000] is too large");
    write_npy_raw(th_in_dir("h3.npy"), 1,
                  "{'descr': '<i4', 'fortran_order': False, 'shape': (100000, 100000), }", 8);
    expect_ids_fail(th_in_dir("h3.npy"), "truncated");
}

Test(npy, ids_refuse_truncated_and_trailing) {
    write_npy_raw(th_in_dir("t.npy"), 1,
                  "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 20);
    expect_ids_fail(th_in_dir("t.npy"),
                    "truncated: shape [2,3] needs 24 data bytes, the file has 20");
    write_npy_raw(th_in_dir("t8.npy"), 1,
                  "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 28);
    expect_ids_fail(th_in_dir("t8.npy"), "4 bytes after the data");
    th_write_file(th_in_dir("hcut.npy"), "\x93NUMPY\x01\x00\x40", 9);
    expect_ids_fail(th_in_dir("hcut.npy"), "truncated header");
    expect_ids_fail(th_in_dir("none.npy"), "cannot open");
}

/* ---- writing ------------------------------------------------------------------- */

Test(npy, write_creates_missing_nested_dirs) {
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t s[] = {2, 3};
    xf_error err;
    char *p = th_in_dir("a/b/c/x.npy");
    cr_assert_eq(xf_npy_write(p, x, 2, s, &err), 0, "%s", err.msg);
    xf_array a;
    cr_assert_eq(xf_npy_read(p, &a, &err), 0, "%s", err.msg);
    cr_assert_float_eq(a.data[5], 6.0f, 0);
    xf_array_free(&a);
    cr_assert_eq(th_count_files(th_in_dir("a/b/c")), 1, "no temporary file left");
    /* and again into the existing dirs (overwrite) */
    x[5] = 7;
    cr_assert_eq(xf_npy_write(p, x, 2, s, &err), 0, "%s", err.msg);
    cr_assert_eq(xf_npy_read(p, &a, &err), 0, "%s", err.msg);
    cr_assert_float_eq(a.data[5], 7.0f, 0);
    xf_array_free(&a);
}

Test(npy, failed_write_leaves_no_file) {
    float x[2] = {1, 2};
    int64_t s[] = {2};
    xf_error err = {{0}};
    /* the target is a directory: the rename fails after the data was written */
    char *target = th_in_dir("out.npy");
    cr_assert_eq(mkdir(target, 0755), 0);
    cr_assert_eq(xf_npy_write(target, x, 1, s, &err), -1);
    cr_assert_not_null(strstr(err.msg, target), "%s", err.msg);
    cr_assert_eq(th_count_files(th_dir), 1, "only the directory, no temporary file");

    /* a parent that is a file */
    th_write_file(th_in_dir("file"), "x", 1);
    cr_assert_eq(xf_npy_write(th_in_dir("file/sub/y.npy"), x, 1, s, &err), -1);
    cr_assert_not_null(strstr(err.msg, "cannot create directory"), "%s", err.msg);
    cr_assert_eq(th_count_files(th_dir), 2);

    /* a bad rank writes nothing */
    int64_t s5[] = {1, 1, 1, 1, 2};
    cr_assert_eq(xf_npy_write(th_in_dir("r5.npy"), x, 5, s5, &err), -1);
    cr_assert_not_null(strstr(err.msg, "r5.npy"), "%s", err.msg);
    cr_assert_eq(access(th_in_dir("r5.npy"), F_OK), -1);
    cr_assert_eq(th_count_files(th_dir), 2);
}

Test(npy, make_parent_dirs) {
    xf_error err;
    cr_assert_eq(xf_make_parent_dirs("plain.npy", &err), 0);
    cr_assert_eq(xf_make_parent_dirs("/abs.npy", &err), 0);
    cr_assert_eq(xf_make_parent_dirs(th_in_dir("p/q//r/f.png"), &err), 0, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(th_in_dir("p/q/r"), &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
}

Test(npy, ids_refuse_empty_shapes) {
    write_npy_raw(th_in_dir("e1.npy"), 1,
                  "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 4), }", 0);
    expect_ids_fail(th_in_dir("e1.npy"), "shape [0,4] holds no token ids");
    write_npy_raw(th_in_dir("e2.npy"), 1,
                  "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", 0);
    expect_ids_fail(th_in_dir("e2.npy"), "shape [0] holds no token ids");
}
