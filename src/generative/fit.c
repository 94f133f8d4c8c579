/*
 * fit.c - training an autoencoder: epochs of shuffled mini-batches (noise for denoising,
 * encode, reparameterise, decode, loss, backward, optimizer step), evaluation after each
 * epoch, the per-epoch log (line or JSON) and a checkpoint of both networks.
 *
 * Each step runs in one arena reset after the step, and the loader writes batches into its
 * own buffers, so steady-state steps allocate nothing. A resumed run continues exactly: the
 * shuffling depends only on (seed, epoch), and the generators of noise, eps and dropout come
 * back from the checkpoint.
 */
#include "generative/generative_impl.h"
#include "train/train_impl.h" /* defines: progress bar, cx__now_s, cx__json_number */

#include <math.h>
#include <string.h>

/* Samples as 0..1: u8 / 255 (the loader's default scale), f32 as they are. */
static cx_loader *make_loader(const cx_dataset *d, int64_t batch, bool shuffle, uint64_t seed) {
    cx_loader_params lp = {.batch_size = batch, .shuffle = shuffle, .seed = seed};
    return cx_loader_new(d, &lp);
}

/* Adds a batch's terms (means over it) weighted by its size b. */
static void add_terms(cx_ae_terms *sum, const cx_ae_terms *t, int64_t b) {
    sum->recon += t->recon * (float)b;
    sum->kl += t->kl * (float)b;
    sum->total += t->total * (float)b;
}

