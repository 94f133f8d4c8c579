/*
 * replay.c - the DQN's replay buffer (see replay.h): a ring of the last moves, so that a
 * minibatch mixes moves from many games instead of the strongly correlated last few.
 */
#include "rl/replay.h"

#include <string.h>

cx_status cx__replay_init(cx__replay *r, int capacity, int n_features) {
    *r = (cx__replay){.capacity = capacity, .n_features = n_features};
    size_t n = (size_t)capacity, f = (size_t)n_features;
    r->s = cx__alloc(n * f * sizeof *r->s);
    r->s2 = cx__alloc(n * f * sizeof *r->s2);
    r->action = cx__alloc(n * sizeof *r->action);
    r->reward = cx__alloc(n * sizeof *r->reward);
    r->end = cx__alloc(n * sizeof *r->end);
    r->legal2 = cx__alloc(n * sizeof *r->legal2);
    if (r->s && r->s2 && r->action && r->reward && r->end && r->legal2) return CX_OK;
    cx__replay_free(r);
    return CX_ERR_OOM;
}

void cx__replay_free(cx__replay *r) {
    cx__free(r->s), cx__free(r->s2), cx__free(r->action);
    cx__free(r->reward), cx__free(r->end), cx__free(r->legal2);
    *r = (cx__replay){0};
}

void cx__replay_push(cx__replay *r, const float *s, int action, float reward, const float *s2,
                     uint16_t legal2, bool end) {
    size_t i = (size_t)r->next, f = (size_t)r->n_features;
    memcpy(r->s + i * f, s, f * sizeof *s);
    memcpy(r->s2 + i * f, s2, f * sizeof *s2);
    r->action[i] = action, r->reward[i] = reward, r->legal2[i] = legal2, r->end[i] = end;
    r->next = (r->next + 1) % r->capacity;
    if (r->count < r->capacity) r->count++;
}

int cx__replay_sample(const cx__replay *r, cx_rng *rng) {
    return (int)(cx_rng_u32(rng) % (uint32_t)r->count);
}
