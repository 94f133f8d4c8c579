/*
 * cmd_gan.c - `cortex gan`: train a dense GAN, a DCGAN or a conditional GAN on a picture
 * dataset (or a generator/discriminator pair of one's own configs), with a fixed-noise grid
 * per epoch, loss curves, the mode-collapse watch against a classifier, and a checkpoint of
 * both networks and both optimizers to resume from. `cortex gan sample MODEL` draws a grid
 * from a saved GAN (one digit with --digit) and, with --classifier, reports what a
 * classifier makes of its samples.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *data, *arch, *generator, *discriminator, *optimizer, *out, *resume, *grid_dir,
        *plot, *classifier, *progress;
    int epochs, threads, classes;
    int64_t batch, noise, limit, watch;
    uint64_t seed;
    float lr, beta1, smoothing;
    float time_limit;
    bool json, distributed;
} gan_args;

/* The built-in configs of --arch (and --noise), or --generator and --discriminator. */
static cx_gan *build(const cli_command *cmd, const gan_args *a) {
    cx_rng *rng = cx_rng_new(a->seed);
    cx_gan *gan = NULL;
    if (!rng) return NULL;
    if (a->generator) {
        cx_model *g = cx_model_load_config(a->generator, rng);
        cx_model *d = g ? cx_model_load_config(a->discriminator, rng) : NULL;
        if (d || !g) gan = cx_gan_new(g, d, a->classes);
        else cx_model_free(g);
    } else {
        cx_gan_arch arch;
        static char gen[8192], disc[8192];
        int classes;
        if (cx_gan_arch_parse(a->arch, &arch) == CX_OK &&
            cx_gan_default_configs(arch, cli_seen(cmd, "--noise") ? a->noise : 0, gen, disc,
                                   sizeof gen, &classes) == CX_OK)
            gan = cx_gan_from_configs(gen, "built-in generator", disc, "built-in discriminator",
                                      classes, rng);
    }
    cx_rng_free(rng);
    return gan;
}

static cx_optim *make_optim(const cli_command *cmd, const gan_args *a, cx_model *m) {
    cx_optim_kind kind;
    if (cx_optim_kind_parse(a->optimizer, &kind) != CX_OK) return NULL;
    cx_optim_params p = cx_optim_defaults(kind);
    bool adam = kind == CX_OPTIM_ADAM || kind == CX_OPTIM_ADAMW;
    p.lr = cli_seen(cmd, "--lr") ? a->lr : adam ? 2e-4f : p.lr;
    if (adam) p.beta1 = a->beta1;
    cx_tensor *params[cx_model_num_param_tensors(m) + 1];
    int n = cx_model_trainable_params(m, params);
    return cx_optim_new(kind, &p, params, n);
}

/* The classifier of the watch and how it wants its pixels. */
static cx_model *load_classifier(const char *path, cx_loader_params *norm) {
    cx_train_state s;
    cx_model *m = cx_checkpoint_load(path, NULL, &s);
    if (m) *norm = s.normalisation;
    return m;
}

static int classes_found(const cx_gan_watch *w) {
    int n = 0;
    for (int c = 0; c < w->classes; c++) n += w->counts[c] > 0;
    return n;
}

static void print_watch(const cx_gan_watch *w, bool json) {
    if (json) {
        printf("\"classes\": [");
        for (int c = 0; c < w->classes; c++)
            printf(c ? ", %lld" : "%lld", (long long)w->counts[c]);
        printf("], \"classes_found\": %d, \"class_entropy\": %.6g, \"top_class\": %d, "
               "\"top_share\": %.6g, \"mean_top_prob\": %.6g, \"collapse\": %s, ",
               classes_found(w), w->entropy, w->top_class, w->top_share, w->mean_top_prob,
               w->collapse ? "true" : "false");
        printf(isnan(w->label_accuracy) ? "\"label_accuracy\": null" : "\"label_accuracy\": %.6g",
               w->label_accuracy);
        return;
    }
    printf("%lld samples by class:", (long long)w->samples);
    for (int c = 0; c < w->classes; c++) printf(" %lld", (long long)w->counts[c]);
    printf("\n%d of %d classes present, entropy %.3f bits, mean top probability %.3f\n",
           classes_found(w), w->classes, w->entropy, w->mean_top_prob);
    if (!isnan(w->label_accuracy))
        printf("classified as the class asked for: %.1f%%\n", 100 * w->label_accuracy);
    if (w->collapse)
        printf("warning: possible mode collapse: class %d takes %.1f%%\n", w->top_class,
               100 * w->top_share);
}

