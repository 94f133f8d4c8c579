/*
 * broadcast.c - broadcasting shapes (PyTorch/NumPy rules) and the loops that walk operands of
 * different shapes and strides together.
 */
#include "cortex_impl.h"

#include <string.h>

bool cx__broadcast_shape(const char *op, const cx_tensor *a, const cx_tensor *b, int *ndim,
                         int64_t *shape) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[CX_SHAPE_STR_MAX], sb[CX_SHAPE_STR_MAX];
            cx__error(CX_ERR_SHAPE,
                      "%s: shapes %s and %s do not broadcast: dimension %d is %lld against %lld",
                      op, cx__shape_str(a->ndim, a->shape, sa, sizeof sa),
                      cx__shape_str(b->ndim, b->shape, sb, sizeof sb), i, (long long)da,
                      (long long)db);
            return false;
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = nd;
    return true;
}

void cx__broadcast_strides(const cx_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    for (int i = 0; i < ndim; i++) {
        int it = t->ndim - ndim + i;
        stride[i] = (it < 0 || (t->shape[it] == 1 && shape[i] != 1)) ? 0 : t->stride[it];
    }
}

int cx__collapse_dims(int ndim, int64_t *shape, int n_ops, int64_t (*strides)[CX_MAX_DIMS]) {
    if (ndim == 0) {
        shape[0] = 1;
        for (int k = 0; k < n_ops; k++) strides[k][0] = 0;
        return 1;
    }
    int out = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1 && ndim > 1) continue; /* size-1 dims add nothing to the walk */
        if (out > 0) {
            bool merge = true;
            for (int k = 0; k < n_ops && merge; k++)
                merge = strides[k][out - 1] == strides[k][d] * shape[d];
            if (merge) {
                shape[out - 1] *= shape[d];
                for (int k = 0; k < n_ops; k++) strides[k][out - 1] = strides[k][d];
                continue;
            }
        }
        shape[out] = shape[d];
        for (int k = 0; k < n_ops; k++) strides[k][out] = strides[k][d];
        out++;
    }
    if (out == 0) {
        shape[0] = 1;
        for (int k = 0; k < n_ops; k++) strides[k][0] = 0;
        out = 1;
    }
    return out;
}

void cx__reduce_broadcast_add(const float *g, int out_ndim, const int64_t *out_shape, float *grad,
                              int ndim, const int64_t *shape) {
    int64_t n = cx__numel(out_ndim, out_shape);
    if (n == 0) return;
    if (cx__numel(ndim, shape) == n) {
#pragma omp parallel for simd if (n > CX_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) grad[i] += g[i];
        return;
    }
    /* Walk out's elements; grad's stride is 0 along the dims it was broadcast over. */
    int64_t sh[CX_MAX_DIMS], st[2][CX_MAX_DIMS];
    int64_t gs = 1;
    for (int i = out_ndim - 1; i >= 0; i--) {
        int it = ndim - out_ndim + i;
        int64_t dim = it >= 0 ? shape[it] : 1;
        sh[i] = out_shape[i];
        st[0][i] = (dim == 1 && out_shape[i] != 1) ? 0 : gs;
        gs *= dim;
    }
    int64_t s = 1;
    for (int i = out_ndim - 1; i >= 0; i--) {
        st[1][i] = s;
        s *= out_shape[i];
    }
    int nd = cx__collapse_dims(out_ndim, sh, 2, st);
    int64_t inner = sh[nd - 1], istride = st[0][nd - 1];
    if (nd == 2 && st[0][0] == 0 && istride == 1) {
        /* grad[c] += sum over rows of g[r, c] (a bias): threads take column blocks. */
        enum { BLOCK = 512 };
        int64_t rows = sh[0];
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
        for (int64_t c0 = 0; c0 < inner; c0 += BLOCK) {
            int64_t c1 = c0 + BLOCK < inner ? c0 + BLOCK : inner;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = c0; c < c1; c++) grad[c] += g[r * inner + c];
        }
        return;
    }
    if (nd == 2 && istride == 0) {
        /* grad[r * st] += sum over c of g[r, c]: threads take rows. */
#pragma omp parallel for if (n > CX_PARALLEL_MIN)
        for (int64_t r = 0; r < sh[0]; r++) {
            float acc = 0.0f;
            for (int64_t c = 0; c < inner; c++) acc += g[r * inner + c];
            grad[r * st[0][0]] += acc;
        }
        return;
    }
    int64_t idx[CX_MAX_DIMS] = {0};
    for (int64_t done = 0; done < n; done += inner) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++) off += idx[d] * st[0][d];
        const float *gi = g + done;
        float *o = grad + off;
        if (istride == 0) {
            float acc = 0.0f;
            for (int64_t i = 0; i < inner; i++) acc += gi[i];
            o[0] += acc;
        } else {
            for (int64_t i = 0; i < inner; i++) o[i * istride] += gi[i];
        }
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < sh[d]) break;
            idx[d] = 0;
        }
    }
}
