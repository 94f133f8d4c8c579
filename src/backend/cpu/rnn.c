/*
 * rnn.c - one recurrent layer over a whole sequence on the CPU: Elman RNN (tanh or ReLU), LSTM
 * and GRU with PyTorch's equations, gate order and weight layout, forward and backward through
 * time (BPTT).
 *
 * Layout (time-major, all contiguous): x [T, N, I], outputs y [T, N, H], weights
 * w_ih [K H, I] and w_hh [K H, H] with K gate blocks (1 RNN; 4 LSTM: i, f, g, o; 3 GRU: r, z, n).
 *
 *   forward   Gi = x·w_ihᵀ + b_ih (+ b_hh)           one sgemm over all T N rows
 *             per step t:  Gh_t = h_{t-1}·w_hhᵀ (+ b_hh)  then the cell, row by row
 *   backward  per step t (from T-1 down):  the cell's derivative gives dGi_t (and dGh_t), then
 *             dh_{t-1} = dGh_t·w_hh (+ GRU's direct z ⊙ dh)
 *             dx += dGi·w_ih, dw_ih += dGiᵀ·x, dw_hh += dGhᵀ·[h0; y_0..y_{T-2}], db = column
 *             sums: four sgemms over all T N rows after the loop
 * Only the per-step products are small ([N, H]·[H, K H]); everything that can be one big
 * product is. The rows of the batch are independent through time, so the steps run with the
 * batch split across threads, each thread calling a single-threaded sgemm on its rows (as
 * conv.c does with images) instead of one multi-threaded sgemm per tiny step.
 *
 * Saved for backward (the caller's buffers): the activated gates of every step (written over
 * Gi) and per cell: LSTM c_t and tanh(c_t) [T, N, 2H]; GRU the recurrent part of the new-gate
 * pre-activation, hn_t = w_hn h_{t-1} + b_hn [T, N, H] (r multiplies it); RNN nothing.
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.LSTM.html (and GRU, RNN).
 */
#include "cortex_impl.h"
#include "backend/cpu/vmath.h" /* defines: cx__vsigmoid, cx__vtanh */

#include <omp.h>
#include <string.h>

int cx__rnn_gates(cx_cell_kind kind) {
    return kind == CX_CELL_LSTM ? 4 : kind == CX_CELL_GRU ? 3 : 1;
}

int cx__rnn_extra(cx_cell_kind kind) {
    return kind == CX_CELL_LSTM ? 2 : kind == CX_CELL_GRU ? 1 : 0;
}

/* Threads for the step loop: one per slice of at least 8 rows. */
static int step_threads(int64_t n) {
    int t = omp_in_parallel() ? 1 : cx_get_num_threads();
    while (t > 1 && n / t < 8) t--;
    return t;
}

/* Runs body(r0, r1) on slices of the rows [0, n) (across threads when more than one; sgemm
 * must not be called from an inactive region, see src/ops/matmul.c). */
#define FOR_SLICES(n, r0, r1, ...)                                                            \
    do {                                                                                       \
        int nt_ = step_threads(n);                                                             \
        if (nt_ > 1) {                                                                         \
            _Pragma("omp parallel num_threads(nt_)") {                                         \
                int k_ = omp_get_thread_num();                                                 \
                int64_t r0 = (n) * k_ / nt_, r1 = (n) * (k_ + 1) / nt_;                        \
                __VA_ARGS__;                                                                   \
            }                                                                                  \
        } else {                                                                               \
            int64_t r0 = 0, r1 = (n);                                                          \
            __VA_ARGS__;                                                                       \
        }                                                                                      \
    } while (0)

/* rows [rows, cols] = bias (+ bias2) each; zeros when both are NULL. */
static void fill_rows(float *y, int64_t rows, int64_t cols, const float *b, const float *b2) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        for (int64_t j = 0; j < cols; j++) yr[j] = (b ? b[j] : 0.0f) + (b2 ? b2[j] : 0.0f);
    }
}

/* db[j] += sum over rows of g[r, j] */
CX_VECTORIZE static void column_sums(const float *g, int64_t rows, int64_t cols, float *db) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = g + r * cols;
        for (int64_t j = 0; j < cols; j++) db[j] += row[j];
    }
}

/* ---- cells, forward: one step for nb rows; g (nb, K H) holds the pre-activations ---- */

CX_VECTORIZE static void rnn_cell(int64_t nb, int64_t H, bool relu, float *restrict g, float *restrict h) {
    for (int64_t r = 0; r < nb; r++)
        for (int64_t j = 0; j < H; j++) {
            float a = g[r * H + j];
            h[r * H + j] = relu ? cx__vselect(a > 0.0f, a, 0.0f) : cx__vtanh(a);
        }
}

