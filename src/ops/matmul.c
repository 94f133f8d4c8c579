/*
 * matmul.c - matrix products with torch.matmul semantics, through cx__sgemm (OpenBLAS).
 *
 * Every case is seen as a batch of [m,k]·[k,n] products over the broadcast batch dims:
 *   [k]·[k] -> []            a is one row (m = 1), b one column (n = 1), both removed
 *   [k]·[..,k,n] -> [..,n]   a is one row, removed from the result
 *   [..,m,k]·[k] -> [..,m]   b is one column, removed from the result
 *   [..,m,k]·[..,k,n] -> [broadcast(..),m,n]
 * Inputs are read in place where sgemm can: a matrix with unit column stride is used as is,
 * one with unit row stride (a transpose) through sgemm's trans flag; anything else is copied.
 * When b has a single matrix ([B,M,K]·[K,N]) and a is contiguous, the batch folds into the
 * rows: one sgemm with m = B*M. Backward: dA = gout·Bᵀ and dB = Aᵀ·gout, summed over broadcast
 * batch dims by accumulating (beta = 1) straight into the gradient buffers.
 */
#include "cortex_impl.h"

#include <string.h>

/* Above this many multiply-adds per product, sgemm's own threads beat threads over batches. */
#define BATCH_PARALLEL_MAX_FLOPS (64 * 64 * 64)

typedef struct {
    int nb;                      /* batch dims of the output */
    int64_t bshape[CX_MAX_DIMS]; /* the broadcast batch shape */
    int64_t nbatch;              /* product of bshape */
    int64_t a_batch, b_batch;    /* matrices in a and in b (nbatch unless broadcast) */
    int64_t m, k, n;
} mm_shape;

/* One operand as sgemm sees it: [batch.., rows, cols] with rows, cols = m, k or k, n. */
typedef struct {
    const float *data;
    float *tmp;                   /* contiguous copy when the strides do not suit sgemm */
    int64_t bstride[CX_MAX_DIMS]; /* per output batch dim, 0 where broadcast */
    int64_t gstride[CX_MAX_DIMS]; /* the same in the (contiguous) gradient */
    int64_t ld;
    bool trans; /* stored transposed: element (r, c) at c * ld + r */
    bool dense; /* contiguous: the matrices are [a_batch * rows, cols] rows of ld = cols */
} mm_operand;

static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

static bool mm_shapes(const cx_tensor *a, const cx_tensor *b, mm_shape *s) {
    char sa[CX_SHAPE_STR_MAX], sb[CX_SHAPE_STR_MAX];
    cx__shape_str(a->ndim, a->shape, sa, sizeof sa);
    cx__shape_str(b->ndim, b->shape, sb, sizeof sb);
    if (a->ndim == 0 || b->ndim == 0) {
        cx__error(CX_ERR_SHAPE, "matmul: shapes %s and %s: both inputs need at least 1 "
                                "dimension", sa, sb);
        return false;
    }
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim >= 2 ? b->ndim - 2 : 0];
    if (ka != kb) {
        cx__error(CX_ERR_SHAPE, "matmul: shapes %s and %s do not fit: %lld columns against "
                                "%lld rows", sa, sb, (long long)ka, (long long)kb);
        return false;
    }
    s->m = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    s->k = ka;
    s->n = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    s->nb = na > nbb ? na : nbb;
    s->nbatch = 1;
    for (int i = 0; i < s->nb; i++) {
        int ia = na - s->nb + i, ib = nbb - s->nb + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            cx__error(CX_ERR_SHAPE, "matmul: shapes %s and %s: batch dims do not broadcast "
                                    "(%lld against %lld)", sa, sb, (long long)da, (long long)db);
            return false;
        }
        s->bshape[i] = da == 1 ? db : da;
        s->nbatch *= s->bshape[i];
    }
    s->a_batch = cx__numel(na, a->shape);
    s->b_batch = cx__numel(nbb, b->shape);
    return true;
}

/* Sets op up for t (a when is_a, else b); false + error if a needed copy cannot be made.
 * Without values (backward wants only the gradient strides) no copy is made. */
