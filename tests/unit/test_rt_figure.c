/* test_rt_figure.c — PNGs: xf_png_matrix, heatmap (one head, all heads,
 * q/k/v, x), figure + flush.  Images are read back with cairo and checked
 * pixel by pixel against the viridis table. */
#include <cairo.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "viridis.h"
#include "xf_handlers.h"
#include "xf_handlers_int.h"

TestSuite(figure, .init = th_events_setup, .fini = th_events_teardown);

/* ---- images ------------------------------------------------------------------ */

typedef struct {
    cairo_surface_t *s;
    int w, h, stride;
    unsigned char *data;
} image;

static image load_png(const char *path) {
    image im;
    im.s = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(im.s), CAIRO_STATUS_SUCCESS, "%s is not a valid PNG: %s",
                 path, cairo_status_to_string(cairo_surface_status(im.s)));
    im.w = cairo_image_surface_get_width(im.s);
    im.h = cairo_image_surface_get_height(im.s);
    im.stride = cairo_image_surface_get_stride(im.s);
    im.data = cairo_image_surface_get_data(im.s);
    return im;
}

static void rgb_at(const image *im, int x, int y, int rgb[3]) {
    uint32_t px;
    memcpy(&px, im->data + (size_t)y * (size_t)im->stride + (size_t)x * 4, 4);
    rgb[0] = (px >> 16) & 0xff;
    rgb[1] = (px >> 8) & 0xff;
    rgb[2] = px & 0xff;
}

static int near(const int a[3], const unsigned char b[3], int tol) {
    for (int i = 0; i < 3; i++)
        if (abs(a[i] - b[i]) > tol)
            return 0;
    return 1;
}

static const unsigned char *viridis_of(double t) {
    int i = (int)floor(t * 256);
    return xf_viridis[i < 0 ? 0 : i > 255 ? 255 : i];
}

/* The leftmost (then topmost) pixel of colour c; 0 if none. */
static int find_leftmost(const image *im, const unsigned char c[3], int *fx, int *fy) {
    for (int x = 0; x < im->w; x++)
        for (int y = 0; y < im->h; y++) {
            int p[3];
            rgb_at(im, x, y, p);
            if (near(p, c, 0)) {
                *fx = x;
                *fy = y;
                return 1;
            }
        }
    return 0;
}

static long count_colour(const image *im, const unsigned char c[3]) {
    long n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            int p[3];
            rgb_at(im, x, y, p);
            n += near(p, c, 0);
        }
    return n;
}

/* ---- xf_png_matrix ---------------------------------------------------------------- */

Test(figure, viridis_table_ends) {
    static const unsigned char lo[3] = {0x44, 0x01, 0x54}, hi[3] = {0xfd, 0xe7, 0x25};
    cr_assert_arr_eq(xf_viridis[0], lo, 3);
    cr_assert_arr_eq(xf_viridis[255], hi, 3);
}

Test(figure, png_matrix_cells_have_viridis_colours) {
    enum { R = 5, C = 7 };
    float m[R * C];
    for (int i = 0; i < R * C; i++)
        m[i] = (float)i; /* min at (0,0), max at (R-1,C-1) */
    xf_error err = {{0}};
    char *path = th_in_dir("m.png");
    cr_assert_eq(xf_png_matrix(path, m, R, C, "ramp", &err), 0, "%s", err.msg);
    image im = load_png(path);
    cr_assert_geq(im.w, C);
    cr_assert_geq(im.h, R);

    static const unsigned char lo[3] = {0x44, 0x01, 0x54}, hi[3] = {0xfd, 0xe7, 0x25};
    int x0, y0, x1, y1;
    cr_assert(find_leftmost(&im, lo, &x0, &y0), "no #440154 pixel for the minimum");
    cr_assert(find_leftmost(&im, hi, &x1, &y1), "no #fde725 pixel for the maximum");
    /* the max cell is the bottom-right one: (x1,y1) - (x0,y0) = (C-1, R-1) cells */
    cr_assert_gt(x1, x0);
    cr_assert_gt(y1, y0);
    cr_assert_eq((x1 - x0) % (C - 1), 0);
    cr_assert_eq((y1 - y0) % (R - 1), 0);
    int cw = (x1 - x0) / (C - 1), ch = (y1 - y0) / (R - 1);
    cr_assert_geq(cw, 1);
    cr_assert_geq(ch, 1);
    cr_assert_geq(C * cw, 300, "a small matrix is scaled up to a readable size (%d px)", C * cw);
    cr_assert(C * cw + 100 <= im.w && R * ch + 60 <= im.h, "room for labels and colorbar");
    /* every cell is filled with its value's colour, edge to edge */
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            const unsigned char *want = viridis_of((double)(i * C + j) / (R * C - 1));
            int corners[4][2] = {{0, 0}, {cw - 1, 0}, {0, ch - 1}, {cw - 1, ch - 1}};
            for (int k = 0; k < 4; k++) {
                int p[3];
                rgb_at(&im, x0 + j * cw + corners[k][0], y0 + i * ch + corners[k][1], p);
                cr_assert(near(p, want, 1), "cell (%d,%d): got #%02x%02x%02x, want #%02x%02x%02x",
                          i, j, p[0], p[1], p[2], want[0], want[1], want[2]);
            }
        }
    cairo_surface_destroy(im.s);
}

