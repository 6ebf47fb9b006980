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
    SUP_PX = 19,      /* suptitle */
    TITLE_PX = 15,    /* panel title */
    LABEL_PX = 14,    /* axis labels */
    TICK_PX = 12,     /* tick labels */
    TICK_LEN = 4,
    PAD = 18,         /* outer margin */
    HGAP = 28,        /* between panel columns */
    VGAP = 16,        /* between panel rows */
    CBAR_GAP = 22,
    CBAR_W = 18,
    MAX_PX = 30000    /* cairo's image limit is 32767 */
};
static const double INK = 0.13;        /* text and frames: near black */
static const double BAD = 0.82;        /* non-finite cells: light grey */

typedef struct {
    const float *m;   /* [rows, cols] row-major */
    int rows, cols;
    char title[160];
} panel;

typedef struct {
    const char *suptitle;  /* or NULL */
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
    double cap = fe.ascent * 0.72;   /* cap height of DejaVu ≈ 0.72 ascent */
    cairo_move_to(cr, x - hanchor * e.x_advance, y + cap / 2);
    cairo_show_text(cr, s);
}

/* ---- ticks ------------------------------------------------------------------- */

static int nice_index_step(int n, int maxticks) {
    if (maxticks < 2) maxticks = 2;
    for (int base = 1;; base *= 10) {
        static const int m[3] = {1, 2, 5};
        for (int i = 0; i < 3; i++) {
            int s = m[i] * base;
            if ((n - 1) / s + 1 <= maxticks) return s;
        }
        if (base > 100000000) return n;
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
    if (v == 0) snprintf(buf, cap, "0");
    else if (a >= 1e5 || a < 1e-3 || (step > 0 && step < 1e-4)) snprintf(buf, cap, "%.3g", v);
    else if (step > 0) {
        int dec = (int)ceil(-log10(step) - 1e-9);
        if (dec < 0) dec = 0;
        snprintf(buf, cap, "%.*f", dec, v);
    } else snprintf(buf, cap, "%.4g", v);
}

/* ---- pixels ------------------------------------------------------------------ */

static uint32_t viridis_px(double t) {
    int i = (int)floor(t * 256);
    if (i < 0) i = 0;
    if (i > 255) i = 255;
    return 0xff000000u | (uint32_t)xf_viridis[i][0] << 16 | (uint32_t)xf_viridis[i][1] << 8 |
           (uint32_t)xf_viridis[i][2];
}

/* A rows×cols surface, one pixel per cell. */
static cairo_surface_t *matrix_surface(const panel *p, double vmin, double vmax) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p->cols, p->rows);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return s;
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
    if (c < 1) c = 1;
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
    return cairo_surface_write_to_png_stream(surface, write_fp, fp) == CAIRO_STATUS_SUCCESS ? 0 : -1;
}

/* The PNG of s at path, through xf_write_output (output.c). */
static int write_png(cairo_surface_t *s, const char *path, xf_error *err) {
    if (xf_make_parent_dirs(path, err) != 0) return -1;
    return xf_write_output(path, put_png, s, err);
}

/* ---- the figure ---------------------------------------------------------------- */

