/*
 * cmd_rl.c - `cortex rl flippers|tictactoe [options]`: trains a Q-table (or, --agent dqn, a
 * deep Q-network) on the game, judging the greedy policy every K games: Flippers by its mean
 * moves over all 512 start boards (and how many it solves in the fewest moves), tic-tac-toe
 * by its win/draw/loss rates against the random and the minimax opponent. Curves go to
 * --json lines and a --plot chart; --save/--load keep the learner, --play shows a game.
 *
 * Evaluation draws from its own generator, seeded afresh at every checkpoint, so the
 * training run does not depend on --every and each checkpoint is judged on the same games.
 */
#include "rl_agent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *agent, *opponent, *first, *save, *load, *plot, *board;
    int games, every, eval_games, hidden, target_every;
    uint64_t seed;
    float epsilon, lr, discount;
    bool json, play, huber;
} rl_args;

/* One checkpoint's figures. */
typedef struct {
    int64_t games;
    cx_rl_results vs[2]; /* Flippers: [0] the 512 boards; tic-tac-toe: vs random, vs minimax */
} rl_point;

static double rate(int n, int games) { return games ? (double)n / games : 0; }

/* Flippers: the mean of the fewest moves over the 512 boards (the best a policy can do). */
static double fewest_moves_mean(const cx_env *env) {
    double sum = 0;
    for (int s = 0; s < cx_env_num_states(env); s++) sum += cx_env_min_moves(env, s);
    return sum / cx_env_num_states(env);
}

static int evaluate(rl_agent *ag, cx_env *env, const rl_args *a, rl_point *pt) {
    cx_rng *rng = cx_rng_new(a->seed ^ 0x9e3779b97f4a7c15ull);
    cx_status st = rng ? CX_OK : cx_last_status();
    bool puzzle = strcmp(cx_env_name(env), "flippers") == 0;
    for (int k = 0; st == CX_OK && k < (puzzle ? 1 : 2); k++) {
        cx_env *e = puzzle ? env : cx_env_tictactoe_new(k ? CX_OPPONENT_MINIMAX
                                                          : CX_OPPONENT_RANDOM, CX_FIRST_EITHER);
        st = e ? cx_rl_evaluate(e, rl_agent_policy(ag), puzzle ? 0 : a->eval_games, rng,
                                &pt->vs[k])
               : cx_last_status();
        if (!puzzle) cx_env_free(e);
    }
    cx_rng_free(rng);
    return st == CX_OK ? CLI_OK : cli_fail(NULL);
}

static void report(const rl_args *a, const cx_env *env, const rl_point *pt, bool final,
                   double seconds) {
    bool puzzle = strcmp(cx_env_name(env), "flippers") == 0;
    const cx_rl_results *r = pt->vs;
    if (a->json) {
        printf("{%s\"games\": %lld, ", final ? "\"final\": true, " : "", (long long)pt->games);
        if (puzzle)
            printf("\"mean_moves\": %.6g, \"fewest_moves\": %.6g, \"optimal\": %d, "
                   "\"solved\": %d, \"boards\": %d", r->mean_moves, fewest_moves_mean(env),
                   r->optimal, r->wins, r->games);
        else
            for (int k = 0; k < 2; k++) {
                const char *o = k ? "minimax" : "random";
                printf("%s\"%s_win\": %.6g, \"%s_draw\": %.6g, \"%s_loss\": %.6g, "
                       "\"%s_losses\": %d", k ? ", " : "", o, rate(r[k].wins, r[k].games), o,
                       rate(r[k].draws, r[k].games), o, rate(r[k].losses, r[k].games), o,
                       r[k].losses);
            }
        if (final)
            printf(", \"game\": \"%s\", \"agent\": \"%s\", \"seconds\": %.3f", cx_env_name(env),
                   a->agent, seconds);
        printf("}\n");
        return;
    }
    printf("%s%lld games: ", final ? "final, " : "", (long long)pt->games);
    if (puzzle)
        printf("mean moves %.3f (fewest possible %.3f), %d/%d boards in the fewest moves, %d "
               "solved\n", r->mean_moves, fewest_moves_mean(env), r->optimal, r->games, r->wins);
    else
        printf("vs random win %.3f draw %.3f loss %.3f | vs minimax win %.3f draw %.3f loss "
               "%.3f (%d games each)\n", rate(r[0].wins, r[0].games), rate(r[0].draws, r[0].games),
               rate(r[0].losses, r[0].games), rate(r[1].wins, r[1].games),
               rate(r[1].draws, r[1].games), rate(r[1].losses, r[1].games), r[0].games);
}

