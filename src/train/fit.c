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
} fit_run;

static void run_free(fit_run *r) {
    cx_loader_free(r->loader);
    cx_arena_free(r->arena);
    cx__free(r->params);
    cx__free(r->best_weights);
    cx__free(r->history);
}

static cx_status run_init(fit_run *r, const cx_dataset *train) {
    const cx_fit_params *p = r->p;
    cx_loader_params lp = {.batch_size = p->batch_size > 0 ? p->batch_size : 128,
                           .shuffle = true, .seed = p->seed, .scale = p->normalisation.scale,
                           .mean = p->normalisation.mean, .std = p->normalisation.std,
                           .shift = p->normalisation.shift, .rotate = p->normalisation.rotate,
                           .zoom = p->normalisation.zoom};
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

/* One optimisation step on batch (x, y); adds the batch's loss sum and correct count. The
 * guard (guard.c) stops training on a NaN or infinite loss or gradient. */
static cx_status train_step(fit_run *r, int epoch, int64_t step, cx_tensor *x, cx_tensor *y,
                            double *loss_sum, int64_t *correct) {
    cx_model *m = r->m;
    bool classifier = cx__is_classifier(m);
    cx_tensor *target = classifier ? y : x;
    cx_status st = CX_OK;
    cx_arena_begin(r->arena);
    cx_model_zero_grad(m);
    cx_tensor *logits = NULL;
    cx_tensor *loss = cx_model_loss(m, x, target, &logits);
    float value = loss ? cx_tensor_item(loss) : NAN;
    char who[64];
    snprintf(who, sizeof who, "fit: epoch %d step %lld", epoch + 1, (long long)step);
    if (!loss || (st = cx__guard_loss(m, who, value, x, target)) != CX_OK ||
        (st = cx_backward(loss)) != CX_OK || (st = cx__guard_grads(m, who)) != CX_OK) {
        st = cx__guard_error(who);
    } else {
        if (r->p->clip_norm > 0) {
            float norm = cx_clip_grad_norm(r->params, r->n_params, r->p->clip_norm);
            if (!isfinite(norm))
                st = cx__error(CX_ERR_NUMERIC, "%s: the gradient norm is %s; " CX_GUARD_STOPPED,
                               who, isnan(norm) ? "NaN" : "infinite");
        }
        if (st == CX_OK) st = cx_optim_step(r->o);
        int64_t b = cx_tensor_dim(x, 0);
        *loss_sum += (double)value * (double)b;
        if (classifier) *correct += cx__count_correct(logits, y);
    }
    cx_arena_end(r->arena);
    cx_arena_reset(r->arena);
    return st;
}

static cx_status train_epoch(fit_run *r, int epoch, cx_metrics *out, double *seconds) {
    cx_progress_bar bar;
    cx__progress_start(&bar, r->p->json ? CX_PROGRESS_NONE : r->p->progress, r->p->out,
                       epoch + 1, r->p->epochs, cx_loader_num_batches(r->loader));
    cx_model_set_training(r->m, true);
    cx_loader_start_epoch(r->loader, epoch);
    double loss_sum = 0;
    int64_t seen = 0, correct = 0, step = 0;
    bool classifier = cx__is_classifier(r->m);
    cx_tensor *x, *y;
    cx_status st = CX_OK;
    while (st == CX_OK && cx_loader_next(r->loader, &x, &y)) {
        st = train_step(r, epoch, ++step, x, y, &loss_sum, &correct);
        seen += cx_tensor_dim(x, 0);
        cx__progress_step(&bar, step, loss_sum / (double)seen,
                          classifier ? (double)correct / (double)seen : NAN, seen);
    }
    cx__progress_finish(&bar);
    cx_model_set_training(r->m, false);
    *seconds = cx__now_s() - bar.start;
    out->samples = seen;
    out->loss = seen ? (float)(loss_sum / (double)seen) : NAN;
    out->accuracy = seen && classifier ? (float)correct / (float)seen : NAN;
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

cx_status cx_fit(cx_model *m, cx_optim *o, const cx_dataset *train, const cx_dataset *val,
                 const cx_fit_params *params, cx_fit_result *result) {
    cx_status st = check_params(m, o, train, params);
    if (st != CX_OK) return st;
    cx_fit_params p = *params;
    if (!p.out) p.out = stdout;
    fit_run r = {.m = m, .o = o, .p = &p};
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
    if ((st = run_init(&r, train)) != CX_OK) {
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
        if (val && (st = cx_evaluate(m, val, 256, &p.normalisation, &res.val)) != CX_OK) break;
        res.images_per_s = seconds > 0 ? (float)((double)res.train.samples / seconds) : 0;
        cx_epoch_log log = {.epoch = epoch + 1, .epochs = p.epochs, .train = res.train,
                            .val = res.val, .lr = lr, .seconds = seconds,
                            .images_per_s = res.images_per_s};
        cx__log_epoch(p.out, p.json, &log);
        r.history[epoch] = res.train.loss;
        r.history[p.epochs + epoch] = res.val.loss;
        bool stop = early_stop(&r, &s, epoch, val ? res.val.loss : res.train.loss);
        /* The last step's update may have overflowed: such weights are never saved. */
        char who[32];
        snprintf(who, sizeof who, "fit: epoch %d", epoch + 1);
        if ((st = cx__guard_weights(m, who)) != CX_OK) break;
        s.epoch = epoch + 1;
        res.epochs_run = s.epoch;
        if (p.checkpoint_path && (st = cx_checkpoint_save(p.checkpoint_path, m, o, &s)) != CX_OK)
            break;
        if (stop) {
            res.stopped_early = true;
            break;
        }
    }
    res.best_epoch = s.best_epoch;
    if (st == CX_OK && r.best_weights && s.best_epoch > 0)
        memcpy(cx_model_params_flat(m), r.best_weights,
               (size_t)cx_model_num_params(m) * sizeof(float));
    if (p.plot_path && res.epochs_run > 0) write_chart(&r, res.epochs_run);
    if (params->resume) *params->resume = s;
    if (result) *result = res;
    run_free(&r);
    return st;
}
