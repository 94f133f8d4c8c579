/*
 * data_impl.h - internals shared by the files of src/data/: the dataset struct, seeded
 * permutations, IDX reading into a chosen lifetime, and atomic file writes. Not installed.
 */
#ifndef CX_DATA_IMPL_H
#define CX_DATA_IMPL_H

#include "cortex_impl.h"

struct cx_dataset {
    cx_tensor *samples; /* [N, ...] u8 or f32, contiguous, on the heap (one reference held) */
    cx_tensor *labels;  /* [N] i32 on the heap, or NULL */
    int num_classes;    /* 1 + the largest label; 0 without labels */
};

/* Seeds rng from (seed, stream): splits use stream CX__STREAM_SPLIT, loaders the epoch. */
void cx__shuffle_seed(cx_rng *rng, uint64_t seed, uint64_t stream);
#define CX__STREAM_SPLIT UINT64_MAX
/* Fills perm[0..n) with a uniformly random permutation of 0..n-1 drawn from rng
 * (Fisher-Yates, unbiased bounded draws), so a seed always gives the same order. */
void cx__permutation(cx_rng *rng, int64_t n, int64_t *perm);

/* One sample's random affine transform (augment.c), as the inverse map it samples with. */
typedef struct {
    float cos_s, sin_s; /* cos and sin of the angle, divided by the scale */
    float dy, dx;       /* translation in pixels */
} cx__affine;
/* Draws a transform for p's rotate, zoom and shift from rng (a fixed number of draws). */
void cx__augment_draw(cx_rng *rng, const cx_loader_params *p, cx__affine *out);
/* Writes sample index of s (u8 or f32 [N, C, H, W]) transformed by a and normalised as
 * (v * scale - mean) / std into out [C, H, W]. */
void cx__augment_apply(const cx_tensor *s, int64_t index, const cx__affine *a, float scale,
                       float mean, float std, float *out);

/* Images over this many pixels (2^26) are refused before decoding; the fuzz target lowers it
 * so that a few bytes claiming a 64 Mpx picture do not take seconds each. */
extern int64_t cx__image_max_pixels;

/* Resizes an interleaved image src [h, w, c] into dst [oh, ow, c] with a triangle filter
 * (resize.c); false + CX_ERR_OOM if its temporaries cannot be allocated. */
bool cx__resize_hwc(const float *src, int64_t h, int64_t w, int64_t c, float *dst, int64_t oh,
                    int64_t ow);

/* cx_idx_read with the tensor allocated in arena (NULL: the heap). */
cx_tensor *cx__idx_read(const char *path, cx_arena *arena);

/* Writes a file atomically: fill(fd, ctx) writes the contents into "<path>.tmp.<pid>", which
 * is then fsync'ed and renamed over path; on any failure the temporary file is removed and
 * path keeps its previous contents (or stays absent). fill returns CX_OK or an error it has
 * set. who names the caller in messages. */
typedef cx_status (*cx__fill_fn)(int fd, const char *tmp_path, void *ctx);
cx_status cx__write_atomic(const char *who, const char *path, cx__fill_fn fill, void *ctx);
/* Writes all len bytes to fd (retrying short writes); false with errno set on failure. */
bool cx__write_all(int fd, const void *buf, size_t len);

#endif /* CX_DATA_IMPL_H */
