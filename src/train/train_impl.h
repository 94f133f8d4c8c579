/*
 * train_impl.h - pieces of the training loop shared by src/train/ (and the text trainer):
 * metrics, the progress display, the epoch log and the numeric guard.
 */
#ifndef CX_TRAIN_IMPL_H
#define CX_TRAIN_IMPL_H

#include "cortex_impl.h"

#include <time.h>

/* Number of rows of logits (B, C) whose largest entry is at the label (B, i32). */
int64_t cx__count_correct(cx_tensor *logits, cx_tensor *labels);
bool cx__is_classifier(cx_model *m);

double cx__now_s(void); /* monotonic seconds */

/* The progress of one epoch: a redrawn bar on a terminal, nothing between epochs otherwise. */
typedef struct {
    cx_progress mode; /* BAR, LINES or NONE (AUTO resolved) */
    FILE *out;
    int epoch, epochs; /* 1-based epoch */
    int64_t n_batches;
    double start, last_draw; /* seconds */
} cx_progress_bar;

void cx__progress_start(cx_progress_bar *p, cx_progress mode, FILE *out, int epoch, int epochs,
                        int64_t n_batches);
/* After batch (1-based) with the running mean loss and accuracy (NAN if none) and the
 * samples seen so far this epoch; redraws at most 10 times a second. */
void cx__progress_step(cx_progress_bar *p, int64_t batch, double loss, double accuracy,
                       int64_t samples);
/* Clears the bar (the epoch's summary line follows). */
void cx__progress_finish(cx_progress_bar *p);

/* One epoch's figures, printed as a line or a JSON object. */
typedef struct {
    int epoch, epochs;
    cx_metrics train, val;
    float lr;
    double seconds, images_per_s;
} cx_epoch_log;

void cx__log_epoch(FILE *out, bool json, const cx_epoch_log *e);

/* Writes "key": v (null if v is not finite: JSON has no NaN), then ", " if comma. */
void cx__json_number(FILE *out, const char *key, double v, bool comma);

/* The numeric guard (guard.c). who says when ("fit: epoch 3 step 17"). Each returns CX_OK or
 * CX_ERR_NUMERIC with a message naming where the NaN or infinity came from:
 * cx__guard_loss: loss is not finite (x, target: the batch, re-run to find the op);
 * cx__guard_grads: a parameter gradient is not (names the parameter and its layer);
 * cx__guard_weights: a weight is not (checked before a checkpoint is written).
 * cx__guard_error: the current error's status, its message prefixed with who (and the
 * "training stopped" note) when it is a numeric one that does not say when. */
#define CX_GUARD_STOPPED "training stopped, the last checkpoint kept"
cx_status cx__guard_loss(cx_model *m, const char *who, float loss, cx_tensor *x,
                         cx_tensor *target);
cx_status cx__guard_grads(cx_model *m, const char *who);
cx_status cx__guard_weights(cx_model *m, const char *who);
cx_status cx__guard_error(const char *who);

#endif
