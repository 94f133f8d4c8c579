/*
 * graph.c - recording ops and the backward pass (reverse-mode automatic differentiation).
 *
 * Define-by-run: an op whose inputs require a gradient attaches a node to its output naming
 * the op and its inputs. cx_backward() orders the tensors reachable from the loss so that every
 * tensor comes after all tensors computed from it (reverse post-order of a depth-first walk),
 * then calls each node's backward rule, which adds into its inputs' gradient buffers.
 */
#include "cortex_impl.h"

#include <stdatomic.h>
#include <string.h>

static _Thread_local int no_grad_depth;

void cx_no_grad_begin(void) { no_grad_depth++; }
void cx_no_grad_end(void) {
    if (no_grad_depth > 0) no_grad_depth--;
}
bool cx_grad_enabled(void) { return no_grad_depth == 0; }

cx_status cx__record(cx_tensor *out, const cx_op *op, int n_in, cx_tensor *const *in) {
    if (no_grad_depth > 0) return CX_OK;
    bool any = false;
    for (int i = 0; i < n_in; i++) any |= in[i]->requires_grad;
    if (!any) return CX_OK;
    size_t bytes = sizeof(cx_node) + (size_t)n_in * sizeof(cx_tensor *);
    cx_node *node = out->arena ? cx__arena_alloc(out->arena, bytes) : cx__alloc(bytes);
    if (!node) return CX_ERR_OOM;
    memset(node, 0, sizeof *node);
    cx__anomaly_stamp(node);
    node->op = op;
    node->n_in = n_in;
    node->in = (cx_tensor **)(node + 1);
    for (int i = 0; i < n_in; i++) {
        node->in[i] = in[i];
        cx__tensor_retain(in[i]);
    }
    out->node = node;
    out->requires_grad = true;
    return CX_OK;
}

cx_tensor *cx__finish(cx_tensor *out, const cx_op *op, int n_in, cx_tensor *const *in) {
    if (!out) return NULL;
    if (!cx__anomaly_check_output(op, out, n_in, in) || cx__record(out, op, n_in, in) != CX_OK) {
        cx_tensor_free(out);
        return NULL;
    }
    return out;
}

float *cx__grad(cx_tensor *t) {
    if (!t->grad) {
        t->grad = cx__tensor_alloc(t->arena, CX_DTYPE_F32, t->ndim, t->shape);
        if (!t->grad) return NULL;
        memset(t->grad->storage->data, 0, t->grad->storage->bytes);
    }
    return cx__f32(t->grad);
}

float *cx__grad_assign(cx_tensor *t, bool *assign) {
    *assign = !t->grad;
    if (!t->grad) t->grad = cx__tensor_alloc(t->arena, CX_DTYPE_F32, t->ndim, t->shape);
    return t->grad ? cx__f32(t->grad) : NULL;
}

void cx__tensor_set_grad(cx_tensor *t, cx_tensor *g) {
    CX_ASSERT(g->dtype == CX_DTYPE_F32 && g->ndim == t->ndim && cx__is_contiguous(g));
    cx_tensor_free(t->grad);
    t->grad = g;
}

cx_status cx_tensor_set_requires_grad(cx_tensor *t, bool requires_grad) {
    if (!cx__check("cx_tensor_set_requires_grad", "t", t)) return cx_last_status();
    if (t->node)
        return cx__error(CX_ERR_ARG, "cx_tensor_set_requires_grad: only leaf tensors (not made "
                                     "by an op) can change requires_grad; use cx_detach first");
    if (requires_grad && t->dtype != CX_DTYPE_F32)
        return cx__error(CX_ERR_DTYPE, "cx_tensor_set_requires_grad: only f32 tensors can "
                                       "require a gradient, this one is %s",
                         cx_dtype_name(t->dtype));
    t->requires_grad = requires_grad;
    return CX_OK;
}

bool cx_tensor_requires_grad(const cx_tensor *t) { return cx_tensor_valid(t) && t->requires_grad; }

cx_tensor *cx_tensor_grad(cx_tensor *t) { return cx_tensor_valid(t) ? t->grad : NULL; }

void cx_tensor_zero_grad(cx_tensor *t) {
    /* the gradient may be a view into a larger buffer (a model's flat gradient vector) */
    if (cx_tensor_valid(t) && t->grad)
        memset(cx__f32(t->grad), 0, (size_t)cx__numel(t->grad->ndim, t->grad->shape) * 4);
}

cx_tensor *cx_detach(cx_tensor *t) {
    if (!cx__check("cx_detach", "t", t)) return NULL;
    return cx__tensor_view(t, t->ndim, t->shape, t->stride, t->offset);
}

/* ---- backward ---- */

/* Work arrays kept per thread and grown as needed, so steady-state steps allocate nothing. */
static _Thread_local cx_tensor **order;    /* post-order of the graph */
static _Thread_local cx_tensor **stack;    /* DFS stack */
static _Thread_local int *stack_next;      /* next input to visit, per stack entry */
static _Thread_local size_t work_cap;
static _Thread_local cx__leaf_hook leaf_hook;
static _Thread_local void *leaf_hook_ctx;

void cx__backward_set_leaf_hook(cx__leaf_hook fn, void *ctx) {
    leaf_hook = fn;
    leaf_hook_ctx = ctx;
}
static atomic_uint_fast64_t visit_stamp;

