/*
 * test_rl.c - reinforcement learning: the rules of Flippers and tic-tac-toe, the exact
 * minimax opponent, tabular Q-learning to its acceptance figures (every one of the 512
 * Flippers boards solved in the fewest moves; at tic-tac-toe no loss in 1,000 games against
 * the random opponent and a draw in every game against minimax, as first and as second
 * player, and no losing line against any opponent at all), Q-table files (round trip,
 * damaged and mismatched files), the DQN, and `cortex rl` on the command line.
 */
#include "test.h"

#include "rl/rl_impl.h" /* the tic-tac-toe helpers */

#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <zlib.h>

/* ---- rules ---- */

static void flippers_rules(void **state) {
    (void)state;
    cx_env *env = cx_env_flippers_new();
    assert_non_null(env);
    assert_string_equal(cx_env_name(env), "flippers");
    assert_int_equal(cx_env_num_states(env), 512);
    assert_int_equal(cx_env_num_actions(env), 9);
    int goals = 0, actions[16], hist[10] = {0};
    for (int s = 0; s < 512; s++) {
        int d = cx_env_min_moves(env, s);
        hist[d]++;
        goals += d == 0;
        assert_int_equal(cx_env_legal(env, s, actions), d == 0 ? 0 : 9);
    }
    assert_int_equal(goals, 6); /* three rows and three columns */
    for (int d = 7; d < 10; d++) assert_int_equal(hist[d], 0);
    assert_int_equal(cx_env_min_moves(env, 0), 3); /* blank board: fill any row */
    assert_int_equal(cx_env_min_moves(env, 0x1ff), 6); /* all dots: clear the other six */

    /* a board already at a goal is a game won in 0 moves */
    assert_int_equal(cx_env_reset_to(env, 0007), 0007);
    assert_true(cx_env_done(env));
    assert_int_equal(cx_env_moves(env), 0);
    cx_env_step_result r;
    assert_int_equal(cx_env_step(env, 0, NULL, &r), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "game is over");

    /* o o . / . . . / . . . -> flip (1,3) wins, each move costs 1 */
    assert_int_equal(cx_env_reset_to(env, 0003), 0003);
    assert_int_equal(cx_env_step(env, 4, NULL, &r), CX_OK);
    assert_int_equal(r.state, 0023);
    assert_true(r.reward == -1 && !r.done);
    assert_int_equal(cx_env_step(env, 4, NULL, &r), CX_OK); /* flip it back */
    assert_int_equal(cx_env_step(env, 2, NULL, &r), CX_OK);
    assert_true(r.done && !r.truncated && r.winner == 1 && r.reward == -1);
    assert_int_equal(cx_env_moves(env), 3);
    float f[9];
    cx_env_features(env, 0005, f);
    assert_true(f[0] == 1 && f[1] == 0 && f[2] == 1 && f[8] == 0);
    char board[64];
    assert_string_equal(cx_env_render(env, 0421, board, sizeof board), "o . .\n. o .\n. . o\n");

    /* cut off after 50 moves, flipping one tile back and forth */
    cx_env_reset_to(env, 0);
    for (int i = 0; i < 50; i++) assert_int_equal(cx_env_step(env, 4, NULL, &r), CX_OK);
    assert_true(r.done && r.truncated && r.winner == 0);

    assert_int_equal(cx_env_reset_to(env, 512), -1);
    assert_error(CX_ERR_ARG, "state 512");
    cx_env_reset_to(env, 1);
    assert_int_equal(cx_env_step(env, 9, NULL, &r), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "move 9 is not legal");
    assert_int_equal(cx_env_set_opponent(env, CX_OPPONENT_MINIMAX), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "only tic-tac-toe");
    assert_null(cx_env_new("chess", CX_OPPONENT_RANDOM, CX_FIRST_EITHER));
    assert_error(CX_ERR_ARG, "unknown game 'chess'", "flippers, tictactoe");
    cx_env_free(env);
    cx_env_free(NULL);
}

/* Distinct positions reachable from the empty board (either side to move, finished ones
 * included), counted by depth-first search over absolute boards (X = 1, O = 2). */
