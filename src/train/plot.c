/*
 * plot.c - charts drawn with cairo into PNG: line charts (loss curves and other per-epoch
 * series) and scatter charts (2-D latent spaces coloured by class).
 *
 * A chart: title on top, y axis with 5 labelled ticks; a line chart's x axis counts 1..n with
 * one coloured line per series and a legend inside the plot; a scatter chart's x axis has 5
 * labelled ticks, one translucent dot per point in its class's colour and the legend in a
 * column to the right. Written to "<path>.tmp.<pid>" and renamed, so a failure never leaves a
 * half-written picture under the final name.
 */
#include "cortex_impl.h"

#include <cairo.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define LEFT 80
#define RIGHT 30
#define TOP 50
#define BOTTOM 60
#define LINES_W 800
#define LINES_H 500
#define SCATTER_W 800
#define SCATTER_H 650
#define LEGEND_W 150 /* the scatter's legend column right of the plot */

/* tab10, the colours matplotlib and TensorBoard give the first ten series or classes */
static const double palette[][3] = {
    {0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16},
    {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
    {0.74, 0.74, 0.13}, {0.09, 0.75, 0.81},
};
#define N_COLOURS (int)(sizeof palette / sizeof palette[0])

static void text_at(cairo_t *cr, double x, double y, const char *s, double align) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.width, y);
    cairo_show_text(cr, s);
}

/* The plot area of a chart w x h: x from LEFT, y from TOP, pw x ph. */
typedef struct {
    double w, h, pw, ph;
} chart_box;

/* Background, title, axis labels, the frame, and the y axis (5 labelled ticks from lo to hi
 * with grid lines). */
static void draw_frame(cairo_t *cr, const chart_box *b, const char *title, const char *xlabel,
                       const char *ylabel, double lo, double hi) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 18);
    text_at(cr, b->w / 2.0, 30, title ? title : "", 0.5);
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    char label[32];
    for (int t = 0; t <= 4; t++) {
        double v = lo + (hi - lo) * t / 4, y = TOP + b->ph * (1 - t / 4.0);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, LEFT, y);
        cairo_line_to(cr, LEFT + b->pw, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(label, sizeof label, "%.3g", v);
        text_at(cr, LEFT - 8, y + 4, label, 1.0);
    }
    cairo_rectangle(cr, LEFT, TOP, b->pw, b->ph);
    cairo_stroke(cr);
    text_at(cr, LEFT + b->pw / 2, b->h - 15, xlabel ? xlabel : "", 0.5);
    cairo_save(cr);
    cairo_move_to(cr, 22, TOP + b->ph / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_text_extents_t e;
    cairo_text_extents(cr, ylabel ? ylabel : "", &e);
    cairo_rel_move_to(cr, -e.width / 2, 0);
    cairo_show_text(cr, ylabel ? ylabel : "");
    cairo_restore(cr);
}

static void set_colour(cairo_t *cr, int i) {
    const double *c = palette[i % N_COLOURS];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

/* Legend entry i at (x, first row y): a short line or a dot in colour i, then the name. */
static void legend_entry(cairo_t *cr, double x, double y, int i, const char *name, bool dot) {
    double ly = y + 18 * i;
    set_colour(cr, i);
    if (dot) {
        cairo_arc(cr, x + 12, ly - 4, 4, 0, 2 * M_PI);
        cairo_fill(cr);
    } else {
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, x, ly - 4);
        cairo_line_to(cr, x + 25, ly - 4);
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, x + 32, ly, name ? name : "", 0.0);
}

static void draw_lines(cairo_t *cr, const chart_box *b, int n_series, const char *const *names,
                       const float *const *ys, int n_points, double lo, double hi) {
    char label[32];
    int xticks = n_points < 10 ? n_points : 10;
    for (int t = 0; t < xticks; t++) {
        int i = xticks > 1 ? (int)lround((double)t * (n_points - 1) / (xticks - 1)) : 0;
        double x = LEFT + (n_points > 1 ? b->pw * i / (n_points - 1) : b->pw / 2);
        snprintf(label, sizeof label, "%d", i + 1);
        text_at(cr, x, TOP + b->ph + 18, label, 0.5);
    }
    for (int s = 0; s < n_series; s++) {
        cairo_set_line_width(cr, 2);
        set_colour(cr, s);
        bool pen_down = false;
        for (int i = 0; i < n_points; i++) {
            if (!isfinite(ys[s][i])) {
                pen_down = false;
                continue;
            }
            double x = LEFT + (n_points > 1 ? b->pw * i / (n_points - 1) : b->pw / 2);
            double y = TOP + b->ph * (1 - (ys[s][i] - lo) / (hi - lo));
            if (pen_down) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            if (n_points == 1) cairo_arc(cr, x, y, 3, 0, 2 * M_PI);
            pen_down = true;
        }
        cairo_stroke(cr);
        legend_entry(cr, LEFT + b->pw - 150, TOP + 18, s, names ? names[s] : NULL, false);
    }
}

