/*
 * rl_impl.h - what the files of src/rl share: the environment vtable (one per game) and the
 * environment object behind cx_env.
 */
#ifndef CX_RL_IMPL_H
#define CX_RL_IMPL_H

#include "cortex_impl.h"

/* One game. States are validated by cx_env_* before a kind's function sees them. */
typedef struct {
    const char *name;
    int n_states, n_actions, n_features, max_moves;
    float reward_lo, reward_hi;
    /* Fills env->state (and anything the game keeps) for a new game. */
    void (*reset)(cx_env *env, cx_rng *rng);
    /* True if state is a position the agent can be asked to move in (or a finished one). */
    bool (*valid_start)(const cx_env *env, int state);
    void (*start_at)(cx_env *env, int state);
    int (*legal)(int state, int *actions); /* 0 when the game is over in state */
    /* Plays a legal action from env->state; sets out (done, winner; truncation by caller). */
    void (*step)(cx_env *env, int action, cx_rng *rng, cx_env_step_result *out);
    void (*features)(int state, float *out);
    int (*min_moves)(int state); /* NULL: not known */
    void (*render)(const cx_env *env, int state, char *buf, size_t size);
} cx__env_kind;

extern const cx__env_kind cx__flippers;
extern const cx__env_kind cx__tictactoe;

struct cx_env {
    const cx__env_kind *kind;
    int state, moves;
    bool done;
    /* tic-tac-toe */
    cx_opponent opponent;
    cx_first_player first;
    bool agent_first;          /* this game */
    int8_t *minimax;           /* memo of cx__ttt_value, 3^9 entries (CX__TTT_UNKNOWN) */
};

/* Tic-tac-toe helpers (also used by the tests). A board is 9 cells 0/1/2. */
#define CX__TTT_STATES 19683
#define CX__TTT_UNKNOWN 127
void cx__ttt_decode(int state, int *cells);
int cx__ttt_encode(const int *cells);
/* 1 or 2 if that mark has three in a line, else 0. */
int cx__ttt_winner(const int *cells);
/* Value for the side to move (mark 1) with perfect play on both sides: 1 win, 0 draw, -1
 * loss; the position must not be over. memo has CX__TTT_STATES entries. */
int cx__ttt_value(int8_t *memo, int state);

/* The action among actions[0..n) with the largest value; ties: the first, or (rng not NULL)
 * one at random. n >= 1. */
int cx__argmax_legal(const float *values, const int *actions, int n, cx_rng *rng);

/* With probability epsilon a uniformly random action of actions[0..n), else the best by q
 * (ties at random). */
int cx__epsilon_greedy(const float *q, const int *actions, int n, float epsilon, cx_rng *rng);

#endif
