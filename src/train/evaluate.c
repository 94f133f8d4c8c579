/*
 * evaluate.c - loss and accuracy of a model over a dataset, without gradients; in a
 * distributed run each rank evaluates its part and the sums are combined.
 */
#include "train/train_impl.h"

#include <math.h>

int64_t cx__count_correct(cx_tensor *logits, cx_tensor *labels) {
    /* logits (B, C) f32, labels (B) i32 */
    if (!labels || cx_tensor_ndim(logits) != 2) return 0;
    int64_t b = cx_tensor_dim(logits, 0), c = cx_tensor_dim(logits, 1), correct = 0;
    const float *z = cx_tensor_f32(logits);
    const int32_t *y = cx_tensor_data(labels);
    if (!z) return 0;
    for (int64_t i = 0; i < b; i++) {
        const float *row = z + i * c;
        int64_t best = 0;
        for (int64_t k = 1; k < c; k++)
            if (row[k] > row[best]) best = k;
        correct += best == y[i];
    }
    return correct;
}

bool cx__is_classifier(cx_model *m) { return cx_model_get_loss(m) == CX_LOSS_CROSS_ENTROPY; }

/* sums = {loss sum, correct, samples} over this rank's part of d (shard of ranks). */
static cx_status evaluate_part(cx_model *m, const cx_dataset *d, int64_t batch_size,
                               const cx_loader_params *normalisation, int rank, int ranks,
                               double sums[3]) {
    if (!m || !d) return cx__error(CX_ERR_ARG, "evaluate: NULL argument");
    cx_loader_params lp = {.batch_size = batch_size > 0 ? batch_size : 256,
                           .shard_rank = rank, .shard_count = ranks};
    if (normalisation) {
        lp.scale = normalisation->scale;
        lp.mean = normalisation->mean;
        lp.std = normalisation->std;
    }
    cx_loader *l = cx_loader_new(d, &lp);
    cx_arena *arena = cx_arena_new(0);
    if (!l || !arena) {
        cx_loader_free(l);
        cx_arena_free(arena);
        return cx_last_status();
    }
    bool was_training = cx_model_training(m);
    cx_model_set_training(m, false);
    cx_no_grad_begin();
    double loss_sum = 0;
    int64_t seen = 0, correct = 0;
    cx_status st = CX_OK;
    cx_tensor *x, *y;
    cx_loader_start_epoch(l, 0);
    while (st == CX_OK && cx_loader_next(l, &x, &y)) {
        if (!x) continue; /* this rank's part of the last batch is empty */
        cx_arena_begin(arena);
        cx_tensor *logits = NULL;
        cx_tensor *loss = cx_model_loss(m, x, cx__is_classifier(m) ? y : x, &logits);
        if (!loss) {
            st = cx_last_status();
        } else {
            int64_t b = cx_tensor_dim(x, 0);
            loss_sum += (double)cx_tensor_item(loss) * (double)b;
            if (cx__is_classifier(m)) correct += cx__count_correct(logits, y);
            seen += b;
        }
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx_no_grad_end();
    cx_model_set_training(m, was_training);
    cx_loader_free(l);
    cx_arena_free(arena);
    sums[0] = loss_sum;
    sums[1] = (double)correct;
    sums[2] = (double)seen;
    return st;
}

static void metrics_from(cx_model *m, const double sums[3], cx_metrics *out) {
    int64_t seen = (int64_t)sums[2];
    out->samples = seen;
    out->loss = seen ? (float)(sums[0] / sums[2]) : NAN;
    out->accuracy = seen && cx__is_classifier(m) ? (float)(sums[1] / sums[2]) : NAN;
}

cx_status cx_evaluate(cx_model *m, const cx_dataset *d, int64_t batch_size,
                      const cx_loader_params *normalisation, cx_metrics *out) {
    if (!out) return cx__error(CX_ERR_ARG, "evaluate: NULL argument");
    double sums[3];
    cx_status st = evaluate_part(m, d, batch_size, normalisation, 0, 1, sums);
    if (st == CX_OK) metrics_from(m, sums, out);
    return st;
}

cx_status cx_evaluate_sharded(cx_model *m, const cx_dataset *d, int64_t batch_size,
                              const cx_loader_params *normalisation, cx_metrics *out) {
    if (!out) return cx__error(CX_ERR_ARG, "evaluate: NULL argument");
    double sums[3] = {0};
    cx_status st = evaluate_part(m, d, batch_size, normalisation, cx_dist_rank(),
                                 cx_dist_size(), sums);
    if ((st = cx_dist_share(st, sums, 3, "evaluate")) != CX_OK) return st;
    metrics_from(m, sums, out);
    return CX_OK;
}
