/*
 * gan_fit.c - training a GAN: epochs of shuffled mini-batches (one D and one G update each,
 * gan_step.c), then the epoch's fixed-noise grid, the mode-collapse watch, the log line or
 * JSON object and a checkpoint of both networks and both optimizers; loss curves at the end.
 *
 * Each step runs in one arena reset after the step, and the loader writes batches into its
 * own buffers. A resumed run continues exactly: the shuffling depends only on (seed, epoch),
 * the generators of noise and fake labels come back from the checkpoint, and the grid's
 * fixed noise is drawn from the seed alone.
 */
#include "generative/generative_impl.h"
#include "train/train_impl.h" /* defines: progress bar, cx__now_s, cx__json_number */

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GRID_SIDE 10 /* the fixed-noise grid: 10 x 10 samples (a row per class, conditional) */
#define CURVE_MAX 100000 /* epochs the loss curves hold */

typedef struct {
    cx_gan *gan;
    cx_optim *g_optim, *d_optim;
    const cx_gan_fit_params *p;
    cx_loader *loader;
    cx_arena *arena;
    cx_tensor *grid_z; /* the fixed noise [100, Z] (heap) */
    bool dist, root;   /* distributed over more than one rank; rank 0 (or alone) */
    cx__gan_shard shard; /* dist: where this rank's batch lies, and the two syncs */
} gan_run;

static void add_stats(cx_gan_stats *sum, const cx_gan_stats *s) {
    sum->d_loss += s->d_loss, sum->g_loss += s->g_loss, sum->d_real += s->d_real;
    sum->d_fake += s->d_fake, sum->d_fake_g += s->d_fake_g, sum->d_accuracy += s->d_accuracy;
}

static void mean_stats(cx_gan_stats *s, int64_t n) {
    float k = n > 0 ? 1.0f / (float)n : NAN;
    s->d_loss *= k, s->g_loss *= k, s->d_real *= k;
    s->d_fake *= k, s->d_fake_g *= k, s->d_accuracy *= k;
}

static cx_status train_epoch(gan_run *r, int epoch, cx_gan_stats *out, int64_t *steps) {
    cx_progress_bar bar;
    cx_progress mode = r->p->json || !r->root ? CX_PROGRESS_NONE : r->p->progress;
    cx__progress_start(&bar, mode, r->p->out, epoch + 1, r->p->epochs,
                       cx_loader_num_batches(r->loader));
    cx_gan_set_training(r->gan, true);
    cx_loader_start_epoch(r->loader, epoch);
    *out = (cx_gan_stats){0};
    int64_t step = 0;
    cx_tensor *x, *y;
    cx_status st = CX_OK;
    while (st == CX_OK && cx_loader_next(r->loader, &x, &y)) {
        cx_gan_stats s;
        if (r->dist) cx_loader_shard_rows(r->loader, &r->shard.offset, &r->shard.global);
        cx_arena_begin(r->arena);
        st = cx__gan_train_step(r->gan, r->g_optim, r->d_optim, x, r->gan->classes ? y : NULL,
                                r->p->smoothing, r->dist ? &r->shard : NULL, &s);
        cx_arena_end(r->arena);
        cx_arena_reset(r->arena);
        if (st != CX_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", cx_last_error());
            st = cx__error(st, "GAN fit: epoch %d step %lld: %s", epoch + 1, (long long)step + 1,
                           why);
            break;
        }
        add_stats(out, &s);
        step++;
        cx__progress_step(&bar, step, out->d_loss / (double)step, NAN,
                          step * (r->dist ? r->shard.global : cx_tensor_dim(x, 0)));
    }
    cx__progress_finish(&bar);
    cx_gan_set_training(r->gan, false);
    mean_stats(out, step);
    *steps = step;
    return st;
}

/* DIR/epoch_NNN.png: the fixed-noise grid after epoch (1-based). */
static cx_status write_grid(gan_run *r, int epoch, char *path, size_t size) {
    const char *dir = r->p->grid_dir;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cx__error(CX_ERR_IO, "GAN fit: cannot make the directory %s: %s", dir,
                         strerror(errno));
    snprintf(path, size, "%s/epoch_%03d.png", dir, epoch);
    cx_arena_begin(r->arena);
    cx_tensor *grid = cx_gan_picture_grid(r->gan, r->grid_z, NULL, GRID_SIDE);
    cx_status st = grid ? cx_image_save_png(path, grid) : cx_last_status();
    cx_arena_end(r->arena);
    cx_arena_reset(r->arena);
    return st;
}

