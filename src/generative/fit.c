/*
 * fit.c - training an autoencoder: epochs of shuffled mini-batches (noise for denoising,
 * encode, reparameterise, decode, loss, backward, optimizer step), evaluation after each
 * epoch, the per-epoch log (line or JSON) and a checkpoint of both networks.
 *
 * Each step runs in one arena reset after the step, and the loader writes batches into its
 * own buffers, so steady-state steps allocate nothing. A resumed run continues exactly: the
 * shuffling depends only on (seed, epoch), and the generators of noise, eps and dropout come
 * back from the checkpoint.
 *
 * Distributed (params->distributed in an MPI job): as cx_fit (src/train/fit.c), with both
 * networks' gradients averaged in one cx_grad_sync and the noise and eps of every global
 * sample drawn as one process would draw them.
 */
#include "generative/generative_impl.h"
#include "train/train_impl.h" /* defines: progress bar, cx__now_s, cx__json_number */

#include <math.h>
#include <string.h>

/* Samples as 0..1: u8 / 255 (the loader's default scale), f32 as they are. */
static cx_loader *make_loader(const cx_dataset *d, int64_t batch, bool shuffle, uint64_t seed,
                              bool sharded) {
    cx_loader_params lp = {.batch_size = batch, .shuffle = shuffle, .seed = seed};
    if (sharded) lp.shard_rank = cx_dist_rank(), lp.shard_count = cx_dist_size();
    return cx_loader_new(d, &lp);
}

/* A batch's figures weighted by its rows, summed over ranks when distributed. */
enum { SUM_RECON, SUM_KL, SUM_TOTAL, SUM_MSE, SUM_INPUT_MSE, SUM_SAMPLES, N_SUMS };

/* Shares st and the sums with every rank: CX_OK only if every rank's step worked. */
static cx_status share_sums(bool dist, cx_status st, double *sums, const char *who) {
    return dist ? cx_dist_share(st, sums, N_SUMS, who) : st;
}

static void metrics_from_sums(const double *sums, cx_ae_metrics *out, bool noise) {
    double n = sums[SUM_SAMPLES];
    out->samples = (int64_t)n;
    out->terms = (cx_ae_terms){(float)(sums[SUM_RECON] / n), (float)(sums[SUM_KL] / n),
                               (float)(sums[SUM_TOTAL] / n)};
    out->mse = n > 0 ? (float)(sums[SUM_MSE] / n) : NAN;
    out->input_mse = noise && n > 0 ? (float)(sums[SUM_INPUT_MSE] / n) : NAN;
    if (n <= 0) out->terms = (cx_ae_terms){NAN, NAN, NAN};
}

/* Mean squared error between a and b (same elements), as a float. */
static float mse_of(cx_tensor *a, cx_tensor *b) {
    cx_tensor *bs = cx_reshape(b, a ? a->ndim : 0, a ? a->shape : NULL);
    cx_tensor *l = cx_mse_loss(a, bs, CX_REDUCTION_MEAN);
    float v = l ? cx_tensor_item(l) : NAN;
    cx_tensor_free(l);
    cx_tensor_free(bs);
    return v;
}

