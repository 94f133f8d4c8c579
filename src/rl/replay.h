/*
 * replay.h - the DQN's replay buffer: the last `capacity` moves (state features, move,
 * reward, next state's features and legal moves, whether the game ended there), overwritten
 * oldest first and sampled uniformly.
 */
#ifndef CX_REPLAY_H
#define CX_REPLAY_H

#include "rl/rl_impl.h"

typedef struct {
    int capacity, count, next, n_features;
    float *s, *s2;      /* [capacity, n_features] */
    int32_t *action;    /* [capacity] */
    float *reward;      /* [capacity] */
    uint8_t *end;       /* [capacity]: the game ended (not cut off) after the move */
    uint16_t *legal2;   /* [capacity]: bit a set if move a is legal in the next state */
} cx__replay;

/* Allocates the buffers (CX_ERR_OOM); cx__replay_free releases them (a zeroed one: no-op). */
cx_status cx__replay_init(cx__replay *r, int capacity, int n_features);
void cx__replay_free(cx__replay *r);
/* Stores one move; s and s2 hold n_features floats each. */
void cx__replay_push(cx__replay *r, const float *s, int action, float reward, const float *s2,
                     uint16_t legal2, bool end);
/* A uniformly drawn stored index (count > 0). */
int cx__replay_sample(const cx__replay *r, cx_rng *rng);

#endif
