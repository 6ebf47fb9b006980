/* figure.c — viridis heatmaps with cairo: xf_png_matrix, the heatmap and
 * figure handlers (xf_handlers.h).
 *
 * One drawing routine, draw_grid, lays out a figure the way a matplotlib
 * subplot grid does: an optional suptitle, panels in rows of `ncols`, each a
 * heatmap (imshow, origin upper, nearest-neighbour cells) with a title above,
 * index ticks on both axes, an x label under the panels of the last row and a
 * y label left of the first column; one colorbar on the right with the shared
 * scale, labelled with the exact min and max and round values between.
 *
 * Sizes: a panel's heatmap is about 400 px (single) / 300 px (grids of up to
 * 4) / 240 px (larger grids) on its longer side, with integer pixels per cell
 * (square cells unless the matrix is more than 3:1), never less than one
 * pixel per cell: a 2048-wide matrix makes a 2048-px-wide heatmap, nothing
 * is averaged away.  Non-finite values are drawn light grey and left out of
 * the scale.  Files are written through xf_write_output (output.c).
 *
 * heatmap: an attention_matrix [N,H,L,S] gives the [L,S] of (sample, head),
 * head = -1 a grid of every head ("Head h"); queries/keys/values [N,L,H,E]
 * give their [L, H*E] of the sample and x [N,L,D] its [L,D] (head ignored).
 * Out-of-range head/sample: one note on stderr per configuration, no file.
 *
 * figure: during a forward call collects a copy of one panel per matching
 * event ("Layer i Head h"), keyed by the event's call counter so concurrent
 * forwards sharing a configuration do not mix; xf_figure_flush(cfg, call)
 * writes that call's panels as one grid, `cols` per row, and forgets them.
 * cfg->state exists only while panels are pending (allocated by the first
 * panel, freed by the flush that empties it), so nothing outlives the run.
 * {source}/{layer}/{event} in a figure's pattern come from its first panel.
 */
#include "xf_handlers.h"
#include "xf_io.h"
#include "viridis.h"

#include <cairo.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xf_handlers_int.h"

/* Sanitized builds (XF_SANITIZE): fontconfig, under cairo's toy text API,
 * keeps its pattern caches behind offset-encoded pointers that LeakSanitizer
 * cannot follow, so every process that drew text reports ~1 KB "leaked" from
 * libfontconfig (gone with cairo_debug_reset_static_data() + FcFini(), i.e.
 * caches, not leaks).  Suppress exactly those; weak, so a program's own
 * suppression list wins. */
#if defined(__SANITIZE_ADDRESS__)
__attribute__((weak, used)) const char *__lsan_default_suppressions(void);
__attribute__((weak, used)) const char *__lsan_default_suppressions(void) {
    return "leak:libfontconfig.so\n";
}
#endif

/* ---- look ------------------------------------------------------------------ */

#define FONT "DejaVu Sans"
enum {
    SUP_PX = 19,   /* suptitle */
    TITLE_PX = 15, /* panel title */
    LABEL_PX = 14, /* axis labels */
    TICK_PX = 12,  /* tick labels */
    TICK_LEN = 4,
    PAD = 18,  /* outer margin */
    HGAP = 28, /* between panel columns */
    VGAP = 16, /* between panel rows */
    CBAR_GAP = 22,
    CBAR_W = 18,
    MAX_PX = 30000 /* cairo's image limit is 32767 */
};
static const double INK = 0.13; /* text and frames: near black */
static const double BAD = 0.82; /* non-finite cells: light grey */

typedef struct {
    const float *m; /* [rows, cols] row-major */
    int rows, cols;
    char title[256];
} panel;

typedef struct {
    const char *suptitle; /* or NULL */
    const char *xlabel, *ylabel;
    int ncols;
} grid_opts;

/* ---- text -------------------------------------------------------------------- */

static void font(cairo_t *cr, double px, int bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, px);
}

static double text_w(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Draws s with its horizontal anchor (0 left, .5 centre, 1 right) at x and
 * its vertical centre (of the digits/capitals) at y. */
static void text_at(cairo_t *cr, const char *s, double x, double y, double hanchor) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double cap = fe.ascent * 0.72; /* cap height of DejaVu ≈ 0.72 ascent */
    cairo_move_to(cr, x - hanchor * e.x_advance, y + cap / 2);
    cairo_show_text(cr, s);
}

/* ---- ticks ------------------------------------------------------------------- */

static int nice_index_step(int n, int maxticks) {
    if (maxticks < 2)
        maxticks = 2;
    for (int base = 1;; base *= 10) {
        static const int m[3] = {1, 2, 5};
        for (int i = 0; i < 3; i++) {
            int s = m[i] * base;
            if ((n - 1) / s + 1 <= maxticks)
                return s;
        }
        if (base > 100000000)
            return n;
    }
}

static double nice_value_step(double range) {
    double raw = range / 5, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void format_value_ascii(char *buf, size_t cap, double v, double step);

/* Value labels use the typographic minus (U+2212), as matplotlib does. */
static void format_value(char *buf, size_t cap, double v, double step) {
    char tmp[40];
    format_value_ascii(tmp, sizeof tmp, v, step);
    snprintf(buf, cap, "%s%s", tmp[0] == '-' ? "\xe2\x88\x92" : "", tmp + (tmp[0] == '-'));
}

static void format_value_ascii(char *buf, size_t cap, double v, double step) {
    double a = fabs(v);
    if (v == 0)
        snprintf(buf, cap, "0");
    else if (a >= 1e5 || a < 1e-3 || (step > 0 && step < 1e-4))
        snprintf(buf, cap, "%.3g", v);
    else if (step > 0) {
        int dec = (int)ceil(-log10(step) - 1e-9);
        if (dec < 0)
            dec = 0;
        snprintf(buf, cap, "%.*f", dec, v);
    } else
        snprintf(buf, cap, "%.4g", v);
}

/* ---- pixels ------------------------------------------------------------------ */

static uint32_t viridis_px(double t) {
    int i = (int)floor(t * 256);
    if (i < 0)
        i = 0;
    if (i > 255)
        i = 255;
    return 0xff000000u | (uint32_t)xf_viridis[i][0] << 16 | (uint32_t)xf_viridis[i][1] << 8 |
           (uint32_t)xf_viridis[i][2];
}

/* A rows×cols surface, one pixel per cell. */
static cairo_surface_t *matrix_surface(const panel *p, double vmin, double vmax) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p->cols, p->rows);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        return s;
    cairo_surface_flush(s);
    unsigned char *base = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    double range = vmax - vmin;
    uint32_t bad = 0xff000000u | (uint32_t)(BAD * 255) * 0x010101u;
    for (int r = 0; r < p->rows; r++) {
        uint32_t *row = (uint32_t *)(void *)(base + (size_t)r * (size_t)stride);
        const float *src = p->m + (size_t)r * (size_t)p->cols;
        for (int c = 0; c < p->cols; c++) {
            double v = src[c];
            row[c] = isfinite(v) ? viridis_px(range > 0 ? (v - vmin) / range : 0) : bad;
        }
    }
    cairo_surface_mark_dirty(s);
    return s;
}

