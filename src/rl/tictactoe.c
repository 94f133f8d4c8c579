/*
 * tictactoe.c - tic-tac-toe against a built-in opponent, seen from the agent: the state is
 * the board in base 3 (digit i = cell i = 3*row+col: 0 empty, 1 the agent's mark, 2 the
 * opponent's), always at the agent's turn, so one table serves the agent as first and as
 * second player. The opponent answers inside step: at random, or perfectly by negamax over
 * the positions reachable from the empty board, memoised in env->minimax (each position is
 * solved once; there are 5,478 reachable ones in all).
 */
#include "rl/rl_impl.h"

#include <stdio.h>

static const int lines[8][3] = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {0, 3, 6},
                                {1, 4, 7}, {2, 5, 8}, {0, 4, 8}, {2, 4, 6}};

void cx__ttt_decode(int state, int *cells) {
    for (int i = 0; i < 9; i++, state /= 3) cells[i] = state % 3;
}

int cx__ttt_encode(const int *cells) {
    int s = 0;
    for (int i = 8; i >= 0; i--) s = s * 3 + cells[i];
    return s;
}

int cx__ttt_winner(const int *c) {
    for (int l = 0; l < 8; l++)
        if (c[lines[l][0]] && c[lines[l][0]] == c[lines[l][1]] && c[lines[l][1]] == c[lines[l][2]])
            return c[lines[l][0]];
    return 0;
}

static bool full(const int *c) {
    for (int i = 0; i < 9; i++)
        if (!c[i]) return false;
    return true;
}

/* Value for the mover (mark 1) after it plays cell i of c (empty): the result if the game
 * ends, else minus the value of the position the other side then faces. */
static int value_after(int8_t *memo, int *c, int i) {
    c[i] = 1;
    int v;
    if (cx__ttt_winner(c)) {
        v = 1;
    } else if (full(c)) {
        v = 0;
    } else {
        int swapped[9]; /* the other side's view: its marks become 1 */
        for (int k = 0; k < 9; k++) swapped[k] = c[k] ? 3 - c[k] : 0;
        v = -cx__ttt_value(memo, cx__ttt_encode(swapped));
    }
    c[i] = 0;
    return v;
}

int cx__ttt_value(int8_t *memo, int state) {
    if (memo[state] != CX__TTT_UNKNOWN) return memo[state];
    int c[9], best = -2;
    cx__ttt_decode(state, c);
    for (int i = 0; i < 9 && best < 1; i++)
        if (!c[i]) {
            int v = value_after(memo, c, i);
            if (v > best) best = v;
        }
    memo[state] = (int8_t)best;
    return best;
}

/* The opponent's move on c (agent's view: the opponent's marks are 2). MIXED plays each move
 * as MINIMAX or RANDOM with equal chance: every position gets visited, and a move that lets
 * the opponent win is punished half the time. */
static int opponent_move(cx_env *env, const int *c, cx_rng *rng) {
    int empty[9], n = 0;
    for (int i = 0; i < 9; i++)
        if (!c[i]) empty[n++] = i;
    cx_opponent kind = env->opponent;
    if (kind == CX_OPPONENT_MIXED) kind = cx_rng_u32(rng) % 2 ? CX_OPPONENT_MINIMAX : CX_OPPONENT_RANDOM;
    if (kind == CX_OPPONENT_RANDOM) return empty[cx_rng_u32(rng) % (uint32_t)n];
    int mine[9]; /* the opponent's view: its marks become 1 */
    for (int k = 0; k < 9; k++) mine[k] = c[k] ? 3 - c[k] : 0;
    float values[9];
    for (int k = 0; k < n; k++) values[empty[k]] = (float)value_after(env->minimax, mine, empty[k]);
    return cx__argmax_legal(values, empty, n, rng);
}

static void reset(cx_env *env, cx_rng *rng) {
    env->agent_first = env->first == CX_FIRST_EITHER ? cx_rng_u32(rng) % 2 == 0
                                                     : env->first == CX_FIRST_AGENT;
    int c[9] = {0};
    if (!env->agent_first) c[opponent_move(env, c, rng)] = 2;
    env->state = cx__ttt_encode(c);
}

static bool valid_start(const cx_env *env, int state) {
    (void)env;
    int c[9], mine = 0, theirs = 0;
    cx__ttt_decode(state, c);
    for (int i = 0; i < 9; i++) mine += c[i] == 1, theirs += c[i] == 2;
    return (theirs == mine || theirs == mine + 1) && !cx__ttt_winner(c) && !full(c);
}

static void start_at(cx_env *env, int state) {
    int c[9], mine = 0, theirs = 0;
    cx__ttt_decode(state, c);
    for (int i = 0; i < 9; i++) mine += c[i] == 1, theirs += c[i] == 2;
    env->agent_first = mine == theirs;
    env->state = state;
}

static int legal(int state, int *actions) {
    int c[9], n = 0;
    cx__ttt_decode(state, c);
    if (cx__ttt_winner(c)) return 0;
    for (int i = 0; i < 9; i++)
        if (!c[i]) actions[n++] = i;
    return n;
}

static void step(cx_env *env, int action, cx_rng *rng, cx_env_step_result *out) {
    int c[9];
    cx__ttt_decode(env->state, c);
    c[action] = 1;
    if (cx__ttt_winner(c)) {
        out->reward = 1, out->done = true, out->winner = 1;
    } else if (full(c)) {
        out->done = true;
    } else {
        c[opponent_move(env, c, rng)] = 2;
        if (cx__ttt_winner(c)) out->reward = -1, out->done = true, out->winner = -1;
        else out->done = full(c);
    }
    out->state = cx__ttt_encode(c);
}

static void features(int state, float *out) {
    int c[9];
    cx__ttt_decode(state, c);
    for (int i = 0; i < 9; i++) out[i] = c[i] == 1, out[9 + i] = c[i] == 2;
}

static void render(const cx_env *env, int state, char *buf, size_t size) {
    int c[9];
    cx__ttt_decode(state, c);
    char mark[3] = {'.', env->agent_first ? 'X' : 'O', env->agent_first ? 'O' : 'X'};
    char *p = buf;
    for (int r = 0; r < 3 && size >= 7; r++) {
        snprintf(p, size, "%c %c %c\n", mark[c[3 * r]], mark[c[3 * r + 1]], mark[c[3 * r + 2]]);
        p += 6, size -= 6;
    }
}

const cx__env_kind cx__tictactoe = {
    .name = "tictactoe", .n_states = CX__TTT_STATES, .n_actions = 9, .n_features = 18,
    .max_moves = 9, .reward_lo = -1, .reward_hi = 1, .reset = reset,
    .valid_start = valid_start, .start_at = start_at, .legal = legal, .step = step,
    .features = features, .render = render,
};
