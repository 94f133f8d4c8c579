/*
 * reduce.c - reductions: sum and mean over any set of dims, max and argmax along one dim.
 *
 * Every reduction is brought to the form x[O, R, I] -> out[O, I], reducing the middle index:
 * when the reduced dims are adjacent in a contiguous input that is x itself (I = 1: row sums
 * over the trailing dims; O = 1: column sums over the leading dims); otherwise x is first
 * copied with its kept dims moved to the front, giving [O, R, 1]. Either way out[O, I] is the
 * output in row-major order of the kept dims.
 *
 * Sums accumulate in double, so reductions over millions of elements stay as accurate as
 * PyTorch's pairwise float sums. Long rows and columns are split into fixed-size chunks whose
 * partial sums are added in a fixed order, so results do not depend on the thread count.
 * cx_max/cx_argmax pick the first maximal element (NaN counts as maximal, as in PyTorch); the
 * gradient of cx_max goes to that element only.
 */
#include "cortex_impl.h"

#include <math.h>
#include <string.h>

enum {
    CHUNK = 16384,  /* row elements per work item */
    COLS = 64,      /* columns per work item in column reductions */
    RCHUNK = 1024,  /* rows per work item when a column reduction has few column blocks */
    MAX_SPLIT = 32, /* most pieces a column reduction's rows are split into */
};

/* ---- plans: x as [outer, red, inner] ---- */

typedef struct {
    int64_t outer, red, inner; /* reduce x[outer, red, inner] over red */
    const float *data;         /* x's elements in that layout */
    float *tmp;                /* the permuted copy behind data, or NULL */
} plan;

/* Brings x (any strides) to the [outer, red, inner] form for the dims in mask (bit d: dim d
 * is reduced). False + error if a copy could not be allocated. */
static bool plan_make(const cx_tensor *x, unsigned mask, plan *p) {
    int nd = x->ndim, first = -1, last = -1;
    for (int d = 0; d < nd; d++) {
        if (!(mask >> d & 1)) continue;
        if (first < 0) first = d;
        last = d;
    }
    bool adjacent = true;
    for (int d = first + 1; first >= 0 && d < last; d++)
        adjacent &= (mask >> d & 1) || x->shape[d] == 1;
    p->tmp = NULL;
    p->outer = p->red = p->inner = 1;
    if (adjacent && cx__is_contiguous(x)) {
        for (int d = 0; d < nd; d++) {
            if (mask >> d & 1) p->red *= x->shape[d];
            else if (first < 0 || d < first) p->outer *= x->shape[d];
            else p->inner *= x->shape[d];
        }
        p->data = cx__f32(x);
        return true;
    }
    /* Copy through a view of x with the kept dims first: the copy is [outer, red]. */
    cx_tensor v = *x;
    int k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int d = 0; d < nd; d++) {
            if ((int)(mask >> d & 1) != pass) continue;
            v.shape[k] = x->shape[d];
            v.stride[k++] = x->stride[d];
            if (pass) p->red *= x->shape[d];
            else p->outer *= x->shape[d];
        }
    }
    int64_t n = cx__numel(nd, x->shape);
    p->tmp = cx__temp_alloc((size_t)n * sizeof(float));
    if (!p->tmp) return false;
    cx__copy_strided(&v, p->tmp);
    p->data = p->tmp;
    return true;
}

/* x's logical shape as [outer, shape[dim], inner]. */
static void split_at(const cx_tensor *x, int dim, int64_t *outer, int64_t *red, int64_t *inner) {
    *outer = *red = *inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim) *outer *= x->shape[d];
        else if (d == dim) *red = x->shape[d];
        else *inner *= x->shape[d];
    }
}

/* ---- sum kernels ---- */

/* Pieces of SPAN elements are summed in float (vector lanes of SPAN / width terms each), the
 * pieces' sums in double: as sum_block below, for speed without AVX-512's wide conversions. */
enum { SPAN = 256 };
CX_VECTORIZE
static double sum_span(const float *x, int64_t n) {
    double acc = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += SPAN) {
        int64_t len = n - i0 < SPAN ? n - i0 : SPAN;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t i = 0; i < len; i++) part += x[i0 + i];
        acc += part;
    }
    return acc;
}

