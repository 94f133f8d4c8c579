/*
 * dqn.c - a deep Q-network (Mnih et al. 2015, "Human-level control through deep reinforcement
 * learning"): an MLP from a state's features to one Q value per move, trained by Adam on
 * minibatches drawn from a replay buffer, towards targets r + discount * max_a' Q_target(s', a')
 * (legal moves only; r alone where the game ended) from a target network that is a copy of
 * the online one, refreshed every target_every steps.
 *
 * Each step runs in one arena reset after it; the batch tensors and both networks live on the
 * heap, so a step allocates nothing once the arena has grown.
 */
#include "rl/replay.h"

#include <math.h>
#include <string.h>

struct cx_dqn {
    cx_dqn_params p;
    char game[32];
    int n_features, n_actions;
    cx_model *online, *target;
    cx_optim *optim;
    cx_arena *arena;
    cx__replay replay;
    cx_tensor *x, *x2, *index; /* the minibatch: [batch, features] x2, i32 [batch, 1] */
    cx_tensor *one;            /* [1, features]: one state for acting */
    int64_t games, steps;
};

cx_dqn_params cx_dqn_defaults(void) {
    return (cx_dqn_params){.hidden = 64, .layers = 2, .lr = 1e-3f, .discount = 0.9f,
                           .epsilon = 0.1f, .batch = 64, .replay = 20000, .warmup = 1000,
                           .target_every = 500, .huber = false};
}

static cx_status check_params(const cx_dqn_params *p) {
    const char *bad = NULL;
    if (p->hidden < 1 || p->hidden > 4096) bad = "hidden must be 1..4096";
    else if (p->layers < 0 || p->layers > 8) bad = "layers must be 0..8";
    else if (!(p->lr > 0 && isfinite(p->lr))) bad = "lr must be > 0";
    else if (!(p->discount >= 0 && p->discount <= 1)) bad = "discount must be in [0, 1]";
    else if (!(p->epsilon >= 0 && p->epsilon <= 1)) bad = "epsilon must be in [0, 1]";
    else if (p->batch < 1 || p->batch > 65536) bad = "batch must be 1..65536";
    else if (p->replay < p->batch || p->replay > (1 << 24)) bad = "replay must be batch..2^24";
    else if (p->warmup < 0) bad = "warmup must be >= 0";
    else if (p->target_every < 1) bad = "target_every must be >= 1";
    return bad ? cx__error(CX_ERR_ARG, "dqn: %s", bad) : CX_OK;
}

/* The network: features -> (dense hidden, relu) x layers -> dense n_actions. */
static cx_model *build(int n_features, int n_actions, const cx_dqn_params *p, cx_rng *rng) {
    cx_model *m = cx_model_new(CX_SHAPE(n_features));
    for (int l = 0; m && l < p->layers; l++)
        if (cx_model_add_dense(m, p->hidden, true, CX_INIT_DEFAULT, 0, rng) != CX_OK ||
            cx_model_add_activation(m, CX_ACT_RELU, 0) != CX_OK)
            return cx_model_free(m), NULL;
    if (m && cx_model_add_dense(m, n_actions, true, CX_INIT_DEFAULT, 0, rng) != CX_OK)
        return cx_model_free(m), NULL;
    return m;
}

static void sync_target(cx_dqn *d) {
    memcpy(cx_model_params_flat(d->target), cx_model_params_flat(d->online),
           (size_t)cx_model_num_params(d->online) * sizeof(float));
}

/* Everything around a built online network (which d then owns). */
static cx_dqn *assemble(const cx_env *env, const cx_dqn_params *p, cx_model *online) {
    cx_dqn *d = cx__calloc(sizeof *d);
    if (!d) return cx_model_free(online), NULL;
    d->p = *p;
    d->online = online;
    snprintf(d->game, sizeof d->game, "%s", cx_env_name(env));
    d->n_features = cx_env_num_features(env), d->n_actions = cx_env_num_actions(env);
    d->target = cx_model_from_config(cx_model_config(online), "dqn target", NULL);
    cx_optim_params op = cx_optim_defaults(CX_OPTIM_ADAM);
    op.lr = p->lr;
    int n = cx_model_num_param_tensors(online);
    cx_tensor *params[n > 0 ? n : 1];
    for (int i = 0; i < n; i++) params[i] = cx_model_param(online, i);
    d->optim = d->target ? cx_optim_new(CX_OPTIM_ADAM, &op, params, n) : NULL;
    d->arena = cx_arena_new(0);
    d->x = cx_zeros(CX_SHAPE(p->batch, d->n_features));
    d->x2 = cx_zeros(CX_SHAPE(p->batch, d->n_features));
    d->index = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(p->batch, 1));
    d->one = cx_zeros(CX_SHAPE(1, d->n_features));
    if (!d->optim || !d->arena || !d->x || !d->x2 || !d->index || !d->one ||
        cx__replay_init(&d->replay, p->replay, d->n_features) != CX_OK)
        return cx_dqn_free(d), NULL;
    sync_target(d);
    return d;
}