static int count_positions(int *cells, int mover, uint8_t *seen) {
    int code = cx__ttt_encode(cells);
    if (seen[code]) return 0;
    seen[code] = 1;
    int n = 1;
    bool over = cx__ttt_winner(cells) != 0;
    for (int i = 0; i < 9 && !over; i++)
        if (!cells[i]) {
            cells[i] = mover;
            n += count_positions(cells, 3 - mover, seen);
            cells[i] = 0;
        }
    return n;
}

static void tictactoe_rules(void **state) {
    (void)state;
    int cells[9] = {0};
    uint8_t *seen = calloc(CX__TTT_STATES, 1);
    assert_int_equal(count_positions(cells, 1, seen), 5478);
    free(seen);

    cx_env *env = cx_env_tictactoe_new(CX_OPPONENT_RANDOM, CX_FIRST_AGENT);
    assert_non_null(env);
    assert_int_equal(cx_env_num_states(env), 19683);
    assert_int_equal(cx__ttt_value(env->minimax, 0), 0); /* perfect play draws */
    cx_rng *rng = cx_rng_new(5);
    int actions[16];
    assert_int_equal(cx_env_reset(env, rng), 0);
    assert_int_equal(cx_env_legal(env, 0, actions), 9);
    cx_env_step_result r;
    assert_int_equal(cx_env_step(env, 4, rng, &r), CX_OK);
    int c[9], mine = 0, theirs = 0;
    cx__ttt_decode(r.state, c);
    for (int i = 0; i < 9; i++) mine += c[i] == 1, theirs += c[i] == 2;
    assert_true(c[4] == 1 && mine == 1 && theirs == 1 && !r.done); /* the opponent replied */
    assert_int_equal(cx_env_step(env, 4, rng, &r), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "move 4 is not legal");

    /* X X . / O O . / . . . : the agent completes its row and wins */
    int win[9] = {1, 1, 0, 2, 2, 0, 0, 0, 0};
    assert_true(cx_env_reset_to(env, cx__ttt_encode(win)) >= 0);
    assert_int_equal(cx_env_step(env, 2, rng, &r), CX_OK);
    assert_true(r.done && r.winner == 1 && r.reward == 1);
    char board[64];
    assert_string_equal(cx_env_render(env, r.state, board, sizeof board),
                        "X X X\nO O .\n. . .\n");
    /* the same board, the agent elsewhere: the minimax opponent completes its row */
    cx_env_set_opponent(env, CX_OPPONENT_MINIMAX);
    cx_env_reset_to(env, cx__ttt_encode(win));
    assert_int_equal(cx_env_step(env, 8, rng, &r), CX_OK);
    assert_true(r.done && r.winner == -1 && r.reward == -1);
    /* positions the agent never faces are refused */
    int bad[9] = {1, 1, 1, 2, 2, 0, 0, 0, 0}, extra[9] = {1, 1, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(cx_env_reset_to(env, cx__ttt_encode(bad)), -1);
    assert_error(CX_ERR_ARG, "not a position");
    assert_int_equal(cx_env_reset_to(env, cx__ttt_encode(extra)), -1);
    cx_clear_error();

    /* the opponent moves first when it starts */
    cx_env_set_first(env, CX_FIRST_OPPONENT);
    int s = cx_env_reset(env, rng);
    cx__ttt_decode(s, c);
    theirs = 0;
    for (int i = 0; i < 9; i++) theirs += c[i] == 2;
    assert_int_equal(theirs, 1);
    cx_opponent o;
    assert_int_equal(cx_opponent_parse("mixed", &o), CX_OK);
    assert_int_equal(o, CX_OPPONENT_MIXED);
    assert_int_equal(cx_opponent_parse("best", &o), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "random, minimax, mixed");
    cx_rng_free(rng);
    cx_env_free(env);
}

/* The agent's perfect move (from the memoised negamax): a policy for checking the opponent
 * and the evaluation. */
static int perfect_act(void *ctx, const cx_env *env, int state) {
    (void)ctx;
    int actions[16], n = cx_env_legal(env, state, actions), c[9];
    float v[9];
    cx__ttt_decode(state, c);
    for (int k = 0; k < n; k++) {
        int a = actions[k];
        c[a] = 1;
        bool full = true;
        for (int i = 0; i < 9; i++) full &= c[i] != 0;
        int sw[9];
        for (int i = 0; i < 9; i++) sw[i] = c[i] ? 3 - c[i] : 0;
        v[a] = cx__ttt_winner(c) ? 1.0f : full ? 0.0f
                                              : -(float)cx__ttt_value(env->minimax,
                                                                      cx__ttt_encode(sw));
        c[a] = 0;
    }
    return cx__argmax_legal(v, actions, n, NULL);
}

static void minimax_is_perfect(void **state) {
    (void)state;
    cx_env *env = cx_env_tictactoe_new(CX_OPPONENT_MINIMAX, CX_FIRST_EITHER);
    cx_rng *rng = cx_rng_new(9);
    cx_policy perfect = {perfect_act, NULL};
    cx_rl_results r;
    assert_int_equal(cx_rl_evaluate(env, perfect, 300, rng, &r), CX_OK);
    assert_int_equal(r.draws, 300); /* perfect against perfect */
    cx_env_set_opponent(env, CX_OPPONENT_RANDOM);
    assert_int_equal(cx_rl_evaluate(env, perfect, 300, rng, &r), CX_OK);
    print_message("perfect vs random: %d won, %d drawn, %d lost\n", r.wins, r.draws, r.losses);
    assert_int_equal(r.losses, 0);
    assert_true(r.wins > 200);
    assert_int_equal(cx_rl_evaluate(env, perfect, 0, rng, &r), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "needs a number of games");
    cx_rng_free(rng);
    cx_env_free(env);
}

/* ---- Q-learning ---- */

static cx_qtable *train_flippers(uint64_t seed, int games) {
    cx_env *env = cx_env_flippers_new();
    cx_qtable *t = cx_qtable_new(env);
    cx_rng *rng = cx_rng_new(seed);
    cx_qlearn_params p = cx_qlearn_defaults(env);
    assert_int_equal(cx_qtable_train(t, env, &p, games, rng), CX_OK);
    cx_rng_free(rng);
    cx_env_free(env);
    return t;
}

/* The greedy policy solves every start board in the fewest moves. */
static void flippers_optimal_on_every_board(void **state) {
    (void)state;
    cx_qtable *t = train_flippers(1, 30000);
    cx_env *env = cx_env_flippers_new();
    int worst = 0;
    for (int board = 0; board < 512; board++) {
        cx_env_reset_to(env, board);
        while (!cx_env_done(env)) {
            cx_env_step_result r;
            assert_int_equal(cx_env_step(env, cx_qtable_greedy(t, env, cx_env_state(env)),
                                         NULL, &r), CX_OK);
            assert_false(r.truncated);
        }
        int want = cx_env_min_moves(env, board);
        if (cx_env_moves(env) != want)
            fail_msg("board %03o: %d moves, the fewest is %d", board, cx_env_moves(env), want);
        if (want > worst) worst = want;
    }
    cx_rl_results r;
    assert_int_equal(cx_rl_evaluate(env, cx_qtable_policy(t), 0, NULL, &r), CX_OK);
    assert_int_equal(r.games, 512);
    assert_int_equal(r.optimal, 512);
    assert_int_equal(r.wins, 512);
    print_message("flippers: 512/512 boards in the fewest moves (up to %d), mean %.3f\n", worst,
                  r.mean_moves);
    cx_env_free(env);
    cx_qtable_free(t);
}

/* True if the greedy policy can lose from state against some sequence of opponent moves:
 * every reply of the opponent is tried. */
static bool can_lose(const cx_qtable *t, const cx_env *env, int state) {
    int a = cx_qtable_greedy(t, env, state), c[9];
    cx__ttt_decode(state, c);
    c[a] = 1;
    if (cx__ttt_winner(c)) return false;
    bool full = true;
    for (int i = 0; i < 9; i++) full &= c[i] != 0;
    if (full) return false;
    for (int i = 0; i < 9; i++) {
        if (c[i]) continue;
        c[i] = 2;
        bool lost = cx__ttt_winner(c) != 0;
        bool over = true;
        for (int k = 0; k < 9; k++) over &= c[k] != 0;
        if (lost || (!over && can_lose(t, env, cx__ttt_encode(c)))) return true;
        c[i] = 0;
    }
    return false;
}

static void tictactoe_never_loses(void **state) {
    (void)state;
    cx_env *env = cx_env_tictactoe_new(CX_OPPONENT_MIXED, CX_FIRST_EITHER);
    cx_qtable *t = cx_qtable_new(env);
    cx_rng *rng = cx_rng_new(1);
    cx_qlearn_params p = cx_qlearn_defaults(env);
    assert_true(p.lr == 0.1f);
    assert_int_equal(cx_qtable_train(t, env, &p, 200000, rng), CX_OK);
    assert_int_equal(cx_qtable_games(t), 200000);

    cx_rl_results r;
    cx_env_set_opponent(env, CX_OPPONENT_RANDOM);
    assert_int_equal(cx_rl_evaluate(env, cx_qtable_policy(t), 1000, rng, &r), CX_OK);
    print_message("tictactoe vs random: %d won, %d drawn, %d lost\n", r.wins, r.draws, r.losses);
    assert_int_equal(r.losses, 0);
    assert_true(r.wins > 900);
    cx_env_set_opponent(env, CX_OPPONENT_MINIMAX);
    assert_int_equal(cx_rl_evaluate(env, cx_qtable_policy(t), 1000, rng, &r), CX_OK);
    assert_int_equal(r.draws, 1000);
    /* both roles, separately */
    for (int first = CX_FIRST_AGENT; first <= CX_FIRST_OPPONENT; first++) {
        cx_env_set_first(env, (cx_first_player)first);
        cx_env_set_opponent(env, CX_OPPONENT_RANDOM);
        assert_int_equal(cx_rl_evaluate(env, cx_qtable_policy(t), 500, rng, &r), CX_OK);
        assert_int_equal(r.losses, 0);
        cx_env_set_opponent(env, CX_OPPONENT_MINIMAX);
        assert_int_equal(cx_rl_evaluate(env, cx_qtable_policy(t), 500, rng, &r), CX_OK);
        assert_int_equal(r.draws, 500);
    }
    /* stronger still: no line of opponent moves beats it, as first or as second player */
    assert_false(can_lose(t, env, 0));
    for (int i = 0; i < 9; i++) {
        int c[9] = {0};
        c[i] = 2;
        assert_false(can_lose(t, env, cx__ttt_encode(c)));
    }
    cx_rng_free(rng);
    cx_qtable_free(t);
    cx_env_free(env);
}

static void qlearning_reproducible_and_checked(void **state) {
    (void)state;
    cx_qtable *a = train_flippers(7, 2000), *b = train_flippers(7, 2000);
    cx_qtable *c = train_flippers(8, 2000);
    size_t bytes = 512 * 9 * sizeof(float);
    assert_memory_equal(cx_qtable_row(a, 0), cx_qtable_row(b, 0), bytes);
    assert_memory_not_equal(cx_qtable_row(a, 0), cx_qtable_row(c, 0), bytes);
    assert_null(cx_qtable_row(a, 512));

    cx_env *ttt = cx_env_tictactoe_new(CX_OPPONENT_RANDOM, CX_FIRST_EITHER);
    cx_qlearn_params p = cx_qlearn_defaults(NULL);
    assert_int_equal(cx_qtable_train(a, ttt, &p, 1, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "the table is for flippers", "tictactoe");
    cx_env *env = cx_env_flippers_new();
    p.lr = 0;
    assert_int_equal(cx_qtable_train(a, env, &p, 1, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "lr = 0 is invalid");
    p = cx_qlearn_defaults(env), p.epsilon = 1.5f;
    assert_int_equal(cx_qtable_train(a, env, &p, 1, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "epsilon = 1.5");
    p = cx_qlearn_defaults(env), p.discount = -0.1f;
    assert_int_equal(cx_qtable_train(a, env, &p, 1, NULL), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "discount");
    cx_env_free(env);
    cx_env_free(ttt);
    cx_qtable_free(a), cx_qtable_free(b), cx_qtable_free(c);
}

/* ---- files ---- */

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* A safetensors file with tensor "q" (shape rows x cols, every value v) and metadata. */
static void write_table_file(const char *path, int rows, int cols, float v, const char *game,
                             const char *crc) {
    cx_tensor *q = cx_full(CX_SHAPE(rows, cols), v);
    const char *keys[] = {"format", "version", "game", "games", "crc32"};
    const char *values[] = {"cortex-qtable", "1", game, "5", crc};
    assert_int_equal(cx_safetensors_save(path, 1, (const char *[]){"q"}, &q, 5, keys, values),
                     CX_OK);
    cx_tensor_free(q);
}

static void qtable_files(void **state) {
    (void)state;
    cx_qtable *t = train_flippers(3, 500);
    const char *path = cx_test_path("flippers.safetensors");
    assert_int_equal(cx_qtable_save(t, path), CX_OK);
    cx_qtable *u = cx_qtable_load(path, "flippers");
    assert_non_null(u);
    assert_string_equal(cx_qtable_game(u), "flippers");
    assert_int_equal(cx_qtable_games(u), 500);
    assert_memory_equal(cx_qtable_row(t, 0), cx_qtable_row(u, 0), 512 * 9 * sizeof(float));
    cx_qtable_free(u);

    assert_null(cx_qtable_load(path, "tictactoe"));
    assert_error(CX_ERR_ARG, "flippers.safetensors holds a Q-table for flippers, not for "
                             "tictactoe");
    assert_null(cx_qtable_load(cx_test_path("absent.safetensors"), NULL));
    assert_error(CX_ERR_IO, "absent.safetensors");

    /* damage: cut short, one value changed, not a table, wrong shape, non-finite values */
    size_t n;
    char *bytes = read_bytes(path, &n);
    const char *cut = cx_test_path("cut.safetensors");
    write_bytes(cut, bytes, n - 100);
    assert_null(cx_qtable_load(cut, NULL));
    assert_int_equal(cx_last_status(), CX_ERR_FORMAT);
    assert_non_null(strstr(cx_last_error(), "cut.safetensors"));
    cx_clear_error();
    const char *flipped = cx_test_path("flipped.safetensors");
    bytes[n - 7] ^= 0x10;
    write_bytes(flipped, bytes, n);
    assert_null(cx_qtable_load(flipped, NULL));
    assert_error(CX_ERR_FORMAT, "flipped.safetensors is damaged", "checksum");
    free(bytes);

    const char *plain = cx_test_path("plain.safetensors");
    cx_tensor *w = cx_zeros(CX_SHAPE(2, 2));
    assert_int_equal(cx_safetensors_save(plain, 1, (const char *[]){"w"}, &w, 0, NULL, NULL),
                     CX_OK);
    cx_tensor_free(w);
    assert_null(cx_qtable_load(plain, NULL));
    assert_error(CX_ERR_FORMAT, "plain.safetensors is not a Cortex Q-table");

    const char *shape = cx_test_path("shape.safetensors");
    write_table_file(shape, 3, 3, 0, "flippers", "00000000");
    assert_null(cx_qtable_load(shape, NULL));
    assert_error(CX_ERR_FORMAT, "tensor 'q' is f32 [3,3]", "[512,9]");
    write_table_file(shape, 512, 9, 0, "go", "00000000");
    assert_null(cx_qtable_load(shape, NULL));
    assert_error(CX_ERR_FORMAT, "unknown game 'go'");

    float nan = NAN;
    char crc[16];
    uLong c = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < 512 * 9; i++) c = crc32(c, (const Bytef *)&nan, sizeof nan);
    snprintf(crc, sizeof crc, "%08lx", c);
    write_table_file(shape, 512, 9, NAN, "flippers", crc);
    assert_null(cx_qtable_load(shape, NULL));
    assert_error(CX_ERR_FORMAT, "not finite");

    /* every allocation of a load fails in turn: an error, never a crash or a leak */
    int failures = 0;
    for (long k = 0; k < 200; k++) {
        cx_test_fail_countdown = k;
        cx_set_allocator(&cx_test_counting_allocator);
        cx_qtable *v = cx_qtable_load(path, NULL);
        bool done = cx_test_fail_countdown >= 0;
        cx_test_fail_countdown = -1;
        cx_qtable_free(v);
        cx_set_allocator(NULL);
        if (done) break;
        assert_null(v);
        failures++;
        cx_clear_error();
    }
    assert_true(failures > 3 && failures < 200);
    cx_qtable_free(t);
}

/* ---- DQN ---- */

static void dqn_learns_flippers(void **state) {
    (void)state;
    cx_env *env = cx_env_flippers_new();
    cx_rng *rng = cx_rng_new(1);
    cx_dqn *d = cx_dqn_new(env, NULL, rng);
    assert_non_null(d);
    assert_int_equal(cx_model_num_params(cx_dqn_model(d)), 9 * 64 + 64 + 64 * 64 + 64 + 64 * 9 + 9);
    cx_rl_results before, after;
    assert_int_equal(cx_rl_evaluate(env, cx_dqn_policy(d), 0, NULL, &before), CX_OK);
    assert_int_equal(cx_dqn_train(d, env, 1500, rng), CX_OK);
    assert_int_equal(cx_dqn_games(d), 1500);
    assert_true(cx_dqn_steps(d) > 1000);
    assert_int_equal(cx_rl_evaluate(env, cx_dqn_policy(d), 0, NULL, &after), CX_OK);
    print_message("dqn flippers: solved %d -> %d of 512, %d in the fewest moves, mean %.3f "
                  "moves\n", before.wins, after.wins, after.optimal, after.mean_moves);
    assert_int_equal(after.wins, 512);
    assert_true(after.optimal > 380);
    assert_true(after.mean_moves < 3.3);

    /* save and load: the same values; another game is refused */
    const char *path = cx_test_path("dqn.safetensors");
    assert_int_equal(cx_dqn_save(d, path), CX_OK);
    cx_dqn *e = cx_dqn_load(path, env, NULL);
    assert_non_null(e);
    assert_int_equal(cx_dqn_games(e), 1500);
    float q1[9], q2[9];
    assert_int_equal(cx_dqn_values(d, env, 0123, q1), CX_OK);
    assert_int_equal(cx_dqn_values(e, env, 0123, q2), CX_OK);
    assert_memory_equal(q1, q2, sizeof q1);
    cx_env *ttt = cx_env_tictactoe_new(CX_OPPONENT_RANDOM, CX_FIRST_EITHER);
    assert_null(cx_dqn_load(path, ttt, NULL));
    assert_error(CX_ERR_ARG, "is not a DQN for tictactoe", "it plays 'flippers'");
    assert_int_equal(cx_dqn_train(d, ttt, 1, rng), CX_ERR_ARG);
    assert_error(CX_ERR_ARG, "the network plays flippers");
    cx_dqn_params p = cx_dqn_defaults();
    p.replay = 10;
    assert_null(cx_dqn_new(env, &p, rng));
    assert_error(CX_ERR_ARG, "replay must be");
    cx_env_free(ttt);
    cx_dqn_free(e);
    cx_dqn_free(d);
    cx_dqn_free(NULL);
    cx_rng_free(rng);
    cx_env_free(env);
}

static void dqn_reproducible(void **state) {
    (void)state;
    cx_env *env = cx_env_tictactoe_new(CX_OPPONENT_MIXED, CX_FIRST_EITHER);
    cx_dqn_params p = cx_dqn_defaults();
    p.warmup = 100, p.huber = true, p.target_every = 50;
    float q[2][9];
    for (int run = 0; run < 2; run++) {
        cx_rng *rng = cx_rng_new(11);
        cx_dqn *d = cx_dqn_new(env, &p, rng);
        assert_int_equal(cx_dqn_train(d, env, 60, rng), CX_OK);
        assert_int_equal(cx_dqn_values(d, env, 0, q[run]), CX_OK);
        cx_dqn_free(d);
        cx_rng_free(rng);
    }
    assert_memory_equal(q[0], q[1], sizeof q[0]);
    cx_env_free(env);
}

/* ---- the command line ---- */

static char cli_path[4096];

static int run_cli(char *out, size_t size, const char *args) {
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>&1", cx_test_scratch_dir(), cli_path, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cli(void **state) {
    (void)state;
    if (!getenv("CX_CLI") || !realpath(getenv("CX_CLI"), cli_path)) {
        print_message("skipped: set CX_CLI to the cortex binary (make test does)\n");
        return;
    }
    static char out[1 << 16];
    int rc = run_cli(out, sizeof out, "rl flippers --games 30000 --every 10000 --json --plot "
                                      "curve.png --save f.safetensors");
    if (rc) print_error("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "{\"games\": 10000"));
    assert_non_null(strstr(out, "{\"final\": true, \"games\": 30000"));
    assert_non_null(strstr(out, "\"optimal\": 512"));
    FILE *png = fopen(cx_test_path("curve.png"), "rb");
    assert_non_null(png);
    fclose(png);
    assert_int_equal(run_cli(out, sizeof out, "rl flippers --load f.safetensors --play "
                                              "--board o.o/o../.oo"), 0);
    assert_non_null(strstr(out, "the fewest moves that win: 4"));
    assert_non_null(strstr(out, "<- played"));
    assert_non_null(strstr(out, "won in 4 moves"));
    /* the same seed, the same run */
    static char again[1 << 16];
    assert_int_equal(run_cli(out, sizeof out, "rl tictactoe --games 3000 --eval-games 200 "
                                              "--seed 4 --json"), 0);
    assert_int_equal(run_cli(again, sizeof again, "rl tictactoe --games 3000 --eval-games 200 "
                                                  "--seed 4 --json"), 0);
    assert_non_null(strstr(out, "\"minimax_draw\""));
    *strstr(out, "\"seconds\"") = *strstr(again, "\"seconds\"") = '\0';
    assert_string_equal(out, again);

    static const struct {
        const char *args, *needle;
        int rc;
    } errors[] = {
        {"rl", "usage", 2},
        {"rl chess", "unknown game 'chess'", 2},
        {"rl flippers --agent brain", "table, dqn", 2},
        {"rl flippers --epsilon 2", "0 <= epsilon <= 1", 2},
        {"rl flippers --games -5", "--games", 2},
        {"rl flippers --every 0", "--every", 2},
        {"rl flippers --lr 0", "--lr", 2},
        {"rl flippers --opponent minimax", "for tictactoe", 2},
        {"rl tictactoe --opponent best", "random, minimax, mixed", 2},
        {"rl tictactoe --first me", "either, agent, opponent", 2},
        {"rl flippers --play --board oo", "9 tiles", 2},
        {"rl flippers --board o.o/.../ooo", "only with --play", 2},
        {"rl flippers --gamez 3", "unknown option '--gamez'", 2},
        {"rl flippers --load nowhere.safetensors", "nowhere.safetensors", 1},
        {"rl tictactoe --load f.safetensors", "Q-table for flippers, not for tictactoe", 1},
        {"rl flippers --agent dqn --load f.safetensors", "f.safetensors", 1},
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        int code = run_cli(out, sizeof out, errors[i].args);
        if (code != errors[i].rc || !strstr(out, errors[i].needle))
            fail_msg("'%s' gave %d (want %d) and '%s' (want '%s')", errors[i].args, code,
                     errors[i].rc, out, errors[i].needle);
    }
}

CX_TEST_GROUP(rl) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flippers_rules),
        cmocka_unit_test(tictactoe_rules),
        cmocka_unit_test(minimax_is_perfect),
        cmocka_unit_test(flippers_optimal_on_every_board),
        cmocka_unit_test(tictactoe_never_loses),
        cmocka_unit_test(qlearning_reproducible_and_checked),
        cmocka_unit_test(qtable_files),
        cmocka_unit_test(dqn_learns_flippers),
        cmocka_unit_test(dqn_reproducible),
        cmocka_unit_test(cli),
    };
    if (!cx_test_scratch_new("rl")) fail_msg("no scratch directory");
    CX_RUN_GROUP("rl", tests);
    cx_test_scratch_remove();
}
