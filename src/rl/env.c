/*
 * env.c - the environment interface: checks every argument once and dispatches to the
 * game's vtable (flippers.c, tictactoe.c). A game is cut off, unfinished, after the kind's
 * max_moves agent moves; the step then says done and truncated.
 */
#include "rl/rl_impl.h"

#include <string.h>

static const char *const opponent_names[] = {"random", "minimax", "mixed"};

const char *cx_opponent_name(cx_opponent o) {
    return (unsigned)o < 3 ? opponent_names[o] : "unknown";
}

cx_status cx_opponent_parse(const char *name, cx_opponent *o) {
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, opponent_names[i]) == 0) return *o = (cx_opponent)i, CX_OK;
    return cx__error(CX_ERR_ARG, "unknown opponent '%s'; opponents: random, minimax, mixed",
                     name ? name : "(null)");
}

static cx_env *env_alloc(const cx__env_kind *kind) {
    cx_env *e = cx__calloc(sizeof *e);
    if (!e) return NULL;
    e->kind = kind;
    e->done = true; /* no game until the first reset */
    return e;
}

cx_env *cx_env_flippers_new(void) { return env_alloc(&cx__flippers); }

cx_env *cx_env_tictactoe_new(cx_opponent opponent, cx_first_player first) {
    if ((unsigned)opponent > CX_OPPONENT_MIXED || (unsigned)first > CX_FIRST_OPPONENT) {
        cx__error(CX_ERR_ARG, "tictactoe: opponent %d or first player %d is not one of the "
                              "enum's values", (int)opponent, (int)first);
        return NULL;
    }
    cx_env *e = env_alloc(&cx__tictactoe);
    if (!e) return NULL;
    e->minimax = cx__alloc(CX__TTT_STATES);
    if (!e->minimax) return cx_env_free(e), NULL;
    memset(e->minimax, CX__TTT_UNKNOWN, CX__TTT_STATES);
    e->opponent = opponent;
    e->first = first;
    e->agent_first = true;
    return e;
}

cx_env *cx_env_new(const char *game, cx_opponent opponent, cx_first_player first) {
    if (game && strcmp(game, "flippers") == 0) return cx_env_flippers_new();
    if (game && strcmp(game, "tictactoe") == 0) return cx_env_tictactoe_new(opponent, first);
    cx__error(CX_ERR_ARG, "unknown game '%s'; games: flippers, tictactoe",
              game ? game : "(null)");
    return NULL;
}

void cx_env_free(cx_env *env) {
    if (!env) return;
    cx__free(env->minimax);
    cx__free(env);
}

static bool is_ttt(const cx_env *env, const char *what) {
    if (env && env->kind == &cx__tictactoe) return true;
    cx__error(CX_ERR_ARG, "%s: only tic-tac-toe has %s", env ? env->kind->name : "(null env)",
              what);
    return false;
}

cx_status cx_env_set_opponent(cx_env *env, cx_opponent opponent) {
    if (!is_ttt(env, "an opponent")) return CX_ERR_ARG;
    if ((unsigned)opponent > CX_OPPONENT_MIXED)
        return cx__error(CX_ERR_ARG, "tictactoe: opponent %d is not a cx_opponent", opponent);
    env->opponent = opponent;
    return CX_OK;
}

cx_status cx_env_set_first(cx_env *env, cx_first_player first) {
    if (!is_ttt(env, "a first player")) return CX_ERR_ARG;
    if ((unsigned)first > CX_FIRST_OPPONENT)
        return cx__error(CX_ERR_ARG, "tictactoe: first player %d is not a cx_first_player",
                         first);
    env->first = first;
    return CX_OK;
}

const char *cx_env_name(const cx_env *env) { return env ? env->kind->name : ""; }
int cx_env_num_states(const cx_env *env) { return env ? env->kind->n_states : 0; }
int cx_env_num_actions(const cx_env *env) { return env ? env->kind->n_actions : 0; }
int cx_env_num_features(const cx_env *env) { return env ? env->kind->n_features : 0; }
int cx_env_max_moves(const cx_env *env) { return env ? env->kind->max_moves : 0; }
int cx_env_state(const cx_env *env) { return env ? env->state : -1; }
bool cx_env_done(const cx_env *env) { return !env || env->done; }
int cx_env_moves(const cx_env *env) { return env ? env->moves : 0; }