/* c = f cprev + i g, h = o tanh(c); e (nb, 2H) receives c and tanh(c). */
CX_VECTORIZE static void lstm_cell(int64_t nb, int64_t H, float *restrict g,
                                   const float *restrict cprev, int64_t ldc, float *restrict e,
                                   float *restrict h) {
    for (int64_t r = 0; r < nb; r++) {
        float *gr = g + r * 4 * H, *er = e + r * 2 * H;
        const float *cp = cprev + r * ldc;
        for (int64_t j = 0; j < H; j++) {
            float i = cx__vsigmoid(gr[j]), f = cx__vsigmoid(gr[H + j]);
            float gg = cx__vtanh(gr[2 * H + j]), o = cx__vsigmoid(gr[3 * H + j]);
            float c = f * cp[j] + i * gg, tc = cx__vtanh(c);
            gr[j] = i, gr[H + j] = f, gr[2 * H + j] = gg, gr[3 * H + j] = o;
            er[j] = c, er[H + j] = tc;
            h[r * H + j] = o * tc;
        }
    }
}

/* r, z from gi + gh; n = tanh(gi_n + r hn) with hn = gh_n; h = (1 - z) n + z hprev.
 * g keeps r, z, n; e (nb, H) keeps hn. */
CX_VECTORIZE static void gru_cell(int64_t nb, int64_t H, float *restrict g, const float *restrict gh,
                                  const float *restrict hprev, float *restrict e,
                                  float *restrict h) {
    for (int64_t r = 0; r < nb; r++) {
        float *gr = g + r * 3 * H;
        const float *hr = gh + r * 3 * H, *hp = hprev + r * H;
        for (int64_t j = 0; j < H; j++) {
            float rr = cx__vsigmoid(gr[j] + hr[j]), z = cx__vsigmoid(gr[H + j] + hr[H + j]);
            float hn = hr[2 * H + j], n = cx__vtanh(gr[2 * H + j] + rr * hn);
            gr[j] = rr, gr[H + j] = z, gr[2 * H + j] = n;
            e[r * H + j] = hn;
            h[r * H + j] = (1.0f - z) * n + z * hp[j];
        }
    }
}

/* w_hh packed for the step products into *out (NULL where the kernel is missing: they go to
 * sgemm): forward needs h·w_hhᵀ (B = w_hhᵀ [H, K H]), backward dG·w_hh (B = w_hh [K H, H]).
 * false (+ error) if its buffer cannot be allocated. Free with cx__temp_free. */
static bool pack_w_hh(const cx_rnn_pass *p, bool forward, float **out) {
    const int64_t H = p->H, KH = cx__rnn_gates(p->kind) * H;
    *out = NULL;
    if (!cx__packed_gemm_ok()) return true;
    int64_t k = forward ? H : KH, n = forward ? KH : H;
    float *w = cx__temp_alloc(cx__packed_floats(k, n) * sizeof(float));
    if (!w) return false;
    cx__pack_b(forward, k, n, p->w_hh, H, w);
    *out = w;
    return true;
}

/* c [nb, n] (+)= a [nb, k]·B, with B = w_hhᵀ (forward) or w_hh, packed in wp when not NULL. */
static void step_product(const float *wp, bool forward, int64_t nb, int64_t n, int64_t k,
                         const float *a, const float *w_hh, int64_t H, bool accumulate,
                         float *c) {
    if (wp) cx__sgemm_packed(nb, n, k, a, k, wp, accumulate, c, n);
    else cx__sgemm(false, forward, nb, n, k, 1.0f, a, k, w_hh, H, accumulate ? 1.0f : 0.0f, c, n);
}