/* Integer cell size for a panel whose longer side aims at `target` px:
 * square cells when that leaves the shorter side at least target/2, else
 * (a wide or tall matrix) the shorter side aims at 0.6 target. */
static void cell_size(int rows, int cols, int target, int *cw, int *ch) {
    int longer = rows > cols ? rows : cols, shorter = rows > cols ? cols : rows;
    int c = (int)lround((double)target / longer);
    if (c < 1)
        c = 1;
    if (shorter * c >= target / 2) {
        *cw = *ch = c;
        return;
    }
    double wpx = cols >= rows ? target : 0.6 * target, hpx = rows > cols ? target : 0.6 * target;
    int w = (int)lround(wpx / cols), h = (int)lround(hpx / rows);
    *cw = w < 1 ? 1 : w;
    *ch = h < 1 ? 1 : h;
}

/* ---- files ------------------------------------------------------------------- */

static cairo_status_t write_fp(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static int put_png(FILE *fp, void *surface) {
    return cairo_surface_write_to_png_stream(surface, write_fp, fp) == CAIRO_STATUS_SUCCESS ? 0
                                                                                            : -1;
}

/* The PNG of s at path, through xf_write_output (output.c). */
static int write_png(cairo_surface_t *s, const char *path, xf_error *err) {
    if (xf_make_parent_dirs(path, err) != 0)
        return -1;
    return xf_write_output(path, put_png, s, err);
}

/* ---- the figure ---------------------------------------------------------------- */

/* Where everything goes: decided by measure() before anything is drawn. */
typedef struct {
    int n, ncols, nrows; /* panels, grid columns and rows */
    int *cw, *ch;        /* [n] cell width/height in pixels of each panel */
    int pw, ph;          /* largest heatmap */
    int yaxis_w, col_w;  /* y ticks + labels left of a heatmap; one grid column */
    int title_h, row_h;  /* panel title band; one grid row */
    int left, top;       /* first panel's column / row origin */
    int cb_x, W, H;      /* colour bar x; image size */
    double vmin, vmax;   /* the shared scale over every finite value */
    double vstep;        /* round colour-bar ticks, 0 for none */
    char lo[32], hi[32]; /* the colour bar's end labels */
} layout;

/* The shared colour scale: min and max of every panel's finite values. */
static void value_range(const panel *ps, int n, double *vmin, double *vmax) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)ps[i].rows * (size_t)ps[i].cols;
        for (size_t k = 0; k < cnt; k++) {
            double v = ps[i].m[k];
            if (!isfinite(v))
                continue;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    if (!(lo <= hi))
        lo = hi = 0;
    *vmin = lo;
    *vmax = hi;
}

/* A colour-bar end: the value, except that one within a millionth of the
 * range of 0 is 0 (softmax rows give 6.72e-15 where they mean 0). */
void xf__end_label(char *buf, size_t cap, double v, double range) {
    format_value(buf, cap, fabs(v) <= range * 1e-6 ? 0.0 : v, 0);
}

/* Widest colour-bar label, ends and round ticks. */
static double colorbar_label_w(cairo_t *m, const layout *g) {
    font(m, TICK_PX, 0);
    double w = fmax(text_w(m, g->lo), text_w(m, g->hi));
    if (g->vstep > 0)
        for (long k = (long)ceil(g->vmin / g->vstep); k * g->vstep <= g->vmax; k++) {
            char num[32];
            format_value(num, sizeof num, k * g->vstep, g->vstep);
            w = fmax(w, text_w(m, num));
        }
    return w;
}

/* Panel sizes and the widest y-tick and title texts. */
static void measure_panels(cairo_t *m, const panel *ps, layout *g, double *ytick_w,
                           double *title_w) {
    int target = g->n == 1 ? 400 : g->n <= 4 ? 300 : 240;
    *ytick_w = *title_w = 0;
    font(m, TICK_PX, 0);
    for (int i = 0; i < g->n; i++) {
        cell_size(ps[i].rows, ps[i].cols, target, &g->cw[i], &g->ch[i]);
        g->pw = ps[i].cols * g->cw[i] > g->pw ? ps[i].cols * g->cw[i] : g->pw;
        g->ph = ps[i].rows * g->ch[i] > g->ph ? ps[i].rows * g->ch[i] : g->ph;
        char num[32];
        snprintf(num, sizeof num, "%d", ps[i].rows - 1);
        *ytick_w = fmax(*ytick_w, text_w(m, num));
    }
    font(m, TITLE_PX, 0);
    for (int i = 0; i < g->n; i++)
        if (ps[i].title[0]) {
            g->title_h = TITLE_PX + 12;
            *title_w = fmax(*title_w, text_w(m, ps[i].title));
        }
}

/* Lays out n panels (g->cw/ch allocated by the caller); 0, or -1 + err
 * when the image would be too large. */