/* acc[0..len) += sum over rows of x[r * stride + j], len <= COLS. Groups of GROUP rows are
 * summed in float and each group's sums added in double: converting every element to double
 * ran at half the vector width and took 5x PyTorch's time on AVX2. */
enum { GROUP = 32 };
CX_VECTORIZE
static void sum_block(const float *x, int64_t rows, int64_t stride, int64_t len, double *acc) {
    for (int64_t r0 = 0; r0 < rows; r0 += GROUP) {
        float part[COLS] = {0};
        int64_t r1 = rows - r0 < GROUP ? rows : r0 + GROUP;
        for (int64_t r = r0; r < r1; r++) {
            const float *row = x + r * stride;
#pragma omp simd
            for (int64_t j = 0; j < len; j++) part[j] += row[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < len; j++) acc[j] += part[j];
    }
}

/* out[o] = scale * sum_r x[o, r], x is [outer, red]. */
static bool sum_rows(const float *x, int64_t outer, int64_t red, double scale, float *out) {
    int64_t chunks = red > CHUNK ? (red + CHUNK - 1) / CHUNK : 1;
    if (chunks == 1) {
#pragma omp parallel for if (outer * red > CX_PARALLEL_MIN && outer > 1)
        for (int64_t o = 0; o < outer; o++) out[o] = (float)(sum_span(x + o * red, red) * scale);
        return true;
    }
    double *part = cx__temp_alloc((size_t)(outer * chunks) * sizeof *part); /* [outer, chunks] */
    if (!part) return false;
#pragma omp parallel for if (outer * red > CX_PARALLEL_MIN)
    for (int64_t w = 0; w < outer * chunks; w++) {
        int64_t o = w / chunks, c0 = (w % chunks) * CHUNK;
        part[w] = sum_span(x + o * red + c0, red - c0 < CHUNK ? red - c0 : CHUNK);
    }
    for (int64_t o = 0; o < outer; o++) {
        double acc = 0.0;
        for (int64_t c = 0; c < chunks; c++) acc += part[o * chunks + c];
        out[o] = (float)(acc * scale);
    }
    cx__temp_free(part);
    return true;
}

/* out[o, i] = scale * sum_r x[o, r, i]. Work items are (o, block of COLS columns, piece of
 * the rows); rows are split only when there are too few blocks to keep threads busy. */
static bool sum_cols(const float *x, int64_t outer, int64_t red, int64_t inner, double scale,
                     float *out) {
    int64_t blocks = (inner + COLS - 1) / COLS, split = 1;
    if (outer * blocks < 16 && red > RCHUNK)
        split = (red + RCHUNK - 1) / RCHUNK < MAX_SPLIT ? (red + RCHUNK - 1) / RCHUNK : MAX_SPLIT;
    int64_t piece = (red + split - 1) / split, items = outer * blocks * split;
    double *part = NULL; /* [items, COLS] partial sums when rows are split */
    if (split > 1 && !(part = cx__temp_alloc((size_t)items * COLS * sizeof *part))) return false;
#pragma omp parallel for if (outer * red * inner > CX_PARALLEL_MIN && items > 1)
    for (int64_t w = 0; w < items; w++) {
        int64_t o = w / (blocks * split), b = w / split % blocks, s = w % split;
        int64_t j0 = b * COLS, len = inner - j0 < COLS ? inner - j0 : COLS;
        int64_t r0 = s * piece, rows = red - r0 < piece ? red - r0 : piece;
        double acc[COLS] = {0};
        if (rows > 0) sum_block(x + (o * red + r0) * inner + j0, rows, inner, len, acc);
        if (split == 1) {
            for (int64_t j = 0; j < len; j++) out[o * inner + j0 + j] = (float)(acc[j] * scale);
        } else {
            memcpy(part + w * COLS, acc, sizeof acc);
        }
    }
    for (int64_t w = 0; split > 1 && w < items; w += split) {
        int64_t o = w / (blocks * split), j0 = w / split % blocks * COLS;
        int64_t len = inner - j0 < COLS ? inner - j0 : COLS;
        for (int64_t j = 0; j < len; j++) {
            double acc = 0.0;
            for (int64_t s = 0; s < split; s++) acc += part[(w + s) * COLS + j];
            out[o * inner + j0 + j] = (float)(acc * scale);
        }
    }
    cx__temp_free(part);
    return true;
}

/* grad[0..n) += scale * g[i * gs] (gs is 0 or 1). */
CX_VECTORIZE
static void add_row(float *grad, const float *g, int64_t gs, int64_t n, float scale) {
    if (gs == 0) {
        float v = scale * g[0];
        for (int64_t i = 0; i < n; i++) grad[i] += v;
    } else {
        for (int64_t i = 0; i < n; i++) grad[i] += scale * g[i];
    }
}

/* grad (contiguous, shape) += scale * g, g (contiguous, the kept dims of shape) broadcast
 * back along the dims in mask. */
static void expand_add(const float *g, float scale, int nd, const int64_t *shape, unsigned mask,
                       float *grad) {
    int64_t n = cx__numel(nd, shape);
    if (n == 0) return;
    int64_t sh[CX_MAX_DIMS], st[2][CX_MAX_DIMS]; /* st[0]: grad's strides, st[1]: g's */
    int64_t s_grad = 1, s_g = 1;
    for (int d = nd - 1; d >= 0; d--) {
        sh[d] = shape[d];
        st[0][d] = s_grad;
        s_grad *= shape[d];
        st[1][d] = (mask >> d & 1) ? 0 : s_g;
        if (!(mask >> d & 1)) s_g *= shape[d];
    }
    int cd = cx__collapse_dims(nd, sh, 2, st);
    int64_t inner = sh[cd - 1], rows = n / inner, chunks = (inner + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n > CX_PARALLEL_MIN && rows * chunks > 1)
    for (int64_t w = 0; w < rows * chunks; w++) {
        int64_t r = w / chunks, c0 = (w % chunks) * CHUNK, og = c0 * st[1][cd - 1], rem = r;
        for (int d = cd - 2; d >= 0; d--) {
            og += rem % sh[d] * st[1][d];
            rem /= sh[d];
        }
        add_row(grad + r * inner + c0, g + og, st[1][cd - 1],
                inner - c0 < CHUNK ? inner - c0 : CHUNK, scale);
    }
}

/* ---- sum and mean ---- */

/* Checks dims (n of them; n = 0: all) against x; sets mask (bit d: dim d is reduced). A 0-d
 * x accepts dim 0 or -1 and reduces nothing, as PyTorch does. */
static bool dims_mask(const char *op, const cx_tensor *x, int n, const int *dims,
                      unsigned *mask) {
    int nd = x->ndim;
    char s[CX_SHAPE_STR_MAX];
    if (n < 0 || n > CX_MAX_DIMS || (n > 0 && !dims)) {
        cx__error(CX_ERR_ARG, "%s: %d dims given%s; x %s has %d dimensions", op, n,
                  n > 0 && !dims ? " but dims is NULL" : "",
                  cx__shape_str(nd, x->shape, s, sizeof s), nd);
        return false;
    }
    if (n == 0) {
        *mask = nd ? (1u << nd) - 1 : 0;
        return true;
    }
    unsigned m = 0;
    for (int k = 0; k < n; k++) {
        int d = dims[k];
        if (!cx__dim(op, &d, nd ? nd : 1)) return false;
        if (m >> d & 1) {
            cx__error(CX_ERR_ARG, "%s: dim %d (given as %d) is listed twice; x is %s", op, d,
                      dims[k], cx__shape_str(nd, x->shape, s, sizeof s));
            return false;
        }
        m |= 1u << d;
    }
    *mask = nd ? m : 0;
    return true;
}

/* The output shape: x's shape without the masked dims (with them as 1 if keepdim). */
static int reduced_shape(const cx_tensor *x, unsigned mask, bool keepdim, int64_t *shape) {
    int k = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!(mask >> d & 1)) shape[k++] = x->shape[d];
        else if (keepdim) shape[k++] = 1;
    }
    return k;
}

