/*
 * evaluate.c - plays games with a greedy policy and counts the outcomes. Flippers can be
 * judged exhaustively: one game from each of its 512 boards.
 */
#include "rl/rl_impl.h"

/* Plays the game started in env (from start, for a puzzle; else -1) with policy and adds
 * its outcome to out. */
static cx_status play(cx_env *env, cx_policy policy, int start, cx_rng *rng,
                      cx_rl_results *out, double *moves) {
    int s = cx_env_state(env), winner = 0;
    while (!cx_env_done(env)) {
        int a = policy.act(policy.ctx, env, s);
        if (a < 0) return cx_last_status() ? cx_last_status() : CX_ERR_ARG;
        cx_env_step_result r;
        cx_status st = cx_env_step(env, a, rng, &r);
        if (st != CX_OK) return st;
        s = r.state, winner = r.winner;
    }
    /* a puzzle (start >= 0: Flippers) is won or cut off; a goal board is won in 0 moves */
    bool puzzle = start >= 0;
    if (puzzle && cx_env_moves(env) == 0) winner = 1;
    if (puzzle && winner == 0) winner = -1;
    out->games++;
    out->wins += winner > 0, out->losses += winner < 0, out->draws += winner == 0;
    if (puzzle && winner > 0 && cx_env_moves(env) == cx_env_min_moves(env, start))
        out->optimal++;
    *moves += cx_env_moves(env);
    return CX_OK;
}

cx_status cx_rl_evaluate(cx_env *env, cx_policy policy, int games, cx_rng *rng,
                         cx_rl_results *out) {
    if (!env || !policy.act || !out) return cx__error(CX_ERR_ARG, "cx_rl_evaluate: NULL argument");
    *out = (cx_rl_results){0};
    bool every_start = games <= 0;
    if (every_start && !env->kind->min_moves)
        return cx__error(CX_ERR_ARG, "cx_rl_evaluate: %s needs a number of games (> 0)",
                         cx_env_name(env));
    int n = every_start ? cx_env_num_states(env) : games;
    double moves = 0;
    for (int g = 0; g < n; g++) {
        int start = every_start ? cx_env_reset_to(env, g) : cx_env_reset(env, rng);
        if (start < 0) return cx_last_status();
        cx_status st = play(env, policy, env->kind->min_moves ? start : -1, rng, out, &moves);
        if (st != CX_OK) return st;
    }
    out->mean_moves = n ? moves / n : 0;
    return CX_OK;
}