static int measure(const char *path, const panel *ps, const grid_opts *o, layout *g,
                   xf_error *err) {
    g->ncols = o->ncols > 0 ? (o->ncols < g->n ? o->ncols : g->n) : g->n;
    g->nrows = (g->n + g->ncols - 1) / g->ncols;
    value_range(ps, g->n, &g->vmin, &g->vmax);
    double range = g->vmax - g->vmin;
    g->vstep = range > 0 ? nice_value_step(range) : 0;
    xf__end_label(g->lo, sizeof g->lo, g->vmin, range);
    xf__end_label(g->hi, sizeof g->hi, g->vmax, range);

    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *m = cairo_create(scratch);
    double ytick_w, title_w, sup_w = 0;
    measure_panels(m, ps, g, &ytick_w, &title_w);
    double cb_label_w = colorbar_label_w(m, g);
    if (o->suptitle) {
        font(m, SUP_PX, 1);
        sup_w = text_w(m, o->suptitle);
    }
    cairo_destroy(m);
    cairo_surface_destroy(scratch);

    g->yaxis_w = TICK_LEN + 4 + (int)ceil(ytick_w);
    g->col_w = g->yaxis_w + g->pw > (int)ceil(title_w) ? g->yaxis_w + g->pw : (int)ceil(title_w);
    g->col_w += HGAP;
    int xaxis_h = TICK_LEN + 4 + TICK_PX + 6 + LABEL_PX + 6; /* ticks, labels, x label */
    g->row_h = g->title_h + g->ph + xaxis_h + VGAP;
    g->left = PAD + LABEL_PX + 8; /* rotated y label */
    g->top = PAD + (o->suptitle ? SUP_PX + 14 : 0);
    g->cb_x = g->left + g->ncols * g->col_w - HGAP + CBAR_GAP;
    g->W = g->cb_x + CBAR_W + TICK_LEN + 5 + (int)ceil(cb_label_w) + PAD;
    g->H = g->top + g->nrows * g->row_h - VGAP + PAD;
    if (sup_w + 2 * PAD > g->W)
        g->W = (int)ceil(sup_w) + 2 * PAD;
    if (g->W > MAX_PX || g->H > MAX_PX)
        return xf_fail(err, "%s: figure of %dx%d pixels is too large (matrix [%d,%d])", path, g->W,
                       g->H, ps[0].rows, ps[0].cols);
    return 0;
}

/* Index ticks under and left of a w × h heatmap at (x0, y0). */
static void draw_ticks(cairo_t *cr, const panel *p, int x0, int y0, int cw, int ch) {
    int w = p->cols * cw, h = p->rows * ch;
    char num[32];
    font(cr, TICK_PX, 0);
    int xstep = nice_index_step(p->cols, w / 45 > 2 ? w / 45 : 2);
    for (int k = 0; k < p->cols; k += xstep) {
        double x = x0 + (k + 0.5) * cw;
        cairo_move_to(cr, floor(x) + 0.5, y0 + h + 0.5);
        cairo_line_to(cr, floor(x) + 0.5, y0 + h + 0.5 + TICK_LEN);
        cairo_stroke(cr);
        snprintf(num, sizeof num, "%d", k);
        text_at(cr, num, x, y0 + h + TICK_LEN + 4 + TICK_PX / 2.0, 0.5);
    }
    int ystep = nice_index_step(p->rows, h / 30 > 2 ? h / 30 : 2);
    for (int k = 0; k < p->rows; k += ystep) {
        double y = y0 + (k + 0.5) * ch;
        cairo_move_to(cr, x0 - 0.5, floor(y) + 0.5);
        cairo_line_to(cr, x0 - 0.5 - TICK_LEN, floor(y) + 0.5);
        cairo_stroke(cr);
        snprintf(num, sizeof num, "%d", k);
        text_at(cr, num, x0 - TICK_LEN - 4, y, 1.0);
    }
}

/* Panel i: heatmap, frame, title, ticks, axis labels (x under the last panel
 * of each column, y left of column 0).  Returns the heatmap's bottom, or -1
 * when its image cannot be made. */
static int draw_panel(cairo_t *cr, const panel *p, int i, const layout *g, const grid_opts *o) {
    int gr = i / g->ncols, gc = i % g->ncols;
    int w = p->cols * g->cw[i], h = p->rows * g->ch[i];
    int x0 = g->left + gc * g->col_w + g->yaxis_w + (g->pw - w) / 2;
    int y0 = g->top + gr * g->row_h + g->title_h;
    cairo_surface_t *img = matrix_surface(p, g->vmin, g->vmax);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return -1;
    }
    cairo_save(cr);
    cairo_translate(cr, x0, y0);
    cairo_scale(cr, g->cw[i], g->ch[i]);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, p->cols, p->rows);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);

    /* frame, just outside the cells so no cell pixel is covered */
    cairo_set_source_rgb(cr, INK, INK, INK);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0 - 0.5, y0 - 0.5, w + 1, h + 1);
    cairo_stroke(cr);
    if (p->title[0]) {
        font(cr, TITLE_PX, 0);
        text_at(cr, p->title, x0 + w / 2.0, y0 - 6 - TITLE_PX / 2.0, 0.5);
    }
    draw_ticks(cr, p, x0, y0, g->cw[i], g->ch[i]);
    font(cr, LABEL_PX, 0);
    if (o->xlabel && i + g->ncols >= g->n)
        text_at(cr, o->xlabel, x0 + w / 2.0, y0 + h + TICK_LEN + 4 + TICK_PX + 6 + LABEL_PX / 2.0,
                0.5);
    if (o->ylabel && gc == 0) {
        cairo_save(cr);
        cairo_translate(cr, PAD + LABEL_PX / 2.0, y0 + h / 2.0);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, o->ylabel, 0, 0, 0.5);
        cairo_restore(cr);
    }
    return y0 + h;
}

