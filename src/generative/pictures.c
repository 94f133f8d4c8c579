/*
 * pictures.c - what an autoencoder learnt, as pictures: reconstructions (input, output and
 * difference rows; for denoising noisy, output and clean), a grid decoded over the 2-D latent
 * plane, interpolations between pairs, random samples from the prior. Each is a batch of
 * decoded samples laid out by cx_image_grid; everything runs without gradients.
 */
#include "generative/generative_impl.h"

#include <math.h>
#include <string.h>

#define PAD 2

/* The encoder's input as pictures: [C, H, W] itself, or a flat square side x side grey. */
static bool picture_shape(const cx_autoencoder *ae, int64_t chw[3]) {
    if (ae->in_ndim == 3) {
        memcpy(chw, ae->in_shape, 3 * sizeof *chw);
        return chw[0] == 1 || chw[0] == 3;
    }
    int64_t side = (int64_t)llround(sqrt((double)ae->in_numel));
    chw[0] = 1, chw[1] = chw[2] = side;
    return side * side == ae->in_numel;
}

/* Lays the batch out in rows of columns; consumes the reference to batch. */
static cx_tensor *grid_of(cx_autoencoder *ae, cx_tensor *batch, int columns) {
    int64_t chw[3];
    cx_tensor *grid = NULL;
    if (!picture_shape(ae, chw)) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_UNSUPPORTED, "autoencoder pictures: samples %s are not pictures ([C,H,W] "
                  "with 1 or 3 channels, or a flat square)",
                  cx__shape_str(ae->in_ndim, ae->in_shape, s, sizeof s));
    } else if (batch) {
        cx_tensor *b = cx__ae_as(batch, 3, chw);
        grid = cx_image_grid(b, columns, PAD, false);
        cx_tensor_free(b);
    }
    cx_tensor_free(batch);
    return grid;
}

static bool check(cx_autoencoder *ae, const char *what) {
    if (ae) return true;
    cx__error(CX_ERR_ARG, "%s: the autoencoder is NULL", what);
    return false;
}

cx_tensor *cx_autoencoder_picture_reconstructions(cx_autoencoder *ae, cx_tensor *x,
                                                  cx_rng *rng) {
    if (!check(ae, "reconstruction picture") || !cx__check("reconstruction picture", "x", x))
        return NULL;
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    cx_tensor *xs = cx__ae_as(x, ae->in_ndim, ae->in_shape);
    cx_tensor *x_in = cx_autoencoder_add_noise(ae, xs, rng);
    cx_tensor *out = cx_autoencoder_reconstruct(ae, x_in);
    cx_tensor *diff = NULL;
    cx_tensor *rows[3] = {x_in, out, xs};
    if (ae->p.noise <= 0) {
        cx_tensor *d = cx_sub(xs, out);
        rows[2] = diff = cx_abs(d);
        cx_tensor_free(d);
    }
    cx_tensor *all = out && rows[2] ? cx_concat(rows, 3, 0) : NULL;
    cx_tensor *grid = all ? grid_of(ae, all, (int)cx_tensor_dim(x, 0)) : NULL;
    cx_no_grad_end();
    cx_tensor *tmp[] = {xs, x_in, out, diff};
    for (int i = 0; i < 4; i++) cx_tensor_free(tmp[i]);
    return grid;
}

cx_tensor *cx_autoencoder_picture_latent_grid(cx_autoencoder *ae, int n, const float lo[2],
                                              const float hi[2]) {
    if (!check(ae, "latent grid picture")) return NULL;
    if (ae->latent != 2)
        return cx__error(CX_ERR_UNSUPPORTED, "latent grid picture: the latent has %lld elements; "
                         "a plane needs 2", (long long)ae->latent), NULL;
    if (n < 2 || n > 100 || !lo || !hi || !isfinite(lo[0]) || !isfinite(lo[1]) ||
        !isfinite(hi[0]) || !isfinite(hi[1]))
        return cx__error(CX_ERR_ARG, "latent grid picture: needs 2 to 100 pictures a side and "
                         "finite bounds"), NULL;
    cx_tensor *z = cx_tensor_new(CX_DTYPE_F32, CX_SHAPE((int64_t)n * n, 2));
    if (!z) return NULL;
    float *v = cx_tensor_f32(z);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            v[2 * (i * n + j)] = lo[0] + (hi[0] - lo[0]) * (float)j / (float)(n - 1);
            v[2 * (i * n + j) + 1] = hi[1] - (hi[1] - lo[1]) * (float)i / (float)(n - 1);
        }
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    cx_tensor *grid = grid_of(ae, cx_autoencoder_decode(ae, z), n);
    cx_no_grad_end();
    cx_tensor_free(z);
    return grid;
}