static bool mm_operand_init(mm_operand *op, const cx_tensor *t, bool is_a, bool values,
                            const mm_shape *s) {
    int64_t rows = is_a ? s->m : s->k, cols = is_a ? s->k : s->n;
    int tb = t->ndim > 2 ? t->ndim - 2 : 0; /* t's own batch dims */
    /* element strides of rows and columns; a 1-D a is one row, a 1-D b one column */
    int64_t sr, sc;
    if (t->ndim >= 2) {
        sr = t->stride[t->ndim - 2];
        sc = t->stride[t->ndim - 1];
    } else {
        sr = is_a ? 0 : t->stride[0];
        sc = is_a ? t->stride[0] : 0;
    }
    int64_t cstride[CX_MAX_DIMS], cs = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        cstride[d] = cs;
        cs *= t->shape[d] > 0 ? t->shape[d] : 1;
    }
    const int64_t *bst = t->stride;
    op->tmp = NULL;
    op->data = cx__f32(t);
    op->dense = cx__is_contiguous(t);
    op->trans = false;
    if (op->dense) {
        op->ld = max1(cols);
    } else if ((cols == 1 || sc == 1) && (rows == 1 || sr >= max1(cols))) {
        op->ld = rows == 1 ? max1(cols) : sr;
    } else if ((rows == 1 || sr == 1) && (cols == 1 || sc >= max1(rows))) {
        op->trans = true;
        op->ld = cols == 1 ? max1(rows) : sc;
    } else {
        if (values) {
            int64_t n = cx__numel(t->ndim, t->shape);
            op->tmp = cx__temp_alloc((size_t)max1(n) * sizeof *op->tmp);
            if (!op->tmp) return false;
            cx__copy_strided(t, op->tmp);
        }
        op->data = op->tmp;
        op->dense = true;
        op->ld = max1(cols);
        bst = cstride;
    }
    for (int i = 0; i < s->nb; i++) {
        int it = tb - s->nb + i;
        bool bcast = it < 0 || t->shape[it] == 1;
        op->bstride[i] = bcast ? 0 : bst[it];
        op->gstride[i] = bcast ? 0 : cstride[it];
    }
    return true;
}

/* Offset of batch t (row-major over s->bshape) for the per-dim strides st. */
static int64_t batch_offset(const mm_shape *s, const int64_t *st, int64_t t) {
    int64_t off = 0;
    for (int d = s->nb - 1; d >= 0; d--) {
        off += (t % s->bshape[d]) * st[d];
        t /= s->bshape[d];
    }
    return off;
}

/* Small products run one per thread; big ones leave the threads to sgemm. */
static bool batch_parallel(const mm_shape *s) {
    double flops = (double)s->m * (double)s->n * (double)s->k;
    return s->nbatch > 1 && flops <= BATCH_PARALLEL_MAX_FLOPS;
}

/* Runs body for t in [0, n): across threads when par, else serially and outside any OpenMP
 * region. sgemm must not run inside an inactive region (a parallel for whose `if` is false):
 * OpenBLAS's own region is then nested, and libgomp starts a new thread for it on every call,
 * which made a [512,128]ᵀ·[128,784] product 3-10 times slower. */
#define FOR_BATCHES(par, t, n, body)                                                          \
    do {                                                                                       \
        if (par) {                                                                             \
            _Pragma("omp parallel for") for (int64_t t = 0; t < (n); t++) { body; }            \
        } else {                                                                               \
            for (int64_t t = 0; t < (n); t++) { body; }                                        \
        }                                                                                      \
    } while (0)

/* out [batch.., m, n] (contiguous) = A · B. */
static void mm_forward(const mm_shape *s, const mm_operand *A, const mm_operand *B, float *out) {
    int64_t ldo = max1(s->n), mn = s->m * s->n;
    if (s->b_batch == 1 && A->dense) {
        cx__sgemm(false, B->trans, s->nbatch * s->m, s->n, s->k, 1.0f, A->data, max1(s->k),
                  B->data, B->ld, 0.0f, out, ldo);
        return;
    }
    FOR_BATCHES(batch_parallel(s), t, s->nbatch,
                cx__sgemm(A->trans, B->trans, s->m, s->n, s->k, 1.0f,
                          A->data + batch_offset(s, A->bstride, t), A->ld,
                          B->data + batch_offset(s, B->bstride, t), B->ld, 0.0f, out + t * mn,
                          ldo));
}

