/*
 * lm.c - token language models: the model config, training with truncated BPTT and carried
 * state, validation in bits per token, and generation by sampling one token at a time.
 *
 * The model reads [N, T] token ids and gives [N, T, V] scores (an [embedding], a stateful
 * recurrent layer returning every step, a [dense] over the vocabulary); its loss is the mean
 * cross-entropy over every position, so loss / ln 2 is bits per token (per character for a
 * character vocabulary).
 *
 * Distributed (params->distributed in an MPI job): each rank trains on its streams of every
 * global batch and carries their state; gradients are averaged during backward
 * (cx_grad_sync), and one small sum per step shares the loss, whether a rank failed and
 * whether rank 0's time limit is up, so every rank takes the same steps.
 */
#include "cortex_impl.h"
#include "train/train_impl.h" /* defines: cx__now_s, the numeric guard */

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *cx_text_model_config(const cx_text_model_params *p, int64_t vocab_size) {
    cx_text_model_params d = {.arch = "lstm", .layers = 2, .hidden = 128, .embed = 64};
    if (p) {
        if (p->arch) d.arch = p->arch;
        if (p->layers) d.layers = p->layers;
        if (p->hidden) d.hidden = p->hidden;
        if (p->embed) d.embed = p->embed;
        d.dropout = p->dropout;
    }
    if (strcmp(d.arch, "lstm") && strcmp(d.arch, "gru") && strcmp(d.arch, "rnn"))
        return cx__error(CX_ERR_ARG, "text model: arch '%s'; choose lstm, gru or rnn", d.arch),
               NULL;
    if (!(d.dropout >= 0 && d.dropout < 1) || d.layers < 1 || d.layers > 8)
        return cx__error(CX_ERR_ARG, "text model: dropout %g, layers %lld; dropout must be in "
                         "[0, 1) and layers 1 to 8", d.dropout, (long long)d.layers), NULL;
    size_t size = 1024;
    char *text = malloc(size);
    if (!text) return cx__error(CX_ERR_OOM, "text model: out of memory"), NULL;
    int used = snprintf(text, size, "[model]\ninput = none\n[embedding]\nvocab = %lld\n"
                        "dim = %lld\n", (long long)vocab_size, (long long)d.embed);
    /* one section for the whole stack, or one per layer with dropout after each */
    int64_t sections = d.dropout > 0 ? d.layers : 1;
    for (int64_t k = 0; k < sections; k++) {
        used += snprintf(text + used, size - (size_t)used, "[%s]\nhidden = %lld\nlayers = %lld\n"
                         "return_sequences = true\nstateful = true\n", d.arch,
                         (long long)d.hidden, (long long)(d.layers / sections));
        if (d.dropout > 0)
            used += snprintf(text + used, size - (size_t)used, "[dropout]\nrate = %g\n",
                             (double)d.dropout);
    }
    snprintf(text + used, size - (size_t)used, "[dense]\nunits = %lld\n", (long long)vocab_size);
    return text;
}

