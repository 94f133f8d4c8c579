/*
 * cmd_text.c - `cortex text train CORPUS --out MODEL` (a character- or word-level language
 * model, the vocabulary kept in the checkpoint) and `cortex text generate MODEL` (sampling
 * with temperature and top-k). CORPUS is a text file or a directory of them (its regular
 * files in name order, leaving out *.dat indexes and files with NUL bytes, as in
 * /usr/share/games/fortunes).
 */
#include "cli.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CORPUS ((size_t)1 << 30)

/* Appends the file at path to *buf (grown); skips binary files when skip_binary. */
static int append_file(const char *path, char **buf, size_t *len, size_t *cap, bool skip_binary) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cortex: error: cannot read %s\n", path);
        return CLI_FAIL;
    }
    size_t start = *len;
    for (;;) {
        if (*cap - *len < 65536) {
            size_t ncap = *cap ? *cap * 2 : 1 << 20;
            char *nb = ncap <= MAX_CORPUS ? realloc(*buf, ncap) : NULL;
            if (!nb) {
                fclose(f);
                fprintf(stderr, "cortex: error: the corpus is over 1 GiB or memory ran out\n");
                return CLI_FAIL;
            }
            *buf = nb;
            *cap = ncap;
        }
        size_t got = fread(*buf + *len, 1, *cap - *len, f);
        *len += got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "cortex: error: reading %s failed\n", path);
        return CLI_FAIL;
    }
    if (skip_binary && memchr(*buf + start, '\0', *len - start)) *len = start;
    return CLI_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus at path (a file, or a directory of text files) as one string. */
static int read_corpus(const char *path, char **text, size_t *len) {
    struct stat st;
    size_t cap = 0;
    *text = NULL;
    *len = 0;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "cortex: error: %s: no such file or directory\n", path);
        return CLI_FAIL;
    }
    if (!S_ISDIR(st.st_mode)) return append_file(path, text, len, &cap, false);
    DIR *d = opendir(path);
    if (!d) return fprintf(stderr, "cortex: error: cannot open %s\n", path), CLI_FAIL;
    char **names = NULL;
    size_t n = 0, cap_names = 0;
    int rc = CLI_OK;
    for (struct dirent *e; rc == CLI_OK && (e = readdir(d));) {
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' || (nl > 4 && strcmp(e->d_name + nl - 4, ".dat") == 0)) continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue; /* links, folders */
        if (n == cap_names) {
            cap_names = cap_names ? cap_names * 2 : 64;
            char **nn = realloc(names, cap_names * sizeof *names);
            if (!nn) {
                rc = CLI_FAIL;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(full))) rc = CLI_FAIL;
        else n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; rc == CLI_OK && i < n; i++)
        rc = append_file(names[i], text, len, &cap, true);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc == CLI_OK && *len == 0) {
        fprintf(stderr, "cortex: error: %s holds no text files\n", path);
        rc = CLI_FAIL;
    }
    return rc;
}

