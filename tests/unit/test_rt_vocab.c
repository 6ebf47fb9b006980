/* test_rt_vocab.c — the --vocab file (one token per line) and longest-match
 * encoding of --text: what is accepted, and each refusal's message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf_generate.h"

static xf_vocab *parse(const char *text, int max_tokens, xf_error *err) {
    return xf_vocab_parse(text, strlen(text), "V.txt", max_tokens, err);
}

/* literal bytes, NULs included */
#define REFUSED(lit, max_tokens, msg) refused(lit, sizeof lit - 1, max_tokens, msg)

static void refused(const char *text, size_t len, int max_tokens, const char *msg) {
    xf_error err = {""};
    xf_vocab *v = xf_vocab_parse(text, len, "V.txt", max_tokens, &err);
    cr_assert_null(v, "accepted, expected: %s", msg);
    cr_assert_str_eq(err.msg, msg);
}

Test(vocab, lines_are_ids) {
    xf_error err = {""};
    xf_vocab *v = parse("a\nb\nab\n \né\n", 100, &err);
    cr_assert_not_null(v, "%s", err.msg);
    cr_assert_eq(xf_vocab_size(v), 5);
    cr_assert_str_eq(xf_vocab_token(v, 2), "ab");
    cr_assert_str_eq(xf_vocab_token(v, 3), " ");
    cr_assert_str_eq(xf_vocab_token(v, 4), "é");
    cr_assert_null(xf_vocab_token(v, 5));
    cr_assert_null(xf_vocab_token(v, -1));
    xf_vocab_free(v);
}

Test(vocab, crlf_and_missing_final_newline) {
    xf_error err = {""};
    xf_vocab *v = parse("x\r\ny\r\nzz", 100, &err);
    cr_assert_not_null(v, "%s", err.msg);
    cr_assert_eq(xf_vocab_size(v), 3);
    cr_assert_str_eq(xf_vocab_token(v, 0), "x");
    cr_assert_str_eq(xf_vocab_token(v, 1), "y");
    cr_assert_str_eq(xf_vocab_token(v, 2), "zz");
    xf_vocab_free(v);
}

Test(vocab, longest_match) {
    xf_error err = {""};
    xf_vocab *v = parse("a\nb\nab\nabc\nc\nbca\né\n \n", 100, &err);
    cr_assert_not_null(v, "%s", err.msg);
    int n = -1;
    int32_t *ids = xf_vocab_encode(v, "abcab bcaé", &n, &err);
    cr_assert_not_null(ids, "%s", err.msg);
    const int32_t want[] = {3, 2, 7, 5, 6}; /* abc ab ␠ bca é */
    cr_assert_eq(n, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ids[i], want[i], "ids[%d] = %d, want %d", i, ids[i], want[i]);
    free(ids);
    ids = xf_vocab_encode(v, "", &n, &err);
    cr_assert(ids && n == 0, "empty text: no ids");
    free(ids);
    xf_vocab_free(v);
}

Test(vocab, every_token_encodes_to_itself) {
    xf_error err = {""};
    xf_vocab *v = parse("th\nt\nthe\nh\ne\nhe\n the\n ", 100, &err);
    cr_assert_not_null(v, "%s", err.msg);
    for (int32_t id = 0; id < xf_vocab_size(v); id++) {
        int n;
        int32_t *ids = xf_vocab_encode(v, xf_vocab_token(v, id), &n, &err);
        cr_assert(ids && n == 1 && ids[0] == id, "token %d", id);
        free(ids);
    }
    xf_vocab_free(v);
}

Test(vocab, character_outside_refused_by_name_and_offset) {
    xf_error err = {""};
    xf_vocab *v = parse("a\nb\n", 100, &err);
    int n;
    cr_assert_null(xf_vocab_encode(v, "abéa", &n, &err));
    cr_assert_str_eq(err.msg, "text: no token of V.txt starts with 'é' (U+00E9) at byte 2");
    cr_assert_null(xf_vocab_encode(v, "a\tb", &n, &err));
    cr_assert_str_eq(err.msg, "text: no token of V.txt starts with '\\x09' (U+0009) at byte 1");
    cr_assert_null(xf_vocab_encode(v, "ab\xff", &n, &err));
    cr_assert_str_eq(err.msg, "text: invalid UTF-8 at byte 2 ('\\xFF'), no token of V.txt matches");
    xf_vocab_free(v);
}