cx_status cx_text_evaluate(cx_model *m, cx_tensor *ids, int64_t batch, int64_t seq,
                           float *bits) {
    cx_text_loader *l = cx_text_loader_new(ids, batch, seq);
    cx_arena *arena = l ? cx_arena_new(0) : NULL;
    if (!arena) {
        cx_text_loader_free(l);
        return cx_last_status();
    }
    bool was_training = cx_model_training(m);
    cx_model_set_training(m, false);
    cx_model_reset_states(m);
    cx_no_grad_begin();
    double total = 0;
    int64_t n = 0;
    cx_tensor *x, *y;
    cx_status st = CX_OK;
    while (st == CX_OK && cx_text_loader_next(l, &x, &y)) {
        cx_arena_begin(arena);
        cx_tensor *loss = cx_model_loss(m, x, y, NULL);
        if (loss) total += cx_tensor_item(loss), n++;
        else st = cx_last_status();
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx_no_grad_end();
    cx_model_reset_states(m);
    cx_model_set_training(m, was_training);
    cx_arena_free(arena);
    cx_text_loader_free(l);
    if (st == CX_OK && bits) *bits = (float)(total / (double)n / log(2.0));
    return st;
}

/* Each held-out piece is at least CX_TEXT_VAL_PIECE tokens, so that few predictions follow a
 * seam between pieces. */
cx_status cx_text_split(const cx_tensor *ids, float fraction, cx_tensor **train,
                        cx_tensor **val) {
    if (!train || !val) return cx__error(CX_ERR_ARG, "cx_text_split: NULL output");
    *train = *val = NULL;
    if (!cx__check("cx_text_split", "ids", ids)) return cx_last_status();
    if (ids->dtype != CX_DTYPE_I32 || ids->ndim != 1)
        return cx__error(CX_ERR_ARG, "cx_text_split: ids must be i32 [n], got %s with %d "
                         "dimensions", cx_dtype_name(ids->dtype), ids->ndim);
    if (!(fraction > 0 && fraction < 0.5f))
        return cx__error(CX_ERR_ARG, "cx_text_split: fraction %g; must be in (0, 0.5)",
                         fraction);
    int64_t n = cx_tensor_numel(ids), n_val = 0;
    int64_t places = (int64_t)((double)n * fraction) / CX_TEXT_VAL_PIECE;
    places = places < 1 ? 1 : places > CX_TEXT_VAL_PLACES ? CX_TEXT_VAL_PLACES : places;
    for (int64_t k = 0; k < places; k++)
        n_val += (int64_t)((double)((k + 1) * n / places - k * n / places) * fraction);
    int32_t *all = cx__alloc((size_t)n * sizeof *all);
    *train = all ? cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n - n_val)) : NULL;
    *val = *train ? cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n_val)) : NULL;
    if (!*val) {
        cx__free(all);
        cx_tensor_free(*train);
        *train = NULL;
        return cx_last_status();
    }
    cx__copy_strided(ids, all);
    int32_t *t = cx__i32(*train), *v = cx__i32(*val);
    for (int64_t k = 0; k < places; k++) {
        int64_t start = k * n / places, end = (k + 1) * n / places;
        int64_t held = (int64_t)((double)(end - start) * fraction);
        memcpy(t, all + start, (size_t)(end - start - held) * sizeof *t);
        t += end - start - held;
        memcpy(v, all + end - held, (size_t)held * sizeof *v);
        v += held;
    }
    cx__free(all);
    return CX_OK;
}

