/*
 * flippers.c - the Flippers puzzle: a 3x3 board of tiles showing a dot (bit set) or blank;
 * a move flips one tile; the game is won when one row or one column shows three dots and
 * every other tile is blank. Bit 3*row+col is the tile at (row, col).
 *
 * Every flip changes the Hamming distance to each goal board by exactly one, so the fewest
 * moves from a board is its distance to the nearest of the 6 goals, and a greedy policy that
 * brings that distance down each move is optimal.
 */
#include "rl/rl_impl.h"

#include <stdio.h>

static const int goals[6] = {0007, 0070, 0700, 0111, 0222, 0444}; /* rows, then columns */

static int min_moves(int state) {
    int best = 9;
    for (int g = 0; g < 6; g++) {
        int d = __builtin_popcount((unsigned)(state ^ goals[g]));
        if (d < best) best = d;
    }
    return best;
}

static void reset(cx_env *env, cx_rng *rng) { env->state = (int)(cx_rng_u32(rng) % 512u); }

static bool valid_start(const cx_env *env, int state) {
    (void)env, (void)state;
    return true; /* every board, goals included (won in 0 moves) */
}

static void start_at(cx_env *env, int state) { env->state = state; }

static int legal(int state, int *actions) {
    if (min_moves(state) == 0) return 0;
    for (int i = 0; i < 9; i++) actions[i] = i;
    return 9;
}

static void step(cx_env *env, int action, cx_rng *rng, cx_env_step_result *out) {
    (void)rng;
    out->state = env->state ^ (1 << action);
    out->reward = -1;
    if (min_moves(out->state) == 0) out->done = true, out->winner = 1;
}

static void features(int state, float *out) {
    for (int i = 0; i < 9; i++) out[i] = (float)((state >> i) & 1);
}

static void render(const cx_env *env, int state, char *buf, size_t size) {
    (void)env;
    char *p = buf;
    for (int r = 0; r < 3 && size >= 7; r++) {
        snprintf(p, size, "%c %c %c\n", state >> (3 * r) & 1 ? 'o' : '.',
                 state >> (3 * r + 1) & 1 ? 'o' : '.', state >> (3 * r + 2) & 1 ? 'o' : '.');
        p += 6, size -= 6;
    }
}

const cx__env_kind cx__flippers = {
    .name = "flippers", .n_states = 512, .n_actions = 9, .n_features = 9, .max_moves = 50,
    .reward_lo = -1, .reward_hi = 0, .reset = reset, .valid_start = valid_start,
    .start_at = start_at, .legal = legal, .step = step, .features = features,
    .min_moves = min_moves, .render = render,
};