static cx_status evaluate(cx_autoencoder *ae, const cx_dataset *d, int64_t batch,
                          uint64_t seed, bool dist, cx_ae_metrics *out) {
    if (!ae || !d || !out || batch < 1)
        return cx__error(CX_ERR_ARG, "cx_autoencoder_evaluate: NULL argument or batch < 1");
    *out = (cx_ae_metrics){.input_mse = NAN};
    int ranks = dist ? cx_dist_size() : 1;
    int64_t own = batch / ranks > 0 ? batch / ranks : 1; /* global batches of batch */
    cx_loader *l = make_loader(d, own, false, 0, dist);
    cx_arena *arena = cx_arena_new(0);
    cx_rng *rng = cx_rng_new(seed);
    cx_status st = l && arena && rng ? CX_OK : cx_last_status();
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    double sums[N_SUMS] = {0};
    cx_tensor *x, *y;
    if (st == CX_OK) cx_loader_start_epoch(l, 0);
    while (st == CX_OK && cx_loader_next(l, &x, &y)) {
        int64_t offset, global;
        cx_loader_shard_rows(l, &offset, &global);
        if (dist) cx__ae_set_batch_shard(ae, offset, global);
        if (!x) continue; /* an empty part, of the last batch: no draws follow */
        cx_arena_begin(arena);
        int64_t b = cx_tensor_dim(x, 0);
        cx_ae_terms t;
        cx_tensor *x_in = cx_autoencoder_add_noise(ae, x, rng);
        cx_tensor *loss = x_in ? cx_autoencoder_loss(ae, x_in, x, rng, &t) : NULL;
        cx_tensor *rec = loss ? cx_autoencoder_reconstruct(ae, x_in) : NULL;
        if (!rec) {
            st = cx_last_status();
        } else {
            sums[SUM_RECON] += (double)t.recon * (double)b;
            sums[SUM_KL] += (double)t.kl * (double)b;
            sums[SUM_TOTAL] += (double)t.total * (double)b;
            sums[SUM_MSE] += (double)mse_of(rec, x) * (double)b;
            if (ae->p.noise > 0) sums[SUM_INPUT_MSE] += (double)mse_of(x_in, x) * (double)b;
            sums[SUM_SAMPLES] += (double)b;
        }
        cx_tensor_free(x_in); /* without noise a reference to the loader's x */
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx__ae_set_batch_shard(ae, 0, 0);
    cx_no_grad_end();
    cx_rng_free(rng);
    cx_arena_free(arena);
    cx_loader_free(l);
    st = share_sums(dist, st, sums, "autoencoder evaluate");
    if (st == CX_OK) metrics_from_sums(sums, out, ae->p.noise > 0);
    return st;
}

cx_status cx_autoencoder_evaluate(cx_autoencoder *ae, const cx_dataset *d, int64_t batch,
                                  uint64_t seed, cx_ae_metrics *out) {
    return evaluate(ae, d, batch, seed, false, out);
}

cx_status cx_autoencoder_evaluate_sharded(cx_autoencoder *ae, const cx_dataset *d,
                                          int64_t batch, uint64_t seed, cx_ae_metrics *out) {
    return evaluate(ae, d, batch, seed, cx_dist_size() > 1, out);
}

/* ---- fit ---- */

typedef struct {
    cx_autoencoder *ae;
    cx_optim *o;
    const cx_ae_fit_params *p;
    cx_loader *loader;
    cx_arena *arena;
    bool dist, root;    /* distributed over more than one rank; rank 0 (or alone) */
    cx_grad_sync *sync; /* dist: both networks' gradients */
    cx_tensor *dummy;   /* dist: one zero sample, run when this rank's part is empty */
} ae_run;

/* Noise, loss and backward on this rank's batch x (NULL: an empty part); adds the batch's
 * terms, weighted by its rows, to sums. */
static cx_status forward_backward(ae_run *r, const char *who, cx_tensor *x, double *sums) {
    cx_autoencoder *ae = r->ae;
    cx_status st = CX_OK;
    int64_t b = x ? cx_tensor_dim(x, 0) : 0, offset = 0, global = b;
    cx_model_zero_grad(ae->enc);
    cx_model_zero_grad(ae->dec);
    if (r->dist) {
        cx_loader_shard_rows(r->loader, &offset, &global);
        cx__ae_set_batch_shard(ae, x ? offset : global - 1, global);
        st = cx_grad_sync_begin(r->sync, b, global);
    }
    /* an empty part: one dummy row makes the draws a real part would (see src/train/fit.c) */
    bool dummy = !x && r->dist;
    if (dummy) cx_no_grad_begin();
    cx_tensor *in = x ? x : r->dummy, *x_in = NULL;
    cx_ae_terms t;
    if (st == CX_OK && in) {
        x_in = cx_autoencoder_add_noise(ae, in, ae->rng);
        cx_tensor *loss = x_in ? cx_autoencoder_loss(ae, x_in, in, ae->rng, &t) : NULL;
        if (!loss)
            st = cx_last_status();
        else if (dummy)
            ;
        else if (!isfinite(t.total))
            st = cx__error(CX_ERR_ARG, "%s: the loss is %s (reconstruction %g, KL %g); training "
                           "stopped (lower the learning rate)", who,
                           isnan(t.total) ? "NaN" : "infinite", t.recon, t.kl);
        else
            st = cx_backward(loss);
        cx_tensor_free(loss);
    }
    if (dummy) cx_no_grad_end();
    cx_tensor_free(x_in); /* without noise a reference to the loader's x */
    if (st == CX_OK && x) {
        sums[SUM_RECON] = (double)t.recon * (double)b;
        sums[SUM_KL] = (double)t.kl * (double)b;
        sums[SUM_TOTAL] = (double)t.total * (double)b;
        sums[SUM_SAMPLES] = (double)b;
    }
    if (!r->dist) return st;
    cx__ae_set_batch_shard(ae, 0, 0);
    cx_status sync = cx_grad_sync_end(r->sync);
    return share_sums(true, st == CX_OK ? sync : st, sums, who);
}

static cx_status train_step(ae_run *r, int epoch, int64_t step, cx_tensor *x, double *sums) {
    char who[80];
    snprintf(who, sizeof who, "autoencoder fit: epoch %d step %lld", epoch + 1, (long long)step);
    double add[N_SUMS] = {0};
    cx_arena_begin(r->arena);
    cx_status st = forward_backward(r, who, x, add);
    if (st == CX_OK) st = cx_optim_step(r->o);
    cx_arena_end(r->arena);
    cx_arena_reset(r->arena);
    for (int i = 0; st == CX_OK && i < N_SUMS; i++)
        sums[i] += add[i];
    return st;
}

static cx_status train_epoch(ae_run *r, int epoch, cx_ae_metrics *out, double *seconds) {
    cx_progress_bar bar;
    cx_progress mode = r->p->json || !r->root ? CX_PROGRESS_NONE : r->p->progress;
    cx__progress_start(&bar, mode, r->p->out, epoch + 1, r->p->epochs,
                       cx_loader_num_batches(r->loader));
    cx_autoencoder_set_training(r->ae, true);
    cx_loader_start_epoch(r->loader, epoch);
    double sums[N_SUMS] = {0};
    int64_t step = 0;
    cx_tensor *x, *y;
    cx_status st = CX_OK;
    while (st == CX_OK && cx_loader_next(r->loader, &x, &y)) {
        if ((st = train_step(r, epoch, ++step, x, sums)) != CX_OK) break;
        double seen = sums[SUM_SAMPLES] > 0 ? sums[SUM_SAMPLES] : 1;
        cx__progress_step(&bar, step, sums[SUM_TOTAL] / seen, NAN, (int64_t)sums[SUM_SAMPLES]);
    }
    cx__progress_finish(&bar);
    cx_autoencoder_set_training(r->ae, false);
    *seconds = cx__now_s() - bar.start;
    metrics_from_sums(sums, out, false);
    out->mse = out->input_mse = NAN;
    return st;
}

/* Rank 0 writes the checkpoint; the others learn whether it worked. */
static cx_status save_checkpoint(const ae_run *r, const cx_train_state *s) {
    cx_status st = r->root ? cx_autoencoder_save(r->p->checkpoint_path, r->ae, r->o, s) : CX_OK;
    double sums[N_SUMS] = {0};
    return share_sums(r->dist, st, sums, "autoencoder fit: the checkpoint on rank 0");
}

static void log_epoch(FILE *out, bool json, int epoch, int epochs, const cx_ae_fit_result *r,
                      double seconds) {
    bool has_val = r->val.samples > 0;
    if (json) {
        fprintf(out, "{\"epoch\": %d, ", epoch);
        cx__json_number(out, "recon_loss", r->train.terms.recon, true);
        cx__json_number(out, "kl", r->train.terms.kl, true);
        cx__json_number(out, "loss", r->train.terms.total, true);
        cx__json_number(out, "val_recon_loss", has_val ? r->val.terms.recon : NAN, true);
        cx__json_number(out, "val_kl", has_val ? r->val.terms.kl : NAN, true);
        cx__json_number(out, "val_loss", has_val ? r->val.terms.total : NAN, true);
        cx__json_number(out, "val_mse", has_val ? r->val.mse : NAN, true);
        cx__json_number(out, "val_input_mse", has_val ? r->val.input_mse : NAN, true);
        cx__json_number(out, "seconds", seconds, true);
        cx__json_number(out, "images_per_s", r->images_per_s, false);
        fputs("}\n", out);
    } else {
        fprintf(out, "epoch %d/%d: loss %.4f (reconstruction %.4f + KL %.4f)", epoch, epochs,
                r->train.terms.total, r->train.terms.recon, r->train.terms.kl);
        if (has_val) {
            fprintf(out, " val_loss %.4f val_mse %.5f", r->val.terms.total, r->val.mse);
            if (!isnan(r->val.input_mse)) fprintf(out, " (noisy input %.5f)", r->val.input_mse);
        }
        fprintf(out, " (%.1fs, %.0f images/s)\n", seconds, r->images_per_s);
    }
    fflush(out);
}

cx_status cx_autoencoder_fit(cx_autoencoder *ae, cx_optim *o, const cx_dataset *train,
                             const cx_dataset *val, const cx_ae_fit_params *params,
                             cx_ae_fit_result *result) {
    if (!ae || !o || !train || !params)
        return cx__error(CX_ERR_ARG, "autoencoder fit: NULL argument");
    if (params->epochs < 0 || params->batch_size < 0)
        return cx__error(CX_ERR_ARG, "autoencoder fit: epochs (%d) and batch size (%lld) must "
                         "not be negative", params->epochs, (long long)params->batch_size);
    if (params->resume && params->resume->epoch > params->epochs)
        return cx__error(CX_ERR_ARG, "autoencoder fit: the checkpoint has %d epochs done, more "
                         "than the %d asked for", params->resume->epoch, params->epochs);
    cx_ae_fit_params p = *params;
    if (!p.out) p.out = stdout;
    if (p.batch_size == 0) p.batch_size = 128;
    cx_train_state s;
    if (p.resume) {
        s = *p.resume;
        p.seed = s.seed;
    } else {
        s = (cx_train_state){.seed = p.seed, .base_lr = cx_optim_get_lr(o),
                             .best_val_loss = INFINITY};
        if (p.data_name) snprintf(s.dataset, sizeof s.dataset, "%s", p.data_name);
        /* one seed, three streams: dropout in each network, noise and eps */
        cx_model_seed(ae->enc, p.seed);
        cx_model_seed(ae->dec, p.seed + 1);
        cx_rng_seed(ae->rng, p.seed + 2);
    }
    ae_run r = {.ae = ae, .o = o, .p = &p, .dist = p.distributed && cx_dist_size() > 1,
                .root = !p.distributed || cx_dist_is_root()};
    r.loader = make_loader(train, p.batch_size, true, p.seed, r.dist);
    r.arena = cx_arena_new(0);
    cx_status st = r.loader && r.arena ? CX_OK : cx_last_status();
    if (st == CX_OK && r.dist) {
        /* every rank starts from rank 0's weights */
        cx_model *both[2] = {ae->enc, ae->dec};
        int64_t shape[CX_MAX_DIMS] = {1};
        int nd = cx_dataset_sample_shape(train, shape + 1);
        if ((st = cx_dist_broadcast_model(ae->enc)) == CX_OK &&
            (st = cx_dist_broadcast_model(ae->dec)) == CX_OK) {
            r.sync = cx_grad_sync_new_many(both, 2, (size_t)CX_FIT_BUCKET_BYTES);
            r.dummy = r.sync ? cx_tensor_new(CX_DTYPE_F32, nd + 1, shape) : NULL;
            if (!r.dummy) st = cx_last_status();
        }
    }
    cx_ae_fit_result res = {.epochs_run = s.epoch};
    for (int epoch = s.epoch; st == CX_OK && epoch < p.epochs; epoch++) {
        double seconds;
        if ((st = train_epoch(&r, epoch, &res.train, &seconds)) != CX_OK) break;
        res.val = (cx_ae_metrics){.mse = NAN, .input_mse = NAN};
        if (r.dist && ((st = cx_dist_broadcast_model_buffers(ae->enc)) != CX_OK ||
                       (st = cx_dist_broadcast_model_buffers(ae->dec)) != CX_OK))
            break;
        if (val && (st = evaluate(ae, val, 256, p.seed, r.dist, &res.val)) != CX_OK) break;
        res.images_per_s = seconds > 0 ? (float)((double)res.train.samples / seconds) : 0;
        if (r.root) log_epoch(p.out, p.json, epoch + 1, p.epochs, &res, seconds);
        float monitored = val ? res.val.terms.total : res.train.terms.total;
        if (monitored < s.best_val_loss) s.best_val_loss = monitored, s.best_epoch = epoch + 1;
        s.epoch = res.epochs_run = epoch + 1;
        if (p.checkpoint_path) st = save_checkpoint(&r, &s);
    }
    if (params->resume) *params->resume = s;
    if (result) *result = res;
    cx_grad_sync_free(r.sync);
    cx_tensor_free(r.dummy);
    cx_arena_free(r.arena);
    cx_loader_free(r.loader);
    return st;
}
