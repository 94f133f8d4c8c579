/*
 * cortex/rl.h - reinforcement learning: small board games behind one environment interface,
 * tabular Q-learning, and a deep Q-network (DQN) built from Cortex layers. Included by
 * cortex.h.
 *
 * An environment is a game seen from the agent's side. Positions are small integers
 * (0 <= state < cx_env_num_states), moves are 0..cx_env_num_actions-1, and
 *
 *     int s = cx_env_reset(env, rng);               // a new game (may already be over)
 *     while (!cx_env_done(env)) {
 *         int a = ...one of cx_env_legal(env, s, actions)...;
 *         cx_env_step_result r;
 *         cx_env_step(env, a, rng, &r);             // r.state, r.reward, r.done
 *         s = r.state;
 *     }
 *
 * The games:
 *   - Flippers: a 3x3 board of tiles, each showing a dot or blank; state = the 9 tiles as
 *     bits (bit 3*row+col set = dot), so 512 states; a move flips one tile (9 moves, always
 *     legal). The game is won when one row or one column shows three dots and every other
 *     tile is blank (6 goal boards). Every move costs reward -1, so the total future reward
 *     of a move is minus the moves still needed (discounted); a game that starts on a goal
 *     board is won in 0 moves. The fewest moves from a board is its
 *     Hamming distance to the nearest goal board (cx_env_min_moves).
 *   - Tic-tac-toe against an opponent that plays inside cx_env_step: a uniformly random one,
 *     or a perfect one (exact minimax over the 5,478 reachable positions, memoised; among
 *     equally good moves it picks at random), or, move by move, one of the two at random. state = the 9 cells in base 3, seen from the
 *     agent (0 empty, 1 the agent's mark, 2 the opponent's; cell 3*row+col is digit
 *     3*row+col), so one state space serves the agent as first and as second player. Reward
 *     1 for a win, -1 for a loss, 0 for a draw and every other move; the legal moves are the
 *     empty cells.
 *
 * Randomness: every random choice (start boards, who starts, the opponent's moves,
 * exploration, network initialisation, replay sampling) comes from the cx_rng passed in, so a
 * seeded generator makes a run reproducible.
 *
 * Errors: functions returning cx_status or NULL set cx_last_error() as everywhere in Cortex.
 */
#ifndef CORTEX_RL_H
#define CORTEX_RL_H

#include "cortex.h"
#include "cortex/nn.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- environments ---- */

typedef struct cx_env cx_env;

typedef enum {
    CX_OPPONENT_RANDOM = 0, /* uniformly random legal moves */
    CX_OPPONENT_MINIMAX,    /* perfect play (random among equally good moves) */
    CX_OPPONENT_MIXED,      /* each move, one of the two at random */
} cx_opponent;

typedef enum {
    CX_FIRST_EITHER = 0, /* each game, who starts is drawn at random */
    CX_FIRST_AGENT,
    CX_FIRST_OPPONENT,
} cx_first_player;

/* New environments (NULL + CX_ERR_OOM / CX_ERR_ARG). Free with cx_env_free (NULL: no-op). */
cx_env *cx_env_flippers_new(void);
cx_env *cx_env_tictactoe_new(cx_opponent opponent, cx_first_player first);
/* By game name ("flippers", "tictactoe"); the tic-tac-toe settings are ignored for Flippers.
 * CX_ERR_ARG listing the games for an unknown name. */
cx_env *cx_env_new(const char *game, cx_opponent opponent, cx_first_player first);
void cx_env_free(cx_env *env);
/* Tic-tac-toe: changes the opponent or who starts from the next reset (CX_ERR_ARG for
 * Flippers or values outside the enums). */
cx_status cx_env_set_opponent(cx_env *env, cx_opponent opponent);
cx_status cx_env_set_first(cx_env *env, cx_first_player first);
/* "random", "minimax", "mixed"; parse gives CX_ERR_ARG listing them. */
const char *cx_opponent_name(cx_opponent opponent);
cx_status cx_opponent_parse(const char *name, cx_opponent *opponent);

