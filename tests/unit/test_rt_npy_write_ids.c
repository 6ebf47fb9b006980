/* test_rt_npy_write_ids.c — xf_npy_write_ids: the int32 '<i4' output of a
 * generation reads back exactly (xf_npy_read_ids), is refused as floats, and
 * fails like xf_npy_write (no file left) when the path cannot be written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "xf_io.h"

Test(npy_write_ids, round_trip) {
    char dir[] = "/tmp/xf_ids_XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.npy", dir);
    const int32_t ids[6] = {3, 17, 5, 0, 2147483647, 9};
    const int64_t shape[2] = {2, 3};
    xf_error err = {""};
    cr_assert_eq(xf_npy_write_ids(path, ids, 2, shape, &err), 0, "%s", err.msg);
    xf_ids back = {0};
    cr_assert_eq(xf_npy_read_ids(path, &back, &err), 0, "%s", err.msg);
    cr_expect_eq(back.rows, 2);
    cr_expect_eq(back.cols, 3);
    cr_expect_arr_eq(back.data, ids, sizeof ids);
    xf_ids_free(&back);
    xf_array f = {0};
    cr_expect_eq(xf_npy_read(path, &f, &err), -1, "int32 ids are not float32");
    cr_expect(strstr(err.msg, "<i4") != NULL, "%s", err.msg);
    unlink(path);
    rmdir(dir);
}

Test(npy_write_ids, unwritable_path_fails) {
    const int32_t ids[1] = {1};
    const int64_t shape[1] = {1};
    xf_error err = {""};
    cr_expect_eq(xf_npy_write_ids("/proc/xf_no/out.npy", ids, 1, shape, &err), -1);
    cr_expect(strstr(err.msg, "/proc/xf_no") != NULL, "%s", err.msg);
}