bool cx__rnn_forward(const cx_rnn_pass *p) {
    const int64_t T = p->T, N = p->N, I = p->I, H = p->H, KH = cx__rnn_gates(p->kind) * H;
    const int64_t EH = cx__rnn_extra(p->kind) * H;
    const bool gru = p->kind == CX_CELL_GRU;
    /* Gi = x·w_ihᵀ + b_ih (+ b_hh, except for GRU, whose b_hh sits inside r ⊙ (...)) */
    fill_rows(p->gates, T * N, KH, p->b_ih, gru ? NULL : p->b_hh);
    cx__sgemm(false, true, T * N, KH, I, 1.0f, p->x, I, p->w_ih, I, 1.0f, p->gates, KH);
    float *wp;
    if (!pack_w_hh(p, true, &wp)) return false;
    FOR_SLICES(N, r0, r1, {
        int64_t nb = r1 - r0;
        for (int64_t t = 0; t < T && nb > 0; t++) {
            const float *hprev = t ? p->y + ((t - 1) * N + r0) * H : p->h0 + r0 * H;
            float *g = p->gates + (t * N + r0) * KH, *h = p->y + (t * N + r0) * H;
            float *e = p->extra ? p->extra + (t * N + r0) * EH : NULL;
            if (gru) {
                float *gh = p->scratch + r0 * KH;
                fill_rows(gh, nb, KH, p->b_hh, NULL);
                step_product(wp, true, nb, KH, H, hprev, p->w_hh, H, true, gh);
                gru_cell(nb, H, g, gh, hprev, e, h);
                continue;
            }
            step_product(wp, true, nb, KH, H, hprev, p->w_hh, H, true, g);
            if (p->kind == CX_CELL_LSTM) {
                const float *cprev = t ? e - N * EH : p->c0 + r0 * H;
                lstm_cell(nb, H, g, cprev, t ? EH : H, e, h);
            } else {
                rnn_cell(nb, H, p->kind == CX_CELL_RNN_RELU, g, h);
            }
        }
    });
    cx__temp_free(wp);
    return true;
}

/* ---- cells, backward: dh (nb, H) is d(loss)/d(h_t) ---- */

/* a = tanh(pre): d pre = dh (1 - h^2); ReLU: dh where h > 0. */
CX_VECTORIZE static void rnn_cell_back(int64_t nb, int64_t H, bool relu, const float *restrict h,
                                       const float *restrict dh, float *restrict dg) {
    for (int64_t k = 0; k < nb * H; k++)
        dg[k] = relu ? cx__vselect(h[k] > 0.0f, dh[k], 0.0f) : dh[k] * (1.0f - h[k] * h[k]);
}

/* dc = dc_next + dh o (1 - tanh²c); di = dc g, df = dc cprev, dg = dc i, do = dh tanh c, each
 * times its activation's derivative; dc_next becomes dc f (the gradient of c_{t-1}). */
CX_VECTORIZE static void lstm_cell_back(int64_t nb, int64_t H, const float *restrict g,
                                        const float *restrict e, const float *restrict cprev,
                                        int64_t ldc, const float *restrict dh,
                                        float *restrict dc_next, float *restrict dg) {
    for (int64_t r = 0; r < nb; r++) {
        const float *gr = g + r * 4 * H, *er = e + r * 2 * H, *cp = cprev + r * ldc;
        float *dgr = dg + r * 4 * H, *dcn = dc_next + r * H;
        for (int64_t j = 0; j < H; j++) {
            float i = gr[j], f = gr[H + j], gg = gr[2 * H + j], o = gr[3 * H + j];
            float tc = er[H + j], d = dh[r * H + j];
            float dc = dcn[j] + d * o * (1.0f - tc * tc);
            dgr[j] = dc * gg * i * (1.0f - i);
            dgr[H + j] = dc * cp[j] * f * (1.0f - f);
            dgr[2 * H + j] = dc * i * (1.0f - gg * gg);
            dgr[3 * H + j] = d * tc * o * (1.0f - o);
            dcn[j] = dc * f;
        }
    }
}

/* h = (1 - z) n + z hprev, n = tanh(a_n), a_n = gi_n + r hn:  dn = dh (1 - z),
 * dz = dh (hprev - n), dhprev = dh z (+ the recurrent products, added by the caller);
 * d a_n = dn (1 - n²) goes to gi_n, r times it to gh_n, and d r = d a_n hn. */
CX_VECTORIZE static void gru_cell_back(int64_t nb, int64_t H, const float *restrict g,
                                       const float *restrict e, const float *restrict hprev,
                                       const float *restrict dh, float *restrict dgi,
                                       float *restrict dgh, float *restrict dhprev) {
    for (int64_t r = 0; r < nb; r++) {
        const float *gr = g + r * 3 * H, *hp = hprev + r * H;
        float *di = dgi + r * 3 * H, *dhh = dgh + r * 3 * H;
        for (int64_t j = 0; j < H; j++) {
            float rr = gr[j], z = gr[H + j], n = gr[2 * H + j], d = dh[r * H + j];
            float dan = d * (1.0f - z) * (1.0f - n * n);
            float dar = dan * e[r * H + j] * rr * (1.0f - rr);
            float daz = d * (hp[j] - n) * z * (1.0f - z);
            di[j] = dhh[j] = dar;
            di[H + j] = dhh[H + j] = daz;
            di[2 * H + j] = dan;
            dhh[2 * H + j] = dan * rr;
            dhprev[r * H + j] = d * z;
        }
    }
}