cx_status cx_text_train(cx_model *m, cx_optim *o, const cx_vocab *v, cx_tensor *ids,
                        const cx_text_train_params *params, cx_text_train_result *result) {
    (void)v;
    cx_text_train_params p = params ? *params : (cx_text_train_params){0};
    if (!p.seq) p.seq = 40;
    if (!p.batch) p.batch = 64;
    if (!p.epochs) p.epochs = 10;
    if (p.clip_norm == 0) p.clip_norm = 5.0f;
    if (p.val_fraction == 0) p.val_fraction = 0.05f;
    if (p.lr_decay == 0) p.lr_decay = 1;
    if (!p.out) p.out = stdout;
    if (!m || !o || !cx__check("text train", "ids", ids))
        return cx__error(CX_ERR_ARG, "text train: NULL model, optimizer or ids");
    if (!(p.val_fraction > 0 && p.val_fraction < 0.5f))
        return cx__error(CX_ERR_ARG, "text train: val_fraction %g; must be in (0, 0.5)",
                         p.val_fraction);
    if (!(p.lr_decay > 0 && p.lr_decay <= 1))
        return cx__error(CX_ERR_ARG, "text train: lr_decay %g; must be in (0, 1]", p.lr_decay);
    bool dist = p.distributed && cx_dist_size() > 1, root = !p.distributed || cx_dist_is_root();
    int ranks = dist ? cx_dist_size() : 1;
    cx_tensor *train_ids = NULL, *val_ids = NULL;
    if (cx_text_split(ids, p.val_fraction, &train_ids, &val_ids) != CX_OK)
        return cx_last_status();
    /* validation as one process with the global batch would do it, on every rank */
    int64_t val_batch = p.batch * ranks;
    while (val_batch > 1 && cx_tensor_numel(val_ids) < val_batch * p.seq + 1) val_batch /= 2;
    cx_text_loader *l = cx_text_loader_new_shard(train_ids, p.batch, p.seq,
                                                 dist ? cx_dist_rank() : 0, ranks);
    cx_arena *arena = l ? cx_arena_new(0) : NULL;
    cx_tensor **params_list = arena ? cx__alloc(64 * sizeof *params_list) : NULL;
    cx_status st = params_list ? CX_OK : cx_last_status();
    cx_grad_sync *sync = NULL;
    if (st == CX_OK && dist && (st = cx_dist_broadcast_model(m)) == CX_OK &&
        !(sync = cx_grad_sync_new(m, (size_t)CX_FIT_BUCKET_BYTES)))
        st = cx_last_status();
    if (st == CX_OK && cx_model_num_param_tensors(m) > 64)
        st = cx__error(CX_ERR_ARG, "text train: the model has over 64 parameter tensors");
    int n_params = st == CX_OK ? cx_model_trainable_params(m, params_list) : 0;
    cx_text_train_result r = {0};
    r.val_bits = r.best_val_bits = NAN;
    double t_start = cx__now_s();
    int64_t tokens = 0;
    for (int epoch = 0; st == CX_OK && epoch < p.epochs; epoch++) {
        cx_text_loader_rewind(l);
        cx_model_reset_states(m);
        cx_model_set_training(m, true);
        double t0 = cx__now_s(), sum = 0;
        int64_t steps = 0;
        bool out_of_time = false;
        cx_tensor *x, *y;
        while (st == CX_OK && cx_text_loader_next(l, &x, &y)) {
            cx_arena_begin(arena);
            cx_optim_zero_grad(o);
            char who[64];
            snprintf(who, sizeof who, "text train: epoch %d step %lld", epoch + 1,
                     (long long)steps + 1);
            if (dist) {
                cx_model_set_batch_shard(m, (int64_t)cx_dist_rank() * p.batch,
                                         (int64_t)ranks * p.batch);
                st = cx_grad_sync_begin(sync, p.batch, (int64_t)ranks * p.batch);
            }
            cx_tensor *loss = st == CX_OK ? cx_model_loss(m, x, y, NULL) : NULL;
            float lv = loss ? cx_tensor_item(loss) : NAN;
            if (st == CX_OK && (!loss || cx__guard_loss(m, who, lv, x, y) != CX_OK ||
                                cx_backward(loss) != CX_OK))
                st = cx__guard_error(who);
            bool time_up = p.max_seconds > 0 && cx__now_s() - t_start >= p.max_seconds;
            if (dist) {
                /* every rank reduces, then all learn the mean loss, failures and rank 0's clock */
                cx_model_set_batch_shard(m, 0, 0);
                cx_status sync_st = cx_grad_sync_end(sync);
                if (st == CX_OK) st = sync_st;
                double shared[2] = {lv, root && time_up};
                st = cx_dist_share(st, shared, 2, who);
                lv = (float)(shared[0] / ranks);
                time_up = shared[1] > 0;
            }
            if (st == CX_OK && cx__guard_grads(m, who) != CX_OK) st = cx__guard_error(who);
            float norm = st == CX_OK ? cx_clip_grad_norm(params_list, n_params, p.clip_norm) : 0;
            if (st == CX_OK && !isfinite(norm))
                st = cx__error(CX_ERR_NUMERIC, "%s: the gradient norm is not finite; "
                               CX_GUARD_STOPPED " (try a lower --lr)", who);
            if (st == CX_OK) st = cx_optim_step(o);
            cx_arena_end(arena);
            cx_arena_reset(arena);
            sum += lv;
            steps++;
            tokens += p.batch * p.seq * ranks;
            if (!p.json && root && steps % 100 == 0)
                fprintf(p.out, "  epoch %d step %lld/%lld: %.3f bits per token\n", epoch + 1,
                        (long long)steps, (long long)cx_text_loader_num_batches(l),
                        sum / steps / log(2.0));
            if (time_up) {
                out_of_time = true;
                break;
            }
        }
        if (st != CX_OK) break;
        double secs = cx__now_s() - t0;
        r.epochs_run = epoch + 1;
        r.steps += steps;
        r.train_bits = (float)(sum / (steps ? steps : 1) / log(2.0));
        st = cx_text_evaluate(m, val_ids, val_batch, p.seq, &r.val_bits);
        if (st != CX_OK) break;
        r.chars_per_s = (double)steps * p.batch * p.seq * ranks / secs;
        if (!root)
            ;
        else if (p.json)
            fprintf(p.out, "{\"epoch\": %d, \"steps\": %lld, \"train_bits\": %.4f, "
                    "\"val_bits\": %.4f, \"lr\": %.6g, \"seconds\": %.2f, \"tokens_per_s\": %.0f}\n",
                    epoch + 1, (long long)steps, r.train_bits, r.val_bits,
                    (double)cx_optim_get_lr(o), secs, r.chars_per_s);
        else
            fprintf(p.out, "epoch %d: train %.3f, validation %.3f bits per token (%.1f s, "
                    "%.0f tokens/s)\n", epoch + 1, r.train_bits, r.val_bits, secs, r.chars_per_s);
        fflush(p.out);
        bool best = !(r.best_val_bits <= r.val_bits); /* NaN before the first epoch */
        if (best) r.best_val_bits = r.val_bits, r.best_epoch = epoch + 1;
        if (p.checkpoint_path && best) {
            cx_train_state ts = {.epoch = epoch + 1, .seed = p.seed,
                                 .best_val_loss = (float)(r.val_bits * log(2.0)),
                                 .best_epoch = epoch + 1, .base_lr = cx_optim_get_lr(o)};
            st = root ? cx_text_save(p.checkpoint_path, m, o, &ts, v) : CX_OK;
            if (dist) { /* all go on, or all stop, as rank 0's write went */
                double failed = st != CX_OK;
                cx_status sum = cx_dist_sum_f64(&failed, 1);
                if (st == CX_OK && sum != CX_OK) st = sum;
                if (st == CX_OK && failed > 0)
                    st = cx__error(CX_ERR_IO, "text train: rank 0 could not write the checkpoint "
                                   "%s; training stopped", p.checkpoint_path);
            }
        }
        if (st == CX_OK && p.lr_decay != 1)
            st = cx_optim_set_lr(o, cx_optim_get_lr(o) * p.lr_decay);
        if (out_of_time) break;
    }
    r.seconds = cx__now_s() - t_start;
    if (r.seconds > 0) r.chars_per_s = (double)tokens / r.seconds;
    cx_model_reset_states(m);
    cx_grad_sync_free(sync);
    cx__free(params_list);
    cx_arena_free(arena);
    cx_text_loader_free(l);
    cx_tensor_free(train_ids);
    cx_tensor_free(val_ids);
    if (result) *result = r;
    return st;
}

