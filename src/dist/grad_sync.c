/*
 * grad_sync.c - averaging a model's gradients over the ranks of a job, overlapped with the
 * backward pass (PyTorch DistributedDataParallel's bucketed reducer, in outline).
 *
 * The flat gradient vector is cut into buckets of whole parameters, last parameters first,
 * since backward finishes them first. A leaf hook in the backward pass (graph.c) reports each
 * parameter whose gradient is final; when every parameter of the next bucket is final its
 * MPI_Iallreduce starts, and later hooks call MPI_Testall so that the reductions progress
 * while backward computes the rest (Open MPI's collectives advance only inside MPI calls).
 * Buckets start strictly in order, so every rank issues the same collectives in the same
 * order even when one rank has no samples and starts them all at the end.
 *
 * Each rank's loss is the mean over its local rows; a bucket is multiplied by local_rows /
 * global_rows before the sum (exactly 1/N for equal parts of N = 2^k ranks), so uneven parts
 * (the last batch of an epoch) weigh each sample equally, as one process with the whole batch
 * would.
 */
#include "dist/dist_impl.h"

#include <stdlib.h>

typedef struct {
    int model;      /* whose flat gradient vector */
    int64_t lo, hi; /* [lo, hi) of it */
    int pending;    /* parameters of the bucket whose gradient is not final yet */
} bucket;

#define MAX_MODELS 8

struct cx_grad_sync {
    cx_model *models[MAX_MODELS];
    int n_models;
    int n_params;
    cx_tensor **params; /* [n_params] */
    int *bucket_of;     /* [n_params] */
    bucket *buckets;    /* [n_buckets], in the order they start */
    int n_buckets, next; /* next: the first bucket not started */
    int *pending0;      /* [n_buckets] pending at the start of a step */
    MPI_Request *requests; /* [n_buckets] */
    float weight;       /* local rows / global rows of this step */
    bool armed;
    cx_grad_sync_stats stats;
};

/* Parameters by their place in the flat vector, last first. */
static int by_offset_desc(const void *a, const void *b, void *flat) {
    const float *g = flat;
    int64_t x = cx__f32(cx_tensor_grad(*(cx_tensor *const *)a)) - g;
    int64_t y = cx__f32(cx_tensor_grad(*(cx_tensor *const *)b)) - g;
    return (x < y) - (x > y);
}

void cx_grad_sync_free(cx_grad_sync *s) {
    if (!s) return;
    if (s->armed) cx__backward_set_leaf_hook(NULL, NULL);
    cx__free(s->params);
    cx__free(s->bucket_of);
    cx__free(s->buckets);
    cx__free(s->pending0);
    cx__free(s->requests);
    cx__free(s);
}

/* Appends model k's parameters, last first, to buckets of about limit floats. */
static void add_model(cx_grad_sync *s, int k, int64_t limit) {
    cx_model *m = s->models[k];
    float *flat = cx_model_grads_flat(m);
    cx_tensor **ps = s->params + s->n_params;
    int n = cx_model_num_param_tensors(m);
    for (int i = 0; i < n; i++)
        ps[i] = cx_model_param(m, i);
    qsort_r(ps, (size_t)n, sizeof *ps, by_offset_desc, flat);
    bucket *b = NULL; /* buckets do not span models */
    for (int i = 0; i < n; i++) {
        cx_tensor *p = ps[i];
        int64_t lo = cx__f32(cx_tensor_grad(p)) - flat, hi = lo + cx_tensor_numel(p);
        if (!b || b->hi - b->lo >= limit || hi - b->lo > INT32_MAX) {
            b = &s->buckets[s->n_buckets++];
            b->model = k;
            b->hi = hi;
        }
        b->lo = lo;
        s->bucket_of[s->n_params + i] = s->n_buckets - 1;
        /* a frozen parameter's gradient stays zero: nothing to wait for */
        if (cx_tensor_requires_grad(p)) s->pending0[s->n_buckets - 1]++;
        s->stats.bytes += (hi - lo) * (int64_t)sizeof(float);
    }
    s->n_params += n;
}

cx_grad_sync *cx_grad_sync_new(cx_model *m, size_t bucket_bytes) {
    return cx_grad_sync_new_many(&m, 1, bucket_bytes);
}