const char *cx_env_name(const cx_env *env); /* "flippers", "tictactoe" */
int cx_env_num_states(const cx_env *env);
int cx_env_num_actions(const cx_env *env);
/* Length of the feature vector cx_env_features writes (the DQN's input). */
int cx_env_num_features(const cx_env *env);
/* Moves after which a game is cut off unfinished (Flippers: 50; tic-tac-toe ends by itself). */
int cx_env_max_moves(const cx_env *env);
/* The lowest and highest reward a move can earn (Flippers -1..0, tic-tac-toe -1..1). */
void cx_env_reward_range(const cx_env *env, float *lo, float *hi);

/* Starts a game and returns its first state (Flippers: a uniformly random board; tic-tac-toe:
 * the empty board, or the opponent's first move when it starts). The game may be over at
 * once (a Flippers goal board): then cx_env_done is true. -1 + error if env is NULL. */
int cx_env_reset(cx_env *env, cx_rng *rng);
/* Starts a game in a given state (CX_ERR_ARG if state is out of range or not a position the
 * agent can face); returns state or -1. */
int cx_env_reset_to(cx_env *env, int state);
int cx_env_state(const cx_env *env);
bool cx_env_done(const cx_env *env);
/* Moves made by the agent since the reset. */
int cx_env_moves(const cx_env *env);

/* Fills actions (room for cx_env_num_actions) with the legal moves in state, in increasing
 * order, and returns how many (0 when the game is over in that state). */
int cx_env_legal(const cx_env *env, int state, int *actions);
bool cx_env_is_legal(const cx_env *env, int state, int action);

typedef struct {
    int state;    /* the state after the move (and the opponent's reply) */
    float reward; /* earned by this move */
    bool done;    /* the game is over */
    bool truncated; /* ...because it was cut off at cx_env_max_moves (learners still
                     * bootstrap from state) */
    int winner;   /* when done: 1 the agent won, -1 the opponent, 0 draw or cut off */
} cx_env_step_result;

/* Plays action in the current state (the opponent answers inside). CX_ERR_ARG for an illegal
 * move or a finished game; the environment is then unchanged. */
cx_status cx_env_step(cx_env *env, int action, cx_rng *rng, cx_env_step_result *out);

/* The state as cx_env_num_features floats (Flippers: 1 for a dot; tic-tac-toe: 9 for the
 * agent's marks, then 9 for the opponent's). */
void cx_env_features(const cx_env *env, int state, float *out);
/* Flippers: the fewest moves that win from state (Hamming distance to the nearest goal);
 * -1 for other games. */
int cx_env_min_moves(const cx_env *env, int state);
/* The board as text, one row per line ("o" dot, "." blank; "X"/"O" with X the first
 * player's marks). Returns buf. */
char *cx_env_render(const cx_env *env, int state, char *buf, size_t size);

/* ---- policies and evaluation ---- */

/* A greedy policy: the move it plays in state (which has a legal move). */
typedef struct {
    int (*act)(void *ctx, const cx_env *env, int state);
    void *ctx;
} cx_policy;

typedef struct {
    int games;
    int wins, draws, losses; /* Flippers: won, -, cut off at cx_env_max_moves */
    double mean_moves;       /* the agent's moves per game (cut-off games count in full) */
    int optimal;             /* Flippers: games won in cx_env_min_moves moves */
} cx_rl_results;

/* Plays games games with policy (greedy, no exploration) and counts the outcomes. Flippers
 * with games <= 0: one game from each of the 512 boards. CX_ERR_ARG for NULL arguments. */
cx_status cx_rl_evaluate(cx_env *env, cx_policy policy, int games, cx_rng *rng,
                         cx_rl_results *out);

/* ---- tabular Q-learning ---- */

typedef struct cx_qtable cx_qtable;

typedef struct {
    float epsilon;  /* probability of a random legal move while training */
    float lr;       /* learning rate alpha of Q += alpha (target - Q) */
    float discount; /* gamma: target = reward + gamma max Q(next) (reward alone at the end) */
} cx_qlearn_params;

/* Settings that learn env's game well: epsilon 0.1, discount 0.9, lr 0.5 for Flippers (a
 * deterministic puzzle) and 0.1 for tic-tac-toe (a random opponent makes the targets noisy).
 * env NULL: Flippers'. */
cx_qlearn_params cx_qlearn_defaults(const cx_env *env);