static cx_tensor *sum_common(const char *name, const cx_op *op, cx_tensor *x, int n,
                             const int *dims, bool keepdim, bool mean) {
    if (!cx__check_f32(name, "x", x)) return NULL;
    unsigned mask;
    if (!dims_mask(name, x, n, dims, &mask)) return NULL;
    int64_t shape[CX_MAX_DIMS];
    int ond = reduced_shape(x, mask, keepdim, shape);
    plan p;
    if (!plan_make(x, mask, &p)) return NULL;
    cx_tensor *out = cx__tensor_empty(CX_DTYPE_F32, ond, shape);
    double scale = mean ? 1.0 / (double)p.red : 1.0; /* mean of nothing: 0 * inf = NaN */
    bool ok = out && (p.inner == 1 ? sum_rows(p.data, p.outer, p.red, scale, cx__f32(out))
                                   : sum_cols(p.data, p.outer, p.red, p.inner, scale,
                                              cx__f32(out)));
    cx__temp_free(p.tmp);
    if (!ok) {
        cx_tensor_free(out);
        return NULL;
    }
    out = cx__finish(out, op, 1, &x);
    if (out && out->node) {
        out->node->i[0] = mask;
        out->node->f[0] = (float)scale;
    }
    return out;
}

cx_tensor *cx_sum(cx_tensor *x, int n, const int *dims, bool keepdim) {
    return sum_common("sum", &cx_op_sum, x, n, dims, keepdim, false);
}

