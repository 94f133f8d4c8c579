/*
 * plot.c - line charts (loss curves and other per-epoch series) drawn with cairo into PNG.
 *
 * The chart: title on top, y axis with 5 labelled ticks, x axis 1..n, one coloured line per
 * series with a legend. Written to "<path>.tmp.<pid>" and renamed, so a failure never leaves a
 * half-written picture under the final name.
 */
#include "cortex_impl.h"

#include <cairo.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define W 800
#define H 500
#define LEFT 80
#define RIGHT 30
#define TOP 50
#define BOTTOM 60

static const double palette[][3] = {
    {0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16},
    {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
};
#define N_COLOURS (int)(sizeof palette / sizeof palette[0])

static void text_at(cairo_t *cr, double x, double y, const char *s, double align) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.width, y);
    cairo_show_text(cr, s);
}

static void draw(cairo_t *cr, const char *title, const char *xlabel, const char *ylabel,
                 int n_series, const char *const *names, const float *const *ys, int n_points,
                 double lo, double hi) {
    double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 18);
    text_at(cr, W / 2.0, 30, title ? title : "", 0.5);
    cairo_set_font_size(cr, 12);
    /* axes, grid and tick labels */
    cairo_set_line_width(cr, 1);
    char label[32];
    for (int t = 0; t <= 4; t++) {
        double v = lo + (hi - lo) * t / 4, y = TOP + ph * (1 - t / 4.0);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, LEFT, y);
        cairo_line_to(cr, LEFT + pw, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(label, sizeof label, "%.3g", v);
        text_at(cr, LEFT - 8, y + 4, label, 1.0);
    }
    int xticks = n_points < 10 ? n_points : 10;
    for (int t = 0; t < xticks; t++) {
        int i = xticks > 1 ? (int)lround((double)t * (n_points - 1) / (xticks - 1)) : 0;
        double x = LEFT + (n_points > 1 ? pw * i / (n_points - 1) : pw / 2);
        snprintf(label, sizeof label, "%d", i + 1);
        text_at(cr, x, TOP + ph + 18, label, 0.5);
    }
    cairo_rectangle(cr, LEFT, TOP, pw, ph);
    cairo_stroke(cr);
    text_at(cr, LEFT + pw / 2, H - 15, xlabel ? xlabel : "", 0.5);
    cairo_save(cr);
    cairo_move_to(cr, 22, TOP + ph / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_text_extents_t e;
    cairo_text_extents(cr, ylabel ? ylabel : "", &e);
    cairo_rel_move_to(cr, -e.width / 2, 0);
    cairo_show_text(cr, ylabel ? ylabel : "");
    cairo_restore(cr);
    /* the series, then the legend */
    cairo_set_line_width(cr, 2);
    for (int s = 0; s < n_series; s++) {
        const double *c = palette[s % N_COLOURS];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        bool pen_down = false;
        for (int i = 0; i < n_points; i++) {
            if (!isfinite(ys[s][i])) {
                pen_down = false;
                continue;
            }
            double x = LEFT + (n_points > 1 ? pw * i / (n_points - 1) : pw / 2);
            double y = TOP + ph * (1 - (ys[s][i] - lo) / (hi - lo));
            if (pen_down) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            if (n_points == 1) cairo_arc(cr, x, y, 3, 0, 2 * M_PI);
            pen_down = true;
        }
        cairo_stroke(cr);
        double ly = TOP + 18 + 18 * s;
        cairo_move_to(cr, LEFT + pw - 150, ly - 4);
        cairo_line_to(cr, LEFT + pw - 125, ly - 4);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, LEFT + pw - 118, ly, names && names[s] ? names[s] : "", 0.0);
    }
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
    if (!isfinite(lo)) lo = 0, hi = 1;
    double pad = hi > lo ? 0.05 * (hi - lo) : fmax(fabs(lo) * 0.1, 0.5);
    lo -= pad;
    hi += pad;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surface);
    draw(cr, title, xlabel, ylabel, n_series, names, ys, n_points, lo, hi);
    cairo_destroy(cr);
    char *tmp = cx__alloc(strlen(path) + 32);
    if (!tmp) {
        cairo_surface_destroy(surface);
        return cx_last_status();
    }
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    cairo_status_t cs = cairo_surface_write_to_png(surface, tmp);
    cairo_surface_destroy(surface);
    cx_status st = CX_OK;
    if (cs != CAIRO_STATUS_SUCCESS) {
        unlink(tmp);
        st = cx__error(CX_ERR_IO, "plot: cannot write %s: %s", path, cairo_status_to_string(cs));
    } else if (rename(tmp, path) != 0) {
        unlink(tmp);
        st = cx__error(CX_ERR_IO, "plot: cannot write %s", path);
    }
    cx__free(tmp);
    return st;
}
