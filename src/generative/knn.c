/*
 * knn.c - k-nearest-neighbour classification accuracy, the measure of how well a latent
 * space separates classes: each test point takes the majority label of its k nearest train
 * points (squared Euclidean distance, brute force; ties go to the label whose nearest voter
 * is nearest). Test points are spread over threads.
 */
#include "generative/generative_impl.h"

#include <math.h>
#include <string.h>

#define MAX_K 64

static bool check_pair(const char *what, cx_tensor *x, cx_tensor *y) {
    if (!cx__check_f32("cx_knn_accuracy", what, x) || !cx__check("cx_knn_accuracy", "labels", y))
        return false;
    if (x->ndim != 2 || y->ndim != 1 || y->dtype != CX_DTYPE_I32 || y->shape[0] != x->shape[0]) {
        cx__error(CX_ERR_SHAPE, "cx_knn_accuracy: %s points must be [N, D] f32 with labels [N] "
                  "i32", what);
        return false;
    }
    return true;
}

/* The vote of the k nearest (dist/label sorted nearest first). */
static int32_t vote(const int32_t *label, int k) {
    int best = 0, best_count = 0;
    for (int i = 0; i < k; i++) {
        int count = 0;
        for (int j = 0; j < k; j++) count += label[j] == label[i];
        if (count > best_count) best = i, best_count = count; /* earlier (nearer) wins ties */
    }
    return label[best];
}

float cx_knn_accuracy(cx_tensor *train, cx_tensor *train_labels, cx_tensor *test,
                      cx_tensor *test_labels, int k) {
    if (!check_pair("train", train, train_labels) || !check_pair("test", test, test_labels))
        return NAN;
    int64_t n = train->shape[0], m = test->shape[0], d = train->shape[1];
    if (test->shape[1] != d)
        return cx__error(CX_ERR_SHAPE, "cx_knn_accuracy: train points have %lld dimensions, test "
                         "points %lld", (long long)d, (long long)test->shape[1]), NAN;
    if (k < 1 || k > MAX_K || k > n || m < 1)
        return cx__error(CX_ERR_ARG, "cx_knn_accuracy: k = %d; need 1 <= k <= %d and k <= %lld "
                         "train points, and a test point", k, MAX_K, (long long)n), NAN;
    cx_tensor *tc = cx_contiguous(train), *sc = cx_contiguous(test);
    cx_tensor *lc = cx_contiguous(train_labels), *mc = cx_contiguous(test_labels);
    int64_t correct = 0;
    if (tc && sc && lc && mc) {
        const float *a = cx__f32(tc), *b = cx__f32(sc);
        const int32_t *la = cx__i32(lc), *lb = cx__i32(mc);
#pragma omp parallel for reduction(+ : correct) schedule(static) if (n * m * d > 1 << 20)
        for (int64_t i = 0; i < m; i++) {
            float dist[MAX_K];
            int32_t label[MAX_K];
            int have = 0;
            for (int64_t j = 0; j < n; j++) {
                float s = 0;
                for (int64_t c = 0; c < d; c++) {
                    float e = b[i * d + c] - a[j * d + c];
                    s += e * e;
                }
                if (have == k && s >= dist[k - 1]) continue;
                int at = have < k ? have++ : k - 1; /* insertion into the sorted k */
                while (at > 0 && dist[at - 1] > s) {
                    dist[at] = dist[at - 1], label[at] = label[at - 1];
                    at--;
                }
                dist[at] = s, label[at] = la[j];
            }
            correct += vote(label, k) == lb[i];
        }
    }
    float acc = tc && sc && lc && mc ? (float)correct / (float)m : NAN;
    cx_tensor *tmp[] = {tc, sc, lc, mc};
    for (int i = 0; i < 4; i++) cx_tensor_free(tmp[i]);
    return acc;
}
