/*
 * cortex/train.h - the training loop (fit/evaluate), metrics, early stopping, progress and
 * JSON logs, loss-curve charts, and checkpoints. Included by cortex.h.
 */
#ifndef CORTEX_TRAIN_H
#define CORTEX_TRAIN_H

#include "cortex.h"
#include "cortex/data.h"
#include "cortex/nn.h"
#include "cortex/optim.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checkpoints ---- */

/* Where a training run stands, saved with the weights so --resume continues exactly. */
typedef struct {
    int epoch;           /* epochs completed */
    uint64_t seed;       /* the run's seed (shuffling order derives from it and the epoch) */
    float base_lr;       /* the learning rate schedules start from */
    float best_val_loss; /* early stopping: best validation loss so far (INFINITY if none) */
    int best_epoch;      /* epoch (1-based) of best_val_loss; 0 if none */
    int bad_epochs;      /* epochs since best_val_loss improved */
    cx_loader_params normalisation; /* how samples were scaled (scale/mean/std), for predict,
                                     * and augmented (shift/rotate/zoom), for resuming */
    char dataset[64];    /* the training data's name ("mnist"), for class names; may be "" */
} cx_train_state;

/* One safetensors file: every parameter and buffer under its name, the optimizer state under
 * "optim.<name>" (if o is not NULL; o must be an optimizer over cx_model_trainable_params(m),
 * in that order, as cx_checkpoint_load makes it), and metadata: the model config text, the
 * optimizer kind, hyper-parameters and step count, the training state and the model's RNG
 * state. Written
 * atomically: on failure path keeps its previous contents. */
cx_status cx_checkpoint_save(const char *path, cx_model *m, const cx_optim *o,
                             const cx_train_state *state);
/* The same with up to 8 more metadata pairs (a text model's vocabulary); the names format,
 * config, train and optimizer are the checkpoint's own (CX_ERR_ARG). Read them back with
 * cx_safetensors_metadata. */
cx_status cx_checkpoint_save_extra(const char *path, cx_model *m, const cx_optim *o,
                                   const cx_train_state *state, int n_extra,
                                   const char *const *keys, const char *const *values);
/* Rebuilds the model from the config stored in path and loads its weights and RNG state. If
 * optim is not NULL it receives a new optimizer over the model's parameters with the stored
 * kind, hyper-parameters and state (NULL if the file has none); if state is not NULL it
 * receives the training state. Errors name the file and what is wrong with it. */
cx_model *cx_checkpoint_load(const char *path, cx_optim **optim, cx_train_state *state);

/* ---- fit and evaluate ---- */

typedef struct {
    float loss;     /* mean loss per sample */
    float accuracy; /* 0..1; classification only (NAN otherwise) */
    int64_t samples;
} cx_metrics;

/* Loss and accuracy of m (in evaluation mode, no gradients) over d, batch_size at a time. */
cx_status cx_evaluate(cx_model *m, const cx_dataset *d, int64_t batch_size,
                      const cx_loader_params *normalisation, cx_metrics *out);
/* The same over all ranks of a distributed run (cortex/dist.h; every rank calls it with the
 * same d): each evaluates its part, and every rank receives the totals. One process: the
 * same as cx_evaluate. */
cx_status cx_evaluate_sharded(cx_model *m, const cx_dataset *d, int64_t batch_size,
                              const cx_loader_params *normalisation, cx_metrics *out);

typedef enum {
    CX_PROGRESS_AUTO = 0, /* a bar on a terminal, plain lines otherwise */
    CX_PROGRESS_BAR,
    CX_PROGRESS_LINES,
    CX_PROGRESS_NONE,
} cx_progress;

typedef struct {
    int epochs;           /* total epochs (a resumed run goes on up to this) */
    int64_t batch_size;   /* default 128 */
    uint64_t seed;        /* shuffling; the model's dropout RNG is seeded from it too */
    cx_loader_params normalisation; /* scale/mean/std applied to samples; shift/rotate/zoom
                                     * augment training batches (never validation's) */
    cx_schedule schedule; /* per-epoch learning rate from the optimizer's initial one */
    float clip_norm;      /* > 0: clip gradients to this global norm */
    int patience;         /* > 0: stop after this many epochs without a better val loss */
    bool restore_best;    /* with patience: put the best epoch's weights back at the end */
    cx_progress progress;
    bool json;            /* one JSON object per epoch and one final on `out` */
    FILE *out;            /* progress and logs (default stdout) */
    const char *checkpoint_path; /* saved after every epoch when set */
    const char *plot_path;       /* loss-curve PNG written at the end when set */
    cx_train_state *resume;      /* continue from this state (from cx_checkpoint_load) */
    const char *data_name;       /* the training data's name ("mnist"), kept in checkpoints */
    /* Data-parallel over the ranks of an MPI job (cortex/dist.h; a no-op alone): batch_size
     * is per rank, each global batch of batch_size x ranks samples is split between them,
     * and rank 0 alone writes checkpoint, chart and progress. Every rank calls cx_fit with
     * the same arguments (the same data, seed and model config). */
    bool distributed;
    int64_t bucket_bytes; /* gradient buckets (0: CX_FIT_BUCKET_BYTES; < 0: one, after
                           * backward, with no overlap) */
} cx_fit_params;

#define CX_FIT_BUCKET_BYTES ((int64_t)1 << 20)

typedef struct {
    int epochs_run;     /* epochs completed in all, counting resumed ones */
    cx_metrics train;   /* last epoch */
    cx_metrics val;     /* last epoch (samples 0 without validation data) */
    int best_epoch;
    float images_per_s; /* training throughput of the last epoch */
    bool stopped_early;
    double sync_wait_s; /* distributed: seconds waiting for gradient reductions after backward,
                         * all epochs (what overlapping with backward did not hide) */
} cx_fit_result;

/* Trains m with o on train, validating on val (may be NULL) after every epoch. The numeric
 * guard: a NaN or infinite loss, gradient or weight stops training with CX_ERR_NUMERIC and a
 * message naming the epoch and step and where it came from (the parameter and layer whose
 * gradient went bad first; for the loss, the op and layer found by re-running the batch with
 * anomaly detection); the last checkpoint written stays as it was, and bad weights are never
 * saved. With cx_set_detect_anomaly on, every op is checked as it runs. */
cx_status cx_fit(cx_model *m, cx_optim *o, const cx_dataset *train, const cx_dataset *val,
                 const cx_fit_params *params, cx_fit_result *result);

/* ---- charts ---- */

/* A line chart as PNG (800x500): n_series curves of n_points values each, ys[s][i] plotted at
 * x = i + 1 (non-finite values leave a gap), with a legend of names. Written atomically. */
cx_status cx_plot_lines(const char *path, const char *title, const char *xlabel,
                        const char *ylabel, int n_series, const char *const *names,
                        const float *const *ys, int n_points);
/* A scatter chart as PNG (800x650): n points (xs[i], ys[i]) (non-finite ones left out), each
 * a dot coloured by classes[i] in 0..n_classes-1 (classes NULL: one colour, no legend), with
 * a legend of names (NULL, or a NULL entry: the class number). At most 10 classes (the
 * palette's colours). Written atomically. CX_ERR_ARG for no points, a class out of range. */
cx_status cx_plot_scatter(const char *path, const char *title, const char *xlabel,
                          const char *ylabel, int64_t n, const float *xs, const float *ys,
                          const int32_t *classes, int n_classes, const char *const *names);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_TRAIN_H */