/* One tick and its label at height y of the colour bar. */
static void colorbar_tick(cairo_t *cr, const layout *g, double y, const char *label) {
    cairo_move_to(cr, g->cb_x + CBAR_W, floor(y) + 0.5);
    cairo_line_to(cr, g->cb_x + CBAR_W + TICK_LEN, floor(y) + 0.5);
    cairo_stroke(cr);
    text_at(cr, label, g->cb_x + CBAR_W + TICK_LEN + 5, y, 0);
}

/* The colour bar from cb_top down cb_h pixels: the gradient, a frame, the
 * exact ends (one label when the scale is flat), then round values that do
 * not crowd the ends. */
static void draw_colorbar(cairo_t *cr, const layout *g, int cb_top, int cb_h) {
    cairo_surface_t *grad = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 256);
    cairo_surface_flush(grad);
    unsigned char *gd = cairo_image_surface_get_data(grad);
    int gstride = cairo_image_surface_get_stride(grad);
    for (int k = 0; k < 256; k++) {
        uint32_t px = viridis_px((255 - k + 0.5) / 256.0);
        memcpy(gd + (size_t)k * (size_t)gstride, &px, 4);
    }
    cairo_surface_mark_dirty(grad);
    cairo_save(cr);
    cairo_translate(cr, g->cb_x, cb_top);
    cairo_scale(cr, CBAR_W, cb_h / 256.0);
    cairo_set_source_surface(cr, grad, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, 1, 256);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(grad);
    cairo_set_source_rgb(cr, INK, INK, INK);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, g->cb_x - 0.5, cb_top - 0.5, CBAR_W + 1, cb_h + 1);
    cairo_stroke(cr);

    font(cr, TICK_PX, 0);
    if (!(g->vmax > g->vmin)) {
        colorbar_tick(cr, g, cb_top + cb_h / 2.0, g->lo);
        return;
    }
    colorbar_tick(cr, g, cb_top + cb_h, g->lo);
    colorbar_tick(cr, g, cb_top, g->hi);
    for (long k = (long)ceil(g->vmin / g->vstep); k * g->vstep <= g->vmax; k++) {
        double v = k * g->vstep, y = cb_top + cb_h * (1 - (v - g->vmin) / (g->vmax - g->vmin));
        if (y < cb_top + TICK_PX * 2.0 || y > cb_top + cb_h - TICK_PX * 2.0)
            continue;
        char num[32];
        format_value(num, sizeof num, v, g->vstep);
        colorbar_tick(cr, g, y, num);
    }
}

/* Draws the panels on s: suptitle, each panel, the colour bar beside the
 * rows of heatmaps.  0, or -1 + err. */
static int draw_all(cairo_surface_t *s, const char *path, const panel *ps, const grid_opts *o,
                    const layout *g, xf_error *err) {
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (o->suptitle) {
        cairo_set_source_rgb(cr, INK, INK, INK);
        font(cr, SUP_PX, 1);
        text_at(cr, o->suptitle, g->W / 2.0, PAD + SUP_PX / 2.0, 0.5);
    }
    int bottom = 0;
    for (int i = 0; i < g->n; i++) {
        int b = draw_panel(cr, &ps[i], i, g, o);
        if (b < 0) {
            cairo_destroy(cr);
            return xf_fail(err, "%s: cannot create a %dx%d image", path, ps[i].cols, ps[i].rows);
        }
        bottom = b > bottom ? b : bottom;
    }
    int grid_top = g->top + g->title_h;
    draw_colorbar(cr, g, grid_top, bottom - grid_top);
    cairo_destroy(cr);
    return 0;
}

/* A matplotlib-like grid of n panels with one shared colour bar, as a PNG at path. */
static int draw_grid(const char *path, const panel *ps, int n, const grid_opts *o, xf_error *err) {
    if (n <= 0)
        return xf_fail(err, "%s: nothing to draw", path);
    for (int i = 0; i < n; i++)
        if (ps[i].rows <= 0 || ps[i].cols <= 0 || !ps[i].m)
            return xf_fail(err, "%s: empty matrix [%d,%d]", path, ps[i].rows, ps[i].cols);
    layout g = {.n = n};
    g.cw = calloc((size_t)n, sizeof *g.cw);
    g.ch = calloc((size_t)n, sizeof *g.ch);
    int rc = -1;
    if (!g.cw || !g.ch) {
        rc = xf_fail(err, "%s: out of memory", path);
    } else if (measure(path, ps, o, &g, err) == 0) {
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, g.W, g.H);
        if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
            rc = xf_fail(err, "%s: cannot create a %dx%d image", path, g.W, g.H);
        else if (draw_all(s, path, ps, o, &g, err) == 0) {
            cairo_surface_flush(s);
            rc = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS
                     ? write_png(s, path, err)
                     : xf_fail(err, "%s: drawing failed: %s", path,
                               cairo_status_to_string(cairo_surface_status(s)));
        }
        cairo_surface_destroy(s);
    }
    free(g.cw);
    free(g.ch);
    return rc;
}

int xf_png_matrix(const char *path, const float *m, int rows, int cols, const char *title,
                  xf_error *err) {
    if (!path)
        return xf_fail(err, "(null): no path");
    if (!m || rows <= 0 || cols <= 0)
        return xf_fail(err, "%s: empty matrix [%d,%d]", path, rows, cols);
    panel p = {m, rows, cols, ""};
    if (title)
        snprintf(p.title, sizeof p.title, "%s", title);
    grid_opts o = {NULL, "key", "query", 1};
    return draw_grid(path, &p, 1, &o, err);
}

/* ---- which matrix of a field ------------------------------------------------------ */

/* What heatmap and figure draw of one field of one sample: for an
 * attention [N,H,L,S] the [L,S] of `head` (and *nheads = H); for others
 * the [shape[1], rest] of the sample.  Returns a message (no file name) on
 * a bad sample/head, else NULL. */