Test(figure, png_matrix_never_below_one_pixel_per_cell) {
    enum { R = 600, C = 900 };
    float *m = malloc(sizeof(float) * R * C);
    for (int i = 0; i < R * C; i++)
        m[i] = (float)(((long)i * 7919) % 1000);
    xf_error err = {{0}};
    char *path = th_in_dir("big.png");
    cr_assert_eq(xf_png_matrix(path, m, R, C, "big", &err), 0, "%s", err.msg);
    image im = load_png(path);
    cr_assert_geq(im.w, C);
    cr_assert_geq(im.h, R);
    cairo_surface_destroy(im.s);
    free(m);
}

Test(figure, png_matrix_one_cell_constant_and_nonfinite) {
    float one = 3.5f;
    xf_error err = {{0}};
    cr_assert_eq(xf_png_matrix(th_in_dir("one.png"), &one, 1, 1, NULL, &err), 0, "%s", err.msg);
    image im = load_png(th_in_dir("one.png"));
    cr_assert_geq(im.w, 300);
    cairo_surface_destroy(im.s);

    float m[4] = {1, NAN, INFINITY, 2};
    cr_assert_eq(xf_png_matrix(th_in_dir("nan.png"), m, 2, 2, "with NaN", &err), 0, "%s", err.msg);
    im = load_png(th_in_dir("nan.png"));
    static const unsigned char lo[3] = {0x44, 0x01, 0x54}, hi[3] = {0xfd, 0xe7, 0x25};
    cr_assert_gt(count_colour(&im, lo), 100, "finite min still drawn");
    cr_assert_gt(count_colour(&im, hi), 100, "finite max still drawn");
    cairo_surface_destroy(im.s);
}

Test(figure, png_matrix_errors_leave_no_file) {
    float m[4] = {0, 1, 2, 3};
    xf_error err = {{0}};
    FILE *f = fopen(th_in_dir("blocker"), "w");
    fclose(f);
    cr_assert_eq(xf_png_matrix(th_in_dir("blocker/x.png"), m, 2, 2, "t", &err), -1);
    cr_assert_not_null(strstr(err.msg, "blocker/x.png"), "%s", err.msg);
    cr_assert_eq(xf_png_matrix(th_in_dir("empty.png"), m, 0, 2, "t", &err), -1);
    cr_assert_not_null(strstr(err.msg, "empty.png"), "%s", err.msg);
    cr_assert_eq(th_count_files(th_dir), 1, "only the blocker file");
}

Test(figure, png_matrix_creates_dirs_and_long_titles_fit) {
    float m[4] = {0, 1, 2, 3};
    xf_error err = {{0}};
    const char *t = "decoder.layers.11.cross_attention.inner_attention — head 15, sample 3";
    cr_assert_eq(xf_png_matrix(th_in_dir("a/b/long.png"), m, 2, 2, t, &err), 0, "%s", err.msg);
    image im = load_png(th_in_dir("a/b/long.png"));
    cr_assert_geq(im.w, 500, "the figure widens for its title");
    cairo_surface_destroy(im.s);
}