static void log_epoch(const cx_gan_fit_params *p, int epoch, const cx_gan_fit_result *res,
                      double seconds, const char *grid) {
    FILE *out = p->out;
    const cx_gan_stats *s = &res->last;
    const cx_gan_watch *w = &res->watch;
    bool watched = w->samples > 0;
    if (p->json) {
        fprintf(out, "{\"epoch\": %d, ", epoch);
        cx__json_number(out, "d_loss", s->d_loss, true);
        cx__json_number(out, "g_loss", s->g_loss, true);
        cx__json_number(out, "d_real", s->d_real, true);
        cx__json_number(out, "d_fake", s->d_fake, true);
        cx__json_number(out, "d_fake_g", s->d_fake_g, true);
        cx__json_number(out, "d_accuracy", s->d_accuracy, true);
        cx__json_number(out, "seconds", seconds, true);
        cx__json_number(out, "steps_per_s", res->steps_per_s, true);
        if (grid) {
            json_t *g = json_string(grid);
            char *text = g ? json_dumps(g, JSON_ENCODE_ANY) : NULL;
            fprintf(out, "\"grid\": %s, ", text ? text : "null");
            free(text);
            json_decref(g);
        } else {
            fputs("\"grid\": null, ", out);
        }
        if (watched) {
            fputs("\"classes\": [", out);
            for (int c = 0; c < w->classes; c++)
                fprintf(out, c ? ", %lld" : "%lld", (long long)w->counts[c]);
            fputs("], ", out);
            cx__json_number(out, "class_entropy", w->entropy, true);
            fprintf(out, "\"top_class\": %d, ", w->top_class);
            cx__json_number(out, "top_share", w->top_share, true);
            cx__json_number(out, "mean_top_prob", w->mean_top_prob, true);
            cx__json_number(out, "label_accuracy", w->label_accuracy, true);
            fprintf(out, "\"collapse\": %s}\n", w->collapse ? "true" : "false");
        } else {
            fputs("\"classes\": null, \"class_entropy\": null, \"top_class\": null, "
                  "\"top_share\": null, \"mean_top_prob\": null, \"label_accuracy\": null, "
                  "\"collapse\": null}\n", out);
        }
    } else {
        fprintf(out, "epoch %d/%d: D loss %.4f, G loss %.4f, D(x) %.3f, D(G(z)) %.3f / %.3f, "
                "D accuracy %.3f (%.1fs, %.1f steps/s)\n", epoch, p->epochs, s->d_loss,
                s->g_loss, s->d_real, s->d_fake, s->d_fake_g, s->d_accuracy, seconds,
                res->steps_per_s);
        if (watched) {
            fprintf(out, "  samples by class:");
            for (int c = 0; c < w->classes; c++) fprintf(out, " %lld", (long long)w->counts[c]);
            fprintf(out, " (entropy %.3f bits, mean top probability %.3f", w->entropy,
                    w->mean_top_prob);
            if (!isnan(w->label_accuracy))
                fprintf(out, ", asked-for class %.1f%%", 100 * w->label_accuracy);
            fprintf(out, ")\n");
        }
    }
    if (watched && w->collapse)
        fprintf(p->warnings, "warning: epoch %d: possible mode collapse: class %d takes %.1f%% "
                "of %lld generated samples\n", epoch, w->top_class, 100 * w->top_share,
                (long long)w->samples);
    fflush(out);
}

static cx_status plot(const char *path, int n, const float *d_loss, const float *g_loss) {
    const char *names[] = {"discriminator", "generator"};
    const float *ys[] = {d_loss, g_loss};
    return cx_plot_lines(path, "GAN losses", "epoch", "loss (mean over the epoch)", 2, names, ys,
                         n);
}

