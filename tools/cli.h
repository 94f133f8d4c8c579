/*
 * cli.h - what the `cortex` subcommands share: a table-driven option parser, error printing
 * and the exit codes (0 success, 1 runtime error, 2 usage error).
 */
#ifndef CX_CLI_H
#define CX_CLI_H

#include <cortex.h>

#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_HELP = -1 };

typedef enum {
    OPT_FLAG,   /* bool, no value */
    OPT_INT,    /* int */
    OPT_INT64,  /* int64_t */
    OPT_U64,    /* uint64_t */
    OPT_FLOAT,  /* float */
    OPT_STRING, /* const char * */
} cli_kind;

typedef struct {
    const char *name; /* "--epochs" */
    cli_kind kind;
    void *value;         /* where the parsed value goes */
    const char *metavar; /* "N" in "--epochs N" */
    const char *help;
} cli_option;

typedef struct {
    const char *name;  /* "train" */
    const char *usage; /* "CONFIG --data NAME|PATH [options]" */
    const char *about; /* one paragraph */
    const cli_option *options;
    int n_options;
    int min_pos, max_pos; /* positional arguments accepted */
    uint64_t seen;        /* set by the parser: bit k for options[k] given (at most 64) */
} cli_command;

/* Parses argv[1..argc-1] (argv[0] is the command name): options anywhere, positionals in
 * order into pos (max_pos entries, NULL when absent). --help prints the command's help and
 * gives CLI_HELP; a bad option or value prints "cortex: error: ..." and gives CLI_USAGE. */
int cli_parse(cli_command *cmd, int argc, char **argv, const char **pos);
void cli_print_help(const cli_command *cmd, FILE *out);
/* Defaults from a config file: each `key = value` of its [section] sets option --key as if it
 * were on the command line, unless the command line gives that option (which wins). Prints
 * the error and gives CLI_USAGE for an unknown key or a bad value. An unreadable file is left
 * to whoever loads it (CLI_OK). String values stay valid for the run. */
int cli_config_defaults(cli_command *cmd, const char *path, const char *section);
/* True if option name was given on the command line (or by cli_config_defaults). */
bool cli_seen(const cli_command *cmd, const char *name);

/* Prints "cortex: error: <cx_last_error()>" (or msg if given) and returns CLI_FAIL. */
int cli_fail(const char *msg);
/* Prints "cortex: error: ..." (printf-style) and returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

double cli_now_s(void); /* monotonic seconds */

/* --progress MODE (auto, bar, lines, none) into *p; CLI_USAGE after the error otherwise. */
int cli_parse_progress(const char *name, cx_progress *p);

/* Applies --threads when given (> 0). */
int cli_set_threads(int threads);
/* --matmul float32|bf16: cx_set_matmul_precision, or a usage error naming the value. */
int cli_set_matmul(const char *precision);
/* --distributed: joins the MPI job mpirun started (alone: one process, nothing changes) and,
 * where neither --threads (threads 0) nor CX_NUM_THREADS says otherwise, shares the cores
 * among the job's processes on this machine. Call after cli_set_threads. */
int cli_join_job(int threads);
/* Whether this process prints results: rank 0 of a distributed run, or a lone process. */
static inline bool cli_prints(void) { return cx_dist_is_root(); }

/* IMAGE as one input [1, sample shape...] for m: converted to the model's channels and size
 * (C x H x W from its input shape, or a square grey picture for a flat input such as 784),
 * and normalised as the training data was. MNIST digits are light on dark; a picture that is
 * mostly light (a dark digit drawn on white) is inverted first (*inverted says so). Prints
 * the error and returns NULL on failure. The tensor lives in the current arena. */
cx_tensor *cli_image_input(cx_model *m, const char *path, const cx_loader_params *norm,
                           bool *inverted);

/* Class names for known datasets ("fashion-mnist": "T-shirt/top", ...); NULL if none. */
const char *cli_class_name(const char *dataset, int cls);

/* Writes picture (f32 [C, H, W] in 0..1) as a PNG at path, enlarged 2x (nearest) so that
 * 28x28 digits are easy to see, and prints the path (CLI_OK, or CLI_FAIL after the error). */
int cli_write_picture(const char *path, cx_tensor *picture);
/* The picture set of an autoencoder from the first samples of test (tools/ae_pictures.c):
 * reconstructions (or denoising), for a 2-D latent the scatter of the test latents by class
 * and a decoded grid over the plane, interpolations, and for a VAE random samples; each PNG
 * goes into dir (made if absent) and its path is printed. */
int cli_ae_pictures(cx_autoencoder *ae, cx_dataset *test, const char *data, const char *dir,
                    uint64_t seed);

/* ---- the commands that optimise a network's input (cli_vision.c) ---- */

/* A network from a checkpoint, or from a config (FILE.cfg, untrained unless weights names a
 * safetensors file of its parameters, such as a torch state_dict). norm (may be NULL)
 * receives how pixels become its inputs: the checkpoint's training normalisation, or for a
 * config ImageNet's for 3-channel networks (torchvision's) and none otherwise. The model is in
 * evaluation mode. Prints the error and returns NULL on failure. */
cx_model *cli_load_network(const char *model, const char *weights, cx_pixel_norm *norm,
                           cx_train_state *state);
/* A layer by index (negative counts from the end) or name; -1 after printing an error. */
int cli_layer_index(const cx_model *m, const char *spec, const char *who);
/* A comma-separated list of layers into out (max entries); the count, or -1 after an error. */
int cli_layer_list(const cx_model *m, const char *list, const char *who, int *out, int max);
/* The last layer of the leading run of layers with picture outputs [C,H,W]; -1 if none. */
int cli_last_image_layer(const cx_model *m);
/* A picture [C,H,W] in 0..1 with channels channels, shrunk so neither side exceeds longest
 * (0: kept as it is). Prints the error and returns NULL on failure. */
cx_tensor *cli_load_picture(const char *path, int channels, int64_t longest);
/* Writes picture [C,H,W] as PNG, each pixel a zoom x zoom block (zoom <= 1: as it is). */
cx_status cli_save_picture(const char *path, cx_tensor *picture, int zoom);

#define CLI_N(options) ((int)(sizeof(options) / sizeof((options)[0])))

/* The subcommands (tools/cmd_*.c). */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_filter(int argc, char **argv);
int cmd_featuremaps(int argc, char **argv);
int cmd_rl(int argc, char **argv);
int cmd_text(int argc, char **argv);
int cmd_autoencoder(int argc, char **argv);
int cmd_vae(int argc, char **argv);
int cmd_gan(int argc, char **argv);

int cmd_adversarial(int argc, char **argv);
int cmd_visualize(int argc, char **argv);
int cmd_dream(int argc, char **argv);
int cmd_style(int argc, char **argv);
int cmd_devices(int argc, char **argv);

#endif
