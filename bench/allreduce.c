/*
 * allreduce.c - the time of MPI_Allreduce (sum, f32, in place) over the ranks mpirun starts,
 * for message sizes from 4 B to 64 MiB and for the gradient vectors of the MLP (669,706
 * floats) and mnist_cnn (1,199,882), whole and in 1 MiB buckets. A fit of t = alpha + bytes /
 * beta gives the latency and bandwidth that docs/DISTRIBUTED.md's scaling model uses. Rank 0
 * prints one JSON object per size: median and best of the repetitions, in microseconds.
 *   mpirun -np 2 build/bench/allreduce
 */
#include "bench.h"

#include <mpi.h>

#define REPS 41

/* Median and best microseconds of one allreduce of n floats (or of n in buckets of bucket
 * floats, started together and waited for together, as cx_grad_sync does). */
static void measure(float *buf, int64_t n, int64_t bucket, double *median, double *best) {
    double t[REPS];
    MPI_Request req[1024];
    for (int r = -3; r < REPS; r++) { /* 3 warm-up rounds */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (!bucket) {
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        } else {
            int k = 0;
            for (int64_t at = 0; at < n && k < 1024; at += bucket, k++)
                MPI_Iallreduce(MPI_IN_PLACE, buf + at, (int)(n - at < bucket ? n - at : bucket),
                               MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req[k]);
            MPI_Waitall(k, req, MPI_STATUSES_IGNORE);
        }
        double dt = (MPI_Wtime() - t0) * 1e6;
        /* the slowest rank's time is the collective's */
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (r >= 0) t[r] = dt;
    }
    *median = bench_median(t, REPS);
    *best = t[0];
}

static void report(int rank, int size, const char *what, int64_t n, int64_t bucket, float *buf) {
    double median, best;
    measure(buf, n, bucket, &median, &best);
    if (rank == 0)
        printf("{\"ranks\": %d, \"what\": \"%s\", \"bytes\": %lld, \"bucket_bytes\": %lld, "
               "\"median_us\": %.2f, \"best_us\": %.2f}\n",
               size, what, (long long)(n * 4), (long long)(bucket * 4), median, best);
    fflush(stdout);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int64_t max = (int64_t)16 << 20; /* floats: 64 MiB */
    float *buf = calloc((size_t)max, sizeof *buf);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
    for (int64_t n = 1; n <= max; n *= 4)
        report(rank, size, "size", n, 0, buf);
    report(rank, size, "mlp", 669706, 0, buf);
    report(rank, size, "mlp", 669706, 262144, buf);
    report(rank, size, "mnist_cnn", 1199882, 0, buf);
    report(rank, size, "mnist_cnn", 1199882, 262144, buf);
    free(buf);
    MPI_Finalize();
    return 0;
}