/* Feeds ids [count] as one sequence and samples the next token from the last position. */
static int64_t feed(cx_model *m, const int32_t *ids, int64_t count, float temperature,
                    int64_t top_k, cx_rng *rng) {
    cx_tensor *x = cx_from_data(CX_DTYPE_I32, CX_SHAPE(1, count), ids);
    cx_tensor *y = x ? cx_model_forward(m, x) : NULL;
    int64_t next = -1;
    if (y && cx_tensor_ndim(y) == 3) {
        int64_t V = cx_tensor_dim(y, 2);
        next = cx_sample_logits(cx_tensor_f32(y) + (count - 1) * V, V, temperature, top_k, rng);
    } else if (y) {
        cx__error(CX_ERR_ARG, "generate: the model's output is not [N, T, vocabulary]");
    }
    cx_tensor_free(x);
    cx_tensor_free(y);
    return next;
}

cx_status cx_text_generate(cx_model *m, const cx_vocab *v, const char *prime, int64_t length,
                           float temperature, int64_t top_k, cx_rng *rng, FILE *out) {
    if (!m || !v || !out || length < 0)
        return cx__error(CX_ERR_ARG, "generate: NULL model, vocabulary or output, or a "
                         "negative length");
    cx_arena *arena = cx_arena_new(0);
    if (!arena) return cx_last_status();
    cx_arena_begin(arena);
    cx_model_set_training(m, false);
    cx_model_reset_states(m);
    cx_no_grad_begin();
    cx_status st = CX_OK;
    cx_tensor *ids = prime && *prime ? cx_vocab_encode(v, prime, strlen(prime)) : NULL;
    int64_t next;
    if (prime && *prime && !ids) {
        st = cx_last_status();
        next = -1;
    } else if (ids && cx_tensor_numel(ids) > 0) {
        fputs(prime, out);
        next = feed(m, cx__i32(ids), cx_tensor_numel(ids), temperature, top_k, rng);
    } else {
        next = (int64_t)(cx_rng_u32(rng ? rng : cx_rng_default()) % (uint32_t)cx_vocab_size(v));
        fputs(cx_vocab_token(v, next), out);
        int32_t id = (int32_t)next;
        next = feed(m, &id, 1, temperature, top_k, rng);
    }
    for (int64_t k = 0; st == CX_OK && k < length; k++) {
        cx_arena_end(arena); /* the state lives on the heap: each step's tensors go */
        cx_arena_reset(arena);
        cx_arena_begin(arena);
        if (next < 0 || next >= cx_vocab_size(v)) {
            st = cx_last_status() != CX_OK ? cx_last_status()
                                           : cx__error(CX_ERR_ARG, "generate: the model gives "
                                                       "scores for more tokens than the "
                                                       "vocabulary holds");
            break;
        }
        fputs(cx_vocab_token(v, next), out);
        if (k + 1 < length) {
            int32_t id = (int32_t)next;
            next = feed(m, &id, 1, temperature, top_k, rng);
        }
    }
    fputc('\n', out);
    cx_no_grad_end();
    cx_model_reset_states(m);
    cx_arena_end(arena);
    cx_arena_free(arena);
    return st;
}