cx_dqn *cx_dqn_new(const cx_env *env, const cx_dqn_params *params, cx_rng *rng) {
    cx_dqn_params p = params ? *params : cx_dqn_defaults();
    if (!env) return cx__error(CX_ERR_ARG, "cx_dqn_new: env is NULL"), NULL;
    if (check_params(&p) != CX_OK) return NULL;
    cx_model *m = build(cx_env_num_features(env), cx_env_num_actions(env), &p, rng);
    return m ? assemble(env, &p, m) : NULL;
}

void cx_dqn_free(cx_dqn *d) {
    if (!d) return;
    cx_model_free(d->online), cx_model_free(d->target);
    cx_optim_free(d->optim);
    cx_arena_free(d->arena);
    cx_tensor_free(d->x), cx_tensor_free(d->x2), cx_tensor_free(d->index);
    cx_tensor_free(d->one);
    cx__replay_free(&d->replay);
    cx__free(d);
}

cx_model *cx_dqn_model(cx_dqn *d) { return d ? d->online : NULL; }
int64_t cx_dqn_games(const cx_dqn *d) { return d ? d->games : 0; }
int64_t cx_dqn_steps(const cx_dqn *d) { return d ? d->steps : 0; }

static cx_status check_env(const cx_dqn *d, const cx_env *env, const char *fn) {
    if (!d || !env) return cx__error(CX_ERR_ARG, "%s: NULL argument", fn);
    if (strcmp(d->game, cx_env_name(env)) != 0)
        return cx__error(CX_ERR_ARG, "%s: the network plays %s, the environment is %s", fn,
                         d->game, cx_env_name(env));
    return CX_OK;
}

cx_status cx_dqn_values(cx_dqn *d, const cx_env *env, int state, float *q) {
    cx_status st = check_env(d, env, "cx_dqn_values");
    if (st != CX_OK) return st;
    if (state < 0 || state >= cx_env_num_states(env) || !q)
        return cx__error(CX_ERR_ARG, "cx_dqn_values: state %d is out of range", state);
    cx_env_features(env, state, cx_tensor_f32(d->one));
    cx_no_grad_begin();
    cx_arena_begin(d->arena);
    cx_tensor *out = cx_model_forward(d->online, d->one);
    st = out ? cx_tensor_copy_to(out, q, (size_t)d->n_actions * sizeof *q) : cx_last_status();
    cx_arena_end(d->arena);
    cx_arena_reset(d->arena);
    cx_no_grad_end();
    return st;
}

int cx_dqn_greedy(cx_dqn *d, const cx_env *env, int state) {
    float q[16];
    int actions[16], n = cx_env_legal(env, state, actions);
    if (!n || cx_dqn_values(d, env, state, q) != CX_OK) return -1;
    return cx__argmax_legal(q, actions, n, NULL);
}

static int dqn_act(void *ctx, const cx_env *env, int state) {
    return cx_dqn_greedy(ctx, env, state);
}

cx_policy cx_dqn_policy(cx_dqn *d) { return (cx_policy){dqn_act, d}; }

/* The regression targets [batch, 1] for the minibatch rows (from the target network). */
static cx_tensor *targets(cx_dqn *d, const int *rows) {
    cx_no_grad_begin();
    cx_tensor *q2 = cx_model_forward(d->target, d->x2); /* [batch, actions] */
    cx_tensor *y = q2 ? cx__tensor_empty(CX_DTYPE_F32, CX_SHAPE(d->p.batch, 1)) : NULL;
    cx_no_grad_end();
    if (!y) return NULL;
    const float *v = cx_tensor_f32(q2);
    float *out = cx_tensor_f32(y);
    for (int b = 0; b < d->p.batch; b++) {
        int i = rows[b];
        float best = -INFINITY;
        for (int a = 0; a < d->n_actions; a++)
            if (d->replay.legal2[i] >> a & 1) best = fmaxf(best, v[b * d->n_actions + a]);
        bool end = d->replay.end[i] || best == -INFINITY;
        out[b] = d->replay.reward[i] + (end ? 0 : d->p.discount * best);
    }
    return y;
}

/* Huber loss with threshold 1 from ops: 0.5 c^2 + (|e| - |c|) with c = clamp(e, -1, 1). */
static cx_tensor *huber(cx_tensor *pred, cx_tensor *target) {
    cx_tensor *e = cx_sub(pred, target), *c = cx_clamp(e, -1, 1);
    cx_tensor *l = cx_add(cx_mul_scalar(cx_mul(c, c), 0.5f), cx_sub(cx_abs(e), cx_abs(c)));
    return cx_mean(l, 0, NULL, false);
}