cx_tensor *cx_autoencoder_picture_interpolations(cx_autoencoder *ae, cx_tensor *a, cx_tensor *b,
                                                 int steps) {
    if (!check(ae, "interpolation picture") || !cx__check("interpolation picture", "a", a) ||
        !cx__check("interpolation picture", "b", b))
        return NULL;
    if (steps < 2 || steps > 100 || a->ndim < 1 || b->ndim < 1 || a->shape[0] != b->shape[0])
        return cx__error(CX_ERR_ARG, "interpolation picture: needs as many a as b and 2 to 100 "
                         "steps"), NULL;
    int64_t pairs = a->shape[0], l = ae->latent;
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    cx_tensor *za = cx_autoencoder_encode(ae, a, NULL), *zb = cx_autoencoder_encode(ae, b, NULL);
    cx_tensor *fa = cx_reshape(za, CX_SHAPE(pairs, l)), *fb = cx_reshape(zb, CX_SHAPE(pairs, l));
    cx_tensor *ca = cx_contiguous(fa), *cb = cx_contiguous(fb);
    cx_tensor *z = ca && cb ? cx_tensor_new(CX_DTYPE_F32, CX_SHAPE(pairs * steps, l)) : NULL;
    cx_tensor *grid = NULL;
    if (z) {
        const float *pa = cx_tensor_f32(ca), *pb = cx_tensor_f32(cb);
        float *v = cx_tensor_f32(z);
        for (int64_t p = 0; p < pairs; p++)
            for (int s = 0; s < steps; s++) {
                float t = (float)s / (float)(steps - 1);
                for (int64_t k = 0; k < l; k++)
                    v[(p * steps + s) * l + k] = pa[p * l + k] + t * (pb[p * l + k] - pa[p * l + k]);
            }
        grid = grid_of(ae, cx_autoencoder_decode(ae, z), steps);
    }
    cx_no_grad_end();
    cx_tensor *tmp[] = {za, zb, fa, fb, ca, cb, z};
    for (int i = 0; i < 7; i++) cx_tensor_free(tmp[i]);
    return grid;
}

cx_tensor *cx_autoencoder_picture_samples(cx_autoencoder *ae, int64_t n, int columns,
                                          cx_rng *rng) {
    if (!check(ae, "sample picture")) return NULL;
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    cx_tensor *s = cx_autoencoder_sample(ae, n, rng);
    cx_tensor *grid = s ? grid_of(ae, s, columns) : NULL;
    cx_no_grad_end();
    return grid;
}

cx_tensor *cx_autoencoder_encode_dataset(cx_autoencoder *ae, const cx_dataset *d,
                                         int64_t batch) {
    if (!check(ae, "cx_autoencoder_encode_dataset")) return NULL;
    if (!d || batch < 1)
        return cx__error(CX_ERR_ARG, "cx_autoencoder_encode_dataset: NULL dataset or batch < 1"),
               NULL;
    cx_loader_params lp = {.batch_size = batch};
    cx_loader *l = cx_loader_new(d, &lp);
    cx_arena *arena = cx_arena_new(0);
    /* the result outlives the per-batch arena: made on the caller's side of it */
    cx_tensor *out = l && arena ? cx_tensor_new(CX_DTYPE_F32, CX_SHAPE(cx_dataset_size(d),
                                                                       ae->latent))
                                : NULL;
    cx_autoencoder_set_training(ae, false);
    cx_no_grad_begin();
    int64_t row = 0;
    cx_tensor *x, *y;
    if (out) cx_loader_start_epoch(l, 0);
    while (out && cx_loader_next(l, &x, &y)) {
        cx_arena_begin(arena);
        cx_tensor *z = cx_autoencoder_encode(ae, x, NULL);
        int64_t b = cx_tensor_dim(x, 0);
        if (!z || cx_tensor_copy_to(z, cx_tensor_f32(out) + row * ae->latent,
                                    (size_t)(b * ae->latent) * sizeof(float)) != CX_OK) {
            cx_tensor_free(out);
            out = NULL;
        }
        row += b;
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx_no_grad_end();
    cx_arena_free(arena);
    cx_loader_free(l);
    return out;
}
