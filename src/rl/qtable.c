/*
 * qtable.c - tabular Q-learning: a states x moves table of the expected (discounted) total
 * future reward of each move, learnt by one-step Q-learning with epsilon-greedy exploration
 * (Watkins 1989; Sutton & Barto, "Reinforcement Learning", section 6.5).
 */
#include "rl/rl_impl.h"
#include "rl/qtable_impl.h" /* struct cx_qtable */

#include <math.h>
#include <string.h>

cx_qlearn_params cx_qlearn_defaults(const cx_env *env) {
    bool noisy = env && env->kind == &cx__tictactoe;
    return (cx_qlearn_params){.epsilon = 0.1f, .lr = noisy ? 0.1f : 0.5f, .discount = 0.9f};
}

cx_qtable *cx__qtable_alloc(const char *game, int n_states, int n_actions) {
    cx_qtable *t = cx__calloc(sizeof *t);
    if (!t) return NULL;
    t->q = cx__calloc((size_t)n_states * (size_t)n_actions * sizeof *t->q);
    if (!t->q) return cx__free(t), NULL;
    snprintf(t->game, sizeof t->game, "%s", game);
    t->n_states = n_states, t->n_actions = n_actions;
    return t;
}

cx_qtable *cx_qtable_new(const cx_env *env) {
    if (!env) return cx__error(CX_ERR_ARG, "cx_qtable_new: env is NULL"), NULL;
    return cx__qtable_alloc(cx_env_name(env), cx_env_num_states(env), cx_env_num_actions(env));
}

void cx_qtable_free(cx_qtable *t) {
    if (!t) return;
    cx__free(t->q);
    cx__free(t);
}

const char *cx_qtable_game(const cx_qtable *t) { return t ? t->game : ""; }
int cx_qtable_num_states(const cx_qtable *t) { return t ? t->n_states : 0; }
int cx_qtable_num_actions(const cx_qtable *t) { return t ? t->n_actions : 0; }
int64_t cx_qtable_games(const cx_qtable *t) { return t ? t->games : 0; }

float *cx_qtable_row(cx_qtable *t, int state) {
    if (!t || state < 0 || state >= t->n_states) return NULL;
    return t->q + (size_t)state * (size_t)t->n_actions;
}

static cx_status check_fits(const cx_qtable *t, const cx_env *env, const char *fn) {
    if (!t || !env) return cx__error(CX_ERR_ARG, "%s: NULL argument", fn);
    if (strcmp(t->game, cx_env_name(env)) != 0 || t->n_states != cx_env_num_states(env) ||
        t->n_actions != cx_env_num_actions(env))
        return cx__error(CX_ERR_ARG, "%s: the table is for %s (%d states x %d moves), the "
                                     "environment is %s (%d x %d)", fn, t->game, t->n_states,
                         t->n_actions, cx_env_name(env), cx_env_num_states(env),
                         cx_env_num_actions(env));
    return CX_OK;
}

cx_status cx__qlearn_check(const cx_qlearn_params *p, const char *fn) {
    if (!p) return cx__error(CX_ERR_ARG, "%s: params is NULL", fn);
    if (!(p->epsilon >= 0 && p->epsilon <= 1))
        return cx__error(CX_ERR_ARG, "%s: epsilon = %g is invalid; need 0 <= epsilon <= 1", fn,
                         p->epsilon);
    if (!(p->lr > 0 && p->lr <= 1))
        return cx__error(CX_ERR_ARG, "%s: lr = %g is invalid; need 0 < lr <= 1", fn, p->lr);
    if (!(p->discount >= 0 && p->discount <= 1))
        return cx__error(CX_ERR_ARG, "%s: discount = %g is invalid; need 0 <= discount <= 1",
                         fn, p->discount);
    return CX_OK;
}

/* The largest value over state's legal moves; 0 when the game is over there. */
static float max_legal(const cx_qtable *t, const cx_env *env, int state) {
    int actions[16], n = cx_env_legal(env, state, actions);
    const float *q = t->q + (size_t)state * (size_t)t->n_actions;
    float best = n ? q[actions[0]] : 0;
    for (int i = 1; i < n; i++) best = fmaxf(best, q[actions[i]]);
    return best;
}

cx_status cx_qtable_train(cx_qtable *t, cx_env *env, const cx_qlearn_params *p, int games,
                          cx_rng *rng) {
    cx_status st = check_fits(t, env, "cx_qtable_train");
    if (st == CX_OK) st = cx__qlearn_check(p, "cx_qtable_train");
    if (st != CX_OK) return st;
    for (int g = 0; g < games; g++) {
        int s = cx_env_reset(env, rng);
        while (!cx_env_done(env)) {
            int actions[16], n = cx_env_legal(env, s, actions);
            float *q = t->q + (size_t)s * (size_t)t->n_actions;
            int a = cx__epsilon_greedy(q, actions, n, p->epsilon, rng);
            cx_env_step_result r;
            if ((st = cx_env_step(env, a, rng, &r)) != CX_OK) return st;
            /* a cut-off game still bootstraps: its last state is not an end */
            float target = r.reward;
            if (!r.done || r.truncated) target += p->discount * max_legal(t, env, r.state);
            q[a] += p->lr * (target - q[a]);
            s = r.state;
        }
        t->games++;
    }
    return CX_OK;
}

int cx_qtable_greedy(const cx_qtable *t, const cx_env *env, int state) {
    if (check_fits(t, env, "cx_qtable_greedy") != CX_OK) return -1;
    int actions[16], n = cx_env_legal(env, state, actions);
    if (!n) return -1;
    return cx__argmax_legal(t->q + (size_t)state * (size_t)t->n_actions, actions, n, NULL);
}

static int table_act(void *ctx, const cx_env *env, int state) {
    return cx_qtable_greedy(ctx, env, state);
}

cx_policy cx_qtable_policy(cx_qtable *t) { return (cx_policy){table_act, t}; }