/* One Adam step on a minibatch. */
static cx_status learn(cx_dqn *d, cx_rng *rng) {
    int rows[d->p.batch];
    size_t f = (size_t)d->n_features;
    float *x = cx_tensor_f32(d->x), *x2 = cx_tensor_f32(d->x2);
    int32_t *index = cx_tensor_data(d->index);
    for (int b = 0; b < d->p.batch; b++) {
        int i = rows[b] = cx__replay_sample(&d->replay, rng);
        memcpy(x + b * f, d->replay.s + i * f, f * sizeof *x);
        memcpy(x2 + b * f, d->replay.s2 + i * f, f * sizeof *x2);
        index[b] = d->replay.action[i];
    }
    cx_arena_begin(d->arena);
    cx_tensor *y = targets(d, rows);
    cx_tensor *qa = cx_gather(cx_model_forward(d->online, d->x), 1, d->index); /* [batch, 1] */
    cx_tensor *loss = d->p.huber ? huber(qa, y) : cx_mse_loss(qa, y, CX_REDUCTION_MEAN);
    cx_status st = loss ? CX_OK : cx_last_status();
    float value = loss ? cx_tensor_item(loss) : NAN;
    if (st == CX_OK && !isfinite(value))
        st = cx__error(CX_ERR_ARG, "dqn: the loss became %g at step %lld; lower the learning "
                                   "rate", value, (long long)d->steps + 1);
    if (st == CX_OK) st = cx_backward(loss);
    if (st == CX_OK) st = cx_optim_step(d->optim);
    cx_optim_zero_grad(d->optim);
    cx_arena_end(d->arena);
    cx_arena_reset(d->arena);
    if (st == CX_OK && ++d->steps % d->p.target_every == 0) sync_target(d);
    return st;
}

static uint16_t legal_mask(const cx_env *env, int state) {
    int actions[16], n = cx_env_legal(env, state, actions);
    uint16_t mask = 0;
    for (int i = 0; i < n; i++) mask |= (uint16_t)(1u << actions[i]);
    return mask;
}

cx_status cx_dqn_train(cx_dqn *d, cx_env *env, int games, cx_rng *rng) {
    cx_status st = check_env(d, env, "cx_dqn_train");
    float s[64], s2[64], q[16];
    for (int g = 0; st == CX_OK && g < games; g++) {
        int state = cx_env_reset(env, rng);
        while (st == CX_OK && !cx_env_done(env)) {
            int actions[16], n = cx_env_legal(env, state, actions), a;
            bool warm = d->replay.count >= d->p.warmup && d->replay.count >= d->p.batch;
            if (!warm) a = actions[cx_rng_u32(rng) % (uint32_t)n];
            else if ((st = cx_dqn_values(d, env, state, q)) != CX_OK) break;
            else a = cx__epsilon_greedy(q, actions, n, d->p.epsilon, rng);
            cx_env_step_result r;
            if ((st = cx_env_step(env, a, rng, &r)) != CX_OK) break;
            cx_env_features(env, state, s);
            cx_env_features(env, r.state, s2);
            cx__replay_push(&d->replay, s, a, r.reward, s2, legal_mask(env, r.state),
                            r.done && !r.truncated);
            if (warm) st = learn(d, rng);
            state = r.state;
        }
        if (st == CX_OK) d->games++;
    }
    return st;
}

/* ---- files ---- */

cx_status cx_dqn_save(cx_dqn *d, const char *path) {
    if (!d || !path) return cx__error(CX_ERR_ARG, "cx_dqn_save: NULL argument");
    cx_train_state state = {.epoch = (int)(d->games > INT32_MAX ? INT32_MAX : d->games),
                            .best_val_loss = INFINITY};
    snprintf(state.dataset, sizeof state.dataset, "rl:%s", d->game);
    return cx_checkpoint_save(path, d->online, NULL, &state);
}

cx_dqn *cx_dqn_load(const char *path, const cx_env *env, const cx_dqn_params *params) {
    cx_dqn_params p = params ? *params : cx_dqn_defaults();
    if (!path || !env) return cx__error(CX_ERR_ARG, "cx_dqn_load: NULL argument"), NULL;
    if (check_params(&p) != CX_OK) return NULL;
    cx_train_state state;
    cx_model *m = cx_checkpoint_load(path, NULL, &state);
    if (!m) return NULL;
    char want[40];
    snprintf(want, sizeof want, "rl:%s", cx_env_name(env));
    int64_t in[CX_MAX_DIMS], out[CX_MAX_DIMS];
    if (strcmp(state.dataset, want) != 0) {
        bool rl = strncmp(state.dataset, "rl:", 3) == 0;
        cx__error(CX_ERR_ARG, "%s is not a DQN for %s (%s '%s')", path, cx_env_name(env),
                  rl ? "it plays" : "it is a model trained on", state.dataset + (rl ? 3 : 0));
    } else if (cx_model_input_shape(m, in) != 1 || in[0] != cx_env_num_features(env) ||
               cx_model_output_shape(m, out) != 1 || out[0] != cx_env_num_actions(env)) {
        cx__error(CX_ERR_FORMAT, "%s: the network does not map %d features to %d moves", path,
                  cx_env_num_features(env), cx_env_num_actions(env));
    } else {
        cx_dqn *d = assemble(env, &p, m);
        if (d) d->games = state.epoch;
        return d;
    }
    cx_model_free(m);
    return NULL;
}
