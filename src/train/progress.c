/*
 * progress.c - what a training run shows while it runs: a progress bar redrawn in place on a
 * terminal (batch count, loss, accuracy, images/s, ETA), and one summary line or JSON object
 * per epoch.
 */
#include "train/train_impl.h"

#include <math.h>
#include <unistd.h>

#define BAR_WIDTH 24

double cx__now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cx__progress_start(cx_progress_bar *p, cx_progress mode, FILE *out, int epoch, int epochs,
                        int64_t n_batches) {
    if (mode == CX_PROGRESS_AUTO) mode = isatty(fileno(out)) ? CX_PROGRESS_BAR : CX_PROGRESS_LINES;
    *p = (cx_progress_bar){.mode = mode, .out = out, .epoch = epoch, .epochs = epochs,
                           .n_batches = n_batches, .start = cx__now_s()};
}

/* "1m05s", "12s", "3h02m" */
static void format_duration(char *buf, size_t size, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, size, "%lds", t);
}

void cx__progress_step(cx_progress_bar *p, int64_t batch, double loss, double accuracy,
                       int64_t samples) {
    if (p->mode != CX_PROGRESS_BAR) return;
    double now = cx__now_s();
    if (batch < p->n_batches && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    double elapsed = now - p->start, rate = elapsed > 0 ? (double)samples / elapsed : 0;
    double eta = batch > 0 ? elapsed * (double)(p->n_batches - batch) / (double)batch : 0;
    int filled = p->n_batches > 0 ? (int)(BAR_WIDTH * batch / p->n_batches) : BAR_WIDTH;
    char bar[BAR_WIDTH + 1], when[48];
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[BAR_WIDTH] = '\0';
    format_duration(when, sizeof when, eta);
    fprintf(p->out, "\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f", p->epoch, p->epochs, bar,
            (long long)batch, (long long)p->n_batches, loss);
    if (!isnan(accuracy)) fprintf(p->out, " acc %.4f", accuracy);
    fprintf(p->out, " %.0f img/s ETA %s", rate, when);
    fflush(p->out);
}

void cx__progress_finish(cx_progress_bar *p) {
    if (p->mode != CX_PROGRESS_BAR) return;
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
}

void cx__json_number(FILE *out, const char *key, double v, bool comma) {
    if (isfinite(v)) fprintf(out, "\"%s\": %.6g", key, v);
    else fprintf(out, "\"%s\": null", key);
    if (comma) fputs(", ", out);
}

void cx__log_epoch(FILE *out, bool json, const cx_epoch_log *e) {
    bool has_val = e->val.samples > 0;
    if (json) {
        fprintf(out, "{\"epoch\": %d, ", e->epoch);
        cx__json_number(out, "loss", e->train.loss, true);
        cx__json_number(out, "accuracy", e->train.accuracy, true);
        cx__json_number(out, "val_loss", has_val ? e->val.loss : NAN, true);
        cx__json_number(out, "val_accuracy", has_val ? e->val.accuracy : NAN, true);
        cx__json_number(out, "lr", e->lr, true);
        cx__json_number(out, "seconds", e->seconds, true);
        cx__json_number(out, "images_per_s", e->images_per_s, false);
        fputs("}\n", out);
    } else {
        fprintf(out, "epoch %d/%d: loss %.4f", e->epoch, e->epochs, e->train.loss);
        if (!isnan(e->train.accuracy)) fprintf(out, " accuracy %.4f", e->train.accuracy);
        if (has_val) {
            fprintf(out, " val_loss %.4f", e->val.loss);
            if (!isnan(e->val.accuracy)) fprintf(out, " val_accuracy %.4f", e->val.accuracy);
        }
        fprintf(out, " (%.1fs, %.0f images/s)\n", e->seconds, e->images_per_s);
    }
    fflush(out);
}
