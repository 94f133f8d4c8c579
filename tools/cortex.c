/*
 * cortex.c - the `cortex` command-line tool: a table of subcommands.
 * Exit codes: 0 success, 1 runtime error, 2 usage error.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("cortex %s (matrix products: %s, %d threads)\n", CX_VERSION, cx_blas_name(),
           cx_get_num_threads());
    return 0;
}

static const command commands[] = {
    {"train", cmd_train, "train a model from a config file, or resume a checkpoint"},
    {"eval", cmd_eval, "loss and accuracy of a saved model on a dataset"},
    {"predict", cmd_predict, "the top classes of an image for a saved classifier"},
    {"summary", cmd_summary, "layers, output shapes and parameter counts of a model"},
    {"filter", cmd_filter, "apply a classic 3x3 image kernel (edge, blur, sobel, ...)"},
    {"featuremaps", cmd_featuremaps, "a grid of one layer's feature maps for an image"},
    {"rl", cmd_rl, "Q-learning (table or DQN) on Flippers and tic-tac-toe"},
    {"text", cmd_text, "train a character-level language model, or generate text from one"},
    {"autoencoder", cmd_autoencoder, "train a dense, convolutional or denoising autoencoder"},
    {"vae", cmd_vae, "train a variational autoencoder; sample pictures from one"},
    {"gan", cmd_gan, "train a GAN, DCGAN or conditional GAN; sample pictures from one"},
    {"adversarial", cmd_adversarial, "FGSM / PGD adversarial examples and the accuracy they cost"},
    {"visualize", cmd_visualize, "pictures that excite a layer's filters or a class most"},
    {"dream", cmd_dream, "deep dream: a picture enhanced by what chosen layers respond to"},
    {"style", cmd_style, "style transfer: one picture's content in another's style"},
    {"devices", cmd_devices, "the compute devices: the CPU and CUDA GPUs (or why there are none)"},
    {"help", cmd_help, "show this help, or the help of one command (cortex help train)"},
    {"version", cmd_version, "print the version and the compute libraries in use"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int cmd_help(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (strcmp(argv[1], commands[i].name) == 0 && commands[i].run != cmd_help)
                return commands[i].run(2, (char *[]){argv[1], "--help", NULL});
        fprintf(stderr, "cortex: error: help: unknown command '%s'\n", argv[1]);
        return 2;
    }
    printf("usage: cortex COMMAND [ARGS...]\n\n"
           "Cortex trains and runs neural networks from C and from this command line.\n\n"
           "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %-12s %s\n", commands[i].name, commands[i].help);
    printf("\noptions:\n  --help     show this help\n  --version  print the version\n"
           "\n`cortex COMMAND --help` describes each command's options.\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    /* The library ignores a CX_MAX_MEMORY it cannot read; the command line refuses it. */
    const char *cap = getenv("CX_MAX_MEMORY");
    size_t bytes;
    if (cap && *cap && !cx_parse_size(cap, &bytes)) {
        fprintf(stderr, "cortex: error: CX_MAX_MEMORY='%s' is not a size (bytes, or with K, M, "
                "G, T: 512M)\n", cap);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) name = "help";
    if (strcmp(name, "--version") == 0) name = "version";
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(name, commands[i].name) != 0) continue;
        int rc = commands[i].run(argc - 1, argv + 1);
        /* a distributed command that failed on one rank may leave the others waiting in a
         * collective: end them all */
        if (rc != 0 && cx_dist_size() > 1) cx_dist_abort(rc);
        cx_dist_finalize();
        return rc;
    }
    fprintf(stderr, "cortex: error: unknown command '%s'; commands:", argv[1]);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, "\n");
    return 2;
}