static int write_plot(const rl_args *a, const cx_env *env, const rl_point *pts, int n) {
    bool puzzle = strcmp(cx_env_name(env), "flippers") == 0;
    int series = puzzle ? 2 : 4;
    float *ys = malloc(sizeof *ys * (size_t)(series * n + 1));
    if (!ys) return cli_fail("rl --plot: out of memory");
    for (int i = 0; i < n; i++) {
        const cx_rl_results *r = pts[i].vs;
        float *col[4] = {ys + i, ys + n + i, ys + 2 * n + i, ys + 3 * n + i};
        if (puzzle) {
            *col[0] = (float)r->mean_moves, *col[1] = (float)fewest_moves_mean(env);
        } else {
            *col[0] = (float)rate(r[0].wins, r[0].games), *col[1] = (float)rate(r[0].losses, r[0].games);
            *col[2] = (float)rate(r[1].draws, r[1].games), *col[3] = (float)rate(r[1].losses, r[1].games);
        }
    }
    static const char *const flippers[] = {"mean moves (512 boards)", "fewest possible"};
    static const char *const ttt[] = {"win vs random", "loss vs random", "draw vs minimax",
                                      "loss vs minimax"};
    const float *lines[4] = {ys, ys + n, ys + 2 * n, ys + 3 * n};
    char xlabel[64], title[96];
    snprintf(xlabel, sizeof xlabel, "checkpoint (every %d games)", a->every);
    snprintf(title, sizeof title, "%s: %s agent", puzzle ? "Flippers" : "Tic-tac-toe", a->agent);
    cx_status st = cx_plot_lines(a->plot, title, xlabel, puzzle ? "moves to win" : "rate",
                                 series, puzzle ? flippers : ttt, lines, n);
    free(ys);
    if (st != CX_OK) return cli_fail(NULL);
    if (!a->json) printf("chart: %s\n", a->plot);
    return CLI_OK;
}

/* "o.o/.../ooo" or "o.o...ooo": 9 tiles, 'o' a dot, '.' blank. */
static int parse_board(const char *text, int *state) {
    int n = 0;
    *state = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '/') continue;
        if ((*p != 'o' && *p != '.') || n == 9) n = 10;
        else *state |= (*p == 'o') << n++;
        if (n > 9) break;
    }
    if (n == 9) return CLI_OK;
    return cli_usage_error("rl --board: '%s' is not 9 tiles of 'o' (dot) and '.' (blank), e.g. "
                           "o.o/.../ooo", text);
}

static int check_args(rl_args *a, const cli_command *cmd, const char *game, bool dqn) {
    bool ttt = strcmp(game, "tictactoe") == 0;
    if (!ttt && strcmp(game, "flippers") != 0)
        return cli_usage_error("rl: unknown game '%s'; games: flippers, tictactoe", game);
    if (strcmp(a->agent, "table") != 0 && !dqn)
        return cli_usage_error("rl --agent: '%s' is not one of table, dqn", a->agent);
    if (!cli_seen(cmd, "--games"))
        a->games = a->load ? 0 : dqn ? (ttt ? 40000 : 12000) : (ttt ? 200000 : 30000);
    if (a->games < 0) return cli_usage_error("rl --games: need N >= 0, got %d", a->games);
    if (!cli_seen(cmd, "--every")) a->every = a->games >= 20 ? a->games / 20 : 1;
    if (a->every < 1) return cli_usage_error("rl --every: need K >= 1, got %d", a->every);
    if (a->eval_games < 1)
        return cli_usage_error("rl --eval-games: need M >= 1, got %d", a->eval_games);
    if (!(a->epsilon >= 0 && a->epsilon <= 1))
        return cli_usage_error("rl --epsilon: need 0 <= epsilon <= 1, got %g", a->epsilon);
    if (!(a->discount >= 0 && a->discount <= 1))
        return cli_usage_error("rl --discount: need 0 <= discount <= 1, got %g", a->discount);
    if (cli_seen(cmd, "--lr") && !(a->lr > 0 && (dqn || a->lr <= 1)))
        return cli_usage_error("rl --lr: need 0 < lr%s, got %g", dqn ? "" : " <= 1", a->lr);
    if (a->hidden < 1 || a->hidden > 4096)
        return cli_usage_error("rl --hidden: need 1..4096 units, got %d", a->hidden);
    if (a->target_every < 1)
        return cli_usage_error("rl --target-every: need K >= 1, got %d", a->target_every);
    if (!ttt && (cli_seen(cmd, "--opponent") || cli_seen(cmd, "--first")))
        return cli_usage_error("rl flippers: --opponent and --first are for tictactoe");
    if (ttt && a->board) return cli_usage_error("rl tictactoe: --board is for flippers");
    if (a->board && !a->play) return cli_usage_error("rl --board: only with --play");
    if (dqn && a->load && cli_seen(cmd, "--hidden"))
        return cli_usage_error("rl --hidden: a loaded network keeps its own size");
    return CLI_OK;
}