static void mean_terms(cx_ae_terms *t, int64_t n) {
    float k = n > 0 ? 1.0f / (float)n : NAN;
    t->recon *= k, t->kl *= k, t->total *= k;
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

cx_status cx_autoencoder_evaluate(cx_autoencoder *ae, const cx_dataset *d, int64_t batch,
                                  uint64_t seed, cx_ae_metrics *out) {
    if (!ae || !d || !out || batch < 1)
        return cx__error(CX_ERR_ARG, "cx_autoencoder_evaluate: NULL argument or batch < 1");
    *out = (cx_ae_metrics){.input_mse = NAN};
    cx_loader *l = make_loader(d, batch, false, 0);
    cx_arena *arena = cx_arena_new(0);
    cx_rng *rng = cx_rng_new(seed);
    cx_status st = l && arena && rng ? CX_OK : cx_last_status();
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    double mse = 0, input_mse = 0;
    cx_tensor *x, *y;
    if (st == CX_OK) cx_loader_start_epoch(l, 0);
    while (st == CX_OK && cx_loader_next(l, &x, &y)) {
        cx_arena_begin(arena);
        int64_t b = cx_tensor_dim(x, 0);
        cx_ae_terms t;
        cx_tensor *x_in = cx_autoencoder_add_noise(ae, x, rng);
        cx_tensor *loss = x_in ? cx_autoencoder_loss(ae, x_in, x, rng, &t) : NULL;
        cx_tensor *rec = loss ? cx_autoencoder_reconstruct(ae, x_in) : NULL;
        if (!rec) {
            st = cx_last_status();
        } else {
            add_terms(&out->terms, &t, b);
            mse += (double)mse_of(rec, x) * (double)b;
            if (ae->p.noise > 0) input_mse += (double)mse_of(x_in, x) * (double)b;
            out->samples += b;
        }
        cx_tensor_free(x_in); /* without noise a reference to the loader's x */
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx_no_grad_end();
    mean_terms(&out->terms, out->samples);
    out->mse = out->samples ? (float)(mse / (double)out->samples) : NAN;
    if (ae->p.noise > 0 && out->samples) out->input_mse = (float)(input_mse / (double)out->samples);
    cx_rng_free(rng);
    cx_arena_free(arena);
    cx_loader_free(l);
    return st;
}

/* ---- fit ---- */

typedef struct {
    cx_autoencoder *ae;
    cx_optim *o;
    const cx_ae_fit_params *p;
    cx_loader *loader;
    cx_arena *arena;
} ae_run;

static cx_status train_step(ae_run *r, int epoch, int64_t step, cx_tensor *x, cx_ae_terms *t) {
    cx_autoencoder *ae = r->ae;
    cx_status st = CX_OK;
    cx_arena_begin(r->arena);
    cx_model_zero_grad(ae->enc);
    cx_model_zero_grad(ae->dec);
    cx_tensor *x_in = cx_autoencoder_add_noise(ae, x, ae->rng);
    cx_tensor *loss = x_in ? cx_autoencoder_loss(ae, x_in, x, ae->rng, t) : NULL;
    if (!loss)
        st = cx_last_status();
    else if (!isfinite(t->total))
        st = cx__error(CX_ERR_ARG, "autoencoder fit: epoch %d step %lld: the loss is %s "
                       "(reconstruction %g, KL %g); training stopped (lower the learning rate)",
                       epoch + 1, (long long)step, isnan(t->total) ? "NaN" : "infinite",
                       t->recon, t->kl);
    else if ((st = cx_backward(loss)) == CX_OK)
        st = cx_optim_step(r->o);
    cx_tensor_free(x_in); /* without noise a reference to the loader's x */
    cx_arena_end(r->arena);
    cx_arena_reset(r->arena);
    return st;
}

static cx_status train_epoch(ae_run *r, int epoch, cx_ae_metrics *out, double *seconds) {
    cx_progress_bar bar;
    cx__progress_start(&bar, r->p->json ? CX_PROGRESS_NONE : r->p->progress, r->p->out,
                       epoch + 1, r->p->epochs, cx_loader_num_batches(r->loader));
    cx_autoencoder_set_training(r->ae, true);
    cx_loader_start_epoch(r->loader, epoch);
    *out = (cx_ae_metrics){.mse = NAN, .input_mse = NAN};
    int64_t step = 0;
    cx_tensor *x, *y;
    cx_status st = CX_OK;
    while (st == CX_OK && cx_loader_next(r->loader, &x, &y)) {
        cx_ae_terms t;
        if ((st = train_step(r, epoch, ++step, x, &t)) != CX_OK) break;
        add_terms(&out->terms, &t, cx_tensor_dim(x, 0));
        out->samples += cx_tensor_dim(x, 0);
        cx__progress_step(&bar, step, out->terms.total / (double)out->samples, NAN, out->samples);
    }
    cx__progress_finish(&bar);
    cx_autoencoder_set_training(r->ae, false);
    *seconds = cx__now_s() - bar.start;
    mean_terms(&out->terms, out->samples);
    return st;
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
    ae_run r = {.ae = ae, .o = o, .p = &p, .loader = make_loader(train, p.batch_size, true, p.seed),
                .arena = cx_arena_new(0)};
    cx_status st = r.loader && r.arena ? CX_OK : cx_last_status();
    cx_ae_fit_result res = {.epochs_run = s.epoch};
    for (int epoch = s.epoch; st == CX_OK && epoch < p.epochs; epoch++) {
        double seconds;
        if ((st = train_epoch(&r, epoch, &res.train, &seconds)) != CX_OK) break;
        res.val = (cx_ae_metrics){.mse = NAN, .input_mse = NAN};
        if (val && (st = cx_autoencoder_evaluate(ae, val, 256, p.seed, &res.val)) != CX_OK) break;
        res.images_per_s = seconds > 0 ? (float)((double)res.train.samples / seconds) : 0;
        log_epoch(p.out, p.json, epoch + 1, p.epochs, &res, seconds);
        float monitored = val ? res.val.terms.total : res.train.terms.total;
        if (monitored < s.best_val_loss) s.best_val_loss = monitored, s.best_epoch = epoch + 1;
        s.epoch = res.epochs_run = epoch + 1;
        if (p.checkpoint_path) st = cx_autoencoder_save(p.checkpoint_path, ae, o, &s);
    }
    if (params->resume) *params->resume = s;
    if (result) *result = res;
    cx_arena_free(r.arena);
    cx_loader_free(r.loader);
    return st;
}