cx_grad_sync *cx_grad_sync_new_many(cx_model *const *models, int n_models, size_t bucket_bytes) {
    bool ok = models && n_models >= 1 && n_models <= MAX_MODELS;
    for (int k = 0; ok && k < n_models; k++)
        ok = models[k] != NULL;
    if (!ok) {
        cx__error(CX_ERR_ARG, "cx_grad_sync_new: need 1 to %d models, none NULL", MAX_MODELS);
        return NULL;
    }
    cx_grad_sync *s = cx__calloc(sizeof *s);
    if (!s) return NULL;
    size_t n = 1;
    for (int k = 0; k < n_models; k++) {
        s->models[k] = models[k];
        n += (size_t)cx_model_num_param_tensors(models[k]);
    }
    s->n_models = n_models;
    s->params = cx__alloc(n * sizeof *s->params);
    s->bucket_of = cx__alloc(n * sizeof *s->bucket_of);
    s->buckets = cx__calloc(n * sizeof *s->buckets);
    s->pending0 = cx__calloc(n * sizeof *s->pending0);
    s->requests = cx__alloc(n * sizeof *s->requests);
    if (!s->params || !s->bucket_of || !s->buckets || !s->pending0 || !s->requests) {
        cx_grad_sync_free(s);
        return NULL;
    }
    /* consecutive parameters until a bucket holds bucket_bytes; the last model (the last
     * to run forward, the first backward finishes) first */
    int64_t limit = bucket_bytes ? (int64_t)(bucket_bytes / sizeof(float)) : INT64_MAX;
    for (int k = n_models - 1; k >= 0; k--)
        add_model(s, k, limit);
    s->stats.n_buckets = s->n_buckets;
    return s;
}

/* Starts bucket k's reduction: its local mean gradient times the local share, summed. */
static void start_bucket(cx_grad_sync *s, int k) {
    bucket *b = &s->buckets[k];
    float *g = cx_model_grads_flat(s->models[b->model]) + b->lo;
    int64_t n = b->hi - b->lo;
    for (int64_t i = 0; i < n; i++)
        g[i] *= s->weight;
    MPI_Iallreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                   &s->requests[k]);
}

static void start_ready(cx_grad_sync *s) {
    while (s->next < s->n_buckets && s->buckets[s->next].pending == 0)
        start_bucket(s, s->next++);
}

static void on_leaf(cx_tensor *leaf, void *ctx) {
    cx_grad_sync *s = ctx;
    for (int i = 0; i < s->n_params; i++) {
        if (s->params[i] != leaf) continue;
        s->buckets[s->bucket_of[i]].pending--;
        start_ready(s);
        break;
    }
    if (s->next > 0) { /* let started reductions advance while backward goes on */
        int done;
        MPI_Testall(s->next, s->requests, &done, MPI_STATUSES_IGNORE);
    }
}

cx_status cx_grad_sync_begin(cx_grad_sync *s, int64_t local_rows, int64_t global_rows) {
    if (!s || local_rows < 0 || global_rows < local_rows)
        return cx__error(CX_ERR_ARG, "cx_grad_sync_begin: %s", !s ? "NULL argument"
                         : "need 0 <= local_rows <= global_rows");
    if (cx_dist_size() == 1) return CX_OK;
    s->weight = global_rows ? (float)((double)local_rows / (double)global_rows) : 0.0f;
    s->next = 0;
    for (int k = 0; k < s->n_buckets; k++) {
        s->buckets[k].pending = s->pending0[k];
        s->requests[k] = MPI_REQUEST_NULL;
    }
    cx__backward_set_leaf_hook(on_leaf, s);
    s->armed = true;
    start_ready(s); /* buckets of frozen parameters only */
    return CX_OK;
}

cx_status cx_grad_sync_end(cx_grad_sync *s) {
    if (!s) return cx__error(CX_ERR_ARG, "cx_grad_sync_end: NULL argument");
    if (cx_dist_size() == 1) return CX_OK;
    if (!s->armed) return cx__error(CX_ERR_ARG, "cx_grad_sync_end: without cx_grad_sync_begin");
    cx__backward_set_leaf_hook(NULL, NULL);
    s->armed = false;
    double t0 = MPI_Wtime();
    /* parameters backward did not reach (or a rank that did not run it): start in order */
    while (s->next < s->n_buckets)
        start_bucket(s, s->next++);
    cx_status st = cx__mpi_check(MPI_Waitall(s->n_buckets, s->requests, MPI_STATUSES_IGNORE),
                                 "MPI_Iallreduce of the gradients");
    s->stats.wait_seconds += MPI_Wtime() - t0;
    s->stats.steps++;
    return st;
}

cx_grad_sync_stats cx_grad_sync_get_stats(const cx_grad_sync *s) {
    return s ? s->stats : (cx_grad_sync_stats){0};
}