/* ---- heatmap ------------------------------------------------------------------------ */

/* attention [N,H,L,S] where head h of every sample holds the constant h
 * (and sample 1 is h + 10), so each head has its own colour. */
static float *heads_const(int N, int H, int L, int S) {
    float *a = malloc(sizeof(float) * (size_t)(N * H * L * S));
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < L * S; i++)
                a[((n * H + h) * L * S) + i] = (float)(h + 10 * n);
    return a;
}

static xf_event attention_event(xf_tensor *t, int layer, int64_t call) {
    static char src[8][64];
    xf_event e;
    memset(&e, 0, sizeof e);
    e.kind = XF_ATTENTION_EVENT;
    snprintf(src[layer & 7], sizeof src[0], "layers.%d.attention.inner_attention", layer);
    e.source = src[layer & 7];
    e.layer = layer;
    e.attention_matrix = t;
    e.call = call;
    e.step = -1; /* a plain forward */
    return e;
}

Test(figure, heatmap_one_head) {
    enum { N = 2, H = 3, L = 6, S = 8 };
    float *a = malloc(sizeof(float) * N * H * L * S);
    for (int i = 0; i < N * H * L * S; i++)
        a[i] = (float)i;
    xf_tensor t = {4, {N, H, L, S}, a};
    xf_event e = attention_event(&t, 2, 0);
    xf_heatmap_cfg cfg = {"att/{source}.png", 1, 1, NULL};
    xf_heatmap(&e, &cfg);
    image im = load_png(th_in_dir("att/layers.2.attention.inner_attention.png"));
    /* (sample 1, head 1) is a ramp of its own: its first cell is the minimum */
    static const unsigned char lo[3] = {0x44, 0x01, 0x54}, hi[3] = {0xfd, 0xe7, 0x25};
    int x0, y0, x1, y1;
    cr_assert(find_leftmost(&im, lo, &x0, &y0));
    cr_assert(find_leftmost(&im, hi, &x1, &y1));
    cr_assert_eq((x1 - x0) % (S - 1), 0);
    cr_assert_eq((y1 - y0) % (L - 1), 0);
    cr_assert_geq((x1 - x0) / (S - 1), 1);
    cairo_surface_destroy(im.s);
    free(a);
}

Test(figure, heatmap_all_heads_tiles_a_grid) {
    enum { N = 1, H = 4, L = 10, S = 10 };
    float *a = heads_const(N, H, L, S);
    xf_tensor t = {4, {N, H, L, S}, a};
    xf_event e = attention_event(&t, 0, 0);
    xf_heatmap_cfg one = {"one.png", 0, 0, NULL}, all = {"all.png", -1, 0, NULL};
    xf_heatmap(&e, &one);
    xf_heatmap(&e, &all);
    image im1 = load_png(th_in_dir("one.png"));
    image im = load_png(th_in_dir("all.png"));
    cr_assert_gt(im.h, im1.h, "a 2x2 grid is taller than one panel");
    /* head h has colour viridis(h/3): four blocks of at least L*S pixels */
    int px[4], py[4];
    for (int h = 0; h < H; h++) {
        const unsigned char *c = viridis_of(h / 3.0);
        cr_assert_geq(count_colour(&im, c), L * S, "head %d panel", h);
        cr_assert(find_leftmost(&im, c, &px[h], &py[h]));
    }
    /* 2 per row: head 1 right of head 0, head 2 below head 0, head 3 below head 1 */
    cr_assert_gt(px[1], px[0] + 50);
    cr_assert_lt(abs(py[1] - py[0]), 3);
    cr_assert_lt(abs(px[2] - px[0]), 3);
    cr_assert_gt(py[2], py[0] + 50);
    cr_assert_gt(py[3], py[1] + 50);
    cairo_surface_destroy(im1.s);
    cairo_surface_destroy(im.s);
    free(a);
}