static int text_train(int argc, char **argv) {
    const char *arch = "lstm", *tokens = "chars", *out = NULL, *optimizer = "adam",
               *matmul = NULL;
    int64_t layers = 2, hidden = 128, embed = 64, seq = 40, batch = 64, max_vocab = 0;
    int epochs = 10, threads = 0;
    float lr = 2e-3f, clip = 5.0f, time_limit = 0, val_fraction = 0.05f, dropout = 0,
          lr_decay = 1;
    uint64_t seed = 1;
    bool json = false, distributed = false;
    cli_option options[] = {
        {"--arch", OPT_STRING, &arch, "lstm|gru|rnn", "the recurrent layer (default lstm)"},
        {"--layers", OPT_INT64, &layers, "N", "stacked recurrent layers (default 2)"},
        {"--hidden", OPT_INT64, &hidden, "N", "units per layer (default 128)"},
        {"--embed", OPT_INT64, &embed, "N", "embedding size (default 64)"},
        {"--dropout", OPT_FLOAT, &dropout, "RATE",
         "dropout after each recurrent layer (default 0)"},
        {"--seq", OPT_INT64, &seq, "N", "steps of back-propagation through time (default 40)"},
        {"--batch", OPT_INT64, &batch, "N", "sequences per batch (default 64)"},
        {"--tokens", OPT_STRING, &tokens, "chars|words", "what a token is (default chars)"},
        {"--max-vocab", OPT_INT64, &max_vocab, "N",
         "most tokens kept (default: all characters, 20000 words); the rest are <unk>"},
        {"--epochs", OPT_INT, &epochs, "N", "passes over the corpus (default 10)"},
        {"--time-limit", OPT_FLOAT, &time_limit, "SECONDS", "stop training after this long"},
        {"--optimizer", OPT_STRING, &optimizer, "NAME", "sgd, momentum, ..., adam (default)"},
        {"--lr", OPT_FLOAT, &lr, "RATE", "learning rate (default 0.002)"},
        {"--lr-decay", OPT_FLOAT, &lr_decay, "FACTOR",
         "multiply the learning rate by this after each epoch (default 1)"},
        {"--clip", OPT_FLOAT, &clip, "NORM", "clip gradients to this global norm (default 5)"},
        {"--val", OPT_FLOAT, &val_fraction, "FRACTION",
         "the share of the corpus held out for validation, from 20 places across it "
         "(default 0.05)"},
        {"--seed", OPT_U64, &seed, "N", "initialisation seed (default 1)"},
        {"--threads", OPT_INT, &threads, "N", "CPU threads"},
        {"--matmul", OPT_STRING, &matmul, "float32|bf16",
         "precision of the matrix products: bf16 rounds their factors to bfloat16 and sums in "
         "float32 (Intel AMX runs it faster; default float32, or CX_MATMUL)"},
        {"--json", OPT_FLAG, &json, NULL,
         "one JSON object per epoch and a final one (bits per token = per character)"},
        {"--out", OPT_STRING, &out, "MODEL", "the model file to write (required)"},
        {"--distributed", OPT_FLAG, &distributed, NULL,
         "under mpirun -np N: data-parallel, --batch streams per rank, rank 0 writes"},
    };
    cli_command cmd = {.name = "text train",
                       .usage = "CORPUS --out MODEL [options]",
                       .about = "Trains a language model on CORPUS (a text file, or a directory "
                                "of them such as /usr/share/games/fortunes): an embedding, a "
                                "stacked recurrent layer carrying its state across batches "
                                "(truncated back-propagation through time) and a dense layer "
                                "over the vocabulary, which is built from the corpus and kept "
                                "in MODEL. Reports bits per character on held-out text; MODEL "
                                "keeps the epoch that validates best.",
                       .options = options,
                       .n_options = CLI_N(options),
                       .min_pos = 1,
                       .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!out) return cli_usage_error("text train: --out MODEL is required");
    if (strcmp(tokens, "chars") && strcmp(tokens, "words"))
        return cli_usage_error("text train: --tokens %s; choose chars or words", tokens);
    if (layers < 1 || layers > 8 || hidden < 1 || embed < 1 || seq < 1 || batch < 1 ||
        epochs < 1 || max_vocab < 0)
        return cli_usage_error("text train: --layers 1..8; --hidden, --embed, --seq, --batch "
                               "and --epochs at least 1");
    if (!(dropout >= 0 && dropout < 1) || !(lr_decay > 0 && lr_decay <= 1))
        return cli_usage_error("text train: --dropout %g, --lr-decay %g; the dropout must be "
                               "in [0, 1) and the decay in (0, 1]", dropout, lr_decay);
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;
    if ((rc = cli_set_matmul(matmul)) != CLI_OK) return rc;
    if (distributed && (rc = cli_join_job(threads)) != CLI_OK) return rc;
    cx_optim_kind kind;
    if (cx_optim_kind_parse(optimizer, &kind) != CX_OK) return cli_usage_error("%s", cx_last_error());
    char *text = NULL;
    size_t len = 0;
    if ((rc = read_corpus(pos[0], &text, &len)) != CLI_OK) return rc;
    cx_vocab *v = cx_vocab_build(text, len,
                                 strcmp(tokens, "words") ? CX_TOKENS_CHARS : CX_TOKENS_WORDS,
                                 max_vocab);
    cx_tensor *ids = v ? cx_vocab_encode(v, text, len) : NULL;
    free(text);
    cx_text_model_params mp = {.arch = arch, .layers = layers, .hidden = hidden, .embed = embed,
                               .dropout = dropout};
    char *config = ids ? cx_text_model_config(&mp, cx_vocab_size(v)) : NULL;
    cx_rng *rng = cx_rng_new(seed);
    cx_model *m = config && rng ? cx_model_from_config(config, "text model", rng) : NULL;
    free(config);
    cx_optim *o = NULL;
    if (m) {
        cx_tensor *params[64];
        int n = cx_model_trainable_params(m, params);
        cx_optim_params op = cx_optim_defaults(kind);
        op.lr = lr;
        o = cx_optim_new(kind, &op, params, n);
    }
    rc = CLI_FAIL;
    if (o) {
        if (!json && cli_prints())
            printf("corpus %s: %lld tokens, vocabulary of %lld; model of %lld parameters\n",
                   pos[0], (long long)cx_tensor_numel(ids), (long long)cx_vocab_size(v),
                   (long long)cx_model_num_params(m));
        cx_text_train_params tp = {.seq = seq, .batch = batch, .epochs = epochs,
                                   .max_seconds = time_limit, .clip_norm = clip,
                                   .val_fraction = val_fraction, .lr_decay = lr_decay,
                                   .seed = seed, .json = json, .checkpoint_path = out,
                                   .distributed = distributed};
        cx_text_train_result r;
        if (cx_text_train(m, o, v, ids, &tp, &r) == CX_OK) {
            bool chars = cx_vocab_kind(v) == CX_TOKENS_CHARS;
            if (!cli_prints())
                ;
            else if (json)
                printf("{\"final\": true, \"epochs\": %d, \"steps\": %lld, \"seconds\": %.1f, "
                       "\"tokens_per_s\": %.0f, \"train_bits\": %.4f, \"%s\": %.4f, "
                       "\"best_epoch\": %d, \"last_val_bits\": %.4f, \"vocab\": %lld, "
                       "\"out\": \"%s\"}\n",
                       r.epochs_run, (long long)r.steps, r.seconds, r.chars_per_s, r.train_bits,
                       chars ? "val_bpc" : "val_bits_per_token", r.best_val_bits, r.best_epoch,
                       r.val_bits, (long long)cx_vocab_size(v), out);
            else
                printf("done: %d epochs in %.0f s; validation %.3f bits per %s at epoch %d, "
                       "saved in %s\n", r.epochs_run, r.seconds, r.best_val_bits,
                       chars ? "character" : "token", r.best_epoch, out);
            rc = CLI_OK;
        }
    }
    if (rc != CLI_OK) cli_fail(NULL);
    cx_optim_free(o);
    cx_model_free(m);
    cx_rng_free(rng);
    cx_tensor_free(ids);
    cx_vocab_free(v);
    return rc;
}