/* Writes surface to "<path>.tmp.<pid>" and renames it over path. */
static cx_status write_png(cairo_surface_t *surface, const char *path, const char *what) {
    char *tmp = cx__alloc(strlen(path) + 32);
    if (!tmp) return cx_last_status();
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    cairo_status_t cs = cairo_surface_write_to_png(surface, tmp);
    cx_status st = CX_OK;
    if (cs != CAIRO_STATUS_SUCCESS) {
        unlink(tmp);
        st = cx__error(CX_ERR_IO, "%s: cannot write %s: %s", what, path, cairo_status_to_string(cs));
    } else if (rename(tmp, path) != 0) {
        unlink(tmp);
        st = cx__error(CX_ERR_IO, "%s: cannot write %s", what, path);
    }
    cx__free(tmp);
    return st;
}

/* lo..hi widened by 5% on each side (or around a single value), 0..1 if nothing is finite. */
static void pad_range(double *lo, double *hi) {
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    double pad = *hi > *lo ? 0.05 * (*hi - *lo) : fmax(fabs(*lo) * 0.1, 0.5);
    *lo -= pad;
    *hi += pad;
}

cx_status cx_plot_lines(const char *path, const char *title, const char *xlabel,
                        const char *ylabel, int n_series, const char *const *names,
                        const float *const *ys, int n_points) {
    if (!path || n_series < 1 || !ys || n_points < 1)
        return cx__error(CX_ERR_ARG, "plot: needs a path and at least one series with points");
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < n_points; i++)
            if (isfinite(ys[s][i])) lo = fmin(lo, ys[s][i]), hi = fmax(hi, ys[s][i]);
    pad_range(&lo, &hi);
    chart_box b = {LINES_W, LINES_H, LINES_W - LEFT - RIGHT, LINES_H - TOP - BOTTOM};
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, LINES_W, LINES_H);
    cairo_t *cr = cairo_create(surface);
    draw_frame(cr, &b, title, xlabel, ylabel, lo, hi);
    draw_lines(cr, &b, n_series, names, ys, n_points, lo, hi);
    cairo_destroy(cr);
    cx_status st = write_png(surface, path, "plot");
    cairo_surface_destroy(surface);
    return st;
}

/* ---- scatter charts ---- */

static void draw_points(cairo_t *cr, const chart_box *b, int64_t n, const float *xs,
                        const float *ys, const int32_t *classes, const double lim[4]) {
    char label[32];
    for (int t = 0; t <= 4; t++) {
        double x = LEFT + b->pw * t / 4.0;
        snprintf(label, sizeof label, "%.3g", lim[0] + (lim[1] - lim[0]) * t / 4);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, x, TOP + b->ph + 18, label, 0.5);
    }
    /* small translucent dots, so dense regions show their mix of classes */
    cairo_save(cr);
    cairo_rectangle(cr, LEFT, TOP, b->pw, b->ph);
    cairo_clip(cr);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) continue;
        const double *c = palette[(classes ? classes[i] : 0) % N_COLOURS];
        cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.6);
        double x = LEFT + b->pw * (xs[i] - lim[0]) / (lim[1] - lim[0]);
        double y = TOP + b->ph * (1 - (ys[i] - lim[2]) / (lim[3] - lim[2]));
        cairo_arc(cr, x, y, 2.2, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

cx_status cx_plot_scatter(const char *path, const char *title, const char *xlabel,
                          const char *ylabel, int64_t n, const float *xs, const float *ys,
                          const int32_t *classes, int n_classes, const char *const *names) {
    if (!path || n < 1 || !xs || !ys)
        return cx__error(CX_ERR_ARG, "scatter plot: needs a path and at least one point");
    if (n_classes < 0 || n_classes > N_COLOURS || (classes && n_classes < 1))
        return cx__error(CX_ERR_ARG, "scatter plot: %d classes; the palette has 1 to %d colours",
                         n_classes, N_COLOURS);
    for (int64_t i = 0; classes && i < n; i++)
        if (classes[i] < 0 || classes[i] >= n_classes)
            return cx__error(CX_ERR_ARG, "scatter plot: point %lld has class %d, outside 0..%d",
                             (long long)i, classes[i], n_classes - 1);
    double lim[4] = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        if (isfinite(xs[i]) && isfinite(ys[i])) {
            lim[0] = fmin(lim[0], xs[i]), lim[1] = fmax(lim[1], xs[i]);
            lim[2] = fmin(lim[2], ys[i]), lim[3] = fmax(lim[3], ys[i]);
        }
    pad_range(&lim[0], &lim[1]);
    pad_range(&lim[2], &lim[3]);
    bool legend = classes && n_classes > 0;
    double right = RIGHT + (legend ? LEGEND_W : 0);
    chart_box b = {SCATTER_W, SCATTER_H, SCATTER_W - LEFT - right, SCATTER_H - TOP - BOTTOM};
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, SCATTER_W,
                                                          SCATTER_H);
    cairo_t *cr = cairo_create(surface);
    draw_frame(cr, &b, title, xlabel, ylabel, lim[2], lim[3]);
    draw_points(cr, &b, n, xs, ys, classes, lim);
    for (int c = 0; legend && c < n_classes; c++) {
        char number[16];
        snprintf(number, sizeof number, "%d", c);
        legend_entry(cr, LEFT + b.pw + 15, TOP + 14, c, names && names[c] ? names[c] : number,
                     true);
    }
    cairo_destroy(cr);
    cx_status st = write_png(surface, path, "scatter plot");
    cairo_surface_destroy(surface);
    return st;
}