static const char *field_matrix(const xf_tensor *t, const char *field, int sample, int head,
                                const float **out, int *rows, int *cols, int *nheads, char *msg,
                                size_t cap) {
    int is_attn = strcmp(field, "attention_matrix") == 0;
    int64_t N = t->rank >= 3 ? t->shape[0] : 1;
    *nheads = 1;
    if (t->rank < 1 || t->rank > 4) {
        snprintf(msg, cap, "%s has rank %d", field, t->rank);
        return msg;
    }
    if (sample < 0 || sample >= N) {
        snprintf(msg, cap, "sample %d out of range: %s has %lld samples", sample, field,
                 (long long)N);
        return msg;
    }
    if (is_attn && t->rank == 4) {
        int64_t H = t->shape[1], L = t->shape[2], S = t->shape[3];
        if (head < -1 || head >= H) {
            snprintf(msg, cap, "head %d out of range: %s has %lld heads", head, field,
                     (long long)H);
            return msg;
        }
        *nheads = (int)H;
        *rows = (int)L;
        *cols = (int)S;
        *out = t->data + ((int64_t)sample * H + (head < 0 ? 0 : head)) * L * S;
        return NULL;
    }
    int64_t rest = 1;
    int first = t->rank >= 3 ? 2 : t->rank == 2 ? 1 : 0;
    for (int i = first; i < t->rank; i++)
        rest *= t->shape[i];
    int64_t r = t->rank >= 3 ? t->shape[1] : t->rank == 2 ? t->shape[0] : 1;
    if (r > MAX_PX || rest > MAX_PX) {
        snprintf(msg, cap, "%s: [%lld,%lld] is too large to draw", field, (long long)r,
                 (long long)rest);
        return msg;
    }
    *rows = (int)r;
    *cols = (int)rest;
    *out = t->data + (t->rank >= 3 ? (int64_t)sample * r * rest : 0);
    return NULL;
}

static void axis_labels(const char *field, const char **xl, const char **yl) {
    if (!strcmp(field, "attention_matrix"))
        *xl = "key", *yl = "query";
    else if (!strcmp(field, "queries"))
        *xl = "head × dim", *yl = "query";
    else if (!strcmp(field, "keys") || !strcmp(field, "values"))
        *xl = "head × dim", *yl = "key";
    else
        *xl = "feature", *yl = "position";
}

/* ---- titles ------------------------------------------------------------------------ */

/* What a module is, in words: the attention modules' last names (both
 * fast-transformers' and torch's). */
static const char *attention_words(const char *last) {
    static const struct {
        const char *name, *words;
    } known[] = {
        {"attention", "self-attention"},       {"self_attention", "self-attention"},
        {"self_attn", "self-attention"},       {"cross_attention", "cross-attention"},
        {"multihead_attn", "cross-attention"},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(last, known[i].name))
            return known[i].words;
    return NULL;
}

void xf__source_label(char *buf, size_t cap, const char *source, xf_event_kind kind, int layer) {
    char s[256];
    snprintf(s, sizeof s, "%s", source && source[0] ? source : "model");
    size_t n = strlen(s);
    const char *inner = ".inner_attention";
    if (n > strlen(inner) && !strcmp(s + n - strlen(inner), inner))
        s[n - strlen(inner)] = '\0';
    char *dot = strrchr(s, '.');
    const char *words = attention_words(dot ? dot + 1 : s);
    if (kind == XF_INTERMEDIATE_OUTPUT && layer >= 0)
        snprintf(buf, cap, "%s layer %d output", s, layer);
    else if (words && dot) {
        *dot = '\0';
        snprintf(buf, cap, "%s %s", s, words);
    } else if (words)
        snprintf(buf, cap, "%s", words);
    else
        snprintf(buf, cap, "%s", s);
}

/* The label of an event's source (xf__source_label). */
static void event_label(char *buf, size_t cap, const xf_event *ev) {
    xf__source_label(buf, cap, ev->source, ev->kind, ev->layer);
}

void xf__figure_title(char *buf, size_t cap, xf_event_kind kind, const char *what, int head,
                      int sample) {
    const char *k = kind == XF_ATTENTION_EVENT       ? "Attention weights"
                    : kind == XF_QKV_EVENT           ? "Queries, keys and values"
                    : kind == XF_INTERMEDIATE_OUTPUT ? "Layer outputs"
                                                     : "Events";
    char h[32] = "";
    if (kind == XF_ATTENTION_EVENT && head >= 0)
        snprintf(h, sizeof h, ", head %d", head);
    snprintf(buf, cap, "%s: %s%s, sample %d", k, what && what[0] ? what : "model", h, sample);
}

/* ---- heatmap ------------------------------------------------------------------------ */

/* Draws one field of ev for the sample (a heatmap file).  Returns -1 when
 * the handler should stop (no file name, out of memory), else 0. */
static int heatmap_field(const xf_heatmap_cfg *cfg, const char *what, const xf_event *ev,
                         const char *name, const xf_tensor *t, int sample, int nfields) {
    const float *mat;
    int rows, cols, nheads;
    char msg[256], path[4096], label[200], sample_note[32] = "";
    if (field_matrix(t, name, sample, cfg->head, &mat, &rows, &cols, &nheads, msg, sizeof msg)) {
        xf__report(cfg, what, "%s: %s; nothing drawn", xf__source_name(ev), msg);
        return 0;
    }
    if (xf__handler_path(path, sizeof path, cfg->pattern, ev, name, nfields) != 0) {
        xf__report(cfg, what, "the file name is too long for %s %s", xf__source_name(ev), name);
        return -1;
    }
    if (cfg->sample != 0)
        snprintf(sample_note, sizeof sample_note, ", sample %d", cfg->sample);
    event_label(label, sizeof label, ev);
    grid_opts o = {NULL, NULL, NULL, 1};
    axis_labels(name, &o.xlabel, &o.ylabel);
    xf_error err;
    int rc, is_attn = !strcmp(name, "attention_matrix") && t->rank == 4;
    if (is_attn && cfg->head < 0) {
        panel *ps = calloc((size_t)nheads, sizeof *ps);
        if (!ps) {
            xf__report(cfg, what, "out of memory");
            return -1;
        }
        for (int h = 0; h < nheads; h++) {
            ps[h] = (panel){mat + (size_t)h * (size_t)rows * (size_t)cols, rows, cols, ""};
            snprintf(ps[h].title, sizeof ps[h].title, "Head %d", h);
        }
        char sup[256];
        snprintf(sup, sizeof sup, "%s — all heads%s", label, sample_note);
        o.suptitle = sup;
        o.ncols = (int)ceil(sqrt((double)nheads));
        rc = draw_grid(path, ps, nheads, &o, &err);
        free(ps);
    } else {
        panel p = {mat, rows, cols, ""};
        if (is_attn)
            snprintf(p.title, sizeof p.title, "%s — head %d%s", label, cfg->head, sample_note);
        else
            snprintf(p.title, sizeof p.title, "%s — %s%s", label, name, sample_note);
        rc = draw_grid(path, &p, 1, &o, &err);
    }
    if (rc != 0)
        xf__report(cfg, what, "%s", err.msg);
    return 0;
}

