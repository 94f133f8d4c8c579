/*
 * cmd_autoencoder.c - `cortex autoencoder` and `cortex vae`: train a (denoising,
 * convolutional) autoencoder or a variational one on a picture dataset, report the test
 * split's reconstruction figures and how well the latents separate the classes, save both
 * networks in one checkpoint and draw the pictures (tools/ae_pictures.c). Two more verbs work
 * on a saved model: `sample MODEL` decodes random latents into a grid (VAE), `pictures MODEL`
 * draws the picture set again.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cx_ae_kind kind;
    const char *name; /* "autoencoder" or "vae" */
    const char *data, *arch, *encoder, *decoder, *loss, *optimizer, *out, *resume, *out_dir,
        *progress;
    int epochs, threads;
    int64_t batch, latent, limit;
    uint64_t seed;
    float lr, beta, noise;
    bool json, distributed;
} ae_args;

/* The built-in configs of --arch (and --latent), or --encoder and --decoder. */
static cx_autoencoder *build(const cli_command *cmd, const ae_args *a) {
    cx_ae_params p = cx_ae_defaults(a->kind);
    p.beta = a->beta;
    p.noise = a->noise;
    cx_rng *rng = cx_rng_new(a->seed);
    cx_autoencoder *ae = NULL;
    if (a->encoder) {
        cx_model *enc = rng ? cx_model_load_config(a->encoder, rng) : NULL;
        cx_model *dec = enc ? cx_model_load_config(a->decoder, rng) : NULL;
        if (dec || !enc) ae = cx_autoencoder_new(enc, dec, &p);
        else cx_model_free(enc);
    } else {
        cx_ae_arch arch = a->kind == CX_AE_VARIATIONAL ? CX_AE_ARCH_VAE
                          : strcmp(a->arch, "conv") == 0 ? CX_AE_ARCH_CONV
                                                         : CX_AE_ARCH_DENSE;
        static char enc[4096], dec[4096];
        int64_t latent = cli_seen(cmd, "--latent") ? a->latent : 0;
        if (rng && cx_ae_default_configs(arch, latent, enc, dec, sizeof enc) == CX_OK)
            ae = cx_autoencoder_from_configs(enc, "built-in encoder", dec, "built-in decoder", &p,
                                             rng);
    }
    cx_rng_free(rng);
    if (ae && cli_seen(cmd, "--loss"))
        cx_model_set_loss(cx_autoencoder_decoder(ae),
                          strcmp(a->loss, "mse") == 0 ? CX_LOSS_MSE : CX_LOSS_BCE);
    return ae;
}

static cx_optim *make_optim(const cli_command *cmd, const ae_args *a, cx_autoencoder *ae) {
    cx_optim_kind kind;
    if (cx_optim_kind_parse(a->optimizer, &kind) != CX_OK) return NULL;
    cx_optim_params p = cx_optim_defaults(kind);
    if (cli_seen(cmd, "--lr")) p.lr = a->lr;
    cx_tensor *params[cx_autoencoder_num_param_tensors(ae) + 1];
    int n = cx_autoencoder_trainable_params(ae, params);
    return cx_optim_new(kind, &p, params, n);
}

/* 5-NN accuracy of the test latents against the train latents (NAN without labels or for
 * latents too large to search quickly). */
static float knn5(cx_autoencoder *ae, const cx_dataset *train, const cx_dataset *test) {
    cx_dataset *tr = (cx_dataset *)train, *te = (cx_dataset *)test;
    if (!cx_dataset_labels(tr) || !cx_dataset_labels(te) || cx_autoencoder_latent_size(ae) > 64 ||
        cx_dataset_size(tr) < 5)
        return NAN;
    cx_tensor *a = cx_autoencoder_encode_dataset(ae, train, 256);
    cx_tensor *b = a ? cx_autoencoder_encode_dataset(ae, test, 256) : NULL;
    float acc = b ? cx_knn_accuracy(a, cx_dataset_labels(tr), b, cx_dataset_labels(te), 5) : NAN;
    cx_tensor_free(a);
    cx_tensor_free(b);
    return acc;
}

