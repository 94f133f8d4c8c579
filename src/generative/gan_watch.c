/*
 * gan_watch.c - what a GAN's samples look like to a classifier: the class histogram of
 * generated samples, its entropy and the share of the largest class (mode collapse shows as
 * one class taking most samples; a healthy generator spreads them, log2 10 = 3.32 bits for
 * ten even digit classes), the classifier's confidence, and for a conditional GAN how often
 * the sample is the class asked for. Also the fixed-noise sample grid.
 */
#include "generative/generative_impl.h"

#include <math.h>
#include <string.h>

cx_status cx_gan_watch_summarise(cx_gan_watch *w) {
    if (!w) return cx__error(CX_ERR_ARG, "cx_gan_watch_summarise: NULL argument");
    if (w->classes < 1 || w->classes > CX_GAN_MAX_CLASSES)
        return cx__error(CX_ERR_ARG, "GAN watch: %d classes; need 1 to %d", w->classes,
                         CX_GAN_MAX_CLASSES);
    int64_t total = 0;
    for (int c = 0; c < w->classes; c++) {
        if (w->counts[c] < 0)
            return cx__error(CX_ERR_ARG, "GAN watch: class %d has a negative count", c);
        total += w->counts[c];
    }
    if (total == 0) return cx__error(CX_ERR_ARG, "GAN watch: no samples counted");
    w->samples = total;
    w->top_class = 0;
    double h = 0;
    for (int c = 0; c < w->classes; c++) {
        if (w->counts[c] > w->counts[w->top_class]) w->top_class = c;
        double p = (double)w->counts[c] / (double)total;
        if (p > 0) h -= p * log2(p);
    }
    w->entropy = (float)h;
    w->top_share = (float)((double)w->counts[w->top_class] / (double)total);
    w->collapse = w->top_share > 0.5f;
    return CX_OK;
}

/* Generated pictures g in -1..1 as the classifier's inputs: ((g + 1) / 2 - mean) / std. */
static cx_tensor *as_pixels(cx_tensor *g, const cx_loader_params *norm) {
    float mean = norm ? norm->mean : 0.0f, std = norm && norm->std > 0 ? norm->std : 1.0f;
    /* (g + 1) / 2 - mean) / std = g * a + c */
    float a = 0.5f / std, c = (0.5f - mean) / std;
    cx_tensor *t = cx_mul_scalar(g, a), *out = cx_add_scalar(t, c);
    cx_tensor_free(t);
    return out;
}

#define WATCH_BATCH 250