/* ---- generation steps (SPEC §8) ----------------------------------------------------- */

/* Rows of one field collected over the steps of one generation call: a
 * prefill [P, w] then one row per step, each plane (head) alike.  Narrower
 * rows are zero-padded on the right (a causal row sees fewer keys), so the
 * assembled matrix is what a forward over the final sequence gives. */
typedef struct {
    int64_t call;
    char *source;      /* owned */
    const char *field; /* static string */
    xf_event_kind kind;
    int layer, step, nfields;
    int planes, rows, cols;
    float *m; /* [planes, rows, cols] */
} step_rows;

static pthread_mutex_t steps_lock = PTHREAD_MUTEX_INITIALIZER;

/* m[planes, rows, cols] followed by chunk[planes, r, c]: rows + r rows of
 * max(cols, c), zero-padded.  keys/values of a full-attention step are the
 * whole cache: a chunk of several rows after a prefill replaces instead. */
static int append_rows(float **m, int *rows, int *cols, int planes, const float *chunk, int r,
                       int c, int replace) {
    int keep = replace ? 0 : *rows, R = keep + r, C = replace || c > *cols ? c : *cols;
    float *out = calloc((size_t)planes * (size_t)R * (size_t)C, sizeof *out);
    if (!out)
        return -1;
    for (int p = 0; p < planes; p++) {
        for (int i = 0; i < keep; i++)
            memcpy(out + ((size_t)p * R + i) * C, *m + ((size_t)p * *rows + i) * *cols,
                   (size_t)*cols * sizeof(float));
        for (int i = 0; i < r; i++)
            memcpy(out + ((size_t)p * R + keep + i) * C, chunk + ((size_t)p * r + i) * c,
                   (size_t)c * sizeof(float));
    }
    free(*m);
    *m = out;
    *rows = R;
    *cols = C;
    return 0;
}

/* Whether a step's chunk of `field` with r rows is the whole cache. */
static int whole_cache(const char *field, int r) {
    return r > 1 && (!strcmp(field, "keys") || !strcmp(field, "values"));
}

struct xf_heatmap_state {
    step_rows *e;
    int n, cap;
};

/* Keeps the field of ev (sample's planes) in cfg's state: a prefill
 * (step 0) starts its (source, field) afresh, a later step appends to the
 * same call's.  0, or -1 out of memory.  Caller holds steps_lock. */
static int heatmap_keep(xf_heatmap_cfg *cfg, const xf_event *ev, const char *name, const float *mat,
                        int planes, int r, int c, int nfields) {
    if (!cfg->state && !(cfg->state = calloc(1, sizeof *cfg->state)))
        return -1;
    struct xf_heatmap_state *st = cfg->state;
    step_rows *a = NULL;
    for (int i = 0; i < st->n && !a; i++)
        if (!strcmp(st->e[i].source, ev->source ? ev->source : "") && st->e[i].field == name &&
            (st->e[i].call == ev->call || (ev->step == 0 && st->e[i].step == 0)))
            a = &st->e[i];
    if (!a) {
        if (st->n == st->cap) {
            int cap = st->cap ? 2 * st->cap : 8;
            step_rows *e = realloc(st->e, (size_t)cap * sizeof *e);
            if (!e)
                return -1;
            st->e = e;
            st->cap = cap;
        }
        a = &st->e[st->n];
        *a = (step_rows){.source = strdup(ev->source ? ev->source : ""), .field = name};
        if (!a->source)
            return -1;
        st->n++;
    }
    int fresh = ev->step == 0 || a->call != ev->call || a->planes != planes;
    a->call = ev->call, a->kind = ev->kind, a->layer = ev->layer, a->step = ev->step;
    a->nfields = nfields, a->planes = planes;
    return append_rows(&a->m, &a->rows, &a->cols, planes, mat, r, c, fresh || whole_cache(name, r));
}

/* A step event: its rows join the call's collection (drawn by the flush).
 * A prefill (step 0) is drawn at once too, like a forward, and kept. */
static void heatmap_step(xf_heatmap_cfg *cfg, const char *what, const xf_event *ev,
                         const char *name, const xf_tensor *t, int nfields) {
    const float *mat;
    int rows, cols, nheads;
    char msg[256];
    if (field_matrix(t, name, cfg->sample, -1, &mat, &rows, &cols, &nheads, msg, sizeof msg))
        return; /* reported when drawn */
    pthread_mutex_lock(&steps_lock);
    int rc = heatmap_keep(cfg, ev, name, mat, nheads, rows, cols, nfields);
    pthread_mutex_unlock(&steps_lock);
    if (rc != 0)
        xf__report(cfg, what, "out of memory collecting the steps of %s", xf__source_name(ev));
}

void xf_heatmap(const xf_event *ev, void *cfgp) {
    xf_heatmap_cfg *cfg = cfgp;
    if (!ev)
        return;
    if (!cfg || !cfg->pattern) {
        xf__report(cfgp, "heatmap", "no file pattern");
        return;
    }
    char what[300];
    snprintf(what, sizeof what, "heatmap(\"%s\")", cfg->pattern);
    const char *names[5];
    const xf_tensor *ts[5];
    int n = xf__event_fields(ev, names, ts);
    for (int f = 0; f < n; f++) {
        if (ev->step >= 0)
            heatmap_step(cfg, what, ev, names[f], ts[f], n);
        if (ev->step <= 0 && heatmap_field(cfg, what, ev, names[f], ts[f], cfg->sample, n) != 0)
            return;
    }
}