static int draw_grid(const char *path, const panel *ps, int n, const grid_opts *o, xf_error *err) {
    if (n <= 0) return xf_fail(err, "%s: nothing to draw", path);
    for (int i = 0; i < n; i++)
        if (ps[i].rows <= 0 || ps[i].cols <= 0 || !ps[i].m)
            return xf_fail(err, "%s: empty matrix [%d,%d]", path, ps[i].rows, ps[i].cols);

    int ncols = o->ncols > 0 ? (o->ncols < n ? o->ncols : n) : n;
    int nrows = (n + ncols - 1) / ncols;
    int target = n == 1 ? 400 : n <= 4 ? 300 : 240;

    /* shared scale over the finite values of every panel */
    double vmin = INFINITY, vmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)ps[i].rows * (size_t)ps[i].cols;
        for (size_t k = 0; k < cnt; k++) {
            double v = ps[i].m[k];
            if (!isfinite(v)) continue;
            if (v < vmin) vmin = v;
            if (v > vmax) vmax = v;
        }
    }
    if (!(vmin <= vmax)) vmin = vmax = 0;

    /* measure */
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *m = cairo_create(scratch);
    int pw = 0, ph = 0;                 /* largest heatmap */
    double ytick_w = 0, title_w = 0;
    int cw[n > 0 ? n : 1], chh[n > 0 ? n : 1];
    font(m, TICK_PX, 0);
    for (int i = 0; i < n; i++) {
        cell_size(ps[i].rows, ps[i].cols, target, &cw[i], &chh[i]);
        int w = ps[i].cols * cw[i], h = ps[i].rows * chh[i];
        if (w > pw) pw = w;
        if (h > ph) ph = h;
        char num[32];
        snprintf(num, sizeof num, "%d", ps[i].rows - 1);
        double tw = text_w(m, num);
        if (tw > ytick_w) ytick_w = tw;
    }
    int has_titles = 0;
    font(m, TITLE_PX, 0);
    for (int i = 0; i < n; i++)
        if (ps[i].title[0]) {
            has_titles = 1;
            double tw = text_w(m, ps[i].title);
            if (tw > title_w) title_w = tw;
        }
    /* colorbar labels */
    double cb_label_w = 0;
    char lo[32], hi[32];
    double vstep = vmax > vmin ? nice_value_step(vmax - vmin) : 0;
    format_value(lo, sizeof lo, vmin, 0);
    format_value(hi, sizeof hi, vmax, 0);
    font(m, TICK_PX, 0);
    cb_label_w = fmax(text_w(m, lo), text_w(m, hi));
    if (vstep > 0)
        for (long k = (long)ceil(vmin / vstep); k * vstep <= vmax; k++) {
            char num[32];
            format_value(num, sizeof num, k * vstep, vstep);
            cb_label_w = fmax(cb_label_w, text_w(m, num));
        }
    double sup_w = 0;
    if (o->suptitle) {
        font(m, SUP_PX, 1);
        sup_w = text_w(m, o->suptitle);
    }
    cairo_destroy(m);
    cairo_surface_destroy(scratch);

    int yaxis_w = TICK_LEN + 4 + (int)ceil(ytick_w);          /* ticks + labels left of a panel */
    int col_w = yaxis_w + pw;
    if (title_w > col_w) col_w = (int)ceil(title_w);
    col_w += HGAP;
    int title_h = has_titles ? TITLE_PX + 12 : 0;
    int xaxis_h = TICK_LEN + 4 + TICK_PX + 6 + LABEL_PX + 6;   /* ticks, labels, x label */
    int row_h = title_h + ph + xaxis_h + VGAP;
    int left = PAD + LABEL_PX + 8;                             /* rotated y label */
    int top = PAD + (o->suptitle ? SUP_PX + 14 : 0);
    int grid_w = ncols * col_w - HGAP;
    int cb_x = left + grid_w + CBAR_GAP;
    int W = cb_x + CBAR_W + TICK_LEN + 5 + (int)ceil(cb_label_w) + PAD;
    int H = top + nrows * row_h - VGAP + PAD;
    if (sup_w + 2 * PAD > W) W = (int)ceil(sup_w) + 2 * PAD;
    if (W > MAX_PX || H > MAX_PX)
        return xf_fail(err, "%s: figure of %dx%d pixels is too large (matrix [%d,%d])", path, W, H,
                       ps[0].rows, ps[0].cols);

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return xf_fail(err, "%s: cannot create a %dx%d image", path, W, H);
    }
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);

    if (o->suptitle) {
        cairo_set_source_rgb(cr, INK, INK, INK);
        font(cr, SUP_PX, 1);
        text_at(cr, o->suptitle, W / 2.0, PAD + SUP_PX / 2.0, 0.5);
    }

    int grid_top = top + title_h, grid_bottom = 0;
    for (int i = 0; i < n; i++) {
        const panel *p = &ps[i];
        int gr = i / ncols, gc = i % ncols;
        int w = p->cols * cw[i], h = p->rows * chh[i];
        int slot_x = left + gc * col_w;
        int x0 = slot_x + yaxis_w + (pw - w) / 2;
        int y0 = top + gr * row_h + title_h;
        if (y0 + h > grid_bottom) grid_bottom = y0 + h;

        /* heatmap */
        cairo_surface_t *img = matrix_surface(p, vmin, vmax);
        if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
            cairo_surface_destroy(img);
            cairo_destroy(cr);
            cairo_surface_destroy(s);
            return xf_fail(err, "%s: cannot create a %dx%d image", path, p->cols, p->rows);
        }
        cairo_save(cr);
        cairo_translate(cr, x0, y0);
        cairo_scale(cr, cw[i], chh[i]);
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

        /* title */
        if (p->title[0]) {
            font(cr, TITLE_PX, 0);
            text_at(cr, p->title, x0 + w / 2.0, y0 - 6 - TITLE_PX / 2.0, 0.5);
        }

        /* ticks */
        font(cr, TICK_PX, 0);
        int xstep = nice_index_step(p->cols, w / 45 > 2 ? w / 45 : 2);
        for (int k = 0; k < p->cols; k += xstep) {
            double x = x0 + (k + 0.5) * cw[i];
            cairo_move_to(cr, floor(x) + 0.5, y0 + h + 0.5);
            cairo_line_to(cr, floor(x) + 0.5, y0 + h + 0.5 + TICK_LEN);
            cairo_stroke(cr);
            char num[32];
            snprintf(num, sizeof num, "%d", k);
            text_at(cr, num, x, y0 + h + TICK_LEN + 4 + TICK_PX / 2.0, 0.5);
        }
        int ystep = nice_index_step(p->rows, h / 30 > 2 ? h / 30 : 2);
        for (int k = 0; k < p->rows; k += ystep) {
            double y = y0 + (k + 0.5) * chh[i];
            cairo_move_to(cr, x0 - 0.5, floor(y) + 0.5);
            cairo_line_to(cr, x0 - 0.5 - TICK_LEN, floor(y) + 0.5);
            cairo_stroke(cr);
            char num[32];
            snprintf(num, sizeof num, "%d", k);
            text_at(cr, num, x0 - TICK_LEN - 4, y, 1.0);
        }

        /* axis labels: x under the last panel of each column, y left of column 0 */
        font(cr, LABEL_PX, 0);
        if (o->xlabel && i + ncols >= n)
            text_at(cr, o->xlabel, x0 + w / 2.0,
                    y0 + h + TICK_LEN + 4 + TICK_PX + 6 + LABEL_PX / 2.0, 0.5);
        if (o->ylabel && gc == 0) {
            cairo_save(cr);
            cairo_translate(cr, PAD + LABEL_PX / 2.0, y0 + h / 2.0);
            cairo_rotate(cr, -M_PI / 2);
            text_at(cr, o->ylabel, 0, 0, 0.5);
            cairo_restore(cr);
        }
    }

    /* colorbar: from the top of the first row of heatmaps to the bottom of the last */
    int cb_top = grid_top, cb_h = grid_bottom - grid_top;
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
    cairo_translate(cr, cb_x, cb_top);
    cairo_scale(cr, CBAR_W, cb_h / 256.0);
    cairo_set_source_surface(cr, grad, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, 1, 256);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(grad);
    cairo_set_source_rgb(cr, INK, INK, INK);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, cb_x - 0.5, cb_top - 0.5, CBAR_W + 1, cb_h + 1);
    cairo_stroke(cr);

    font(cr, TICK_PX, 0);
    double tx = cb_x + CBAR_W + TICK_LEN + 5;
    /* the exact ends, then round values not crowding them */
    struct { double y; const char *s; } ends[2] = {{cb_top + cb_h, lo}, {cb_top, hi}};
    for (int e = 0; e < (vmax > vmin ? 2 : 1); e++) {
        double y = vmax > vmin ? ends[e].y : cb_top + cb_h / 2.0;
        cairo_move_to(cr, cb_x + CBAR_W, floor(y) + 0.5);
        cairo_line_to(cr, cb_x + CBAR_W + TICK_LEN, floor(y) + 0.5);
        cairo_stroke(cr);
        text_at(cr, ends[e].s, tx, y, 0);
    }
    if (vstep > 0)
        for (long k = (long)ceil(vmin / vstep); k * vstep <= vmax; k++) {
            double v = k * vstep;
            double y = cb_top + cb_h * (1 - (v - vmin) / (vmax - vmin));
            if (y < cb_top + TICK_PX * 2.0 || y > cb_top + cb_h - TICK_PX * 2.0) continue;
            char num[32];
            format_value(num, sizeof num, v, vstep);
            cairo_move_to(cr, cb_x + CBAR_W, floor(y) + 0.5);
            cairo_line_to(cr, cb_x + CBAR_W + TICK_LEN, floor(y) + 0.5);
            cairo_stroke(cr);
            text_at(cr, num, tx, y, 0);
        }

    cairo_destroy(cr);
    cairo_surface_flush(s);
    int rc = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS
                 ? write_png(s, path, err)
                 : xf_fail(err, "%s: drawing failed: %s", path,
                           cairo_status_to_string(cairo_surface_status(s)));
    cairo_surface_destroy(s);
    return rc;
}

