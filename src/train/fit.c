/*
 * fit.c - the training loop: epochs of shuffled mini-batches (forward, loss, backward,
 * optimizer step), validation after each epoch, learning-rate schedule, gradient clipping,
 * early stopping, checkpoints, and the loss-curve chart at the end.
 *
 * Each step runs in one arena reset after the step, and the loader writes batches into its own
 * buffers, so steady-state steps allocate nothing. A resumed run (params->resume) continues
 * with the same batches, dropout masks and learning rates as an uninterrupted one: shuffling
 * depends only on (seed, epoch), the dropout generator and the optimizer state come from the
 * checkpoint, and the schedule is computed from the stored base learning rate.
 *
 * Distributed (params->distributed in an MPI job, cortex/dist.h): rank 0's weights go to all
 * ranks first; each rank takes its part of every global batch, gradients are averaged while
 * backward runs (cx_grad_sync), and one small sum per step shares the batch's loss, accuracy
 * and whether any rank failed, so all ranks stop together. Validation is sharded; rank 0
 * alone writes checkpoints, the chart and the progress and epoch logs.
 */
#include "train/train_impl.h"

#include <math.h>
#include <string.h>

typedef struct {
    cx_model *m;
    cx_optim *o;
    const cx_fit_params *p;
    cx_loader *loader;
    cx_arena *arena;
    cx_tensor **params; /* the model's parameter tensors, for clipping */
    int n_params;
    float *best_weights; /* restore_best: the flat parameters of the best epoch */
    float *history;      /* [2][epochs]: train and validation loss per epoch, for the chart */
    bool dist;           /* distributed over more than one rank */
    bool root;           /* rank 0 (or alone): writes files and logs */
    cx_grad_sync *sync;  /* dist: gradient averaging */
    cx_tensor *dummy;    /* dist: one zero sample [1, ...], run when this rank's part is empty */
} fit_run;

static void run_free(fit_run *r) {
    cx_loader_free(r->loader);
    cx_arena_free(r->arena);
    cx__free(r->params);
    cx__free(r->best_weights);
    cx__free(r->history);
    cx_grad_sync_free(r->sync);
    cx_tensor_free(r->dummy);
}

static cx_status run_init(fit_run *r, const cx_dataset *train) {
    const cx_fit_params *p = r->p;
    cx_loader_params lp = {.batch_size = p->batch_size > 0 ? p->batch_size : 128,
                           .shuffle = true, .seed = p->seed, .scale = p->normalisation.scale,
                           .mean = p->normalisation.mean, .std = p->normalisation.std,
                           .shift = p->normalisation.shift, .rotate = p->normalisation.rotate,
                           .zoom = p->normalisation.zoom};
    if (r->dist) {
        lp.shard_rank = cx_dist_rank();
        lp.shard_count = cx_dist_size();
        int64_t bytes = p->bucket_bytes ? p->bucket_bytes : CX_FIT_BUCKET_BYTES;
        r->sync = cx_grad_sync_new(r->m, bytes < 0 ? 0 : (size_t)bytes);
        int64_t shape[CX_MAX_DIMS] = {1};
        int nd = cx_dataset_sample_shape(train, shape + 1);
        r->dummy = r->sync ? cx_tensor_new(CX_DTYPE_F32, nd + 1, shape) : NULL;
        if (!r->dummy) return cx_last_status();
    }
    r->loader = cx_loader_new(train, &lp);
    r->arena = cx_arena_new(0);
    r->n_params = cx_model_num_param_tensors(r->m);
    r->params = cx__alloc((size_t)(r->n_params ? r->n_params : 1) * sizeof *r->params);
    r->history = cx__alloc((size_t)(p->epochs ? p->epochs : 1) * 2 * sizeof *r->history);
    if (!r->loader || !r->arena || !r->params || !r->history) return cx_last_status();
    for (int i = 0; i < r->n_params; i++) r->params[i] = cx_model_param(r->m, i);
    for (int i = 0; i < 2 * p->epochs; i++) r->history[i] = NAN;
    if (p->patience > 0 && p->restore_best) {
        r->best_weights = cx__alloc((size_t)cx_model_num_params(r->m) * sizeof(float) + 1);
        if (!r->best_weights) return cx_last_status();
        memcpy(r->best_weights, cx_model_params_flat(r->m),
               (size_t)cx_model_num_params(r->m) * sizeof(float));
    }
    return CX_OK;
}

