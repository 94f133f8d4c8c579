/*
 * rl_play.c - `cortex rl ... --play`: one greedy game shown step by step in the terminal,
 * each legal move with its stored value as a bar (scaled between the lowest and the highest
 * value of that position, the number printed next to it) and the chosen one marked.
 */
#include "rl_agent.h"

#include <string.h>

#define BAR 24

cx_status rl_agent_values(rl_agent *a, const cx_env *env, int state, float *q) {
    if (a->dqn) return cx_dqn_values(a->dqn, env, state, q);
    const float *row = cx_qtable_row(a->table, state);
    if (!row) return CX_ERR_ARG;
    memcpy(q, row, (size_t)cx_env_num_actions(env) * sizeof *q);
    return CX_OK;
}

cx_policy rl_agent_policy(rl_agent *a) {
    return a->dqn ? cx_dqn_policy(a->dqn) : cx_qtable_policy(a->table);
}

static void print_bars(FILE *out, const float *q, const int *actions, int n, int chosen) {
    float lo = q[actions[0]], hi = lo;
    for (int i = 1; i < n; i++) {
        if (q[actions[i]] < lo) lo = q[actions[i]];
        if (q[actions[i]] > hi) hi = q[actions[i]];
    }
    for (int i = 0; i < n; i++) {
        int a = actions[i];
        int len = hi > lo ? 1 + (int)((BAR - 1) * (q[a] - lo) / (hi - lo) + 0.5f) : BAR;
        fprintf(out, "    row %d col %d  %8.4f  ", a / 3 + 1, a % 3 + 1, q[a]);
        for (int k = 0; k < BAR; k++) fputs(k < len ? "\u2588" : " ", out);
        fprintf(out, "%s\n", a == chosen ? "  <- played" : "");
    }
}

static void print_board(FILE *out, const cx_env *env, int state) {
    char board[64];
    cx_env_render(env, state, board, sizeof board);
    for (char *line = strtok(board, "\n"); line; line = strtok(NULL, "\n"))
        fprintf(out, "    %s\n", line);
}

int rl_play(rl_agent *a, cx_env *env, int start, cx_rng *rng, FILE *out) {
    int s = start >= 0 ? cx_env_reset_to(env, start) : cx_env_reset(env, rng);
    if (s < 0) return cli_fail(NULL);
    bool puzzle = cx_env_min_moves(env, s) >= 0;
    fprintf(out, "%s, start:\n", cx_env_name(env));
    print_board(out, env, s);
    if (puzzle) fprintf(out, "  the fewest moves that win: %d\n", cx_env_min_moves(env, s));
    cx_env_step_result r = {.state = s, .winner = puzzle ? 1 : 0};
    while (!cx_env_done(env)) {
        float q[16];
        int actions[16], n = cx_env_legal(env, s, actions);
        int move = rl_agent_policy(a).act(rl_agent_policy(a).ctx, env, s);
        if (move < 0 || rl_agent_values(a, env, s, q) != CX_OK) return cli_fail(NULL);
        fprintf(out, "\nmove %d: %s row %d col %d; stored values:\n", cx_env_moves(env) + 1,
                puzzle ? "flip" : "mark", move / 3 + 1, move % 3 + 1);
        print_bars(out, q, actions, n, move);
        if (cx_env_step(env, move, rng, &r) != CX_OK) return cli_fail(NULL);
        s = r.state;
        fprintf(out, "  %s\n", puzzle || r.done ? "board:" : "board after the opponent's reply:");
        print_board(out, env, s);
    }
    const char *result = r.truncated ? "cut off unsolved"
                         : r.winner > 0 ? "won"
                         : r.winner < 0 ? "lost"
                                        : "drawn";
    fprintf(out, "\n%s in %d moves\n", result, cx_env_moves(env));
    return CLI_OK;
}