Test(vocab, empty_line_refused) {
    REFUSED("a\n\nb\n", 100, "V.txt:2: empty line (one token per line, line i is id i)");
    REFUSED("a\r\n\r\n", 100, "V.txt:2: empty line (one token per line, line i is id i)");
    REFUSED("a\nb\n\n", 100, "V.txt:3: empty line (one token per line, line i is id i)");
}

Test(vocab, empty_file_refused) {
    REFUSED("", 100, "V.txt: no tokens (an empty file)");
}

Test(vocab, byte_order_mark_refused) {
    REFUSED("\xEF\xBB\xBF"
            "a\nb\n",
            100, "V.txt:1: starts with a byte-order mark (U+FEFF): save it as UTF-8 without BOM");
}

Test(vocab, duplicate_refused) {
    REFUSED("a\nbc\nd\nbc\n", 100, "V.txt:4: duplicate token 'bc' (also line 2)");
    REFUSED("x\r\ny\nx", 100, "V.txt:3: duplicate token 'x' (also line 1)");
}

Test(vocab, invalid_utf8_refused) {
    REFUSED("a\nb\xff\n", 100, "V.txt:2:2: invalid UTF-8 (byte \\xFF)");
    REFUSED("\xc0\xaf\n", 100, "V.txt:1:1: invalid UTF-8 (byte \\xC0)");         /* overlong '/' */
    REFUSED("ok\n\xed\xa0\x80\n", 100, "V.txt:2:1: invalid UTF-8 (byte \\xED)"); /* surrogate */
    REFUSED("\xe2\x82\n", 100, "V.txt:1:1: invalid UTF-8 (byte \\xE2)");         /* cut short */
    REFUSED("a\x00"
            "b\n",
            100, "V.txt:1:2: NUL byte in a token");
}

Test(vocab, too_many_lines_refused) {
    REFUSED("a\nb\nc\nd\n", 3, "V.txt:4: more than 3 lines (tokens)");
    xf_error err = {""};
    xf_vocab *v = parse("a\nb\nc\n", 3, &err);
    cr_assert_not_null(v, "exactly max_tokens: %s", err.msg);
    xf_vocab_free(v);
}

Test(vocab, megabyte_line_refused) {
    size_t n = 1 << 20;
    char *big = malloc(n + 3);
    big[0] = 'a', big[1] = '\n';
    memset(big + 2, 'x', n);
    big[n + 2] = '\n';
    refused(big, n + 3, 100, "V.txt:2: line of 1048576 bytes, longer than 4096");
    free(big);
}

Test(vocab, read_file) {
    char path[] = "/tmp/xf-vocab-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char text[] = "h\ne\nl\no\n \nw\nr\nd\nll\n";
    cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    xf_error err = {""};
    xf_vocab *v = xf_vocab_read(path, 100, &err);
    cr_assert_not_null(v, "%s", err.msg);
    int n;
    int32_t *ids = xf_vocab_encode(v, "hello world", &n, &err);
    cr_assert_not_null(ids, "%s", err.msg);
    cr_assert_eq(n, 10); /* h e ll o ␠ w o r l d */
    cr_assert_eq(ids[2], 8);
    free(ids);
    xf_vocab_free(v);
    cr_assert_null(xf_vocab_read(path, 5, &err), "a file too large for 5 lines");
    cr_assert(strstr(err.msg, path) == err.msg, "%s", err.msg);
    unlink(path);
    cr_assert_null(xf_vocab_read(path, 100, &err));
    cr_assert(strstr(err.msg, "cannot open"), "%s", err.msg);
    cr_assert_null(xf_vocab_read("/tmp", 100, &err));
    cr_assert_str_eq(err.msg, "/tmp: not a regular file");
}