static int make_env(const rl_args *a, const char *game, cx_env **env) {
    cx_opponent opp = CX_OPPONENT_MIXED;
    cx_first_player first = CX_FIRST_EITHER;
    if (a->opponent && cx_opponent_parse(a->opponent, &opp) != CX_OK)
        return cli_usage_error("rl --opponent: %s", cx_last_error());
    if (a->first) {
        static const char *const names[] = {"either", "agent", "opponent"};
        int k = 0;
        while (k < 3 && strcmp(a->first, names[k]) != 0) k++;
        if (k == 3)
            return cli_usage_error("rl --first: '%s' is not one of either, agent, opponent",
                                   a->first);
        first = (cx_first_player)k;
    }
    *env = cx_env_new(game, opp, first);
    return *env ? CLI_OK : cli_fail(NULL);
}

static int make_agent(const rl_args *a, const cli_command *cmd, cx_env *env, cx_rng *rng,
                      rl_agent *ag) {
    ag->learn = cx_qlearn_defaults(env);
    if (cli_seen(cmd, "--epsilon")) ag->learn.epsilon = a->epsilon;
    if (cli_seen(cmd, "--lr")) ag->learn.lr = a->lr;
    if (cli_seen(cmd, "--discount")) ag->learn.discount = a->discount;
    if (strcmp(a->agent, "dqn") == 0) {
        cx_dqn_params p = cx_dqn_defaults();
        p.epsilon = ag->learn.epsilon, p.discount = ag->learn.discount;
        if (cli_seen(cmd, "--lr")) p.lr = a->lr;
        if (cli_seen(cmd, "--hidden")) p.hidden = a->hidden;
        p.target_every = a->target_every, p.huber = a->huber;
        ag->dqn = a->load ? cx_dqn_load(a->load, env, &p) : cx_dqn_new(env, &p, rng);
    } else {
        ag->table = a->load ? cx_qtable_load(a->load, cx_env_name(env)) : cx_qtable_new(env);
    }
    return ag->table || ag->dqn ? CLI_OK : cli_fail(NULL);
}

static int train(rl_agent *ag, cx_env *env, int games, cx_rng *rng) {
    cx_status st = ag->dqn ? cx_dqn_train(ag->dqn, env, games, rng)
                           : cx_qtable_train(ag->table, env, &ag->learn, games, rng);
    return st == CX_OK ? CLI_OK : cli_fail(NULL);
}