void cx_env_reward_range(const cx_env *env, float *lo, float *hi) {
    if (lo) *lo = env ? env->kind->reward_lo : 0;
    if (hi) *hi = env ? env->kind->reward_hi : 0;
}

static bool state_ok(const cx_env *env, int state) {
    return env && state >= 0 && state < env->kind->n_states;
}

/* A state's game is over when it has no legal move. */
static void begin(cx_env *env) {
    int actions[16];
    env->moves = 0;
    env->done = env->kind->legal(env->state, actions) == 0;
}

int cx_env_reset(cx_env *env, cx_rng *rng) {
    if (!env) return cx__error(CX_ERR_ARG, "cx_env_reset: env is NULL"), -1;
    env->kind->reset(env, rng);
    begin(env);
    return env->state;
}

int cx_env_reset_to(cx_env *env, int state) {
    if (!env) return cx__error(CX_ERR_ARG, "cx_env_reset_to: env is NULL"), -1;
    if (!state_ok(env, state) || !env->kind->valid_start(env, state)) {
        cx__error(CX_ERR_ARG, "%s: state %d is not a position the agent can start from",
                  env->kind->name, state);
        return -1;
    }
    env->kind->start_at(env, state);
    begin(env);
    return env->state;
}

int cx_env_legal(const cx_env *env, int state, int *actions) {
    if (!state_ok(env, state) || !actions) return 0;
    return env->kind->legal(state, actions);
}

bool cx_env_is_legal(const cx_env *env, int state, int action) {
    int actions[16];
    int n = cx_env_legal(env, state, actions);
    for (int i = 0; i < n; i++)
        if (actions[i] == action) return true;
    return false;
}

cx_status cx_env_step(cx_env *env, int action, cx_rng *rng, cx_env_step_result *out) {
    if (!env || !out) return cx__error(CX_ERR_ARG, "cx_env_step: NULL argument");
    if (env->done)
        return cx__error(CX_ERR_ARG, "%s: the game is over; reset it first", env->kind->name);
    if (!cx_env_is_legal(env, env->state, action))
        return cx__error(CX_ERR_ARG, "%s: move %d is not legal in state %d", env->kind->name,
                         action, env->state);
    *out = (cx_env_step_result){0};
    env->kind->step(env, action, rng, out);
    env->moves++;
    if (!out->done && env->moves >= env->kind->max_moves) out->done = out->truncated = true;
    env->state = out->state;
    env->done = out->done;
    return CX_OK;
}

void cx_env_features(const cx_env *env, int state, float *out) {
    if (state_ok(env, state) && out) env->kind->features(state, out);
}

int cx_env_min_moves(const cx_env *env, int state) {
    if (!state_ok(env, state) || !env->kind->min_moves) return -1;
    return env->kind->min_moves(state);
}

char *cx_env_render(const cx_env *env, int state, char *buf, size_t size) {
    if (!buf || !size) return buf;
    buf[0] = '\0';
    if (state_ok(env, state)) env->kind->render(env, state, buf, size);
    return buf;
}

int cx__argmax_legal(const float *values, const int *actions, int n, cx_rng *rng) {
    int best = 0, ties = 1;
    for (int i = 1; i < n; i++) {
        float v = values[actions[i]], b = values[actions[best]];
        if (v > b) {
            best = i, ties = 1;
        } else if (v == b && rng && cx_rng_u32(rng) % (uint32_t)++ties == 0) {
            best = i; /* reservoir choice: each tied move equally likely */
        }
    }
    return actions[best];
}

/* An epsilon-greedy move (ties between the best moves broken at random). */
int cx__epsilon_greedy(const float *q, const int *actions, int n, float epsilon, cx_rng *rng) {
    if (cx_rng_uniform(rng) < epsilon) return actions[cx_rng_u32(rng) % (uint32_t)n];
    return cx__argmax_legal(q, actions, n, rng);
}
