/*
 * lstm.c - training throughput of a character-level LSTM: embedding 96 -> 64, a 2-layer
 * 128-unit LSTM, dense 128 -> 96, sequences of 40 characters in batches of 64, state carried
 * from batch to batch (truncated BPTT), Adam lr 2e-3 and gradient clipping at norm 5: the
 * twin of bench/pytorch/lstm.py. The text is random characters (the speed does not depend
 * on them).
 *
 * Prints JSON lines {"name", "ms"} with ms the median time of one training step over 5 rounds
 * of 20 steps after 5 warm-up steps, plus chars_per_s, the step's GFLOP/s (counting the
 * products it needs) and peak RSS.
 * Usage: build/bench/lstm [--threads N] [--filter SUBSTRING]
 */
#include "bench.h"

#define VOCAB 96
#define EMBED 64
#define HIDDEN 128
#define SEQ 40
#define BATCH 64
#define ROUNDS 5
#define STEPS 20
/* multiply-adds x 2 x 3 (forward, dX, dW) of the products per character: both LSTM layers'
 * input and recurrent products and the output layer */
#define STEP_FLOPS                                                                             \
    (6.0 * BATCH * SEQ *                                                                       \
     (4.0 * HIDDEN * (EMBED + HIDDEN) + 4.0 * HIDDEN * (2 * HIDDEN) + HIDDEN * VOCAB))

static const char config[] = "[model]\ninput = none\n[embedding]\nvocab = 96\ndim = 64\n"
                             "[lstm]\nhidden = 128\nlayers = 2\nreturn_sequences = true\n"
                             "stateful = true\n[dense]\nunits = 96\n";

static void bench_lstm(void) {
    cx_model *m = cx_model_from_config(config, "bench", NULL);
    if (!m) bench_die("model");
    cx_model_set_training(m, true);
    cx_tensor *params[64];
    int n = cx_model_trainable_params(m, params);
    cx_optim_params op = cx_optim_defaults(CX_OPTIM_ADAM);
    op.lr = 2e-3f;
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, &op, params, n);
    cx_tensor *x = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(BATCH, SEQ));
    cx_tensor *y = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(BATCH, SEQ));
    cx_arena *arena = cx_arena_new(0);
    if (!o || !x || !y || !arena) bench_die("setup");
    cx_rng *rng = cx_rng_new(3);
    int32_t *xd = cx_tensor_data(x), *yd = cx_tensor_data(y);
    double ms[ROUNDS];
    for (int r = -1; r < ROUNDS; r++) {
        int steps = r < 0 ? 5 : STEPS;
        double t0 = bench_now_ms();
        for (int s = 0; s < steps; s++) {
            for (int i = 0; i < BATCH * SEQ; i++) {
                xd[i] = (int32_t)(cx_rng_u32(rng) % VOCAB);
                yd[i] = (int32_t)(cx_rng_u32(rng) % VOCAB);
            }
            cx_arena_begin(arena);
            cx_optim_zero_grad(o);
            cx_tensor *loss = cx_model_loss(m, x, y, NULL);
            if (!loss || cx_backward(loss) != CX_OK) bench_die("step");
            cx_clip_grad_norm(params, n, 5.0f);
            if (cx_optim_step(o) != CX_OK) bench_die("optimizer");
            (void)cx_tensor_item(loss);
            cx_arena_end(arena);
            cx_arena_reset(arena);
        }
        if (r >= 0) ms[r] = (bench_now_ms() - t0) / steps;
    }
    double step = bench_median(ms, ROUNDS);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"name\": \"char-lstm 2x128 train step\", \"ms\": %.4f, \"chars_per_s\": %.0f, "
           "\"gflops\": %.1f, \"peak_rss_mb\": %.1f}\n",
           step, BATCH * SEQ / step * 1e3, STEP_FLOPS / step / 1e6, ru.ru_maxrss / 1024.0);
    cx_rng_free(rng);
    cx_arena_free(arena);
    cx_tensor_free(x);
    cx_tensor_free(y);
    cx_optim_free(o);
    cx_model_free(m);
}

int main(int argc, char **argv) {
    const char *filter = bench_args(argc, argv);
    if (bench_wanted(filter, "char-lstm 2x128 train step")) bench_lstm();
    return 0;
}