/* A zero table of env's states x moves for env's game. NULL + error on failure. */
cx_qtable *cx_qtable_new(const cx_env *env);
void cx_qtable_free(cx_qtable *t);
const char *cx_qtable_game(const cx_qtable *t);
int cx_qtable_num_states(const cx_qtable *t);
int cx_qtable_num_actions(const cx_qtable *t);
/* Games trained so far (kept in saved files). */
int64_t cx_qtable_games(const cx_qtable *t);
/* Row of cx_qtable_num_actions values for state (the stored total future reward of each
 * move); NULL if out of range. Owned by t. */
float *cx_qtable_row(cx_qtable *t, int state);

/* Trains games more games of env with one-step Q-learning: epsilon-greedy moves (ties between
 * best moves broken at random), Q(s,a) += lr (r + discount max_legal Q(s',a') - Q(s,a)), the
 * maximum left out after the last move. CX_ERR_ARG for a table of another game or size, or
 * parameters outside 0 <= epsilon <= 1, 0 < lr <= 1, 0 <= discount <= 1. */
cx_status cx_qtable_train(cx_qtable *t, cx_env *env, const cx_qlearn_params *p, int games,
                          cx_rng *rng);
/* The greedy move: the legal move of highest value, the lowest-numbered one on ties; -1 if
 * state has no legal move. */
int cx_qtable_greedy(const cx_qtable *t, const cx_env *env, int state);
cx_policy cx_qtable_policy(cx_qtable *t);

/* Files: safetensors with the f32 tensor "q" [states, moves] and metadata format =
 * "cortex-qtable", version = "1", game, games. Written atomically. Load checks all of it (and
 * that every value is finite); expected_game (may be NULL) must match the stored game.
 * Errors name the file: CX_ERR_IO, CX_ERR_FORMAT (damaged or not a Q-table), CX_ERR_ARG
 * (another game). */
cx_status cx_qtable_save(const cx_qtable *t, const char *path);
cx_qtable *cx_qtable_load(const char *path, const char *expected_game);

/* ---- deep Q-network ---- */

typedef struct cx_dqn cx_dqn;

typedef struct {
    int hidden;          /* units in each hidden layer (default 64) */
    int layers;          /* hidden layers (default 2), each dense + relu */
    float lr;            /* Adam learning rate (default 1e-3) */
    float discount;      /* default 0.9 */
    float epsilon;       /* exploration while training (default 0.1) */
    int batch;           /* replay minibatch (default 64) */
    int replay;          /* replay buffer capacity in moves (default 20000) */
    int warmup;          /* random moves stored before learning starts (default 1000) */
    int target_every;    /* copy the online network into the target every K steps (500) */
    bool huber;          /* Huber (smooth L1) loss instead of mean squared error */
} cx_dqn_params;

cx_dqn_params cx_dqn_defaults(void);

/* A DQN for env: an MLP features -> hidden ... -> one Q value per move, initialised from rng,
 * with its target copy, Adam and an empty replay buffer. NULL + error for bad params. */
cx_dqn *cx_dqn_new(const cx_env *env, const cx_dqn_params *p, cx_rng *rng);
void cx_dqn_free(cx_dqn *d);
/* The online network (owned by d). */
cx_model *cx_dqn_model(cx_dqn *d);
int64_t cx_dqn_games(const cx_dqn *d);
int64_t cx_dqn_steps(const cx_dqn *d); /* gradient steps so far */
/* Trains games more games: every move goes into the replay buffer and, after the warm-up,
 * each move is followed by one Adam step on a minibatch (target r + discount max over the
 * next state's legal moves of the target network). Stops with an error if the loss becomes
 * NaN/Inf. */
cx_status cx_dqn_train(cx_dqn *d, cx_env *env, int games, cx_rng *rng);
/* Q values of state (room for cx_env_num_actions floats). */
cx_status cx_dqn_values(cx_dqn *d, const cx_env *env, int state, float *q);
/* Greedy over the legal moves (lowest-numbered on ties). -1 on error or no legal move. */
int cx_dqn_greedy(cx_dqn *d, const cx_env *env, int state);
cx_policy cx_dqn_policy(cx_dqn *d);
/* A checkpoint (cx_checkpoint_save) whose data name is "rl:<game>"; load rebuilds the
 * network (a DQN that can play and be trained further, with a fresh replay buffer) and
 * checks the game and the shapes against env. */
cx_status cx_dqn_save(cx_dqn *d, const char *path);
cx_dqn *cx_dqn_load(const char *path, const cx_env *env, const cx_dqn_params *p);

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_RL_H */