cx_tensor *cx_mean(cx_tensor *x, int n, const int *dims, bool keepdim) {
    return sum_common("mean", &cx_op_mean, x, n, dims, keepdim, true);
}

/* d(sum)/dx = 1 and d(mean)/dx = 1/R: every element gets its output's gradient times scale. */
static cx_status sum_backward(cx_node *node, cx_tensor *out, const float *gout) {
    (void)out;
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *g = cx__grad(x);
    if (!g) return cx_last_status();
    expand_add(gout, node->f[0], x->ndim, x->shape, (unsigned)node->i[0], g);
    return CX_OK;
}

/* ---- max and argmax ---- */

/* First maximal element of x[0..n), n >= 1; NaN counts as maximal. */
CX_VECTORIZE
static int64_t argmax_span(const float *x, int64_t n) {
    float m = x[0];
    int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int64_t i = 0; i < n; i++) {
        m = x[i] > m ? x[i] : m;
        nan |= x[i] != x[i];
    }
    for (int64_t i = 0; i < n; i++)
        if (nan ? x[i] != x[i] : x[i] == m) return i;
    return 0;
}

/* best[j], idx[j] = max and first argmax over rows of x[r * stride + j], j < len. */
CX_VECTORIZE
static void argmax_block(const float *x, int64_t rows, int64_t stride, int64_t len, float *best,
                         int32_t *idx) {
    for (int64_t j = 0; j < len; j++) {
        best[j] = x[j];
        idx[j] = 0;
    }
    for (int64_t r = 1; r < rows; r++) {
        const float *row = x + r * stride;
        for (int64_t j = 0; j < len; j++) {
            float v = row[j];
            bool take = v > best[j] || (v != v && best[j] == best[j]);
            best[j] = take ? v : best[j];
            idx[j] = take ? (int32_t)r : idx[j];
        }
    }
}

/* Max (into vals, may be NULL) and first argmax (into idx) of x along dim; vals and idx have
 * out's shape. Returns false + error. */
