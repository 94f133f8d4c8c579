/*
 * cmd_train.c - `cortex train CONFIG --data NAME|PATH ...`: builds the model from its config
 * (or continues a checkpoint with --resume), trains it, reports validation figures after each
 * epoch and the test figures at the end, and saves a checkpoint after every epoch (--out).
 * With --distributed under mpirun, the ranks train one model data-parallel (cortex/dist.h)
 * and rank 0 alone prints and writes files.
 */
#include "cli.h"

#include <math.h>
#include <string.h>

typedef struct {
    const char *data, *optimizer, *out, *resume, *plot, *schedule, *progress, *init_from;
    int epochs, threads, patience, step_size, freeze, bucket_kb;
    int64_t batch, limit, shift;
    uint64_t seed;
    float lr, momentum, weight_decay, val_split, clip_norm, gamma, eta_min, rotate, zoom;
    bool json, restore_best, strict_init, standardize, detect_anomaly, distributed;
} train_args;

/* The optimizer for a fresh run: the kind's defaults with what the command line changed. */
static cx_optim *make_optim(const cli_command *cmd, const train_args *a, cx_model *m) {
    cx_optim_kind kind;
    if (cx_optim_kind_parse(a->optimizer, &kind) != CX_OK) return NULL;
    cx_optim_params p = cx_optim_defaults(kind);
    if (cli_seen(cmd, "--lr")) p.lr = a->lr;
    if (cli_seen(cmd, "--momentum")) p.momentum = a->momentum;
    if (cli_seen(cmd, "--weight-decay")) p.weight_decay = a->weight_decay;
    cx_tensor *params[cx_model_num_param_tensors(m) + 1];
    int n = cx_model_trainable_params(m, params); /* frozen layers stay as they are */
    return cx_optim_new(kind, &p, params, n);
}

/* --init-from and --freeze: start from another model's weights where names and shapes agree
 * (the rest listed), then freeze the first layers. */
static int transfer(const train_args *a, cx_model *m) {
    if (a->init_from) {
        cx_safetensors *f = cx_safetensors_open(a->init_from);
        static char report[8192];
        int loaded = 0;
        cx_status st = f ? cx_model_init_from(m, f, a->strict_init, &loaded, report, sizeof report)
                         : cx_last_status();
        cx_safetensors_close(f);
        if (st != CX_OK) return cli_fail(NULL);
        if (!a->json && cli_prints())
            printf("initialised %d tensors from %s\n%s", loaded, a->init_from, report);
    }
    if (a->freeze != INT32_MIN && cx_model_freeze(m, a->freeze) != CX_OK)
        return cli_usage_error("train --freeze: %s", cx_last_error());
    return CLI_OK;
}

/* How a fresh run's samples are scaled and augmented (a resumed run keeps the stored way). */
static int input_pipeline(const train_args *a, const cx_dataset *train, cx_loader_params *lp) {
    *lp = (cx_loader_params){.shift = a->shift, .rotate = a->rotate, .zoom = a->zoom};
    if (a->shift < 0 || !(a->rotate >= 0 && a->rotate <= 180) || !(a->zoom >= 0 && a->zoom < 1))
        return cli_usage_error("train: need --shift >= 0, --rotate in [0, 180], --zoom in [0, 1)");
    if (a->standardize && cx_dataset_mean_std(train, 0, &lp->mean, &lp->std) != CX_OK)
        return cli_fail(NULL);
    return CLI_OK;
}

static int parse_schedule(const train_args *a, int epochs, cx_schedule *s) {
    *s = (cx_schedule){
        .step_size = a->step_size, .gamma = a->gamma, .t_max = epochs, .eta_min = a->eta_min};
    if (cx_schedule_kind_parse(a->schedule, &s->kind) != CX_OK)
        return cli_usage_error("train --schedule: %s", cx_last_error());
    if (s->kind == CX_SCHEDULE_STEP && s->step_size < 1)
        return cli_usage_error("train --schedule step needs --step-size N (N >= 1)");
    return CLI_OK;
}