cx_tensor *cx_matmul(cx_tensor *a, cx_tensor *b) {
    if (!cx__check_f32("matmul", "a", a) || !cx__check_f32("matmul", "b", b)) return NULL;
    mm_shape s;
    if (!mm_shapes(a, b, &s)) return NULL;
    int64_t shape[CX_MAX_DIMS];
    int nd = s.nb;
    memcpy(shape, s.bshape, (size_t)s.nb * sizeof *shape);
    if (a->ndim >= 2) shape[nd++] = s.m;
    if (b->ndim >= 2) shape[nd++] = s.n;
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, nd, shape);
    if (!out) return NULL;
    mm_operand A, B;
    if (!mm_operand_init(&A, a, true, true, &s)) {
        cx_tensor_free(out);
        return NULL;
    }
    if (!mm_operand_init(&B, b, false, true, &s)) {
        cx__temp_free(A.tmp);
        cx_tensor_free(out);
        return NULL;
    }
    mm_forward(&s, &A, &B, cx__f32(out));
    cx__temp_free(B.tmp);
    cx__temp_free(A.tmp);
    return cx__finish(out, &cx_op_matmul, 2, (cx_tensor *[]){a, b});
}

/* dA += gout · Bᵀ per batch, into gA [a_batch.., m, k]. */
static void mm_grad_a(const mm_shape *s, const mm_operand *A, const mm_operand *B,
                      const float *gout, float *gA) {
    int64_t ldo = max1(s->n), ldk = max1(s->k), mn = s->m * s->n;
    if (s->b_batch == 1) { /* a is not broadcast, so gA is [nbatch * m, k] */
        cx__sgemm(false, !B->trans, s->nbatch * s->m, s->k, s->n, 1.0f, gout, ldo, B->data,
                  B->ld, 1.0f, gA, ldk);
        return;
    }
    /* where a was broadcast several batches add into one block: keep those serial */
    FOR_BATCHES(batch_parallel(s) && s->a_batch == s->nbatch, t, s->nbatch,
                cx__sgemm(false, !B->trans, s->m, s->k, s->n, 1.0f, gout + t * mn, ldo,
                          B->data + batch_offset(s, B->bstride, t), B->ld, 1.0f,
                          gA + batch_offset(s, A->gstride, t), ldk));
}

/* dB += Aᵀ · gout per batch, into gB [b_batch.., k, n]. */
static void mm_grad_b(const mm_shape *s, const mm_operand *A, const mm_operand *B,
                      const float *gout, float *gB) {
    int64_t ldo = max1(s->n), mn = s->m * s->n;
    if (s->b_batch == 1 && A->dense) { /* Aᵀ over all batch rows at once */
        cx__sgemm(true, false, s->k, s->n, s->nbatch * s->m, 1.0f, A->data, max1(s->k), gout,
                  ldo, 1.0f, gB, ldo);
        return;
    }
    FOR_BATCHES(batch_parallel(s) && s->b_batch == s->nbatch, t, s->nbatch,
                cx__sgemm(!A->trans, false, s->k, s->n, s->m, 1.0f,
                          A->data + batch_offset(s, A->bstride, t), A->ld, gout + t * mn, ldo,
                          1.0f, gB + batch_offset(s, B->gstride, t), ldo));
}