static int text_generate(int argc, char **argv) {
    const char *prime = "";
    int64_t length = 500, top_k = 0;
    float temperature = 0.8f;
    uint64_t seed = 0;
    int threads = 0;
    cli_option options[] = {
        {"--prime", OPT_STRING, &prime, "TEXT", "text to start from (default: a random token)"},
        {"--length", OPT_INT64, &length, "N", "tokens to generate (default 500)"},
        {"--temperature", OPT_FLOAT, &temperature, "T",
         "below 1 is safer, above 1 wilder; 0 always takes the likeliest (default 0.8)"},
        {"--top-k", OPT_INT64, &top_k, "K", "sample among the K likeliest tokens only (0: all)"},
        {"--seed", OPT_U64, &seed, "N", "sampling seed (default: from the clock)"},
        {"--threads", OPT_INT, &threads, "N", "CPU threads"},
    };
    cli_command cmd = {.name = "text generate",
                       .usage = "MODEL [--prime TEXT] [--length N] [--temperature T] [--top-k K]",
                       .about = "Writes text sampled from a model of `cortex text train`, one "
                                "token at a time.",
                       .options = options,
                       .n_options = CLI_N(options),
                       .min_pos = 1,
                       .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (length < 0 || length > 10000000 || top_k < 0 || !(temperature >= 0))
        return cli_usage_error("text generate: --length 0..10^7, --top-k and --temperature "
                               "at least 0");
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;
    cx_vocab *v = NULL;
    cx_model *m = cx_text_load(pos[0], &v, NULL, NULL);
    if (!m) return cli_fail(NULL);
    cx_rng *rng = cx_rng_new(cli_seen(&cmd, "--seed") ? seed : (uint64_t)(cli_now_s() * 1e6));
    rc = rng && cx_text_generate(m, v, prime, length, temperature, top_k, rng, stdout) == CX_OK
             ? CLI_OK
             : cli_fail(NULL);
    cx_rng_free(rng);
    cx_model_free(m);
    cx_vocab_free(v);
    return rc;
}

int cmd_text(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return text_train(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "generate") == 0) return text_generate(argc - 1, argv + 1);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fprintf(help ? stdout : stderr,
            "%susage: cortex text train CORPUS --out MODEL [options]\n"
            "       cortex text generate MODEL [--prime TEXT] [--length N] [--temperature T] "
            "[--top-k K]\n"
            "`cortex text train --help` and `cortex text generate --help` list the options.\n",
            help ? "" : argc >= 2 ? "cortex: error: text: unknown subcommand\n" : "");
    return help ? CLI_OK : CLI_USAGE;
}
