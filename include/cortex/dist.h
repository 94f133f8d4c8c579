/*
 * cortex/dist.h - data-parallel training across processes and machines with MPI. Included by
 * cortex.h.
 *
 * A job is N processes started by `mpirun -np N`; each is a rank 0..N-1 and holds a full copy
 * of the model. cx_fit with .distributed = true does the rest: rank 0's weights go to every
 * rank, each rank takes its contiguous part of every global batch (cx_loader_params
 * shard_rank/shard_count), gradients are averaged over all samples of the global batch with
 * MPI allreduce in buckets started while backward still runs (cx_grad_sync), evaluation sums
 * every rank's part (cx_evaluate_sharded), and only rank 0 writes checkpoints, charts and
 * logs. N processes with batch B then take the same steps as one process with batch N x B
 * (see docs/DISTRIBUTED.md for where floating-point rounding and batch norm differ).
 *
 * A process not started by mpirun (no launcher in its environment) never touches MPI: it is
 * rank 0 of 1 and every collective below is a no-op, so the same program runs alone.
 *
 * Threads: MPI is initialised with MPI_THREAD_FUNNELED; call these functions from the thread
 * that called cx_dist_init (OpenMP kernels inside a step are fine).
 */
#ifndef CORTEX_DIST_H
#define CORTEX_DIST_H

#include "cortex.h"
#include "cortex/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Joins the MPI job this process was launched into (argc/argv as given to main, or NULL);
 * without a launcher it stays a single process. Idempotent. CX_ERR_DEVICE if MPI fails to
 * start. */
cx_status cx_dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize); a no-op if cx_dist_init did not join one. Call once, at the
 * end, on every rank. */
void cx_dist_finalize(void);
/* Ends every process of the job with exit code (MPI_Abort): for an error on one rank, which
 * would otherwise leave the others waiting in a collective. Exits like exit(code) alone. */
void cx_dist_abort(int code); /* does not return */

int cx_dist_rank(void); /* 0 without a job */
int cx_dist_size(void); /* 1 without a job */
static inline bool cx_dist_is_root(void) { return cx_dist_rank() == 0; }

/* ---- collectives: every rank calls them in the same order; no-ops with one process ---- */

/* data[0..n) of rank root to every rank. */
cx_status cx_dist_broadcast_f32(float *data, int64_t n, int root);
/* Every parameter and buffer (batch-norm running statistics) of rank 0's model to all ranks;
 * the models must have the same architecture (CX_ERR_ARG naming both sizes otherwise). */
cx_status cx_dist_broadcast_model(cx_model *m);
/* The buffers alone (each rank's batch norm gathers its own statistics while training). */
cx_status cx_dist_broadcast_model_buffers(cx_model *m);
/* v[0..n) becomes the sum over all ranks, on every rank. */
cx_status cx_dist_sum_f64(double *v, int n);
cx_status cx_dist_sum_f32(float *v, int64_t n);
/* After a step that may have failed on some rank: sums[0..n) (0 to 15 values; may be NULL
 * when n is 0) become their totals, in the same reduction that tells every rank whether any
 * failed. Returns st where this rank failed, CX_ERR_DEVICE "WHO: another rank failed ..."
 * where only another did, CX_OK otherwise. Alone it returns st and changes nothing. */
cx_status cx_dist_share(cx_status st, double *sums, int n, const char *who);

/* ---- gradient averaging ---- */

/* Averages a model's gradients over all ranks during backward: the gradient vector is cut
 * into buckets of about bucket_bytes in the order backward produces them (last layers
 * first), and each bucket's allreduce (MPI_Iallreduce) starts as soon as backward has
 * finished every gradient in it, so communication overlaps the rest of backward. bucket_bytes
 * 0: one bucket, reduced after backward. m must outlive it. */
typedef struct cx_grad_sync cx_grad_sync;

cx_grad_sync *cx_grad_sync_new(cx_model *m, size_t bucket_bytes);
/* The same for a step that trains several models together (an autoencoder's encoder and
 * decoder), in the order they run forward; 1 to 8 of them. */
cx_grad_sync *cx_grad_sync_new_many(cx_model *const *models, int n_models, size_t bucket_bytes);
void cx_grad_sync_free(cx_grad_sync *s); /* NULL is a no-op */
/* Before cx_backward on this rank's local_rows samples (0 for an empty part) of a global batch
 * of global_rows: the loss backward starts from is the mean over the local rows. Watches
 * backward from here on. */
cx_status cx_grad_sync_begin(cx_grad_sync *s, int64_t local_rows, int64_t global_rows);
/* After backward (or instead of it, on a rank with nothing to do, or that failed: every rank
 * must call it): starts the buckets not started yet, waits for all, and leaves on every rank
 * the mean gradient over the global batch. */
cx_status cx_grad_sync_end(cx_grad_sync *s);
typedef struct {
    int n_buckets;
    int64_t bytes;       /* of one step's reduction */
    int64_t steps;
    double wait_seconds; /* spent in cx_grad_sync_end waiting for reductions, all steps */
} cx_grad_sync_stats;
cx_grad_sync_stats cx_grad_sync_get_stats(const cx_grad_sync *s);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_DIST_H */