static bool argmax_compute(const char *name, cx_tensor *x, int *dim, bool keepdim,
                           cx_tensor **vals, cx_tensor **idx) {
    *idx = NULL;
    if (vals) *vals = NULL;
    if (!cx__check_f32(name, "x", x) || !cx__dim(name, dim, x->ndim ? x->ndim : 1)) return false;
    if (x->ndim == 0) *dim = 0;
    char s[CX_SHAPE_STR_MAX];
    int64_t red = x->ndim ? x->shape[*dim] : 1;
    if (red == 0 || red > INT32_MAX) {
        cx__error(CX_ERR_SHAPE, "%s: cannot take the maximum along dim %d of x %s (size %lld)",
                  name, *dim, cx__shape_str(x->ndim, x->shape, s, sizeof s), (long long)red);
        return false;
    }
    unsigned mask = x->ndim ? 1u << *dim : 0;
    int64_t shape[CX_MAX_DIMS];
    int ond = reduced_shape(x, mask, keepdim, shape);
    plan p;
    if (!plan_make(x, mask, &p)) return false;
    float *best = NULL;
    *idx = cx__tensor_empty(CX_DTYPE_I32, ond, shape);
    if (*idx && vals) *vals = cx__tensor_empty(CX_DTYPE_F32, ond, shape);
    if (*idx && !vals) best = cx__temp_alloc((size_t)cx__numel(ond, shape) * sizeof *best);
    if (!*idx || (vals && !*vals) || (!vals && !best)) {
        cx__temp_free(p.tmp);
        cx_tensor_free(*idx);
        *idx = NULL;
        return false;
    }
    if (vals) best = cx__f32(*vals);
    int32_t *ix = cx__i32(*idx);
    if (p.inner == 1) {
#pragma omp parallel for if (p.outer * p.red > CX_PARALLEL_MIN && p.outer > 1)
        for (int64_t o = 0; o < p.outer; o++) {
            int64_t k = argmax_span(p.data + o * p.red, p.red);
            ix[o] = (int32_t)k;
            best[o] = p.data[o * p.red + k];
        }
    } else {
        int64_t blocks = (p.inner + COLS - 1) / COLS;
#pragma omp parallel for if (p.outer * p.red * p.inner > CX_PARALLEL_MIN)
        for (int64_t w = 0; w < p.outer * blocks; w++) {
            int64_t o = w / blocks, j0 = w % blocks * COLS;
            int64_t len = p.inner - j0 < COLS ? p.inner - j0 : COLS;
            argmax_block(p.data + o * p.red * p.inner + j0, p.red, p.inner, len,
                         best + o * p.inner + j0, ix + o * p.inner + j0);
        }
    }
    if (!vals) cx__temp_free(best);
    cx__temp_free(p.tmp);
    return true;
}

cx_tensor *cx_max(cx_tensor *x, int dim, bool keepdim) {
    cx_tensor *vals, *idx;
    if (!argmax_compute("max", x, &dim, keepdim, &vals, &idx)) return NULL;
    vals = cx__finish(vals, &cx_op_max, 1, &x);
    if (vals && vals->node) {
        vals->node->saved = idx; /* the node takes our reference */
        vals->node->i[0] = dim;
    } else {
        cx_tensor_free(idx);
    }
    return vals;
}

cx_tensor *cx_argmax(cx_tensor *x, int dim, bool keepdim) {
    cx_tensor *idx;
    if (!argmax_compute("argmax", x, &dim, keepdim, NULL, &idx)) return NULL;
    return idx;
}

/* d max/dx = 1 at the first maximal element of each slice, 0 elsewhere. */
static cx_status max_backward(cx_node *node, cx_tensor *out, const float *gout) {
    cx_tensor *x = node->in[0];
    if (!cx__needs_grad(x)) return CX_OK;
    float *g = cx__grad(x);
    if (!g) return cx_last_status();
    int64_t outer, red, inner;
    split_at(x, (int)node->i[0], &outer, &red, &inner);
    const int32_t *ix = cx__i32(node->saved);
    (void)out;
#pragma omp parallel for if (outer * inner > CX_PARALLEL_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++)
            g[(o * red + ix[o * inner + i]) * inner + i] += gout[o * inner + i];
    return CX_OK;
}

/* ---- test rows ---- */

static cx_tensor *run_sum_all(cx_tensor *const *x) { return cx_sum(x[0], 0, NULL, false); }
static cx_tensor *run_sum_last(cx_tensor *const *x) {
    return cx_sum(x[0], 1, (const int[]){-1}, false);
}
static cx_tensor *run_sum_first(cx_tensor *const *x) {
    return cx_sum(x[0], 1, (const int[]){0}, false);
}
static cx_tensor *run_sum_mid_keep(cx_tensor *const *x) {
    return cx_sum(x[0], 1, (const int[]){1}, true);
}
static cx_tensor *run_sum_multi(cx_tensor *const *x) {
    return cx_sum(x[0], 2, (const int[]){0, 2}, false);
}
static cx_tensor *run_sum_multi_keep(cx_tensor *const *x) {
    return cx_sum(x[0], 2, (const int[]){-1, 1}, true);
}
static cx_tensor *run_mean_all(cx_tensor *const *x) { return cx_mean(x[0], 0, NULL, false); }
static cx_tensor *run_mean_last(cx_tensor *const *x) {
    return cx_mean(x[0], 1, (const int[]){-1}, false);
}
static cx_tensor *run_mean_first(cx_tensor *const *x) {
    return cx_mean(x[0], 1, (const int[]){0}, false);
}
static cx_tensor *run_mean_mid_keep(cx_tensor *const *x) {
    return cx_mean(x[0], 1, (const int[]){-2}, true);
}
static cx_tensor *run_mean_multi(cx_tensor *const *x) {
    return cx_mean(x[0], 2, (const int[]){0, 2}, false);
}
static cx_tensor *run_max_last(cx_tensor *const *x) { return cx_max(x[0], -1, false); }
static cx_tensor *run_max_first(cx_tensor *const *x) { return cx_max(x[0], 0, false); }
static cx_tensor *run_max_mid_keep(cx_tensor *const *x) { return cx_max(x[0], -2, true); }
static cx_tensor *run_max_last_keep(cx_tensor *const *x) { return cx_max(x[0], 1, true); }