/* What a step adds to the epoch's figures (summed over ranks when distributed). */
typedef struct {
    double loss_sum, correct, samples;
} step_sums;

/* Forward, loss and backward on this rank's batch (x, y) (NULL: an empty part); adds the
 * batch's loss sum and correct count to *sums. Distributed, the gradients are averaged over
 * all ranks as backward goes; the guard (guard.c) stops on a NaN or infinite loss. */
static cx_status forward_backward(fit_run *r, const char *who, cx_tensor *x, cx_tensor *y,
                                  step_sums *sums) {
    cx_model *m = r->m;
    bool classifier = cx__is_classifier(m);
    cx_tensor *target = classifier ? y : x;
    int64_t b = x ? cx_tensor_dim(x, 0) : 0, offset = 0, global = b;
    cx_status st = CX_OK;
    cx_model_zero_grad(m);
    if (r->dist) {
        cx_loader_shard_rows(r->loader, &offset, &global);
        cx_model_set_batch_shard(m, x ? offset : global - 1, global);
        st = cx_grad_sync_begin(r->sync, b, global);
    }
    if (st == CX_OK && !x && r->dist) {
        /* an empty part (of the last batch): a forward of one dummy row makes the draws a
         * real part would (dropout skips the other rows of the global batch), so every
         * rank's generator stays in step for the next epoch */
        cx_no_grad_begin();
        cx_tensor *out = cx_model_forward(m, r->dummy);
        cx_no_grad_end();
        if (!out) st = cx_last_status();
        cx_tensor_free(out);
    }
    if (st == CX_OK && x) {
        cx_tensor *logits = NULL;
        cx_tensor *loss = cx_model_loss(m, x, target, &logits);
        float value = loss ? cx_tensor_item(loss) : NAN;
        if (!loss || (st = cx__guard_loss(m, who, value, x, target)) != CX_OK ||
            (st = cx_backward(loss)) != CX_OK) {
            st = cx__guard_error(who);
        } else {
            sums->loss_sum = (double)value * (double)b;
            sums->correct = classifier ? (double)cx__count_correct(logits, y) : 0;
            sums->samples = (double)b;
        }
    }
    if (!r->dist) return st;
    /* every rank reduces, whether its step worked or not, then learns if any failed */
    cx_model_set_batch_shard(m, 0, 0);
    cx_status sync = cx_grad_sync_end(r->sync);
    if (st == CX_OK) st = sync;
    double shared[3] = {sums->loss_sum, sums->correct, sums->samples};
    if ((st = cx_dist_share(st, shared, 3, who)) != CX_OK) return st;
    *sums = (step_sums){shared[0], shared[1], shared[2]};
    return CX_OK;
}

/* One optimisation step; adds to *sums. The guard stops training on a NaN or infinite
 * gradient (the same on every rank: they hold the same averaged gradients). */
static cx_status train_step(fit_run *r, int epoch, int64_t step, cx_tensor *x, cx_tensor *y,
                            step_sums *sums) {
    char who[64];
    snprintf(who, sizeof who, "fit: epoch %d step %lld", epoch + 1, (long long)step);
    step_sums add = {0};
    cx_arena_begin(r->arena);
    cx_status st = forward_backward(r, who, x, y, &add);
    if (st == CX_OK && (st = cx__guard_grads(r->m, who)) != CX_OK) st = cx__guard_error(who);
    if (st == CX_OK && r->p->clip_norm > 0) {
        float norm = cx_clip_grad_norm(r->params, r->n_params, r->p->clip_norm);
        if (!isfinite(norm))
            st = cx__error(CX_ERR_NUMERIC, "%s: the gradient norm is %s; " CX_GUARD_STOPPED, who,
                           isnan(norm) ? "NaN" : "infinite");
    }
    if (st == CX_OK) st = cx_optim_step(r->o);
    if (st == CX_OK) {
        sums->loss_sum += add.loss_sum;
        sums->correct += add.correct;
        sums->samples += add.samples;
    }
    cx_arena_end(r->arena);
    cx_arena_reset(r->arena);
    return st;
}