bool cx__rnn_backward(const cx_rnn_pass *p, const cx_rnn_grads *d) {
    const int64_t T = p->T, N = p->N, I = p->I, H = p->H, KH = cx__rnn_gates(p->kind) * H;
    const int64_t EH = cx__rnn_extra(p->kind) * H;
    const bool gru = p->kind == CX_CELL_GRU, lstm = p->kind == CX_CELL_LSTM;
    /* dGi [T, N, KH], GRU's dGh [T, N, KH]; dh, dh_next, dc_next [N, H] */
    size_t floats = (size_t)(T * N * KH * (gru ? 2 : 1) + 3 * N * H);
    float *dgi = cx__temp_alloc(floats * sizeof(float));
    if (!dgi) return false;
    float *dgh = gru ? dgi + T * N * KH : dgi;
    float *dh = dgi + T * N * KH * (gru ? 2 : 1), *dh_next = dh + N * H, *dc_next = dh_next + N * H;
    if (d->ghn) memcpy(dh_next, d->ghn, (size_t)(N * H) * sizeof(float));
    else memset(dh_next, 0, (size_t)(N * H) * sizeof(float));
    if (lstm && d->gcn) memcpy(dc_next, d->gcn, (size_t)(N * H) * sizeof(float));
    else memset(dc_next, 0, (size_t)(N * H) * sizeof(float));
    float *wp;
    if (!pack_w_hh(p, false, &wp)) {
        cx__temp_free(dgi);
        return false;
    }
    FOR_SLICES(N, r0, r1, {
        int64_t nb = r1 - r0;
        for (int64_t t = T - 1; t >= 0 && nb > 0; t--) {
            const float *hprev = t ? p->y + ((t - 1) * N + r0) * H : p->h0 + r0 * H;
            const float *g = p->gates + (t * N + r0) * KH;
            const float *e = p->extra ? p->extra + (t * N + r0) * EH : NULL;
            float *dht = dh + r0 * H, *dhn = dh_next + r0 * H;
            float *dgit = dgi + (t * N + r0) * KH, *dght = dgh + (t * N + r0) * KH;
            const float *gy = d->gy ? d->gy + (t * N + r0) * H : NULL;
            for (int64_t k = 0; k < nb * H; k++) dht[k] = dhn[k] + (gy ? gy[k] : 0.0f);
            if (lstm) {
                const float *cprev = t ? e - N * EH : p->c0 + r0 * H;
                lstm_cell_back(nb, H, g, e, cprev, t ? EH : H, dht, dc_next + r0 * H, dgit);
            } else if (gru) {
                gru_cell_back(nb, H, g, e, hprev, dht, dgit, dght, dhn);
            } else {
                rnn_cell_back(nb, H, p->kind == CX_CELL_RNN_RELU, p->y + (t * N + r0) * H, dht,
                              dgit);
            }
            /* dh_{t-1} = dGh_t · w_hh (GRU: added to its direct part) */
            step_product(wp, false, nb, H, KH, dght, p->w_hh, H, gru, dhn);
        }
    });
    cx__temp_free(wp);
    if (d->dh0)
        for (int64_t k = 0; k < N * H; k++) d->dh0[k] += dh_next[k];
    if (lstm && d->dc0)
        for (int64_t k = 0; k < N * H; k++) d->dc0[k] += dc_next[k];
    if (d->dx) cx__sgemm(false, false, T * N, I, KH, 1.0f, dgi, KH, p->w_ih, I, 1.0f, d->dx, I);
    if (d->dw_ih) cx__sgemm(true, false, KH, I, T * N, 1.0f, dgi, KH, p->x, I, 1.0f, d->dw_ih, I);
    if (d->dw_hh) {
        cx__sgemm(true, false, KH, H, N, 1.0f, dgh, KH, p->h0, H, 1.0f, d->dw_hh, H);
        if (T > 1)
            cx__sgemm(true, false, KH, H, (T - 1) * N, 1.0f, dgh + N * KH, KH, p->y, H, 1.0f,
                      d->dw_hh, H);
    }
    if (d->db_ih) column_sums(dgi, T * N, KH, d->db_ih);
    if (d->db_hh) column_sums(dgh, T * N, KH, d->db_hh);
    cx__temp_free(dgi);
    return true;
}