/* out = a·b: da = gout·bᵀ, db = aᵀ·gout, each summed over the batch dims it was broadcast on. */
static cx_status matmul_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    cx_tensor *a = node->in[0], *b = node->in[1];
    bool need_a = cx__needs_grad(a), need_b = cx__needs_grad(b);
    mm_shape s;
    bool ok = mm_shapes(a, b, &s); /* validated in forward */
    CX_ASSERT(ok);
    float *gA = need_a ? cx__grad(a) : NULL, *gB = need_b ? cx__grad(b) : NULL;
    if ((need_a && !gA) || (need_b && !gB)) return cx_last_status();
    /* dA reads b's values and dB reads a's; both operands give the gradient strides */
    mm_operand A = {0}, B = {0};
    if (!mm_operand_init(&A, a, true, need_b, &s)) return cx_last_status();
    if (!mm_operand_init(&B, b, false, need_a, &s)) {
        cx__temp_free(A.tmp);
        return cx_last_status();
    }
    if (need_a) mm_grad_a(&s, &A, &B, gout, gA);
    if (need_b) mm_grad_b(&s, &A, &B, gout, gB);
    cx__temp_free(B.tmp);
    cx__temp_free(A.tmp);
    return CX_OK;
}

/* ---- test rows ---- */

static cx_tensor *run_matmul(cx_tensor *const *x) { return cx_matmul(x[0], x[1]); }
/* Both inputs transposed views: read through sgemm's trans flags, no copy. */
static cx_tensor *run_matmul_t(cx_tensor *const *x) {
    cx_tensor *a = cx_transpose(x[0], -1, -2), *b = cx_transpose(x[1], -1, -2);
    cx_tensor *y = cx_matmul(a, b);
    cx_tensor_free(a);
    cx_tensor_free(b);
    return y;
}
/* a with column stride 2: copied before sgemm. */
static cx_tensor *run_matmul_sliced(cx_tensor *const *x) {
    cx_tensor *a = cx_slice(x[0], -1, 0, 8, 2);
    cx_tensor *y = cx_matmul(a, x[1]);
    cx_tensor_free(a);
    return y;
}
/* b a batch of transposed matrices. */
static cx_tensor *run_matmul_bt(cx_tensor *const *x) {
    cx_tensor *b = cx_transpose(x[1], -1, -2);
    cx_tensor *y = cx_matmul(x[0], b);
    cx_tensor_free(b);
    return y;
}

#define MM_ROW(name_, ...)                                                                     \
    {.name = "matmul_" name_, .run = run_matmul, .n_in = 2, .in = {__VA_ARGS__}}

CX_OP_DEFINE(matmul, .backward = matmul_backward,
             .tests = (const cx_op_test[]){
                 MM_ROW("2d", CX_IN(3, 4), CX_IN(4, 5)),
                 MM_ROW("odd", CX_IN(7, 5), CX_IN(5, 3)),
                 MM_ROW("dot", CX_IN(5), CX_IN(5)),
                 MM_ROW("vec_mat", CX_IN(4), CX_IN(4, 3)),
                 MM_ROW("mat_vec", CX_IN(3, 4), CX_IN(4)),
                 MM_ROW("batch_mat", CX_IN(2, 3, 4), CX_IN(4, 5)),
                 MM_ROW("batch_one", CX_IN(2, 3, 4), CX_IN(1, 4, 5)),
                 MM_ROW("mat_batch", CX_IN(3, 4), CX_IN(2, 4, 5)),
                 MM_ROW("bcast4", CX_IN(2, 1, 3, 4), CX_IN(3, 4, 2)),
                 MM_ROW("batched", CX_IN(2, 3, 4), CX_IN(2, 4, 5)),
                 MM_ROW("batch_vec", CX_IN(2, 3, 4), CX_IN(4)),
                 MM_ROW("vec_batch", CX_IN(4), CX_IN(2, 4, 3)),
                 {.name = "matmul_t", .run = run_matmul_t, .n_in = 2,
                  .in = {CX_IN(4, 3), CX_IN(5, 4)}},
                 {.name = "matmul_sliced", .run = run_matmul_sliced, .n_in = 2,
                  .in = {CX_IN(2, 3, 8), CX_IN(4, 5)}},
                 {.name = "matmul_bt", .run = run_matmul_bt, .n_in = 2,
                  .in = {CX_IN(2, 3, 4), CX_IN(2, 5, 4)}},
                 {.name = NULL}});