static cx_status train_epoch(fit_run *r, int epoch, cx_metrics *out, double *seconds) {
    cx_progress_bar bar;
    cx_progress mode = r->p->json || !r->root ? CX_PROGRESS_NONE : r->p->progress;
    cx__progress_start(&bar, mode, r->p->out, epoch + 1, r->p->epochs,
                       cx_loader_num_batches(r->loader));
    cx_model_set_training(r->m, true);
    cx_loader_start_epoch(r->loader, epoch);
    step_sums sums = {0};
    int64_t step = 0;
    bool classifier = cx__is_classifier(r->m);
    cx_tensor *x, *y;
    cx_status st = CX_OK;
    while (st == CX_OK && cx_loader_next(r->loader, &x, &y)) {
        st = train_step(r, epoch, ++step, x, y, &sums);
        double seen = sums.samples > 0 ? sums.samples : 1;
        cx__progress_step(&bar, step, sums.loss_sum / seen,
                          classifier ? sums.correct / seen : NAN, (int64_t)sums.samples);
    }
    cx__progress_finish(&bar);
    cx_model_set_training(r->m, false);
    *seconds = cx__now_s() - bar.start;
    out->samples = (int64_t)sums.samples;
    out->loss = sums.samples ? (float)(sums.loss_sum / sums.samples) : NAN;
    out->accuracy = sums.samples && classifier ? (float)(sums.correct / sums.samples) : NAN;
    return st;
}

/* Early stopping bookkeeping after an epoch; true when training should stop. */
static bool early_stop(fit_run *r, cx_train_state *s, int epoch, float monitored) {
    if (monitored < s->best_val_loss) {
        s->best_val_loss = monitored;
        s->best_epoch = epoch + 1;
        s->bad_epochs = 0;
        if (r->best_weights)
            memcpy(r->best_weights, cx_model_params_flat(r->m),
                   (size_t)cx_model_num_params(r->m) * sizeof(float));
        return false;
    }
    s->bad_epochs++;
    return r->p->patience > 0 && s->bad_epochs >= r->p->patience;
}

static cx_status check_params(const cx_model *m, const cx_optim *o, const cx_dataset *train,
                              const cx_fit_params *p) {
    if (!m || !o || !train || !p) return cx__error(CX_ERR_ARG, "fit: NULL argument");
    if (p->epochs < 0 || p->batch_size < 0 || p->patience < 0 || !(p->clip_norm >= 0))
        return cx__error(CX_ERR_ARG, "fit: epochs (%d), batch size (%lld), patience (%d) and "
                         "clip norm (%g) must not be negative", p->epochs,
                         (long long)p->batch_size, p->patience, p->clip_norm);
    if (p->resume && p->resume->epoch > p->epochs)
        return cx__error(CX_ERR_ARG, "fit: the checkpoint has %d epochs done, more than the %d "
                         "asked for", p->resume->epoch, p->epochs);
    return CX_OK;
}

static void write_chart(const fit_run *r, int epochs_run) {
    const float *ys[2] = {r->history, r->history + r->p->epochs};
    const char *names[2] = {"training loss", "validation loss"};
    bool has_val = false;
    for (int i = 0; i < epochs_run; i++) has_val |= !isnan(ys[1][i]);
    if (cx_plot_lines(r->p->plot_path, "Loss per epoch", "epoch", "loss", has_val ? 2 : 1, names,
                      ys, epochs_run) != CX_OK)
        fprintf(r->p->out, "cortex: warning: %s\n", cx_last_error());
}

/* Rank 0 writes the checkpoint; the others learn whether it worked, so all go on or stop. */
static cx_status save_checkpoint(const fit_run *r, cx_model *m, cx_optim *o,
                                 const cx_train_state *s) {
    cx_status st = r->root ? cx_checkpoint_save(r->p->checkpoint_path, m, o, s) : CX_OK;
    if (!r->dist) return st;
    double failed = st != CX_OK;
    cx_status sum = cx_dist_sum_f64(&failed, 1);
    if (st != CX_OK) return st;
    if (sum != CX_OK) return sum;
    if (failed > 0)
        return cx__error(CX_ERR_IO, "fit: rank 0 could not write the checkpoint %s; training "
                         "stopped", r->p->checkpoint_path);
    return CX_OK;
}

