/*
 * ae_pictures.c - the picture set of `cortex autoencoder` and `cortex vae`, drawn from the
 * test split: reconstructions.png (or denoising.png), latent_scatter.png and latent_grid.png
 * (2-D latents only), interpolations.png, and samples.png (VAE only). Everything runs inside
 * one arena freed at the end, so the intermediate tensors need no freeing.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_RECON 10  /* samples in the reconstruction rows */
#define N_PAIRS 5   /* interpolation rows */
#define STEPS 10    /* pictures per interpolation row */
#define GRID 15     /* latent grid: pictures a side */
#define N_SAMPLES 80

int cli_write_picture(const char *path, cx_tensor *picture) {
    if (cli_save_picture(path, picture, 2) != CX_OK) return cli_fail(NULL);
    printf("wrote %s\n", path);
    return CLI_OK;
}

/* Samples idx[0..n-1] of d as f32 [n, sample shape...] in 0..1 (u8 / 255). */
static cx_tensor *rows_of(cx_dataset *d, const int32_t *idx, int64_t n) {
    int64_t shape[CX_MAX_DIMS] = {n};
    int nd = cx_dataset_sample_shape(d, shape + 1);
    cx_tensor *samples = cx_dataset_samples(d), *out = cx_zeros(nd + 1, shape);
    if (!out) return NULL;
    int64_t per = cx_tensor_numel(out) / n;
    float *o = cx_tensor_f32(out);
    const uint8_t *u8 = cx_tensor_dtype(samples) == CX_DTYPE_U8 ? cx_tensor_data(samples) : NULL;
    const float *f32 = u8 ? NULL : cx_tensor_f32(samples);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < per; k++)
            o[i * per + k] = u8 ? u8[idx[i] * per + k] / 255.0f : f32[idx[i] * per + k];
    return out;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of the n values v[0], v[stride], ... (a sorted copy). */
static float quantile(const float *v, int64_t stride, int64_t n, double q) {
    float *s = malloc((size_t)n * sizeof *s);
    if (!s) return 0;
    for (int64_t i = 0; i < n; i++) s[i] = v[i * stride];
    qsort(s, (size_t)n, sizeof *s, cmp_float);
    float r = s[(int64_t)(q * (double)(n - 1))];
    free(s);
    return r;
}

static int save_in(const char *dir, const char *name, cx_tensor *picture) {
    if (!picture) return cli_fail(NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return cli_write_picture(path, picture);
}

/* The scatter of the test latents by class, and the decoded plane over their 1%..99% range. */
static int latent_plane(cx_autoencoder *ae, cx_dataset *test, const char *data, const char *dir) {
    cx_tensor *z = cx_autoencoder_encode_dataset(ae, test, 256);
    if (!z) return cli_fail(NULL);
    int64_t n = cx_tensor_dim(z, 0);
    const float *v = cx_tensor_f32(z);
    float *xs = malloc((size_t)n * sizeof *xs), *ys = malloc((size_t)n * sizeof *ys);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return cli_fail("out of memory");
    }
    for (int64_t i = 0; i < n; i++) xs[i] = v[2 * i], ys[i] = v[2 * i + 1];
    cx_tensor *labels = cx_dataset_labels(test);
    int classes = cx_dataset_num_classes(test);
    const char *names[10] = {0};
    for (int c = 0; c < classes && c < 10; c++) names[c] = cli_class_name(data, c);
    char path[4096];
    snprintf(path, sizeof path, "%s/latent_scatter.png", dir);
    bool coloured = labels && classes >= 1 && classes <= 10;
    cx_status st = cx_plot_scatter(path, "Test set in the latent space", "z[0]", "z[1]", n, xs, ys,
                                   coloured ? cx_tensor_data(labels) : NULL,
                                   coloured ? classes : 0, names);
    int rc = st == CX_OK ? (printf("wrote %s\n", path), CLI_OK) : cli_fail(NULL);
    float lo[2] = {quantile(v, 2, n, 0.01), quantile(v + 1, 2, n, 0.01)};
    float hi[2] = {quantile(v, 2, n, 0.99), quantile(v + 1, 2, n, 0.99)};
    free(xs);
    free(ys);
    if (rc != CLI_OK) return rc;
    return save_in(dir, "latent_grid.png", cx_autoencoder_picture_latent_grid(ae, GRID, lo, hi));
}

/* Pairs of test samples for interpolation rows: the first of class 2i and of class 2i + 1 (or
 * samples 2i and 2i + 1 when the classes are missing). */
static void pairs_of(cx_dataset *test, int32_t *a, int32_t *b) {
    cx_tensor *labels = cx_dataset_labels(test);
    const int32_t *l = labels ? cx_tensor_data(labels) : NULL;
    int64_t n = cx_dataset_size(test);
    for (int p = 0; p < N_PAIRS; p++) {
        a[p] = (int32_t)((2 * p) % n), b[p] = (int32_t)((2 * p + 1) % n);
        for (int64_t i = n - 1; l && i >= 0; i--) {
            if (l[i] == 2 * p) a[p] = (int32_t)i;
            if (l[i] == 2 * p + 1) b[p] = (int32_t)i;
        }
    }
}

int cli_ae_pictures(cx_autoencoder *ae, cx_dataset *test, const char *data, const char *dir,
                    uint64_t seed) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cortex: error: cannot make the directory %s: %s\n", dir, strerror(errno));
        return CLI_FAIL;
    }
    if (cx_dataset_size(test) < 2 * N_PAIRS) return cli_fail("pictures: the test split is too small");
    cx_arena *arena = cx_arena_new(0);
    cx_rng *rng = cx_rng_new(seed);
    if (!arena || !rng) return cx_arena_free(arena), cx_rng_free(rng), cli_fail(NULL);
    cx_arena_begin(arena);
    cx_ae_params p = cx_autoencoder_params(ae);
    int32_t first[N_RECON], a[N_PAIRS], b[N_PAIRS];
    for (int i = 0; i < N_RECON; i++) first[i] = (int32_t)(i % cx_dataset_size(test));
    cx_tensor *x = rows_of(test, first, N_RECON);
    int rc = save_in(dir, p.noise > 0 ? "denoising.png" : "reconstructions.png",
                     cx_autoencoder_picture_reconstructions(ae, x, rng));
    if (rc == CLI_OK && cx_autoencoder_latent_size(ae) == 2) rc = latent_plane(ae, test, data, dir);
    if (rc == CLI_OK) {
        pairs_of(test, a, b);
        rc = save_in(dir, "interpolations.png",
                     cx_autoencoder_picture_interpolations(ae, rows_of(test, a, N_PAIRS),
                                                           rows_of(test, b, N_PAIRS), STEPS));
    }
    if (rc == CLI_OK && p.kind == CX_AE_VARIATIONAL)
        rc = save_in(dir, "samples.png", cx_autoencoder_picture_samples(ae, N_SAMPLES, 10, rng));
    cx_arena_end(arena);
    cx_arena_free(arena);
    cx_rng_free(rng);
    return rc;
}