/* The assembled field as a one-sample tensor and the event it came from
 * (the last step's), drawn like a forward's. */
static void heatmap_draw_rows(xf_heatmap_cfg *cfg, const step_rows *a) {
    char what[300];
    snprintf(what, sizeof what, "heatmap(\"%s\")", cfg->pattern ? cfg->pattern : "");
    int is_attn = !strcmp(a->field, "attention_matrix");
    xf_tensor t = {is_attn ? 4 : 3, {1, a->rows, a->cols, 0}, a->m};
    if (is_attn)
        t.shape[1] = a->planes, t.shape[2] = a->rows, t.shape[3] = a->cols;
    xf_event ev = {
        .kind = a->kind, .source = a->source, .layer = a->layer, .call = a->call, .step = a->step};
    if (is_attn)
        ev.attention_matrix = &t;
    else if (!strcmp(a->field, "x"))
        ev.x = &t;
    else
        ev.queries = &t; /* which of q/k/v: only a->field is read below */
    heatmap_field(cfg, what, &ev, a->field, &t, 0, a->nfields);
}

void xf_heatmap_flush(xf_heatmap_cfg *cfg, int64_t call) {
    if (!cfg)
        return;
    step_rows *mine = NULL;
    int n = 0;
    pthread_mutex_lock(&steps_lock);
    struct xf_heatmap_state *st = cfg->state;
    if (st && (mine = malloc((size_t)st->n * sizeof *mine + 1))) {
        int kept = 0;
        for (int i = 0; i < st->n; i++) {
            if (st->e[i].call == call)
                mine[n++] = st->e[i];
            else
                st->e[kept++] = st->e[i];
        }
        st->n = kept;
        if (!kept) {
            free(st->e);
            free(st);
            cfg->state = NULL;
        }
    }
    pthread_mutex_unlock(&steps_lock);
    for (int i = 0; i < n; i++) {
        if (mine[i].step > 0 && cfg->pattern)
            heatmap_draw_rows(cfg, &mine[i]);
        free(mine[i].m);
        free(mine[i].source);
    }
    free(mine);
}

/* ---- figure --------------------------------------------------------------------------- */

typedef struct {
    int64_t call;
    float *m; /* owned copy [rows, cols] */
    int rows, cols;
    char title[256];
    xf_event_kind kind;
    int layer;
    char *source;      /* owned */
    const char *field; /* static string */
} fig_panel;

struct xf_figure_state {
    fig_panel *ps;
    int n, cap;
};

static pthread_mutex_t fig_lock = PTHREAD_MUTEX_INITIALIZER;

static void fig_panel_free(fig_panel *p) {
    free(p->m);
    free(p->source);
}

/* The panel of the same call, source, field and head (title) as p: a
 * generation step's rows go under it. */
static fig_panel *same_panel(struct xf_figure_state *st, const fig_panel *p) {
    for (int i = 0; i < st->n; i++) {
        fig_panel *q = &st->ps[i];
        if (q->call == p->call && q->field == p->field && !strcmp(q->source, p->source) &&
            !strcmp(q->title, p->title))
            return q;
    }
    return NULL;
}

/* Fills news[0..hcount) with copies of the panels ev gives of one field
 * (mat: its first head's [rows, cols], heads consecutive); 0, or -1 out of
 * memory (what was allocated stays in news for fig_panel_free). */
static int figure_panels(fig_panel *news, int hcount, int h0, const xf_event *ev, const char *field,
                         int is_attn, int nfields, const float *mat, int rows, int cols) {
    size_t cells = (size_t)rows * (size_t)cols;
    char where[200];
    event_label(where, sizeof where, ev);
    for (int k = 0; k < hcount; k++) {
        fig_panel *p = &news[k];
        *p = (fig_panel){.call = ev->call,
                         .rows = rows,
                         .cols = cols,
                         .kind = ev->kind,
                         .layer = ev->layer,
                         .field = field};
        p->m = malloc(cells * sizeof(float));
        p->source = strdup(ev->source ? ev->source : "");
        if (!p->m || !p->source)
            return -1;
        memcpy(p->m, mat + (size_t)k * cells, cells * sizeof(float));
        if (is_attn)
            snprintf(p->title, sizeof p->title, "%s head %d", where, h0 + k);
        else if (nfields > 1)
            snprintf(p->title, sizeof p->title, "%s %s", where, field);
        else
            snprintf(p->title, sizeof p->title, "%s", where);
    }
    return 0;
}

/* Moves news into cfg's state: a new panel each, or (a generation step,
 * step > 0) rows appended to the panel of the same call, source, field and
 * head.  0, or -1 out of memory (what was not moved stays in news). */
static int figure_keep(xf_figure_cfg *cfg, fig_panel *news, int hcount, int step) {
    int ok = 1;
    pthread_mutex_lock(&fig_lock);
    if (!cfg->state) {
        cfg->state = calloc(1, sizeof *cfg->state);
        if (!cfg->state)
            ok = 0;
    }
    struct xf_figure_state *st = cfg->state;
    if (ok && st->n + hcount > st->cap) {
        int cap = st->cap ? 2 * st->cap : 16;
        while (cap < st->n + hcount)
            cap *= 2;
        fig_panel *ps = realloc(st->ps, (size_t)cap * sizeof *ps);
        if (!ps)
            ok = 0;
        else {
            st->ps = ps;
            st->cap = cap;
        }
    }
    for (int k = 0; ok && k < hcount; k++) {
        fig_panel *same = step > 0 ? same_panel(st, &news[k]) : NULL;
        if (!same) {
            st->ps[st->n++] = news[k];
            news[k] = (fig_panel){0}; /* owned by the state now */
            continue;
        }
        ok = append_rows(&same->m, &same->rows, &same->cols, 1, news[k].m, news[k].rows,
                         news[k].cols, whole_cache(news[k].field, news[k].rows)) == 0;
        fig_panel_free(&news[k]);
        news[k] = (fig_panel){0};
    }
    pthread_mutex_unlock(&fig_lock);
    return ok ? 0 : -1;
}