cx_status cx_fit(cx_model *m, cx_optim *o, const cx_dataset *train, const cx_dataset *val,
                 const cx_fit_params *params, cx_fit_result *result) {
    cx_status st = check_params(m, o, train, params);
    if (st != CX_OK) return st;
    cx_fit_params p = *params;
    if (!p.out) p.out = stdout;
    fit_run r = {.m = m, .o = o, .p = &p, .dist = p.distributed && cx_dist_size() > 1,
                 .root = !p.distributed || cx_dist_is_root()};
    cx_train_state s;
    if (p.resume) {
        s = *p.resume;
        p.seed = s.seed;
    } else {
        s = (cx_train_state){.seed = p.seed, .base_lr = cx_optim_get_lr(o),
                             .best_val_loss = INFINITY, .normalisation = p.normalisation};
        if (p.data_name) snprintf(s.dataset, sizeof s.dataset, "%s", p.data_name);
        cx_model_seed(m, p.seed);
    }
    /* every rank starts from rank 0's weights (a resumed run's are the same everywhere) */
    if ((r.dist && (st = cx_dist_broadcast_model(m)) != CX_OK) ||
        (st = run_init(&r, train)) != CX_OK) {
        run_free(&r);
        return st;
    }
    cx_fit_result res = {.epochs_run = s.epoch};
    int epoch;
    for (epoch = s.epoch; epoch < p.epochs; epoch++) {
        float lr = cx_schedule_lr(&p.schedule, s.base_lr, epoch);
        cx_optim_set_lr(o, lr);
        double seconds;
        if ((st = train_epoch(&r, epoch, &res.train, &seconds)) != CX_OK) break;
        res.val = (cx_metrics){.loss = NAN, .accuracy = NAN};
        /* batch-norm statistics differ per rank: rank 0's count (as its checkpoint does) */
        if (r.dist && (st = cx_dist_broadcast_model_buffers(m)) != CX_OK) break;
        if (val && (st = r.dist ? cx_evaluate_sharded(m, val, 256, &p.normalisation, &res.val)
                                : cx_evaluate(m, val, 256, &p.normalisation, &res.val)) != CX_OK)
            break;
        res.images_per_s = seconds > 0 ? (float)((double)res.train.samples / seconds) : 0;
        cx_epoch_log log = {.epoch = epoch + 1, .epochs = p.epochs, .train = res.train,
                            .val = res.val, .lr = lr, .seconds = seconds,
                            .images_per_s = res.images_per_s};
        if (r.root) cx__log_epoch(p.out, p.json, &log);
        r.history[epoch] = res.train.loss;
        r.history[p.epochs + epoch] = res.val.loss;
        bool stop = early_stop(&r, &s, epoch, val ? res.val.loss : res.train.loss);
        /* The last step's update may have overflowed: such weights are never saved. */
        char who[32];
        snprintf(who, sizeof who, "fit: epoch %d", epoch + 1);
        if ((st = cx__guard_weights(m, who)) != CX_OK) break;
        s.epoch = epoch + 1;
        res.epochs_run = s.epoch;
        if (p.checkpoint_path && (st = save_checkpoint(&r, m, o, &s)) != CX_OK) break;
        if (stop) {
            res.stopped_early = true;
            break;
        }
    }
    res.best_epoch = s.best_epoch;
    res.sync_wait_s = cx_grad_sync_get_stats(r.sync).wait_seconds;
    if (st == CX_OK && r.best_weights && s.best_epoch > 0)
        memcpy(cx_model_params_flat(m), r.best_weights,
               (size_t)cx_model_num_params(m) * sizeof(float));
    if (p.plot_path && res.epochs_run > 0 && r.root) write_chart(&r, res.epochs_run);
    if (params->resume) *params->resume = s;
    if (result) *result = res;
    run_free(&r);
    return st;
}