static void report(const gan_args *a, const cx_gan_fit_result *r) {
    const cx_gan_stats *s = &r->last;
    if (a->json) {
        printf("{\"final\": true, \"epochs\": %d, \"stopped_by_time\": %s, \"d_loss\": %.6g, "
               "\"g_loss\": %.6g, \"d_real\": %.6g, \"d_fake\": %.6g, \"d_accuracy\": %.6g, "
               "\"steps_per_s\": %.6g, ", r->epochs_run, r->stopped_by_time ? "true" : "false",
               s->d_loss, s->g_loss, s->d_real, s->d_fake, s->d_accuracy, r->steps_per_s);
        if (r->watch.samples > 0) print_watch(&r->watch, true), printf(", ");
        printf("\"seconds\": %.3f}\n", r->seconds);
        return;
    }
    if (r->stopped_by_time)
        printf("stopped after epoch %d: the next would pass --time-limit %g s\n", r->epochs_run,
               a->time_limit);
    printf("%.1fs in all\n", r->seconds);
    if (a->out) printf("saved %s\n", a->out);
}

static int train(const cli_command *cmd, gan_args *a) {
    cx_train_state state = {.seed = a->seed};
    cx_optim *go = NULL, *dopt = NULL;
    cx_gan *gan = NULL;
    cx_dataset *train = NULL;
    cx_model *classifier = NULL;
    cx_gan_fit_params fp = {.batch_size = a->batch, .json = a->json, .smoothing = a->smoothing,
                            .time_limit_s = a->time_limit, .checkpoint_path = a->out,
                            .grid_dir = a->grid_dir, .plot_path = a->plot,
                            .watch_samples = a->watch, .data_name = a->data,
                            .distributed = a->distributed};
    int rc = cli_parse_progress(a->progress, &fp.progress);
    if (rc != CLI_OK) return rc;
    if (a->resume) {
        gan = cx_gan_load(a->resume, &go, &dopt, &state);
        if (gan && (!go || !dopt)) {
            cx_optim_free(go);
            cx_optim_free(dopt);
            cx_gan_free(gan);
            fprintf(stderr, "cortex: error: %s holds no optimizer state to resume\n", a->resume);
            return CLI_FAIL;
        }
        if (!cli_seen(cmd, "--epochs")) a->epochs = state.epoch + 1;
        fp.resume = &state;
    } else {
        gan = build(cmd, a);
        go = gan ? make_optim(cmd, a, cx_gan_generator(gan)) : NULL;
        dopt = go ? make_optim(cmd, a, cx_gan_discriminator(gan)) : NULL;
    }
    fp.epochs = a->epochs;
    fp.seed = state.seed;
    rc = CLI_FAIL;
    if (!gan || !go || !dopt) goto fail;
    if (a->classifier &&
        !(classifier = fp.classifier = load_classifier(a->classifier, &fp.classifier_norm)))
        goto fail;
    if (!(train = cx_dataset_load(a->data, CX_SPLIT_TRAIN))) goto fail;
    if (a->limit > 0) {
        cx_dataset *head = cx_dataset_head(train, a->limit);
        if (!head) goto fail;
        cx_dataset_free(train);
        train = head;
    }
    if (!a->json && cli_prints()) {
        int k = cx_gan_classes(gan);
        printf("training a %sGAN (noise %lld", k ? "conditional " : "",
               (long long)cx_gan_noise_size(gan));
        if (k) printf(", %d classes", k);
        if (a->smoothing > 0) printf(", label smoothing %g", a->smoothing);
        printf(") on %s: %lld samples, batch %lld, %s lr %g, up to %d epochs", a->data,
               (long long)cx_dataset_size(train), (long long)a->batch,
               cx_optim_kind_name(cx_optim_kind_of(go)), cx_optim_get_lr(go), a->epochs);
        if (a->time_limit > 0) printf(" or %g s", a->time_limit);
        printf("\n");
        if (cx_dist_size() > 1)
            printf("distributed: %d ranks x batch %lld = global batch %lld, %d threads each\n",
                   cx_dist_size(), (long long)a->batch, (long long)a->batch * cx_dist_size(),
                   cx_get_num_threads());
    }
    cx_gan_fit_result r;
    if (cx_gan_fit(gan, go, dopt, train, &fp, &r) != CX_OK) goto fail;
    if (cli_prints()) report(a, &r);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail(NULL);
done:
    cx_model_free(classifier);
    cx_dataset_free(train);
    cx_optim_free(go);
    cx_optim_free(dopt);
    cx_gan_free(gan);
    return rc;
}