static int run(rl_args *a, const cli_command *cmd, const char *game) {
    double t0 = cli_now_s();
    cx_env *env = NULL;
    rl_agent ag = {0};
    cx_rng *rng = cx_rng_new(a->seed);
    int n_points = a->games / a->every + 2, n = 0, start = -1;
    rl_point *pts = calloc((size_t)n_points, sizeof *pts);
    int rc = rng && pts ? CLI_OK : cli_fail("rl: out of memory");
    if (rc == CLI_OK && a->board) rc = parse_board(a->board, &start);
    if (rc == CLI_OK) rc = make_env(a, game, &env);
    if (rc == CLI_OK) rc = make_agent(a, cmd, env, rng, &ag);
    for (int done = 0; rc == CLI_OK && done < a->games;) {
        int chunk = a->games - done < a->every ? a->games - done : a->every;
        if ((rc = train(&ag, env, chunk, rng)) != CLI_OK) break;
        done += chunk;
        pts[n].games = ag.dqn ? cx_dqn_games(ag.dqn) : cx_qtable_games(ag.table);
        if ((rc = evaluate(&ag, env, a, &pts[n])) != CLI_OK) break;
        if (done < a->games) report(a, env, &pts[n], false, 0);
        n++;
    }
    if (rc == CLI_OK && n == 0) { /* nothing trained: judge the loaded learner */
        pts[0].games = ag.dqn ? cx_dqn_games(ag.dqn) : cx_qtable_games(ag.table);
        rc = evaluate(&ag, env, a, &pts[n++]);
    }
    if (rc == CLI_OK) report(a, env, &pts[n - 1], true, cli_now_s() - t0);
    if (rc == CLI_OK && a->plot) rc = write_plot(a, env, pts, n);
    if (rc == CLI_OK && a->save) {
        cx_status st = ag.dqn ? cx_dqn_save(ag.dqn, a->save) : cx_qtable_save(ag.table, a->save);
        rc = st == CX_OK ? CLI_OK : cli_fail(NULL);
        if (rc == CLI_OK && !a->json) printf("saved %s\n", a->save);
    }
    if (rc == CLI_OK && a->play) rc = rl_play(&ag, env, start, rng, stdout);
    free(pts);
    cx_qtable_free(ag.table);
    cx_dqn_free(ag.dqn);
    cx_env_free(env);
    cx_rng_free(rng);
    return rc;
}

int cmd_rl(int argc, char **argv) {
    rl_args a = {.agent = "table", .seed = 1, .eval_games = 1000, .epsilon = 0.1f,
                 .discount = 0.9f, .hidden = 64, .target_every = 500};
    cli_option options[] = {
        {"--games", OPT_INT, &a.games, "N",
         "games to train (default: flippers 30000, tictactoe 200000; dqn 12000 / 40000; "
         "0 with --load)"},
        {"--agent", OPT_STRING, &a.agent, "table|dqn", "Q-table (default) or deep Q-network"},
        {"--epsilon", OPT_FLOAT, &a.epsilon, "E", "chance of a random move while training (0.1)"},
        {"--lr", OPT_FLOAT, &a.lr, "LR",
         "learning rate (table: flippers 0.5, tictactoe 0.1; dqn: Adam's, 0.001)"},
        {"--discount", OPT_FLOAT, &a.discount, "G", "weight of the next move's value (0.9)"},
        {"--seed", OPT_U64, &a.seed, "N", "seed of every random choice (1)"},
        {"--every", OPT_INT, &a.every, "K", "judge the greedy policy every K games (N/20)"},
        {"--eval-games", OPT_INT, &a.eval_games, "M",
         "tictactoe: games against each opponent per judgement (1000)"},
        {"--opponent", OPT_STRING, &a.opponent, "NAME",
         "tictactoe: random, minimax or mixed (each move one of the two; the default)"},
        {"--first", OPT_STRING, &a.first, "WHO",
         "tictactoe: either (default), agent or opponent starts, in training and --play"},
        {"--json", OPT_FLAG, &a.json, NULL, "one JSON object per judgement and a final one"},
        {"--plot", OPT_STRING, &a.plot, "FILE.png", "the learning curves as a chart"},
        {"--save", OPT_STRING, &a.save, "FILE", "save the table (or network) at the end"},
        {"--load", OPT_STRING, &a.load, "FILE", "start from a saved table (or network)"},
        {"--play", OPT_FLAG, &a.play, NULL, "show one greedy game with every move's value"},
        {"--board", OPT_STRING, &a.board, "o.o/.../ooo", "flippers --play: the start board"},
        {"--hidden", OPT_INT, &a.hidden, "N", "dqn: units per hidden layer (64)"},
        {"--target-every", OPT_INT, &a.target_every, "K",
         "dqn: copy the network into its target every K steps (500)"},
        {"--huber", OPT_FLAG, &a.huber, NULL, "dqn: Huber loss instead of squared error"},
    };
    cli_command cmd = {
        .name = "rl", .usage = "flippers|tictactoe [options]",
        .about = "Q-learning on two board games. Flippers: flip tiles of a 3x3 board until one "
                 "row or column shows three dots and every other tile is blank. Tic-tac-toe: "
                 "against a random, a perfect (minimax) or a mixed opponent, as first or "
                 "second player.",
        .options = options, .n_options = CLI_N(options), .min_pos = 1, .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if ((rc = check_args(&a, &cmd, pos[0], strcmp(a.agent, "dqn") == 0)) != CLI_OK) return rc;
    return run(&a, &cmd, pos[0]);
}
