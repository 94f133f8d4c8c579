/*
 * mpi.c - joining an MPI job, ranks, and the collectives the training loop uses (broadcast,
 * sums). A process that no launcher started never calls MPI at all (size 1, no-op
 * collectives), so a plain `cortex train` neither needs nor touches an MPI runtime.
 */
#include "dist/dist_impl.h"

#include <stdlib.h>

static bool joined;   /* MPI_Init_thread succeeded here */
static int rank, size = 1;

/* mpirun (Open MPI), hydra (MPICH) and srun (Slurm/PMIx) each set one of these. */
static bool launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                       "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

cx_status cx_dist_init(int *argc, char ***argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (joined || initialised || !launched()) {
        if (initialised && !joined) { /* the program joined the job itself */
            MPI_Comm_rank(MPI_COMM_WORLD, &rank);
            MPI_Comm_size(MPI_COMM_WORLD, &size);
        }
        return CX_OK;
    }
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cx__error(CX_ERR_DEVICE, "dist: MPI_Init_thread failed");
    /* errors come back as codes, reported like any other error */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    joined = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return CX_OK;
}

void cx_dist_finalize(void) {
    if (!joined) return;
    MPI_Finalize();
    joined = false;
    rank = 0;
    size = 1;
}

void cx_dist_abort(int code) {
    if (joined && size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int cx_dist_rank(void) { return rank; }
int cx_dist_size(void) { return size; }

cx_status cx__mpi_check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return CX_OK;
    char why[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, why, &len);
    return cx__error(CX_ERR_DEVICE, "dist: %s failed on rank %d: %s", what, rank, why);
}

/* MPI counts are int: long vectors go in pieces. */
#define CHUNK ((int64_t)1 << 30)

cx_status cx_dist_broadcast_f32(float *data, int64_t n, int root) {
    if (size == 1) return CX_OK;
    if (root < 0 || root >= size || (n && !data) || n < 0)
        return cx__error(CX_ERR_ARG, "dist: broadcast of %lld values from rank %d of %d",
                         (long long)n, root, size);
    for (int64_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        cx_status st = cx__mpi_check(MPI_Bcast(data + at, count, MPI_FLOAT, root, MPI_COMM_WORLD),
                                     "MPI_Bcast");
        if (st != CX_OK) return st;
    }
    return CX_OK;
}

cx_status cx_dist_sum_f64(double *v, int n) {
    if (size == 1 || n == 0) return CX_OK;
    return cx__mpi_check(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                         "MPI_Allreduce");
}

cx_status cx_dist_share(cx_status st, double *sums, int n, const char *who) {
    if (size == 1) return st;
    if (n < 0 || n > 15 || (n && !sums))
        return cx__error(CX_ERR_ARG, "dist: sharing %d sums (0 to 15)", n);
    double all[16];
    for (int i = 0; i < n; i++) all[i] = sums[i];
    all[n] = st != CX_OK; /* a failed rank still joins the sum, so no rank waits forever */
    cx_status sum = cx_dist_sum_f64(all, n + 1);
    if (st != CX_OK) return st;
    if (sum != CX_OK) return sum;
    if (all[n] > 0)
        return cx__error(CX_ERR_DEVICE, "%s: another rank failed; training stopped (that rank's "
                         "message says why)", who);
    for (int i = 0; i < n; i++) sums[i] = all[i];
    return CX_OK;
}

cx_status cx_dist_sum_f32(float *v, int64_t n) {
    if (size == 1) return CX_OK;
    for (int64_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        cx_status st = cx__mpi_check(
            MPI_Allreduce(MPI_IN_PLACE, v + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
        if (st != CX_OK) return st;
    }
    return CX_OK;
}

cx_status cx_dist_broadcast_model(cx_model *m) {
    if (!m) return cx__error(CX_ERR_ARG, "dist: broadcast of a NULL model");
    if (size == 1) return CX_OK;
    /* same architecture everywhere, or the broadcasts below would not line up */
    int64_t mine[2] = {cx_model_num_params(m), cx_model_num_buffers(m)}, lo[2], hi[2];
    cx_status st = cx__mpi_check(
        MPI_Allreduce(mine, lo, 2, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    if (st == CX_OK)
        st = cx__mpi_check(MPI_Allreduce(mine, hi, 2, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD),
                           "MPI_Allreduce");
    if (st != CX_OK) return st;
    if (lo[0] != hi[0] || lo[1] != hi[1])
        return cx__error(CX_ERR_ARG, "dist: the ranks' models differ (rank %d has %lld "
                         "parameters and %lld buffers; others have %lld..%lld and %lld..%lld)",
                         rank, (long long)mine[0], (long long)mine[1], (long long)lo[0],
                         (long long)hi[0], (long long)lo[1], (long long)hi[1]);
    st = cx_dist_broadcast_f32(cx_model_params_flat(m), cx_model_num_params(m), 0);
    return st == CX_OK ? cx_dist_broadcast_model_buffers(m) : st;
}

cx_status cx_dist_broadcast_model_buffers(cx_model *m) {
    if (!m) return cx__error(CX_ERR_ARG, "dist: broadcast of a NULL model");
    cx_status st = CX_OK;
    for (int i = 0; st == CX_OK && size > 1 && i < cx_model_num_buffers(m); i++) {
        cx_tensor *b = cx_model_buffer(m, i);
        st = cx_dist_broadcast_f32(cx__f32(b), cx_tensor_numel(b), 0);
    }
    return st;
}