static void report(const ae_args *a, const cx_ae_fit_result *r, float knn, double seconds) {
    const cx_ae_metrics *t = &r->val;
    if (!cli_prints()) return;
    if (a->json) {
        printf("{\"final\": true, \"epochs\": %d, \"recon_loss\": %.6g, \"kl\": %.6g, "
               "\"loss\": %.6g, \"test_recon_loss\": %.6g, \"test_kl\": %.6g, "
               "\"test_loss\": %.6g, \"test_mse\": %.6g, ",
               r->epochs_run, r->train.terms.recon, r->train.terms.kl, r->train.terms.total,
               t->terms.recon, t->terms.kl, t->terms.total, t->mse);
        printf(isnan(t->input_mse) ? "\"test_input_mse\": null, " : "\"test_input_mse\": %.6g, ",
               t->input_mse);
        printf(isnan(knn) ? "\"knn5_accuracy\": null, " : "\"knn5_accuracy\": %.6g, ", knn);
        printf("\"images_per_s\": %.6g, \"seconds\": %.3f}\n", r->images_per_s, seconds);
        return;
    }
    printf("test: loss %.4f (reconstruction %.4f + KL %.4f), mse %.5f per pixel", t->terms.total,
           t->terms.recon, t->terms.kl, t->mse);
    if (!isnan(t->input_mse))
        printf(" (the noisy input's: %.5f, %.2fx more)", t->input_mse, t->input_mse / t->mse);
    printf("\n");
    if (!isnan(knn)) printf("test latents: 5-nearest-neighbour accuracy %.4f\n", knn);
    printf("%.1fs in all\n", seconds);
    if (a->out) printf("saved %s\n", a->out);
}

static int train(const cli_command *cmd, ae_args *a) {
    double t0 = cli_now_s();
    cx_train_state state = {.seed = a->seed};
    cx_optim *o = NULL;
    cx_autoencoder *ae = NULL;
    cx_dataset *train = NULL, *test = NULL;
    cx_ae_fit_params fp = {.batch_size = a->batch, .json = a->json, .checkpoint_path = a->out,
                           .data_name = a->data, .distributed = a->distributed};
    int rc = cli_parse_progress(a->progress, &fp.progress);
    if (rc != CLI_OK) return rc;
    if (a->resume) {
        ae = cx_autoencoder_load(a->resume, &o, &state);
        if (ae && !o) {
            fprintf(stderr, "cortex: error: %s holds no optimizer state to resume\n", a->resume);
            cx_autoencoder_free(ae);
            return CLI_FAIL;
        }
        if (ae && (cx_autoencoder_params(ae).kind == CX_AE_VARIATIONAL) != (a->kind == CX_AE_VARIATIONAL)) {
            fprintf(stderr, "cortex: error: %s holds a %s autoencoder: resume it with cortex %s\n",
                    a->resume, cx_ae_kind_name(cx_autoencoder_params(ae).kind),
                    a->kind == CX_AE_VARIATIONAL ? "autoencoder" : "vae");
            cx_optim_free(o);
            cx_autoencoder_free(ae);
            return CLI_FAIL;
        }
        if (!cli_seen(cmd, "--epochs")) a->epochs = state.epoch + 1;
        fp.resume = &state;
    } else {
        ae = build(cmd, a);
        o = ae ? make_optim(cmd, a, ae) : NULL;
    }
    fp.epochs = a->epochs;
    fp.seed = state.seed;
    rc = CLI_FAIL;
    if (!ae || !o) goto fail;
    train = cx_dataset_load(a->data, CX_SPLIT_TRAIN);
    test = train ? cx_dataset_load(a->data, CX_SPLIT_TEST) : NULL;
    if (!test) goto fail;
    if (a->limit > 0) {
        cx_dataset *head = cx_dataset_head(train, a->limit);
        if (!head) goto fail;
        cx_dataset_free(train);
        train = head;
    }
    cx_ae_params p = cx_autoencoder_params(ae);
    if (!a->json && cli_prints()) {
        int64_t lat[CX_MAX_DIMS];
        char shape[64] = "";
        int nd = cx_autoencoder_latent_shape(ae, lat);
        for (int d = 0, n = 0; d < nd; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? "x%lld" : "%lld",
                          (long long)lat[d]);
        printf("training a %s autoencoder (latent %s", cx_ae_kind_name(p.kind), shape);
        if (p.kind == CX_AE_VARIATIONAL) printf(", beta %g", p.beta);
        if (p.noise > 0) printf(", denoising: noise %g", p.noise);
        printf(") on %s: %lld samples, evaluating on the %lld of the test split, %s, %d epochs\n",
               a->data, (long long)cx_dataset_size(train), (long long)cx_dataset_size(test),
               cx_optim_kind_name(cx_optim_kind_of(o)), a->epochs);
    }
    cx_ae_fit_result r;
    if (cx_autoencoder_fit(ae, o, train, test, &fp, &r) != CX_OK) goto fail;
    /* every rank holds the same model: rank 0 alone measures the latents and draws */
    float knn = cli_prints() ? knn5(ae, train, test) : NAN;
    if (a->out_dir && cli_prints() &&
        cli_ae_pictures(ae, test, a->data, a->out_dir, state.seed) != CLI_OK)
        goto done;
    report(a, &r, knn, cli_now_s() - t0);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail(NULL);
done:
    cx_dataset_free(train);
    cx_dataset_free(test);
    cx_optim_free(o);
    cx_autoencoder_free(ae);
    return rc;
}

