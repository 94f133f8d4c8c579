/*
 * rl_agent.h - what `cortex rl` (cmd_rl.c) and its game display (rl_play.c) share: one
 * learner, a Q-table or a DQN, behind the same few calls.
 */
#ifndef CX_RL_AGENT_H
#define CX_RL_AGENT_H

#include "cli.h"

typedef struct {
    cx_qtable *table; /* exactly one of table and dqn is set */
    cx_dqn *dqn;
    cx_qlearn_params learn; /* the table's settings */
} rl_agent;

/* The stored value of every move in state (room for cx_env_num_actions). */
cx_status rl_agent_values(rl_agent *a, const cx_env *env, int state, float *q);
cx_policy rl_agent_policy(rl_agent *a);

/* Plays one greedy game and prints it move by move: the board, then every legal move with
 * its stored value as a bar, the chosen one marked. start >= 0 starts there (Flippers),
 * else a reset. Returns CLI_OK or prints the error and returns CLI_FAIL. */
int rl_play(rl_agent *a, cx_env *env, int start, cx_rng *rng, FILE *out);

#endif