static cx_status check_params(const cx_gan *gan, const cx_dataset *train,
                              const cx_gan_fit_params *p) {
    if (p->epochs < 0 || p->batch_size < 0)
        return cx__error(CX_ERR_ARG, "GAN fit: epochs (%d) and batch size (%lld) must not be "
                         "negative", p->epochs, (long long)p->batch_size);
    if (!(p->smoothing >= 0 && p->smoothing <= 0.5f))
        return cx__error(CX_ERR_ARG, "GAN fit: label smoothing %g is outside 0..0.5",
                         p->smoothing);
    if (p->resume && p->resume->epoch > p->epochs)
        return cx__error(CX_ERR_ARG, "GAN fit: the checkpoint has %d epochs done, more than the "
                         "%d asked for", p->resume->epoch, p->epochs);
    int64_t shape[CX_MAX_DIMS];
    int nd = cx_dataset_sample_shape(train, shape);
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
    if (cx__numel(nd, shape) != gan->out_numel)
        return cx__error(CX_ERR_SHAPE, "GAN fit: the data's samples %s do not have the "
                         "elements of the generator's pictures %s",
                         cx__shape_str(nd, shape, a, sizeof a),
                         cx__shape_str(gan->out_ndim, gan->out_shape, b, sizeof b));
    if (gan->classes && cx_dataset_num_classes(train) > gan->classes)
        return cx__error(CX_ERR_ARG, "GAN fit: the data has %d classes, the conditional GAN %d%s",
                         cx_dataset_num_classes(train), gan->classes,
                         cx_dataset_labels((cx_dataset *)train) ? "" : " (no labels)");
    if (gan->classes && !cx_dataset_labels((cx_dataset *)train))
        return cx__error(CX_ERR_ARG, "GAN fit: a conditional GAN needs labelled data");
    int ranks = p->distributed ? cx_dist_size() : 1;
    int64_t batch = (p->batch_size ? p->batch_size : 64) * ranks;
    if (cx_dataset_size(train) < batch)
        return cx__error(CX_ERR_ARG, "GAN fit: %lld samples are fewer than one batch of %lld%s",
                         (long long)cx_dataset_size(train), (long long)batch,
                         ranks > 1 ? " (over all ranks)" : "");
    return CX_OK;
}

/* Every rank starts from rank 0's networks; each network gets its own gradient sync. */
static cx_status join_job(gan_run *r) {
    cx_status st = cx_dist_broadcast_model(r->gan->gen);
    if (st == CX_OK) st = cx_dist_broadcast_model(r->gan->disc);
    if (st != CX_OK) return st;
    r->shard.g_sync = cx_grad_sync_new(r->gan->gen, (size_t)CX_FIT_BUCKET_BYTES);
    r->shard.d_sync = cx_grad_sync_new(r->gan->disc, (size_t)CX_FIT_BUCKET_BYTES);
    return r->shard.g_sync && r->shard.d_sync ? CX_OK : cx_last_status();
}

/* Rank 0's end of an epoch: the grid, the watch, the log line and the checkpoint. */
static cx_status finish_epoch(gan_run *r, int epoch, cx_gan_fit_result *res, double seconds,
                              cx_train_state *s) {
    const cx_gan_fit_params *p = r->p;
    cx_status st = CX_OK;
    char grid[4096];
    if (p->grid_dir && (st = write_grid(r, epoch + 1, grid, sizeof grid)) != CX_OK) return st;
    res->watch = (cx_gan_watch){.label_accuracy = NAN};
    if (p->classifier &&
        (st = cx_gan_watch_classify(r->gan, p->classifier, &p->classifier_norm,
                                    p->watch_samples, p->seed + 4, &res->watch)) != CX_OK)
        return st;
    log_epoch(p, epoch + 1, res, seconds, p->grid_dir ? grid : NULL);
    return p->checkpoint_path ? cx_gan_save(p->checkpoint_path, r->gan, r->g_optim, r->d_optim, s)
                              : CX_OK;
}

/* Whether rank 0's clock says the next epoch would pass the time limit (every rank stops
 * together). */
static cx_status time_is_up(const gan_run *r, double elapsed, double last_epoch, bool *up) {
    double v = r->root && r->p->time_limit_s > 0 && elapsed + last_epoch > r->p->time_limit_s;
    cx_status st = r->dist ? cx_dist_share(CX_OK, &v, 1, "GAN fit") : CX_OK;
    *up = v > 0;
    return st;
}