void xf_figure(const xf_event *ev, void *cfgp) {
    xf_figure_cfg *cfg = cfgp;
    if (!ev)
        return;
    if (!cfg || !cfg->pattern) {
        xf__report(cfgp, "figure", "no file pattern");
        return;
    }
    char what[300];
    snprintf(what, sizeof what, "figure(\"%s\")", cfg->pattern);
    const char *names[5];
    const xf_tensor *ts[5];
    int n = xf__event_fields(ev, names, ts);
    for (int f = 0; f < n; f++) {
        const float *mat;
        int rows, cols, nheads;
        char msg[256];
        if (field_matrix(ts[f], names[f], cfg->sample, cfg->head, &mat, &rows, &cols, &nheads, msg,
                         sizeof msg)) {
            xf__report(cfgp, what, "%s: %s; no panel", xf__source_name(ev), msg);
            continue;
        }
        int is_attn = !strcmp(names[f], "attention_matrix") && ts[f]->rank == 4;
        int h0 = is_attn && cfg->head >= 0 ? cfg->head : 0;
        int hcount = is_attn && cfg->head < 0 ? nheads : 1;
        fig_panel *news = calloc((size_t)hcount, sizeof *news);
        if (!news) {
            xf__report(cfgp, what, "out of memory");
            return;
        }
        if (figure_panels(news, hcount, h0, ev, names[f], is_attn, n, mat, rows, cols) != 0 ||
            figure_keep(cfg, news, hcount, ev->step) != 0) {
            for (int k = 0; k < hcount; k++)
                fig_panel_free(&news[k]);
            xf__report(cfgp, what, "out of memory");
        }
        free(news);
    }
}

/* The figure's title: its kind, what its panels have in common (the longest
 * common dotted prefix of their labels' sources, "model" when none), head and
 * sample — so figures of different sources or heads get different titles. */
static const char *figure_title(const fig_panel *ps, int n, const xf_figure_cfg *cfg, char *buf,
                                size_t cap) {
    xf_event_kind k = ps[0].kind;
    char common[200];
    xf__source_label(common, sizeof common, ps[0].source, ps[0].kind, -1);
    for (int i = 1; i < n; i++) {
        if (ps[i].kind != k)
            k = XF_EVENT;
        char other[200];
        xf__source_label(other, sizeof other, ps[i].source, ps[i].kind, -1);
        size_t j = 0;
        while (common[j] && common[j] == other[j])
            j++;
        if (!common[j] && !other[j])
            continue;
        int at_word = (!common[j] && (other[j] == '.' || other[j] == ' ')) ||
                      (!other[j] && (common[j] == '.' || common[j] == ' '));
        while (!at_word && j > 0 && common[j] != '.' && common[j] != ' ')
            j--;
        common[j] = '\0';
    }
    xf__figure_title(buf, cap, k, common, cfg->head, cfg->sample);
    return buf;
}

void xf_figure_flush(xf_figure_cfg *cfg, int64_t call) {
    if (!cfg)
        return;
    fig_panel *mine = NULL;
    int n = 0;
    pthread_mutex_lock(&fig_lock);
    struct xf_figure_state *st = cfg->state;
    if (st) {
        for (int i = 0; i < st->n; i++)
            n += st->ps[i].call == call;
        if (n)
            mine = malloc((size_t)n * sizeof *mine);
        if (mine) {
            int kept = 0, k = 0;
            for (int i = 0; i < st->n; i++) {
                if (st->ps[i].call == call)
                    mine[k++] = st->ps[i];
                else
                    st->ps[kept++] = st->ps[i];
            }
            st->n = kept;
        } else if (n) { /* no memory to write them: drop them */
            int kept = 0;
            for (int i = 0; i < st->n; i++) {
                if (st->ps[i].call == call)
                    fig_panel_free(&st->ps[i]);
                else
                    st->ps[kept++] = st->ps[i];
            }
            st->n = kept;
        }
        if (st->n == 0) {
            free(st->ps);
            free(st);
            cfg->state = NULL;
        }
    }
    pthread_mutex_unlock(&fig_lock);
    if (!mine) {
        if (n && cfg->pattern)
            xf__report(cfg, "figure", "out of memory");
        return;
    }

    char what[300];
    snprintf(what, sizeof what, "figure(\"%s\")", cfg->pattern ? cfg->pattern : "");
    xf_event ev = {0};
    ev.kind = mine[0].kind;
    ev.source = mine[0].source;
    ev.layer = mine[0].layer;
    ev.call = call;
    char path[4096];
    panel *ps = calloc((size_t)n, sizeof *ps);
    if (!ps)
        xf__report(cfg, what, "out of memory");
    else if (!cfg->pattern ||
             xf_expand_pattern(path, sizeof path, cfg->pattern, &ev, mine[0].field) != 0)
        xf__report(cfg, what, "cannot make a file name from the pattern");
    else {
        for (int i = 0; i < n; i++) {
            ps[i] = (panel){mine[i].m, mine[i].rows, mine[i].cols, ""};
            snprintf(ps[i].title, sizeof ps[i].title, "%s", mine[i].title);
        }
        char sup[300];
        grid_opts o = {figure_title(mine, n, cfg, sup, sizeof sup), NULL, NULL,
                       cfg->cols > 0 ? cfg->cols : (int)ceil(sqrt((double)n))};
        axis_labels(mine[0].field, &o.xlabel, &o.ylabel);
        xf_error err;
        if (draw_grid(path, ps, n, &o, &err) != 0)
            xf__report(cfg, what, "%s", err.msg);
    }
    free(ps);
    for (int i = 0; i < n; i++)
        fig_panel_free(&mine[i]);
    free(mine);
}