int xf_png_matrix(const char *path, const float *m, int rows, int cols, const char *title,
                  xf_error *err) {
    if (!path) return xf_fail(err, "(null): no path");
    if (!m || rows <= 0 || cols <= 0)
        return xf_fail(err, "%s: empty matrix [%d,%d]", path, rows, cols);
    panel p = {m, rows, cols, ""};
    if (title) snprintf(p.title, sizeof p.title, "%s", title);
    grid_opts o = {NULL, "key", "query", 1};
    return draw_grid(path, &p, 1, &o, err);
}

/* ---- which matrix of a field ------------------------------------------------------ */

/* What heatmap and figure draw of one field of one sample: for an
 * attention [N,H,L,S] the [L,S] of `head` (and *nheads = H); for others
 * the [shape[1], rest] of the sample.  Returns a message (no file name) on
 * a bad sample/head, else NULL. */
static const char *field_matrix(const xf_tensor *t, const char *field, int sample, int head,
                                const float **out, int *rows, int *cols, int *nheads,
                                char *msg, size_t cap) {
    int is_attn = strcmp(field, "attention_matrix") == 0;
    int64_t N = t->rank >= 3 ? t->shape[0] : 1;
    *nheads = 1;
    if (t->rank < 1 || t->rank > 4) {
        snprintf(msg, cap, "%s has rank %d", field, t->rank);
        return msg;
    }
    if (sample < 0 || sample >= N) {
        snprintf(msg, cap, "sample %d out of range: %s has %lld samples", sample, field, (long long)N);
        return msg;
    }
    if (is_attn && t->rank == 4) {
        int64_t H = t->shape[1], L = t->shape[2], S = t->shape[3];
        if (head < -1 || head >= H) {
            snprintf(msg, cap, "head %d out of range: %s has %lld heads", head, field, (long long)H);
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
    for (int i = first; i < t->rank; i++) rest *= t->shape[i];
    int64_t r = t->rank >= 3 ? t->shape[1] : t->rank == 2 ? t->shape[0] : 1;
    if (r > MAX_PX || rest > MAX_PX) {
        snprintf(msg, cap, "%s: [%lld,%lld] is too large to draw", field, (long long)r, (long long)rest);
        return msg;
    }
    *rows = (int)r;
    *cols = (int)rest;
    *out = t->data + (t->rank >= 3 ? (int64_t)sample * r * rest : 0);
    return NULL;
}

static void axis_labels(const char *field, const char **xl, const char **yl) {
    if (!strcmp(field, "attention_matrix")) *xl = "key", *yl = "query";
    else if (!strcmp(field, "queries")) *xl = "head × dim", *yl = "query";
    else if (!strcmp(field, "keys") || !strcmp(field, "values")) *xl = "head × dim", *yl = "key";
    else *xl = "feature", *yl = "position";
}

/* ---- heatmap ------------------------------------------------------------------------ */

void xf_heatmap(const xf_event *ev, void *cfgp) {
    const xf_heatmap_cfg *cfg = cfgp;
    if (!ev) return;
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
        const float *mat;
        int rows, cols, nheads;
        char msg[256];
        if (field_matrix(ts[f], names[f], cfg->sample, cfg->head, &mat, &rows, &cols, &nheads,
                         msg, sizeof msg)) {
            xf__report(cfgp, what, "%s: %s; nothing drawn", xf__source_name(ev), msg);
            continue;
        }
        char path[4096];
        if (xf__handler_path(path, sizeof path, cfg->pattern, ev, names[f], n) != 0) {
            xf__report(cfgp, what, "the file name is too long for %s %s", xf__source_name(ev), names[f]);
            return;
        }
        char sample_note[32] = "";
        if (cfg->sample != 0) snprintf(sample_note, sizeof sample_note, ", sample %d", cfg->sample);
        grid_opts o = {NULL, NULL, NULL, 1};
        axis_labels(names[f], &o.xlabel, &o.ylabel);
        xf_error err;
        int rc;
        int is_attn = !strcmp(names[f], "attention_matrix") && ts[f]->rank == 4;
        if (is_attn && cfg->head < 0) {
            panel *ps = calloc((size_t)nheads, sizeof *ps);
            if (!ps) {
                xf__report(cfgp, what, "out of memory");
                return;
            }
            size_t hstride = (size_t)rows * (size_t)cols;
            for (int h = 0; h < nheads; h++) {
                ps[h] = (panel){mat + (size_t)h * hstride, rows, cols, ""};
                snprintf(ps[h].title, sizeof ps[h].title, "Head %d", h);
            }
            char sup[256];
            snprintf(sup, sizeof sup, "%s — all heads%s", xf__source_name(ev), sample_note);
            o.suptitle = sup;
            o.ncols = (int)ceil(sqrt((double)nheads));
            rc = draw_grid(path, ps, nheads, &o, &err);
            free(ps);
        } else {
            panel p = {mat, rows, cols, ""};
            if (is_attn)
                snprintf(p.title, sizeof p.title, "%s — head %d%s", xf__source_name(ev), cfg->head,
                         sample_note);
            else if (ev->kind == XF_INTERMEDIATE_OUTPUT && ev->layer >= 0)
                snprintf(p.title, sizeof p.title, "%s — %s after layer %d%s", xf__source_name(ev),
                         names[f], ev->layer, sample_note);
            else
                snprintf(p.title, sizeof p.title, "%s — %s%s", xf__source_name(ev), names[f], sample_note);
            rc = draw_grid(path, &p, 1, &o, &err);
        }
        if (rc != 0) xf__report(cfgp, what, "%s", err.msg);
    }
}

/* ---- figure --------------------------------------------------------------------------- */

typedef struct {
    int64_t call;
    float *m;            /* owned copy [rows, cols] */
    int rows, cols;
    char title[64];
    xf_event_kind kind;
    int layer;
    char *source;        /* owned */
    const char *field;   /* static string */
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

void xf_figure(const xf_event *ev, void *cfgp) {
    xf_figure_cfg *cfg = cfgp;
    if (!ev) return;
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
        if (field_matrix(ts[f], names[f], cfg->sample, cfg->head, &mat, &rows, &cols, &nheads,
                         msg, sizeof msg)) {
            xf__report(cfgp, what, "%s: %s; no panel", xf__source_name(ev), msg);
            continue;
        }
        int is_attn = !strcmp(names[f], "attention_matrix") && ts[f]->rank == 4;
        int h0 = is_attn && cfg->head >= 0 ? cfg->head : 0;
        int hcount = is_attn && cfg->head < 0 ? nheads : 1;
        size_t cells = (size_t)rows * (size_t)cols;
        fig_panel *news = calloc((size_t)hcount, sizeof *news);
        if (!news) {
            xf__report(cfgp, what, "out of memory");
            return;
        }
        int ok = 1;
        for (int k = 0; k < hcount && ok; k++) {
            fig_panel *p = &news[k];
            p->call = ev->call;
            p->rows = rows;
            p->cols = cols;
            p->kind = ev->kind;
            p->layer = ev->layer;
            p->field = names[f];
            p->m = malloc(cells * sizeof(float));
            p->source = strdup(ev->source ? ev->source : "");
            if (!p->m || !p->source) {
                ok = 0;
                break;
            }
            memcpy(p->m, mat + (size_t)k * cells, cells * sizeof(float));
            char where[40];
            if (ev->layer >= 0) snprintf(where, sizeof where, "Layer %d", ev->layer);
            else snprintf(where, sizeof where, "%.39s", xf__source_name(ev));
            if (is_attn) snprintf(p->title, sizeof p->title, "%s Head %d", where, h0 + k);
            else if (n > 1) snprintf(p->title, sizeof p->title, "%s %s", where, names[f]);
            else snprintf(p->title, sizeof p->title, "%s", where);
        }
        pthread_mutex_lock(&fig_lock);
        if (ok && !cfg->state) {
            cfg->state = calloc(1, sizeof *cfg->state);
            if (!cfg->state) ok = 0;
        }
        struct xf_figure_state *st = cfg->state;
        if (ok && st->n + hcount > st->cap) {
            int cap = st->cap ? 2 * st->cap : 16;
            while (cap < st->n + hcount) cap *= 2;
            fig_panel *ps = realloc(st->ps, (size_t)cap * sizeof *ps);
            if (!ps) ok = 0;
            else {
                st->ps = ps;
                st->cap = cap;
            }
        }
        if (ok) {
            memcpy(st->ps + st->n, news, (size_t)hcount * sizeof *news);
            st->n += hcount;
        }
        pthread_mutex_unlock(&fig_lock);
        if (!ok) {
            for (int k = 0; k < hcount; k++) fig_panel_free(&news[k]);
            xf__report(cfgp, what, "out of memory");
        }
        free(news);
    }
}

static const char *figure_title(const fig_panel *ps, int n, int sample, char *buf, size_t cap) {
    xf_event_kind k = ps[0].kind;
    for (int i = 1; i < n; i++)
        if (ps[i].kind != k) k = XF_EVENT;
    const char *what = k == XF_ATTENTION_EVENT ? "Attention weights"
                       : k == XF_QKV_EVENT      ? "Queries, keys and values"
                       : k == XF_INTERMEDIATE_OUTPUT ? "Layer outputs"
                                                     : "Events";
    snprintf(buf, cap, "%s (sample %d)", what, sample);
    return buf;
}

void xf_figure_flush(xf_figure_cfg *cfg, int64_t call) {
    if (!cfg) return;
    fig_panel *mine = NULL;
    int n = 0;
    pthread_mutex_lock(&fig_lock);
    struct xf_figure_state *st = cfg->state;
    if (st) {
        for (int i = 0; i < st->n; i++) n += st->ps[i].call == call;
        if (n) mine = malloc((size_t)n * sizeof *mine);
        if (mine) {
            int kept = 0, k = 0;
            for (int i = 0; i < st->n; i++) {
                if (st->ps[i].call == call) mine[k++] = st->ps[i];
                else st->ps[kept++] = st->ps[i];
            }
            st->n = kept;
        } else if (n) {   /* no memory to write them: drop them */
            int kept = 0;
            for (int i = 0; i < st->n; i++) {
                if (st->ps[i].call == call) fig_panel_free(&st->ps[i]);
                else st->ps[kept++] = st->ps[i];
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
        if (n && cfg->pattern) xf__report(cfg, "figure", "out of memory");
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
    if (!ps) xf__report(cfg, what, "out of memory");
    else if (!cfg->pattern || xf_expand_pattern(path, sizeof path, cfg->pattern, &ev, mine[0].field) != 0)
        xf__report(cfg, what, "cannot make a file name from the pattern");
    else {
        for (int i = 0; i < n; i++) {
            ps[i] = (panel){mine[i].m, mine[i].rows, mine[i].cols, ""};
            snprintf(ps[i].title, sizeof ps[i].title, "%s", mine[i].title);
        }
        char sup[128];
        grid_opts o = {figure_title(mine, n, cfg->sample, sup, sizeof sup), NULL, NULL,
                       cfg->cols > 0 ? cfg->cols : (int)ceil(sqrt((double)n))};
        axis_labels(mine[0].field, &o.xlabel, &o.ylabel);
        xf_error err;
        if (draw_grid(path, ps, n, &o, &err) != 0) xf__report(cfg, what, "%s", err.msg);
    }
    free(ps);
    for (int i = 0; i < n; i++) fig_panel_free(&mine[i]);
    free(mine);
}