static char *capture_stderr_of(void (*h)(const xf_event *, void *), const xf_event *e, void *cfg,
                               int times) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    for (int i = 0; i < times; i++)
        h(e, cfg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    fseek(tmp, 0, SEEK_END);
    n = ftell(tmp);
    rewind(tmp);
    char *s = calloc(1, (size_t)n + 1);
    if (n)
        cr_assert_eq(fread(s, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return s;
}

Test(figure, heatmap_out_of_range_head_or_sample_is_a_note) {
    enum { N = 2, H = 4, L = 3, S = 3 };
    float *a = heads_const(N, H, L, S);
    xf_tensor t = {4, {N, H, L, S}, a};
    xf_event e = attention_event(&t, 0, 0);
    xf_heatmap_cfg bad_head = {"h.png", 4, 0, NULL};
    char *err = capture_stderr_of(xf_heatmap, &e, &bad_head, 3);
    cr_assert_not_null(strstr(err, "head 4 out of range"), "%s", err);
    cr_assert_not_null(strstr(err, "4 heads"), "%s", err);
    cr_assert_null(strstr(strstr(err, "\n") + 1, "head"), "reported once: %s", err);
    free(err);
    xf_heatmap_cfg bad_sample = {"s.png", 0, 2, NULL};
    err = capture_stderr_of(xf_heatmap, &e, &bad_sample, 2);
    cr_assert_not_null(strstr(err, "sample 2 out of range"), "%s", err);
    free(err);
    cr_assert_eq(th_count_files(th_dir), 0, "no file drawn");
    free(a);
}

Test(figure, heatmap_qkv_and_x) {
    enum { N = 2, L = 5, H = 2, E = 3 };
    float q[N * L * H * E];
    for (int i = 0; i < N * L * H * E; i++)
        q[i] = (float)i;
    xf_tensor tq = {4, {N, L, H, E}, q};
    xf_event e;
    memset(&e, 0, sizeof e);
    e.kind = XF_QKV_EVENT;
    e.step = -1;
    e.source = "layers.0.attention";
    e.queries = e.keys = e.values = &tq;
    xf_heatmap_cfg cfg = {"qkv/{source}.{field}.png", 0, 1, NULL};
    xf_heatmap(&e, &cfg);
    const char *fields[3] = {"queries", "keys", "values"};
    for (int f = 0; f < 3; f++) {
        char rel[128];
        snprintf(rel, sizeof rel, "qkv/layers.0.attention.%s.png", fields[f]);
        image im = load_png(th_in_dir(rel));
        /* sample 1 is the [L, H*E] block 30..59: its own min and max colours */
        static const unsigned char lo[3] = {0x44, 0x01, 0x54};
        int x0, y0;
        cr_assert(find_leftmost(&im, lo, &x0, &y0), "%s", rel);
        cr_assert_geq(im.w, H * E);
        cairo_surface_destroy(im.s);
    }
    /* no {field}: the field is inserted before the extension */
    xf_heatmap_cfg flat = {"flat/{source}.png", 0, 0, NULL};
    xf_heatmap(&e, &flat);
    cr_assert_eq(th_count_files(th_in_dir("flat")), 3);
    cr_assert_eq(access(th_in_dir("flat/layers.0.attention.keys.png"), F_OK), 0);

    float x[2 * 4 * 16];
    for (int i = 0; i < 2 * 4 * 16; i++)
        x[i] = sinf((float)i);
    xf_tensor tx = {3, {2, 4, 16}, x};
    xf_event ex;
    memset(&ex, 0, sizeof ex);
    ex.kind = XF_INTERMEDIATE_OUTPUT;
    ex.step = -1;
    ex.source = "";
    ex.layer = 3;
    ex.x = &tx;
    xf_heatmap_cfg cx = {"x/{source}.{layer}.png", 0, 0, NULL};
    xf_heatmap(&ex, &cx);
    image im = load_png(th_in_dir("x/model.3.png"));
    cr_assert_geq(im.w, 16);
    cairo_surface_destroy(im.s);
}

/* ---- figure + flush ----------------------------------------------------------------- */

Test(figure, figure_collects_and_flush_writes_one_grid) {
    enum { N = 1, H = 2, L = 8, S = 8, LAYERS = 4 };
    /* layer i: every entry = i, so each panel has its own colour */
    float *a[LAYERS];
    xf_tensor t[LAYERS];
    xf_figure_cfg cfg = {"fig/attention_{call}.png", 0, 0, 2, NULL};
    for (int i = 0; i < LAYERS; i++) {
        a[i] = malloc(sizeof(float) * N * H * L * S);
        for (int k = 0; k < N * H * L * S; k++)
            a[i][k] = (float)i;
        t[i] = (xf_tensor){4, {N, H, L, S}, a[i]};
        xf_event e = attention_event(&t[i], i, 7);
        xf_figure(&e, &cfg);
        cr_assert_not_null(cfg.state);
    }
    cr_assert_eq(th_count_files(th_dir), 0, "nothing written before the flush");
    xf_figure_flush(&cfg, 7);
    cr_assert_null(cfg.state, "flushed and cleared");
    cr_assert_eq(th_count_files(th_in_dir("fig")), 1);
    image im = load_png(th_in_dir("fig/attention_7.png"));
    int px[LAYERS], py[LAYERS];
    for (int i = 0; i < LAYERS; i++) {
        const unsigned char *c = viridis_of(i / 3.0);
        cr_assert_geq(count_colour(&im, c), L * S, "panel of layer %d", i);
        cr_assert(find_leftmost(&im, c, &px[i], &py[i]));
    }
    /* a 2x2 grid in layer order */
    cr_assert_gt(px[1], px[0] + 50);
    cr_assert_lt(abs(py[1] - py[0]), 3);
    cr_assert_gt(py[2], py[0] + 50);
    cr_assert_lt(abs(px[2] - px[0]), 3);
    cr_assert_gt(px[3], px[2] + 50);
    cairo_surface_destroy(im.s);

    /* a second flush has nothing to write */
    xf_figure_flush(&cfg, 7);
    cr_assert_eq(th_count_files(th_in_dir("fig")), 1);
    for (int i = 0; i < LAYERS; i++)
        free(a[i]);
}

Test(figure, figure_keeps_calls_apart) {
    enum { N = 1, H = 4, L = 4, S = 4 };
    float *a = heads_const(N, H, L, S);
    xf_tensor t = {4, {N, H, L, S}, a};
    xf_figure_cfg cfg = {"calls/{call}.png", -1, 0, 4, NULL};
    xf_event e0 = attention_event(&t, 0, 0), e1 = attention_event(&t, 1, 1);
    xf_figure(&e0, &cfg);
    xf_figure(&e1, &cfg);
    xf_figure(&e0, &cfg);
    xf_figure_flush(&cfg, 0);
    cr_assert_not_null(cfg.state, "call 1's panels are still pending");
    cr_assert_eq(access(th_in_dir("calls/0.png"), F_OK), 0);
    cr_assert_eq(access(th_in_dir("calls/1.png"), F_OK), -1);
    xf_figure_flush(&cfg, 1);
    cr_assert_null(cfg.state);
    /* call 0 had 2 events x 4 heads = 8 panels, call 1 had 4: more of each colour */
    image im0 = load_png(th_in_dir("calls/0.png")), im1 = load_png(th_in_dir("calls/1.png"));
    const unsigned char *c = viridis_of(2 / 3.0);
    long n0 = count_colour(&im0, c), n1 = count_colour(&im1, c);
    cr_assert_gt(n0, n1 + L * S, "%ld vs %ld", n0, n1);
    cr_assert_gt(im0.h, im1.h, "two rows of 4 against one");
    cairo_surface_destroy(im0.s);
    cairo_surface_destroy(im1.s);
    free(a);
}

Test(figure, flush_without_panels_is_harmless) {
    xf_figure_cfg cfg = {"nothing.png", 0, 0, 2, NULL};
    xf_figure_flush(&cfg, 0);
    xf_figure_flush(NULL, 0);
    cr_assert_null(cfg.state);
    cr_assert_eq(th_count_files(th_dir), 0);
}

typedef struct {
    xf_figure_cfg *cfg;
    xf_tensor *t;
    int call;
} fig_job;

static void *forward_like(void *arg) {
    fig_job *j = arg;
    for (int layer = 0; layer < 3; layer++) {
        xf_event e = attention_event(j->t, layer, j->call);
        xf_figure(&e, j->cfg);
    }
    xf_figure_flush(j->cfg, j->call);
    return NULL;
}

Test(figure, concurrent_forwards_share_a_config) {
    enum { N = 1, H = 2, L = 16, S = 16 };
    float *a = heads_const(N, H, L, S);
    xf_tensor t = {4, {N, H, L, S}, a};
    xf_figure_cfg cfg = {"conc/{call}.png", 1, 0, 3, NULL};
    pthread_t th[4];
    fig_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (fig_job){&cfg, &t, i};
        pthread_create(&th[i], NULL, forward_like, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_null(cfg.state);
    cr_assert_eq(th_count_files(th_in_dir("conc")), 4);
    free(a);
}

/* ---- titles (issue 15) ------------------------------------------------------------ */

Test(titles, panel_labels_carry_the_full_source) {
    char b[200];
    xf__source_label(b, sizeof b, "encoder.layers.0.attention.inner_attention", XF_ATTENTION_EVENT,
                     0);
    cr_assert_str_eq(b, "encoder.layers.0 self-attention");
    xf__source_label(b, sizeof b, "decoder.layers.1.cross_attention.inner_attention",
                     XF_ATTENTION_EVENT, 1);
    cr_assert_str_eq(b, "decoder.layers.1 cross-attention");
    xf__source_label(b, sizeof b, "decoder.layers.1.self_attention", XF_QKV_EVENT, 1);
    cr_assert_str_eq(b, "decoder.layers.1 self-attention");
    xf__source_label(b, sizeof b, "layers.2.attention.inner_attention", XF_ATTENTION_EVENT, 2);
    cr_assert_str_eq(b, "layers.2 self-attention");
    xf__source_label(b, sizeof b, "encoder", XF_INTERMEDIATE_OUTPUT, 1);
    cr_assert_str_eq(b, "encoder layer 1 output");
    xf__source_label(b, sizeof b, "", XF_INTERMEDIATE_OUTPUT, -1);
    cr_assert_str_eq(b, "model");
}

Test(titles, different_figures_different_titles) {
    char a[300], b[300], c[300];
    xf__figure_title(a, sizeof a, XF_ATTENTION_EVENT, "encoder.layers.0 self-attention", -1, 0);
    xf__figure_title(b, sizeof b, XF_ATTENTION_EVENT, "decoder.layers.0 cross-attention", -1, 0);
    xf__figure_title(c, sizeof c, XF_ATTENTION_EVENT, "encoder.layers.0 self-attention", 2, 0);
    cr_assert_str_eq(a, "Attention weights: encoder.layers.0 self-attention, sample 0");
    cr_assert_str_neq(a, b);
    cr_assert_str_eq(c, "Attention weights: encoder.layers.0 self-attention, head 2, sample 0");
}

Test(titles, colorbar_zero_is_zero) {
    char b[32];
    xf__end_label(b, sizeof b, 6.72e-15, 0.93);
    cr_assert_str_eq(b, "0");
    xf__end_label(b, sizeof b, 0.0004, 0.93);
    cr_assert_str_eq(b, "0.0004");
    xf__end_label(b, sizeof b, 1e-9, 1e-8); /* a range that small: the value itself */
    cr_assert_str_eq(b, "1e-09");
}

/* ---- generation steps (SPEC §8, issue 11) ------------------------------------------- */

/* A causal attention [N=2, H=2, T=5, T=5] with distinct values below the
 * diagonal, 0 above; and its rows as a generation delivers them. */
enum { SN = 2, SH = 2, ST = 5, SP = 3 };

static void causal_matrix(float *a) {
    for (int n = 0; n < SN; n++)
        for (int h = 0; h < SH; h++)
            for (int l = 0; l < ST; l++)
                for (int s = 0; s < ST; s++)
                    a[((n * SH + h) * ST + l) * ST + s] =
                        s <= l ? (float)(1 + s + 7 * l + 50 * h + 100 * n) / 400 : 0;
}

/* Rows [l0, l0 + r) of every (n, h) plane, t keys wide: a step's payload. */
static float *rows_of(const float *a, int l0, int r, int t) {
    float *o = malloc(sizeof(float) * SN * SH * r * t);
    for (int p = 0; p < SN * SH; p++)
        for (int i = 0; i < r; i++)
            memcpy(o + ((size_t)p * r + i) * t, a + ((size_t)p * ST + l0 + i) * ST,
                   sizeof(float) * t);
    return o;
}

/* Feeds the prefill [SN,SH,SP,SP] and one row per step to handler h/cfg. */
static void generate(xf_handler h, void *cfg, const float *a, int layer, int64_t call) {
    for (int step = 0; step <= ST - SP; step++) {
        int l0 = step ? SP + step - 1 : 0, r = step ? 1 : SP, t = l0 + r;
        float *m = rows_of(a, l0, r, t);
        xf_tensor tt = {4, {SN, SH, r, t}, m};
        xf_event e = attention_event(&tt, layer, call);
        e.step = step;
        h(&e, cfg);
        free(m);
    }
}

static int same_bytes(const char *p1, const char *p2) {
    size_t n1, n2;
    char *a = th_read_file(p1, &n1), *b = th_read_file(p2, &n2);
    int same = n1 == n2 && !memcmp(a, b, n1);
    free(a);
    free(b);
    return same;
}

Test(figure, heatmap_of_a_generation_equals_the_forward) {
    float a[SN * SH * ST * ST];
    causal_matrix(a);
    xf_tensor t = {4, {SN, SH, ST, ST}, a};
    xf_event e = attention_event(&t, 1, 0);
    for (int head = -1; head <= 1; head += 2) {
        xf_heatmap_cfg fwd = {"fwd.png", head, 1, NULL}, gen = {"gen.png", head, 1, NULL};
        xf_heatmap(&e, &fwd);
        cr_assert_null(fwd.state, "a plain forward keeps nothing");
        generate(xf_heatmap, &gen, a, 1, 4);
        cr_assert_not_null(gen.state);
        xf_heatmap_flush(&gen, 4);
        cr_assert_null(gen.state, "the flush forgets the call");
        cr_assert(same_bytes(th_in_dir("fwd.png"), th_in_dir("gen.png")),
                  "head %d: the assembled steps draw another picture than the forward", head);
    }
}

Test(figure, x_steps_assemble_rows) {
    float x[SN * ST * 3];
    for (int i = 0; i < SN * ST * 3; i++)
        x[i] = (float)i;
    xf_tensor tf = {3, {SN, ST, 3}, x};
    xf_event e = {
        .kind = XF_INTERMEDIATE_OUTPUT, .source = "decoder", .layer = 0, .x = &tf, .step = -1};
    xf_heatmap_cfg fwd = {"xf.png", 0, 0, NULL}, gen = {"xg.png", 0, 0, NULL};
    xf_heatmap(&e, &fwd);
    for (int step = 0; step <= ST - SP; step++) {
        int l0 = step ? SP + step - 1 : 0, r = step ? 1 : SP;
        float m[SN * SP * 3];
        for (int n = 0; n < SN; n++)
            memcpy(m + n * r * 3, x + (n * ST + l0) * 3, sizeof(float) * r * 3);
        xf_tensor ts = {3, {SN, r, 3}, m};
        xf_event es = e;
        es.x = &ts;
        es.step = step;
        es.call = 9;
        xf_heatmap(&es, &gen);
    }
    xf_heatmap_flush(&gen, 9);
    cr_assert(same_bytes(th_in_dir("xf.png"), th_in_dir("xg.png")));
}

Test(figure, figure_of_a_generation_equals_the_forward) {
    float a[SN * SH * ST * ST];
    causal_matrix(a);
    xf_tensor t = {4, {SN, SH, ST, ST}, a};
    xf_figure_cfg fwd = {"ff.png", -1, 0, 2, NULL}, gen = {"fg.png", -1, 0, 2, NULL};
    for (int layer = 0; layer < 2; layer++) {
        xf_event e = attention_event(&t, layer, 0);
        xf_figure(&e, &fwd);
    }
    xf_figure_flush(&fwd, 0);
    for (int layer = 0; layer < 2; layer++)
        generate(xf_figure, &gen, a, layer, 3);
    xf_figure_flush(&gen, 3);
    cr_assert_null(gen.state);
    cr_assert(same_bytes(th_in_dir("ff.png"), th_in_dir("fg.png")));
}