cx_status cx_gan_watch_classify(cx_gan *gan, cx_model *classifier, const cx_loader_params *norm,
                                int64_t n, uint64_t seed, cx_gan_watch *out) {
    if (!gan || !classifier || !out)
        return cx__error(CX_ERR_ARG, "cx_gan_watch_classify: NULL argument");
    if (n < 1 || n > (1 << 20))
        return cx__error(CX_ERR_ARG, "GAN watch: %lld samples; need 1 to %d", (long long)n,
                         1 << 20);
    int64_t cout[CX_MAX_DIMS], cin[CX_MAX_DIMS];
    int nd_out = cx_model_output_shape(classifier, cout);
    int nd_in = cx_model_input_shape(classifier, cin);
    char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX], c[CX_SHAPE_STR_MAX];
    if (nd_out != 1 || cout[0] < 1 || cout[0] > CX_GAN_MAX_CLASSES ||
        cx__numel(nd_in, cin) != gan->out_numel)
        return cx__error(CX_ERR_SHAPE, "GAN watch: the classifier takes %s and gives %s; it "
                         "needs the generator's pictures %s and one output per class (1 to %d)",
                         cx__shape_str(nd_in, cin, a, sizeof a),
                         cx__shape_str(nd_out, cout, b, sizeof b),
                         cx__shape_str(gan->out_ndim, gan->out_shape, c, sizeof c),
                         CX_GAN_MAX_CLASSES);
    *out = (cx_gan_watch){.classes = (int)cout[0], .label_accuracy = NAN};
    int k = (int)cout[0];
    /* the classifier's output: probabilities after a final softmax, their logs after a
     * log_softmax, else logits */
    const char *last = cx_model_layer_kind(classifier, cx_model_num_layers(classifier) - 1);
    char ends = !last ? 0 : strcmp(last, "softmax") == 0 ? 's'
                          : strcmp(last, "log_softmax") == 0 ? 'l' : 0;
    bool was_training = cx_model_training(classifier);
    cx_model_set_training(classifier, false);
    cx_rng *rng = cx_rng_new(seed);
    cx_arena *arena = cx_arena_new(0);
    cx_status st = rng && arena ? CX_OK : cx_last_status();
    double top_sum = 0;
    int64_t right = 0;
    for (int64_t done = 0; st == CX_OK && done < n; done += WATCH_BATCH) {
        int64_t m = n - done < WATCH_BATCH ? n - done : WATCH_BATCH;
        cx_arena_begin(arena);
        cx_no_grad_begin();
        cx_tensor *labels = NULL;
        if (gan->classes) {
            labels = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(m));
            for (int64_t i = 0; labels && i < m; i++)
                cx__i32(labels)[i] = (int32_t)((done + i) % gan->classes);
        }
        cx_tensor *g = cx_gan_sample(gan, m, labels, rng);
        cx_tensor *px = g ? as_pixels(g, norm) : NULL;
        int64_t shape[CX_MAX_DIMS] = {m};
        memcpy(shape + 1, cin, (size_t)nd_in * sizeof *cin);
        cx_tensor *xs = px ? cx_reshape(px, nd_in + 1, shape) : NULL;
        cx_tensor *logits = xs ? cx_model_forward(classifier, xs) : NULL;
        cx_tensor *probs = !logits ? NULL
                           : ends == 's' ? (cx__tensor_retain(logits), logits)
                           : ends == 'l' ? cx_exp(logits) : cx_softmax(logits, 1);
        cx_tensor *pc = probs ? cx_contiguous(probs) : NULL;
        if (!pc) st = cx_last_status();
        for (int64_t i = 0; pc && i < m; i++) {
            const float *p = cx__f32(pc) + i * k;
            int best = 0;
            for (int c = 1; c < k; c++)
                if (p[c] > p[best]) best = c;
            out->counts[best]++;
            top_sum += p[best];
            if (labels) right += best == cx__i32(labels)[i];
        }
        cx_no_grad_end();
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx_arena_free(arena);
    cx_rng_free(rng);
    cx_model_set_training(classifier, was_training);
    if (st != CX_OK) return st;
    out->mean_top_prob = (float)(top_sum / (double)n);
    if (gan->classes) out->label_accuracy = (float)right / (float)n;
    return cx_gan_watch_summarise(out);
}

cx_tensor *cx_gan_picture_grid(cx_gan *gan, cx_tensor *z, cx_tensor *labels, int columns) {
    if (!gan) return cx__error(CX_ERR_ARG, "cx_gan_picture_grid: the GAN is NULL"), NULL;
    if (!cx__check_f32("cx_gan_picture_grid", "z", z)) return NULL;
    if (columns < 0 || columns > 1000)
        return cx__error(CX_ERR_ARG, "cx_gan_picture_grid: %d columns; need 0 to 1000",
                         columns), NULL;
    int64_t n = z->ndim == 2 ? z->shape[0] : 0;
    int cols = columns ? columns : (int)ceil(sqrt((double)(n > 0 ? n : 1)));
    bool training = cx_model_training(gan->gen);
    cx_model_set_training(gan->gen, false);
    cx_no_grad_begin();
    cx_tensor *own = NULL;
    if (gan->classes && !labels && n > 0) {
        own = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
        for (int64_t i = 0; own && i < n; i++)
            cx__i32(own)[i] = (int32_t)((i / cols) % gan->classes);
        labels = own;
    }
    cx_tensor *g = cx_gan_generate(gan, z, labels);
    cx_tensor *px = g ? as_pixels(g, NULL) : NULL;
    cx_no_grad_end();
    cx_model_set_training(gan->gen, training);
    cx_tensor *grid = NULL;
    if (px && gan->out_ndim == 3 && (gan->out_shape[0] == 1 || gan->out_shape[0] == 3))
        grid = cx_image_grid(px, cols, 2, false);
    else if (px) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "cx_gan_picture_grid: the generator's samples %s are not "
                  "pictures [C, H, W] with 1 or 3 channels",
                  cx__shape_str(gan->out_ndim, gan->out_shape, s, sizeof s));
    }
    cx_tensor *tmp[] = {own, g, px};
    for (int i = 0; i < 3; i++) cx_tensor_free(tmp[i]);
    return grid;
}