static bool grow_work(size_t need) {
    if (need <= work_cap) return true;
    size_t cap = work_cap ? work_cap * 2 : 1024;
    while (cap < need) cap *= 2;
    cx_tensor **o = cx__alloc(cap * sizeof *o);
    cx_tensor **s = cx__alloc(cap * sizeof *s);
    int *sn = cx__alloc(cap * sizeof *sn);
    if (!o || !s || !sn) {
        cx__free(o);
        cx__free(s);
        cx__free(sn);
        return false;
    }
    if (work_cap) {
        memcpy(o, order, work_cap * sizeof *o);
        memcpy(s, stack, work_cap * sizeof *s);
        memcpy(sn, stack_next, work_cap * sizeof *sn);
    }
    cx__free(order);
    cx__free(stack);
    cx__free(stack_next);
    order = o;
    stack = s;
    stack_next = sn;
    work_cap = cap;
    return true;
}

/* Fills order[0..*count) with the tensors reachable from root that require a gradient, every
 * tensor after the tensors it was computed from. Zeroes non-leaf gradients so that a second
 * backward over the same graph does not count the first one twice. */
static cx_status topo_sort(cx_tensor *root, size_t *count) {
    uint64_t stamp = atomic_fetch_add(&visit_stamp, 1) + 1;
    size_t n = 0, depth = 0;
    if (!grow_work(16)) return CX_ERR_OOM;
    stack[0] = root;
    stack_next[0] = 0;
    depth = 1;
    root->visit = stamp;
    while (depth) {
        cx_tensor *t = stack[depth - 1];
        cx_node *node = t->node;
        if (node && stack_next[depth - 1] < node->n_in) {
            cx_tensor *in = node->in[stack_next[depth - 1]++];
            if (in->magic != CX_TENSOR_MAGIC)
                return cx__error(CX_ERR_ARG, "cx_backward: the graph uses a tensor that was freed "
                                             "or whose arena was reset");
            if (!in->requires_grad || in->visit == stamp) continue;
            in->visit = stamp;
            if (!grow_work(depth + 1)) return CX_ERR_OOM;
            stack[depth] = in;
            stack_next[depth] = 0;
            depth++;
            continue;
        }
        depth--;
        if (!grow_work(n + 1)) return CX_ERR_OOM;
        order[n++] = t;
        /* (the root's gradient is overwritten by the seed instead) */
        if (t->node && t->grad && t != root)
            memset(t->grad->storage->data, 0, t->grad->storage->bytes);
    }
    *count = n;
    return CX_OK;
}

cx_status cx_backward_grad(cx_tensor *t, cx_tensor *grad) {
    if (!cx__check("cx_backward", "tensor", t)) return cx_last_status();
    if (grad && !cx__check_f32("cx_backward", "grad", grad)) return cx_last_status();
    if (!t->requires_grad)
        return cx__error(CX_ERR_ARG, "cx_backward: the tensor does not require a gradient (no "
                                     "input requires one, or it was built in no-grad mode)");
    if (grad) {
        bool same = grad->ndim == t->ndim;
        for (int i = 0; same && i < t->ndim; i++) same = grad->shape[i] == t->shape[i];
        if (!same) {
            char a[CX_SHAPE_STR_MAX], b[CX_SHAPE_STR_MAX];
            return cx__error(CX_ERR_SHAPE, "cx_backward: grad %s does not match tensor %s",
                             cx__shape_str(grad->ndim, grad->shape, a, sizeof a),
                             cx__shape_str(t->ndim, t->shape, b, sizeof b));
        }
    }
    size_t n = 0;
    cx_status st = topo_sort(t, &n);
    if (st != CX_OK) return st;
    /* Seed d(t)/d(t) = grad (or 1). A leaf accumulates it; a non-leaf's gradient was zeroed
     * by the sort, so the seed is written over it with no temporary. */
    if (!t->grad && t->node) { /* written in full below: no need to zero it first */
        t->grad = cx__tensor_alloc(t->arena, CX_DTYPE_F32, t->ndim, t->shape);
        if (!t->grad) return cx_last_status();
    }
    float *seed = t->grad ? cx__f32(t->grad) : cx__grad(t);
    if (!seed) return cx_last_status();
    int64_t numel = cx__numel(t->ndim, t->shape);
    if (grad && t->node) {
        cx__copy_strided(grad, seed);
    } else if (grad) {
        float *g = cx__temp_alloc((size_t)numel * sizeof *g);
        if (!g) return cx_last_status();
        cx__copy_strided(grad, g);
        for (int64_t i = 0; i < numel; i++) seed[i] += g[i];
        cx__temp_free(g);
    } else {
        for (int64_t i = 0; i < numel; i++) seed[i] = t->node ? 1.0f : seed[i] + 1.0f;
    }
    for (size_t k = n; k-- > 0;) {
        cx_tensor *x = order[k];
        /* order is topological: every op using leaf x comes after it, so has already run */
        if (!x->node && leaf_hook) leaf_hook(x, leaf_hook_ctx);
        if (!x->node || !x->grad) continue;
        st = x->node->op->backward(x->node, x, cx__f32(x->grad));
        if (st == CX_OK) st = cx__anomaly_check_backward(x->node);
        if (st != CX_OK) return st;
    }
    return CX_OK;
}

cx_status cx_backward(cx_tensor *loss) {
    if (!cx__check("cx_backward", "loss", loss)) return cx_last_status();
    if (cx__numel(loss->ndim, loss->shape) != 1) {
        char s[CX_SHAPE_STR_MAX];
        return cx__error(CX_ERR_SHAPE, "cx_backward: loss %s has %lld elements; a loss must "
                                       "have one (or use cx_backward_grad)",
                         cx__shape_str(loss->ndim, loss->shape, s, sizeof s),
                         (long long)cx__numel(loss->ndim, loss->shape));
    }
    return cx_backward_grad(loss, NULL);
}