cx_status cx_gan_fit(cx_gan *gan, cx_optim *g_optim, cx_optim *d_optim, const cx_dataset *train,
                     const cx_gan_fit_params *params, cx_gan_fit_result *result) {
    if (!gan || !g_optim || !d_optim || !train || !params)
        return cx__error(CX_ERR_ARG, "GAN fit: NULL argument");
    if (check_params(gan, train, params) != CX_OK) return cx_last_status();
    double t0 = cx__now_s();
    cx_gan_fit_params p = *params;
    if (!p.out) p.out = stdout;
    if (!p.warnings) p.warnings = stderr;
    if (p.batch_size == 0) p.batch_size = 64;
    if (p.watch_samples <= 0) p.watch_samples = 1000;
    cx_train_state s;
    if (p.resume) {
        s = *p.resume;
        p.seed = s.seed;
    } else {
        s = (cx_train_state){.seed = p.seed, .base_lr = cx_optim_get_lr(g_optim),
                             .best_val_loss = INFINITY};
        if (p.data_name) snprintf(s.dataset, sizeof s.dataset, "%s", p.data_name);
        cx_model_seed(gan->gen, p.seed);
        cx_model_seed(gan->disc, p.seed + 1);
        cx_rng_seed(gan->rng, p.seed + 2);
    }
    bool dist = p.distributed && cx_dist_size() > 1;
    /* pictures to -1..1, the range of the generator's tanh */
    bool u8 = cx_tensor_dtype(cx_dataset_samples((cx_dataset *)train)) == CX_DTYPE_U8;
    cx_loader_params lp = {.batch_size = p.batch_size, .shuffle = true, .seed = p.seed,
                           .drop_last = true, .scale = u8 ? 2.0f / 255 : 2.0f, .mean = 1,
                           .std = 1};
    s.normalisation = lp;
    if (dist) lp.shard_rank = cx_dist_rank(), lp.shard_count = cx_dist_size();
    cx_rng *grid_rng = cx_rng_new(p.seed + 3);
    gan_run r = {.gan = gan, .g_optim = g_optim, .d_optim = d_optim, .p = &p,
                 .loader = cx_loader_new(train, &lp), .arena = cx_arena_new(0),
                 .grid_z = grid_rng ? cx_randn(grid_rng, CX_SHAPE(GRID_SIDE * GRID_SIDE,
                                                                  gan->noise))
                                    : NULL,
                 .dist = dist, .root = !p.distributed || cx_dist_is_root()};
    cx_rng_free(grid_rng);
    /* the loss curves keep the first CURVE_MAX epochs of this run */
    int n_epochs = p.epochs - s.epoch < CURVE_MAX ? p.epochs - s.epoch : CURVE_MAX;
    float *curves = cx__calloc((size_t)(2 * (n_epochs > 0 ? n_epochs : 1)) * sizeof *curves);
    cx_status st = r.loader && r.arena && r.grid_z && curves ? CX_OK : cx_last_status();
    if (st == CX_OK && dist) st = join_job(&r);
    cx_gan_fit_result res = {.epochs_run = s.epoch};
    double last_epoch = 0;
    int done = 0;
    for (int epoch = s.epoch; st == CX_OK && epoch < p.epochs; epoch++) {
        double e0 = cx__now_s();
        bool up;
        if ((st = time_is_up(&r, e0 - t0, last_epoch, &up)) != CX_OK) break;
        if (up && done > 0) {
            res.stopped_by_time = true;
            break;
        }
        int64_t steps;
        if ((st = train_epoch(&r, epoch, &res.last, &steps)) != CX_OK) break;
        double seconds = cx__now_s() - e0;
        res.steps_per_s = seconds > 0 ? (float)((double)steps / seconds) : 0;
        if (dist && ((st = cx_dist_broadcast_model_buffers(gan->gen)) != CX_OK ||
                     (st = cx_dist_broadcast_model_buffers(gan->disc)) != CX_OK))
            break;
        if (done < n_epochs) {
            curves[2 * done] = res.last.d_loss;
            curves[2 * done + 1] = res.last.g_loss;
        }
        s.epoch = res.epochs_run = epoch + 1;
        done++;
        st = r.root ? finish_epoch(&r, epoch, &res, seconds, &s) : CX_OK;
        if (dist) st = cx_dist_share(st, NULL, 0, "GAN fit: the end of an epoch on rank 0");
        last_epoch = cx__now_s() - e0;
    }
    int points = done < n_epochs ? done : n_epochs;
    if (st == CX_OK && p.plot_path && points > 0 && r.root) {
        float *d = cx__alloc((size_t)points * 2 * sizeof *d);
        if (!d) st = cx_last_status();
        for (int i = 0; d && i < points; i++)
            d[i] = curves[2 * i], d[points + i] = curves[2 * i + 1];
        if (d) st = plot(p.plot_path, points, d, d + points);
        cx__free(d);
    }
    if (params->resume) *params->resume = s;
    res.seconds = cx__now_s() - t0;
    if (result) *result = res;
    cx_grad_sync_free(r.shard.g_sync);
    cx_grad_sync_free(r.shard.d_sync);
    cx__free(curves);
    cx_tensor_free(r.grid_z);
    cx_arena_free(r.arena);
    cx_loader_free(r.loader);
    return st;
}