CX_OP_DEFINE(sum, .backward = sum_backward,
             .tests = (const cx_op_test[]){
                 {.name = "sum_all", .run = run_sum_all, .n_in = 1, .in = {CX_IN(3, 4)}},
                 {.name = "sum_last", .run = run_sum_last, .n_in = 1, .in = {CX_IN(3, 7)}},
                 {.name = "sum_first", .run = run_sum_first, .n_in = 1, .in = {CX_IN(5, 7)}},
                 {.name = "sum_mid_keep", .run = run_sum_mid_keep, .n_in = 1,
                  .in = {CX_IN(2, 3, 5)}},
                 {.name = "sum_multi", .run = run_sum_multi, .n_in = 1,
                  .in = {CX_IN(2, 3, 4, 5)}},
                 {.name = "sum_multi_keep", .run = run_sum_multi_keep, .n_in = 1,
                  .in = {CX_IN(2, 3, 4, 5)}},
                 {.name = "sum_vec", .run = run_sum_last, .n_in = 1, .in = {CX_IN(9)}},
                 {.name = "sum_wide", .run = run_sum_first, .n_in = 1, .in = {CX_IN(3, 130)}},
                 /* 18000 elements: chunked double accumulation */
                 {.name = "sum_big", .run = run_sum_all, .n_in = 1, .in = {CX_IN(120, 150)}},
                 /* 12000 rows per column: rows split into pieces */
                 {.name = "sum_cols_big", .run = run_sum_first, .n_in = 1,
                  .in = {CX_IN(12000, 2)}},
                 {.name = NULL}});
CX_OP_DEFINE(mean, .backward = sum_backward,
             .tests = (const cx_op_test[]){
                 {.name = "mean_all", .run = run_mean_all, .n_in = 1, .in = {CX_IN(5, 3)}},
                 {.name = "mean_last", .run = run_mean_last, .n_in = 1, .in = {CX_IN(4, 9)}},
                 {.name = "mean_first", .run = run_mean_first, .n_in = 1, .in = {CX_IN(7, 3)}},
                 {.name = "mean_mid_keep", .run = run_mean_mid_keep, .n_in = 1,
                  .in = {CX_IN(3, 5, 2)}},
                 {.name = "mean_multi", .run = run_mean_multi, .n_in = 1,
                  .in = {CX_IN(2, 3, 4, 5)}},
                 {.name = "mean_big", .run = run_mean_all, .n_in = 1, .in = {CX_IN(120, 100)}},
                 {.name = NULL}});
CX_OP_DEFINE(max, .backward = max_backward,
             .tests = (const cx_op_test[]){
                 {.name = "max_last", .run = run_max_last, .n_in = 1, .in = {CX_IN(4, 7)}},
                 {.name = "max_first", .run = run_max_first, .n_in = 1, .in = {CX_IN(5, 3)}},
                 {.name = "max_mid_keep", .run = run_max_mid_keep, .n_in = 1,
                  .in = {CX_IN(2, 5, 3)}},
                 {.name = "max_last_keep", .run = run_max_last_keep, .n_in = 1,
                  .in = {CX_IN(3, 6)}},
                 {.name = "max_vec", .run = run_max_first, .n_in = 1, .in = {CX_IN(11)}},
                 {.name = "max_wide", .run = run_max_first, .n_in = 1, .in = {CX_IN(4, 130)}},
                 {.name = NULL}});