static int parse_progress(const char *name, cx_progress *p) {
    static const char *const names[] = {"auto", "bar", "lines", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return *p = (cx_progress)i, CLI_OK;
    return cli_usage_error("train --progress: '%s' is not one of auto, bar, lines, none", name);
}

/* The final report: test figures as a line or a JSON object. */
static void report(const train_args *a, const cx_fit_result *r, const cx_metrics *test,
                   double seconds) {
    if (!cli_prints()) return;
    if (a->json) {
        printf("{\"final\": true, \"epochs\": %d, \"loss\": %.6g, ", r->epochs_run, r->train.loss);
        printf(isnan(r->train.accuracy) ? "\"accuracy\": null, " : "\"accuracy\": %.6g, ",
               r->train.accuracy);
        if (r->val.samples) printf("\"val_loss\": %.6g, ", r->val.loss);
        if (r->val.samples && !isnan(r->val.accuracy))
            printf("\"val_accuracy\": %.6g, ", r->val.accuracy);
        printf("\"test_loss\": %.6g, ", test->loss);
        printf(isnan(test->accuracy) ? "\"test_accuracy\": null, " : "\"test_accuracy\": %.6g, ",
               test->accuracy);
        if (cx_dist_size() > 1)
            printf("\"ranks\": %d, \"allreduce_wait_s\": %.4g, ", cx_dist_size(), r->sync_wait_s);
        printf("\"best_epoch\": %d, \"stopped_early\": %s, \"images_per_s\": %.6g, "
               "\"seconds\": %.3f}\n",
               r->best_epoch, r->stopped_early ? "true" : "false", r->images_per_s, seconds);
        return;
    }
    if (r->stopped_early)
        printf("stopped early after epoch %d (best epoch %d)\n", r->epochs_run, r->best_epoch);
    printf("test: loss %.4f", test->loss);
    if (!isnan(test->accuracy)) printf(" accuracy %.4f", test->accuracy);
    printf(" (%lld samples, %.1fs in all)\n", (long long)test->samples, seconds);
    if (a->out) printf("saved %s\n", a->out);
}

static int run(const cli_command *cmd, train_args *a, const char *config) {
    double t0 = cli_now_s();
    cx_train_state state = {0};
    cx_optim *o = NULL;
    cx_model *m = NULL;
    cx_dataset *train = NULL, *test = NULL, *fit_set = NULL, *val = NULL;
    int rc = CLI_FAIL;
    if (a->resume) {
        m = cx_checkpoint_load(a->resume, &o, &state);
        if (m && !o) {
            fprintf(stderr, "cortex: error: %s holds no optimizer state to resume\n", a->resume);
            goto done;
        }
        if (!cli_seen(cmd, "--epochs")) a->epochs = state.epoch + 1;
    } else {
        cx_rng *rng = cx_rng_new(a->seed);
        m = rng ? cx_model_load_config(config, rng) : NULL;
        cx_rng_free(rng);
        if (m && (rc = transfer(a, m)) != CLI_OK) goto done;
        rc = CLI_FAIL;
        o = m ? make_optim(cmd, a, m) : NULL;
        state.seed = a->seed;
    }
    if (!m || !o) goto fail;
    train = cx_dataset_load(a->data, CX_SPLIT_TRAIN);
    test = train ? cx_dataset_load(a->data, CX_SPLIT_TEST) : NULL;
    if (!test) goto fail;
    if (a->limit > 0) {
        cx_dataset *head = cx_dataset_head(train, a->limit);
        if (!head) goto fail;
        cx_dataset_free(train);
        train = head;
    }
    fit_set = train;
    val = test;
    if (a->val_split > 0) {
        int64_t n_val = (int64_t)llround(a->val_split * (double)cx_dataset_size(train));
        if (a->val_split >= 1 || n_val < 1 || n_val >= cx_dataset_size(train)) {
            rc = cli_usage_error("train --val-split: %g of %lld samples leaves no training or "
                                 "no validation data",
                                 a->val_split, (long long)cx_dataset_size(train));
            goto done;
        }
        if (cx_dataset_split(train, n_val, state.seed, &fit_set, &val) != CX_OK) goto fail;
    }
    cx_fit_params fp = {.epochs = a->epochs,
                        .batch_size = a->batch,
                        .seed = state.seed,
                        .clip_norm = a->clip_norm,
                        .patience = a->patience,
                        .restore_best = a->restore_best,
                        .json = a->json,
                        .checkpoint_path = a->out,
                        .plot_path = a->plot,
                        .resume = a->resume ? &state : NULL,
                        .normalisation = a->resume ? state.normalisation : (cx_loader_params){0}};
    fp.data_name = a->data;
    fp.distributed = a->distributed;
    fp.bucket_bytes = a->bucket_kb ? (int64_t)a->bucket_kb * 1024 : -1;
    if (!a->resume && (rc = input_pipeline(a, fit_set, &fp.normalisation)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    if ((rc = parse_schedule(a, a->epochs, &fp.schedule)) != CLI_OK) goto done;
    if ((rc = parse_progress(a->progress, &fp.progress)) != CLI_OK) goto done;
    rc = CLI_FAIL;
    if (!a->json && cli_prints()) {
        const cx_loader_params *n = &fp.normalisation;
        printf("training %s on %s: %lld samples, validating on %lld%s, %s, batch %lld, %d "
               "epochs\n",
               a->resume ? a->resume : config, a->data, (long long)cx_dataset_size(fit_set),
               (long long)cx_dataset_size(val), val == test ? " (the test split)" : "",
               cx_optim_kind_name(cx_optim_kind_of(o)), (long long)a->batch, a->epochs);
        if (cx_dist_size() > 1)
            printf("distributed: %d ranks x batch %lld = global batch %lld, %d threads each\n",
                   cx_dist_size(), (long long)a->batch, (long long)a->batch * cx_dist_size(),
                   cx_get_num_threads());
        if (n->shift || n->rotate || n->zoom)
            printf("augmenting: shift %lld px, rotate %g degrees, zoom %g\n", (long long)n->shift,
                   (double)n->rotate, (double)n->zoom);
    }
    cx_fit_result r;
    if (cx_fit(m, o, fit_set, val, &fp, &r) != CX_OK) goto fail;
    cx_metrics tm;
    if ((a->distributed ? cx_evaluate_sharded(m, test, 256, &fp.normalisation, &tm)
                        : cx_evaluate(m, test, 256, &fp.normalisation, &tm)) != CX_OK)
        goto fail;
    report(a, &r, &tm, cli_now_s() - t0);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail(NULL);
done:
    if (fit_set != train) cx_dataset_free(fit_set);
    if (val != test) cx_dataset_free(val);
    cx_dataset_free(train);
    cx_dataset_free(test);
    cx_optim_free(o);
    cx_model_free(m);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_args a = {.optimizer = "adam",
                    .freeze = INT32_MIN, /* no --freeze */
                    .epochs = 5,
                    .batch = 128,
                    .seed = 42,
                    .schedule = "constant",
                    .gamma = 0.1f,
                    .progress = "auto",
                    .bucket_kb = 1024};
    cli_option options[] = {
        {"--data", OPT_STRING, &a.data, "NAME|DIR",
         "mnist, fashion-mnist or a directory of IDX files"},
        {"--epochs", OPT_INT, &a.epochs, "N", "epochs in all (default 5; resumed: one more)"},
        {"--batch", OPT_INT64, &a.batch, "B", "mini-batch size (default 128)"},
        {"--optimizer", OPT_STRING, &a.optimizer, "NAME",
         "sgd|momentum|nesterov|adagrad|adadelta|rmsprop|adam|adamw (default adam)"},
        {"--lr", OPT_FLOAT, &a.lr, "X", "learning rate (default: the optimizer's)"},
        {"--momentum", OPT_FLOAT, &a.momentum, "X", "momentum (momentum, nesterov, rmsprop)"},
        {"--weight-decay", OPT_FLOAT, &a.weight_decay, "X", "weight decay"},
        {"--schedule", OPT_STRING, &a.schedule, "NAME", "constant|step|exponential|cosine"},
        {"--step-size", OPT_INT, &a.step_size, "N", "epochs between steps (--schedule step)"},
        {"--gamma", OPT_FLOAT, &a.gamma, "X", "decay factor (step, exponential; default 0.1)"},
        {"--eta-min", OPT_FLOAT, &a.eta_min, "X", "final learning rate (cosine)"},
        {"--clip-norm", OPT_FLOAT, &a.clip_norm, "X", "clip gradients to this global norm"},
        {"--standardize", OPT_FLAG, &a.standardize, NULL,
         "scale inputs to mean 0, std 1 with the training set's statistics"},
        {"--shift", OPT_INT64, &a.shift, "N",
         "augment: move training images by up to N pixels each way, anew every epoch"},
        {"--rotate", OPT_FLOAT, &a.rotate, "DEG", "augment: rotate them by up to DEG degrees"},
        {"--zoom", OPT_FLOAT, &a.zoom, "F", "augment: scale them by 1-F to 1+F"},
        {"--val-split", OPT_FLOAT, &a.val_split, "F",
         "hold out this fraction of the training data for validation (default: validate on test)"},
        {"--patience", OPT_INT, &a.patience, "N", "stop after N epochs without a better val loss"},
        {"--restore-best", OPT_FLAG, &a.restore_best, NULL,
         "with --patience: keep the best epoch's weights"},
        {"--limit", OPT_INT64, &a.limit, "N", "train on the first N samples only"},
        {"--seed", OPT_U64, &a.seed, "S", "seed of every random choice (default 42)"},
        {"--threads", OPT_INT, &a.threads, "T", "CPU threads (default: CX_NUM_THREADS or all)"},
        {"--out", OPT_STRING, &a.out, "FILE", "checkpoint written after every epoch"},
        {"--resume", OPT_STRING, &a.resume, "FILE", "continue the run saved in FILE"},
        {"--init-from", OPT_STRING, &a.init_from, "FILE",
         "start from FILE's weights where names and shapes agree (transfer learning)"},
        {"--strict-init", OPT_FLAG, &a.strict_init, NULL, "with --init-from: every tensor must match"},
        {"--freeze", OPT_INT, &a.freeze, "UPTO", "freeze layers 0..UPTO (negative: from the end)"},
        {"--plot", OPT_STRING, &a.plot, "FILE.png", "loss curves, written at the end"},
        {"--progress", OPT_STRING, &a.progress, "MODE", "auto|bar|lines|none (default auto)"},
        {"--json", OPT_FLAG, &a.json, NULL, "one JSON object per epoch and a final one"},
        {"--detect-anomaly", OPT_FLAG, &a.detect_anomaly, NULL,
         "check every op's output and gradients for NaN/inf and name the first (slower)"},
        {"--distributed", OPT_FLAG, &a.distributed, NULL,
         "under mpirun -np N: data-parallel, --batch per rank, rank 0 writes (alone: no-op)"},
        {"--bucket-kb", OPT_INT, &a.bucket_kb, "K",
         "--distributed: gradient buckets of K KiB reduced during backward (default 1024; 0: "
         "one, after backward)"},
    };
    cli_command cmd = {
        .name = "train",
        .usage = "CONFIG --data NAME|DIR [options]   (or: --resume FILE --data ...)",
        .about = "Trains the model described by CONFIG (e.g. models/mlp.cfg) and reports the "
                 "test split's loss\nand accuracy at the end. A [train] section in CONFIG sets defaults for "
                 "these options\n(key = value, the option's name without --); the command line "
                 "overrides them.",
        .options = options,
        .n_options = CLI_N(options),
        .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!pos[0] && !a.resume) return cli_usage_error("train: needs a CONFIG file or --resume FILE");
    if (pos[0] && (rc = cli_config_defaults(&cmd, pos[0], "train")) != CLI_OK) return rc;
    if (a.resume && (a.init_from || a.freeze != INT32_MIN))
        return cli_usage_error("train: --init-from and --freeze start a new run; not with --resume");
    if (pos[0] && a.resume)
        return cli_usage_error("train: give a CONFIG or --resume FILE, not both (the checkpoint "
                               "holds its model)");
    if (!a.data) return cli_usage_error("train: needs --data NAME|DIR (e.g. --data mnist)");
    if (a.epochs < 1 || a.batch < 1)
        return cli_usage_error("train: --epochs and --batch must be at least 1");
    if (a.bucket_kb < 0 || a.bucket_kb > (1 << 21))
        return cli_usage_error("train --bucket-kb: %d is not in 0..2097152", a.bucket_kb);
    if ((rc = cli_set_threads(a.threads)) != CLI_OK) return rc;
    if (a.distributed && (rc = cli_join_job(a.threads)) != CLI_OK) return rc;
    cx_set_detect_anomaly(a.detect_anomaly);
    return run(&cmd, &a, pos[0]);
}
