/*
 * qtable_impl.h - the Q-table's structure, shared by qtable.c (learning) and qtable_io.c
 * (files).
 */
#ifndef CX_QTABLE_IMPL_H
#define CX_QTABLE_IMPL_H

#include "rl/rl_impl.h"

struct cx_qtable {
    char game[32];
    int n_states, n_actions;
    int64_t games; /* trained so far */
    float *q;      /* [n_states, n_actions], row-major */
};

/* A zero table (NULL + CX_ERR_OOM). */
cx_qtable *cx__qtable_alloc(const char *game, int n_states, int n_actions);
/* CX_ERR_ARG naming fn and the bad value unless 0 <= epsilon <= 1, 0 < lr <= 1,
 * 0 <= discount <= 1. */
cx_status cx__qlearn_check(const cx_qlearn_params *p, const char *fn);

#endif
