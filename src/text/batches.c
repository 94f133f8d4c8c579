/*
 * batches.c - truncated-BPTT batches over a token stream, and sampling from logits.
 *
 * Batches as char-rnn makes them: the stream of n ids is cut into B equal streams of
 * L = (n - 1) / B ids (plus one for the last target), and batch k holds steps
 * [k T, (k + 1) T) of every stream, so row i of batch k + 1 continues row i of batch k and a
 * stateful model can carry its state from one to the next.
 */
#include "cortex_impl.h"

#include <math.h>
#include <string.h>

struct cx_text_loader {
    int32_t *ids; /* (n) */
    int64_t n, batch, seq, stream, batches, next;
    int64_t first; /* sharded: the first of the global batch's streams this loader gives */
    cx_tensor *x, *y; /* [batch, seq] i32, reused */
};

cx_text_loader *cx_text_loader_new(cx_tensor *ids, int64_t batch, int64_t seq) {
    return cx_text_loader_new_shard(ids, batch, seq, 0, 1);
}

cx_text_loader *cx_text_loader_new_shard(cx_tensor *ids, int64_t batch, int64_t seq, int rank,
                                         int ranks) {
    if (!cx__check("text loader", "ids", ids)) return NULL;
    if (ranks < 1 || rank < 0 || rank >= ranks || ranks > (1 << 20))
        return cx__error(CX_ERR_ARG, "text loader: shard %d of %d", rank, ranks), NULL;
    if (ids->dtype != CX_DTYPE_I32 || ids->ndim != 1)
        return cx__error(CX_ERR_ARG, "text loader: ids must be i32 [n], got %s with %d "
                         "dimensions", cx_dtype_name(ids->dtype), ids->ndim), NULL;
    int64_t n = ids->shape[0], global = batch * ranks;
    if (batch < 1 || seq < 1 || batch > (1 << 20) || seq > (1 << 20) || n < global * seq + 1)
        return cx__error(CX_ERR_ARG, "text loader: %lld tokens do not fill one batch of %lld "
                         "sequences of %lld (needs %lld): use a smaller --batch or --seq, or "
                         "more text", (long long)n, (long long)global, (long long)seq,
                         (long long)(global * seq + 1)), NULL;
    cx_text_loader *l = cx__calloc(sizeof *l);
    if (!l) return NULL;
    l->ids = cx__alloc((size_t)n * sizeof *l->ids);
    l->x = l->ids ? cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(batch, seq)) : NULL;
    l->y = l->x ? cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(batch, seq)) : NULL;
    if (!l->y) {
        cx_text_loader_free(l);
        return NULL;
    }
    cx__copy_strided(ids, l->ids);
    l->n = n;
    l->batch = batch;
    l->seq = seq;
    l->stream = (n - 1) / global;
    l->first = (int64_t)rank * batch;
    l->batches = l->stream / seq;
    return l;
}

void cx_text_loader_free(cx_text_loader *l) {
    if (!l) return;
    cx__free(l->ids);
    cx_tensor_free(l->x);
    cx_tensor_free(l->y);
    cx__free(l);
}

int64_t cx_text_loader_num_batches(const cx_text_loader *l) { return l ? l->batches : 0; }
void cx_text_loader_rewind(cx_text_loader *l) {
    if (l) l->next = 0;
}

bool cx_text_loader_next(cx_text_loader *l, cx_tensor **x, cx_tensor **y) {
    if (!l || l->next >= l->batches) return false;
    int32_t *xd = cx__i32(l->x), *yd = cx__i32(l->y);
    for (int64_t b = 0; b < l->batch; b++) {
        const int32_t *src = l->ids + (l->first + b) * l->stream + l->next * l->seq;
        memcpy(xd + b * l->seq, src, (size_t)l->seq * sizeof *xd);
        memcpy(yd + b * l->seq, src + 1, (size_t)l->seq * sizeof *yd);
    }
    l->next++;
    *x = l->x;
    *y = l->y;
    return true;
}

int64_t cx_sample_logits(const float *logits, int64_t n, float temperature, int64_t top_k,
                         cx_rng *rng) {
    if (!logits || n < 1) return -1;
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(temperature > 0)) return best;
    /* the k-th largest logit is the cut: entries below it are left out */
    float cut = -INFINITY;
    if (top_k > 0 && top_k < n) {
        float *sorted = cx__temp_alloc((size_t)n * sizeof *sorted);
        if (!sorted) return best;
        memcpy(sorted, logits, (size_t)n * sizeof *sorted);
        for (int64_t k = 0; k < top_k; k++) { /* partial selection sort: k is small */
            int64_t m = k;
            for (int64_t i = k + 1; i < n; i++)
                if (sorted[i] > sorted[m]) m = i;
            float t = sorted[k];
            sorted[k] = sorted[m];
            sorted[m] = t;
        }
        cut = sorted[top_k - 1];
        cx__temp_free(sorted);
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] >= cut) total += exp((double)(logits[i] - logits[best]) / temperature);
    double u = cx_rng_uniform(rng ? rng : cx_rng_default()) * total, acc = 0;
    int64_t last = best;
    for (int64_t i = 0; i < n; i++) {
        if (logits[i] < cut) continue;
        acc += exp((double)(logits[i] - logits[best]) / temperature);
        last = i;
        if (u < acc) return i;
    }
    return last;
}