/* `sample MODEL`: random latents decoded into a grid. */
static int sample(int argc, char **argv, const char *name) {
    const char *out = "samples.png";
    int64_t n = 80;
    int columns = 10;
    uint64_t seed = 1;
    cli_option options[] = {
        {"--n", OPT_INT64, &n, "N", "samples (default 80)"},
        {"--columns", OPT_INT, &columns, "C", "pictures per row (default 10)"},
        {"--out", OPT_STRING, &out, "FILE.png", "the grid (default samples.png)"},
        {"--seed", OPT_U64, &seed, "S", "seed of the latents (default 1)"},
    };
    char cmd_name[32];
    snprintf(cmd_name, sizeof cmd_name, "%s sample", name);
    cli_command cmd = {.name = cmd_name, .usage = "MODEL [--n N] [--out FILE.png]",
                       .about = "Decodes N latents drawn from N(0, 1) by the variational "
                                "autoencoder saved in MODEL\n(cortex vae --out MODEL) into a grid "
                                "of pictures.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 1,
                       .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (n < 1 || n > 10000 || columns < 1 || columns > 1000)
        return cli_usage_error("%s: --n must be 1 to 10000 and --columns 1 to 1000", cmd_name);
    cx_autoencoder *ae = cx_autoencoder_load(pos[0], NULL, NULL);
    cx_rng *rng = ae ? cx_rng_new(seed) : NULL;
    cx_tensor *grid = rng ? cx_autoencoder_picture_samples(ae, n, columns, rng) : NULL;
    rc = grid ? cli_write_picture(out, grid) : cli_fail(NULL);
    cx_tensor_free(grid);
    cx_rng_free(rng);
    cx_autoencoder_free(ae);
    return rc;
}

/* `pictures MODEL --data D --out-dir DIR`: the picture set of a saved model. */
static int pictures(int argc, char **argv, const char *name) {
    const char *data = NULL, *dir = ".";
    uint64_t seed = 42;
    cli_option options[] = {
        {"--data", OPT_STRING, &data, "NAME|DIR", "the pictures' dataset (its test split)"},
        {"--out-dir", OPT_STRING, &dir, "DIR", "where the PNG files go (default .)"},
        {"--seed", OPT_U64, &seed, "S", "seed of noise and samples (default 42)"},
    };
    char cmd_name[32];
    snprintf(cmd_name, sizeof cmd_name, "%s pictures", name);
    cli_command cmd = {.name = cmd_name, .usage = "MODEL --data NAME|DIR [--out-dir DIR]",
                       .about = "Draws reconstructions, the latent space (2-D latents), "
                                "interpolations and samples (VAE)\nof the autoencoder saved in "
                                "MODEL, from the test split of the data.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 1,
                       .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!data) return cli_usage_error("%s: needs --data NAME|DIR", cmd_name);
    cx_autoencoder *ae = cx_autoencoder_load(pos[0], NULL, NULL);
    cx_dataset *test = ae ? cx_dataset_load(data, CX_SPLIT_TEST) : NULL;
    rc = test ? cli_ae_pictures(ae, test, data, dir, seed) : cli_fail(NULL);
    cx_dataset_free(test);
    cx_autoencoder_free(ae);
    return rc;
}

static int ae_main(cx_ae_kind kind, int argc, char **argv) {
    const char *name = kind == CX_AE_VARIATIONAL ? "vae" : "autoencoder";
    if (argc >= 2 && strcmp(argv[1], "sample") == 0) return sample(argc - 1, argv + 1, name);
    if (argc >= 2 && strcmp(argv[1], "pictures") == 0) return pictures(argc - 1, argv + 1, name);
    if (argc >= 2 && strcmp(argv[1], "train") == 0) argc--, argv++;
    ae_args a = {.kind = kind, .name = name, .arch = "dense", .loss = "bce", .optimizer = "adam",
                 .progress = "auto", .epochs = 10, .batch = 128, .latent = 2, .seed = 42,
                 .beta = 1.0f};
    bool vae = kind == CX_AE_VARIATIONAL;
    cli_option options[] = {
        {"--data", OPT_STRING, &a.data, "NAME|DIR",
         "mnist, fashion-mnist or a directory of IDX files"},
        {"--arch", OPT_STRING, &a.arch, "NAME",
         vae ? "dense (784-512-256-L; the only built-in VAE)"
             : "dense (784-512-256-L-256-512-784, default) or conv (3x7x7 bottleneck)"},
        {"--latent", OPT_INT64, &a.latent, "L", "latent size of the built-in configs (default 2)"},
        {"--beta", OPT_FLOAT, &a.beta, "B", "weight of the KL term (VAE; default 1)"},
        {"--noise", OPT_FLOAT, &a.noise, "X",
         "denoising: noise of this standard deviation on the inputs (default 0)"},
        {"--loss", OPT_STRING, &a.loss, "NAME", "reconstruction loss: bce (default) or mse"},
        {"--encoder", OPT_STRING, &a.encoder, "CONFIG", "your own encoder (with --decoder)"},
        {"--decoder", OPT_STRING, &a.decoder, "CONFIG", "your own decoder (with --encoder)"},
        {"--epochs", OPT_INT, &a.epochs, "N", "epochs in all (default 10; resumed: one more)"},
        {"--batch", OPT_INT64, &a.batch, "B", "mini-batch size (default 128)"},
        {"--optimizer", OPT_STRING, &a.optimizer, "NAME", "as cortex train (default adam)"},
        {"--lr", OPT_FLOAT, &a.lr, "X", "learning rate (default: the optimizer's)"},
        {"--limit", OPT_INT64, &a.limit, "N", "train on the first N samples only"},
        {"--seed", OPT_U64, &a.seed, "S", "seed of every random choice (default 42)"},
        {"--threads", OPT_INT, &a.threads, "T", "CPU threads (default: CX_NUM_THREADS or all)"},
        {"--out", OPT_STRING, &a.out, "FILE", "checkpoint of both networks, after every epoch"},
        {"--resume", OPT_STRING, &a.resume, "FILE", "continue the run saved in FILE"},
        {"--out-dir", OPT_STRING, &a.out_dir, "DIR", "write the pictures there at the end"},
        {"--progress", OPT_STRING, &a.progress, "MODE", "auto|bar|lines|none (default auto)"},
        {"--json", OPT_FLAG, &a.json, NULL, "one JSON object per epoch and a final one"},
        {"--distributed", OPT_FLAG, &a.distributed, NULL,
         "under mpirun -np N: data-parallel, --batch per rank, rank 0 writes (alone: no-op)"},
    };
    cli_command cmd = {
        .name = name,
        .usage = "[train] --data NAME|DIR [options]  |  sample MODEL ...  |  pictures MODEL ...",
        .about = vae ? "Trains a variational autoencoder (encoder to mean and log-variance, "
                       "z = mu + sigma * eps,\nloss = reconstruction + beta * KL) and reports the "
                       "test split's figures. `cortex vae sample\nMODEL` decodes random latents; "
                       "`cortex vae pictures MODEL` draws the picture set."
                     : "Trains an autoencoder (dense or convolutional; denoising with --noise) "
                       "and reports the test\nsplit's reconstruction error. `cortex autoencoder "
                       "pictures MODEL` draws the picture set.",
        .options = options,
        .n_options = CLI_N(options),
    };
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!a.data) return cli_usage_error("%s: needs --data NAME|DIR (e.g. --data mnist)", name);
    if (!!a.encoder != !!a.decoder)
        return cli_usage_error("%s: --encoder and --decoder go together", name);
    if (a.resume && (a.encoder || cli_seen(&cmd, "--arch") || cli_seen(&cmd, "--latent") ||
                     cli_seen(&cmd, "--beta") || cli_seen(&cmd, "--noise") ||
                     cli_seen(&cmd, "--loss")))
        return cli_usage_error("%s: --resume continues the saved model and its settings; the "
                               "model options start a new run", name);
    if (a.encoder && (cli_seen(&cmd, "--arch") || cli_seen(&cmd, "--latent")))
        return cli_usage_error("%s: --arch and --latent choose a built-in config; not with "
                               "--encoder/--decoder", name);
    if (strcmp(a.arch, vae ? "dense" : a.arch) != 0 ||
        (strcmp(a.arch, "dense") != 0 && strcmp(a.arch, "conv") != 0))
        return cli_usage_error("%s --arch: '%s' is not one of %s", name, a.arch,
                               vae ? "dense" : "dense, conv");
    if (!vae && cli_seen(&cmd, "--beta"))
        return cli_usage_error("autoencoder: --beta weighs the KL term of a VAE (cortex vae)");
    if (strcmp(a.loss, "bce") != 0 && strcmp(a.loss, "mse") != 0)
        return cli_usage_error("%s --loss: '%s' is not one of bce, mse", name, a.loss);
    if (a.epochs < 1 || a.batch < 1)
        return cli_usage_error("%s: --epochs and --batch must be at least 1", name);
    if (!(a.noise >= 0 && a.noise <= 10) || !(a.beta >= 0 && a.beta <= 1e6f))
        return cli_usage_error("%s: --noise must be 0 to 10 and --beta 0 to 1e6", name);
    if ((rc = cli_set_threads(a.threads)) != CLI_OK) return rc;
    if (a.distributed && (rc = cli_join_job(a.threads)) != CLI_OK) return rc;
    return train(&cmd, &a);
}

int cmd_autoencoder(int argc, char **argv) { return ae_main(CX_AE_PLAIN, argc, argv); }
int cmd_vae(int argc, char **argv) { return ae_main(CX_AE_VARIATIONAL, argc, argv); }