/* `sample MODEL`: a grid of samples; with --classifier, the watch on --watch samples. */
static int sample(int argc, char **argv) {
    const char *out = "samples.png", *classifier = NULL;
    int64_t n = 100, watch = 1000;
    int columns = 10, digit = -1;
    uint64_t seed = 1;
    bool json = false;
    cli_option options[] = {
        {"--n", OPT_INT64, &n, "N", "samples in the grid (default 100)"},
        {"--columns", OPT_INT, &columns, "C", "pictures per row (default 10)"},
        {"--digit", OPT_INT, &digit, "D",
         "conditional GAN: every sample of class D (default: a class per row)"},
        {"--out", OPT_STRING, &out, "FILE.png", "the grid (default samples.png)"},
        {"--seed", OPT_U64, &seed, "S", "seed of the noise (default 1)"},
        {"--classifier", OPT_STRING, &classifier, "CNN",
         "report what this classifier checkpoint makes of --watch samples"},
        {"--watch", OPT_INT64, &watch, "N", "samples it classifies (default 1000)"},
        {"--json", OPT_FLAG, &json, NULL, "the classifier's report as one JSON object"},
    };
    cli_command cmd = {.name = "gan sample",
                       .usage = "MODEL [--n N] [--digit D] [--out FILE.png] [--classifier CNN]",
                       .about = "Draws N samples of the GAN saved in MODEL (cortex gan --out "
                                "MODEL) into a grid; for a conditional\nGAN one class per row, "
                                "or class D only. With --classifier, classifies --watch samples\n"
                                "(each class asked for equally, conditional) and reports the "
                                "class histogram, its entropy,\nthe mean top probability and "
                                "how often the class asked for came out.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 1,
                       .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (n < 1 || n > 10000 || columns < 1 || columns > 1000 || watch < 1 || watch > 100000)
        return cli_usage_error("gan sample: --n must be 1 to 10000, --columns 1 to 1000 and "
                               "--watch 1 to 100000");
    cx_gan *gan = cx_gan_load(pos[0], NULL, NULL, NULL);
    if (!gan) return cli_fail(NULL);
    int k = cx_gan_classes(gan);
    if (cli_seen(&cmd, "--digit") && (k == 0 || digit < 0 || digit >= k)) {
        cx_gan_free(gan);
        return k ? cli_usage_error("gan sample: --digit %d is outside 0..%d", digit, k - 1)
                 : cli_usage_error("gan sample: --digit needs a conditional GAN (--arch cgan)");
    }
    cx_rng *rng = cx_rng_new(seed);
    cx_tensor *z = rng ? cx_randn(rng, CX_SHAPE(n, cx_gan_noise_size(gan))) : NULL;
    cx_tensor *labels = NULL;
    if (z && digit >= 0) {
        labels = cx_tensor_new(CX_DTYPE_I32, CX_SHAPE(n));
        for (int64_t i = 0; labels && i < n; i++) ((int32_t *)cx_tensor_data(labels))[i] = digit;
    }
    cx_tensor *grid = z && (digit < 0 || labels) ? cx_gan_picture_grid(gan, z, labels, columns)
                                                 : NULL;
    rc = grid ? CLI_OK : cli_fail(NULL);
    if (rc == CLI_OK) {
        if (cli_save_picture(out, grid, 2) != CX_OK) rc = cli_fail(NULL);
        else if (!json) printf("wrote %s\n", out);
    }
    if (rc == CLI_OK && classifier) {
        cx_loader_params norm;
        cx_model *c = load_classifier(classifier, &norm);
        cx_gan_watch w;
        if (!c || cx_gan_watch_classify(gan, c, &norm, watch, seed, &w) != CX_OK) {
            rc = cli_fail(NULL);
        } else if (json) {
            printf("{\"samples\": %lld, ", (long long)w.samples);
            print_watch(&w, true);
            printf("}\n");
        } else {
            print_watch(&w, false);
        }
        cx_model_free(c);
    }
    cx_tensor_free(grid);
    cx_tensor_free(labels);
    cx_tensor_free(z);
    cx_rng_free(rng);
    cx_gan_free(gan);
    return rc;
}

int cmd_gan(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "sample") == 0) return sample(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "train") == 0) argc--, argv++;
    gan_args a = {.arch = "dcgan", .optimizer = "adam", .progress = "auto", .epochs = 20,
                  .batch = 64, .noise = 100, .seed = 42, .beta1 = 0.5f, .watch = 1000};
    cli_option options[] = {
        {"--data", OPT_STRING, &a.data, "NAME|DIR",
         "mnist, fashion-mnist or a directory of IDX files"},
        {"--arch", OPT_STRING, &a.arch, "NAME", "dense, dcgan (default) or cgan (conditional)"},
        {"--noise", OPT_INT64, &a.noise, "Z", "noise size of the built-in configs (default 100)"},
        {"--generator", OPT_STRING, &a.generator, "CONFIG",
         "your own generator (with --discriminator)"},
        {"--discriminator", OPT_STRING, &a.discriminator, "CONFIG",
         "your own discriminator (with --generator)"},
        {"--classes", OPT_INT, &a.classes, "K",
         "your own configs are conditional on K classes (default 0)"},
        {"--epochs", OPT_INT, &a.epochs, "N", "epochs in all (default 20; resumed: one more)"},
        {"--batch", OPT_INT64, &a.batch, "B", "mini-batch size (default 64)"},
        {"--optimizer", OPT_STRING, &a.optimizer, "NAME", "for both networks (default adam)"},
        {"--lr", OPT_FLOAT, &a.lr, "X", "learning rate (default 2e-4 for Adam)"},
        {"--beta1", OPT_FLOAT, &a.beta1, "B", "Adam's beta1 (default 0.5)"},
        {"--smoothing", OPT_FLOAT, &a.smoothing, "S",
         "one-sided label smoothing: real targets 1 - S (default 0)"},
        {"--time-limit", OPT_FLOAT, &a.time_limit, "SECONDS",
         "start no epoch that would end past this"},
        {"--classifier", OPT_STRING, &a.classifier, "CNN",
         "mode-collapse watch: a classifier checkpoint (cortex train)"},
        {"--watch", OPT_INT64, &a.watch, "N", "samples the watch classifies (default 1000)"},
        {"--limit", OPT_INT64, &a.limit, "N", "train on the first N samples only"},
        {"--seed", OPT_U64, &a.seed, "S", "seed of every random choice (default 42)"},
        {"--threads", OPT_INT, &a.threads, "T", "CPU threads (default: CX_NUM_THREADS or all)"},
        {"--out", OPT_STRING, &a.out, "FILE", "checkpoint of both networks, after every epoch"},
        {"--resume", OPT_STRING, &a.resume, "FILE", "continue the run saved in FILE"},
        {"--grid-dir", OPT_STRING, &a.grid_dir, "DIR",
         "the fixed-noise sample grid of each epoch as DIR/epoch_NNN.png"},
        {"--plot", OPT_STRING, &a.plot, "FILE.png", "loss curves of D and G at the end"},
        {"--progress", OPT_STRING, &a.progress, "MODE", "auto|bar|lines|none (default auto)"},
        {"--json", OPT_FLAG, &a.json, NULL, "one JSON object per epoch and a final one"},
        {"--distributed", OPT_FLAG, &a.distributed, NULL,
         "under mpirun -np N: data-parallel, --batch per rank, rank 0 writes (alone: no-op)"},
    };
    cli_command cmd = {
        .name = "gan",
        .usage = "[train] --data NAME|DIR [options]  |  sample MODEL ...",
        .about = "Trains a generative adversarial network: alternating discriminator and "
                 "generator steps,\nthe non-saturating generator loss, Adam (lr 2e-4, beta1 0.5). "
                 "--arch dense (batchnorm MLPs),\ndcgan (transposed and strided convolutions) or "
                 "cgan (the DCGAN conditioned on the label).\n`cortex gan sample MODEL` draws "
                 "samples from a saved GAN.",
        .options = options,
        .n_options = CLI_N(options),
    };
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!a.data) return cli_usage_error("gan: needs --data NAME|DIR (e.g. --data mnist)");
    if (!!a.generator != !!a.discriminator)
        return cli_usage_error("gan: --generator and --discriminator go together");
    cx_gan_arch arch;
    if (cx_gan_arch_parse(a.arch, &arch) != CX_OK)
        return cli_usage_error("gan --arch: '%s' is not one of dense, dcgan, cgan", a.arch);
    if (a.resume && (a.generator || cli_seen(&cmd, "--arch") || cli_seen(&cmd, "--noise") ||
                     cli_seen(&cmd, "--classes") || cli_seen(&cmd, "--optimizer") ||
                     cli_seen(&cmd, "--lr") || cli_seen(&cmd, "--beta1")))
        return cli_usage_error("gan: --resume continues the saved networks and optimizers; the "
                               "model and optimizer options start a new run");
    if (a.generator && (cli_seen(&cmd, "--arch") || cli_seen(&cmd, "--noise")))
        return cli_usage_error("gan: --arch and --noise choose a built-in config; not with "
                               "--generator/--discriminator");
    if (!a.generator && cli_seen(&cmd, "--classes"))
        return cli_usage_error("gan: --classes goes with --generator/--discriminator; the "
                               "built-in conditional GAN is --arch cgan");
    if (a.epochs < 1 || a.batch < 2)
        return cli_usage_error("gan: --epochs must be at least 1 and --batch at least 2");
    if (a.classes < 0 || a.classes > CX_GAN_MAX_CLASSES)
        return cli_usage_error("gan: --classes must be 0 to %d", CX_GAN_MAX_CLASSES);
    if (!(a.smoothing >= 0 && a.smoothing <= 0.5f))
        return cli_usage_error("gan: --smoothing must be 0 to 0.5");
    if (!(a.time_limit >= 0) || !(a.beta1 >= 0 && a.beta1 < 1) || a.watch < 1 ||
        a.watch > 100000)
        return cli_usage_error("gan: --time-limit must be >= 0, --beta1 in 0..1 and --watch 1 "
                               "to 100000");
    if ((rc = cli_set_threads(a.threads)) != CLI_OK) return rc;
    if (a.distributed && (rc = cli_join_job(a.threads)) != CLI_OK) return rc;
    return train(&cmd, &a);
}
