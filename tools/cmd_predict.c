/*
 * cmd_predict.c - `cortex predict FILE IMAGE`: the top classes of one image for a saved
 * classifier (the image is made into the model's input by cli_image_input).
 */
#include "cli.h"

#include <string.h>

int cmd_predict(int argc, char **argv) {
    int top = 3;
    cli_option options[] = {
        {"--top", OPT_INT, &top, "K", "how many classes to list (default 3)"},
    };
    cli_command cmd = {.name = "predict",
                       .usage = "FILE IMAGE [--top K]",
                       .about =
                           "Prints the most likely classes of IMAGE (PNG, JPEG, BMP, ...) for the "
                           "classifier saved in FILE.",
                       .options = options,
                       .n_options = CLI_N(options),
                       .min_pos = 2,
                       .max_pos = 2};
    const char *pos[2];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (top < 1) return cli_usage_error("predict: --top must be at least 1");
    cx_train_state state;
    cx_model *m = cx_checkpoint_load(pos[0], NULL, &state);
    if (!m) return cli_fail(NULL);
    /* every tensor of the prediction lives in one arena, freed at the end */
    cx_arena *arena = cx_arena_new(0);
    if (!arena) return cx_model_free(m), cli_fail(NULL);
    cx_arena_begin(arena);
    bool inverted = false;
    cx_tensor *x = cli_image_input(m, pos[1], &state.normalisation, &inverted);
    cx_tensor *p = NULL;
    rc = CLI_FAIL;
    if (x) {
        cx_no_grad_begin();
        /* probabilities: a model may end in its own softmax (or log-softmax) already */
        const char *last = cx_model_layer_kind(m, cx_model_num_layers(m) - 1);
        cx_tensor *y = cx_model_forward(m, x);
        p = !y || !last                        ? cx_softmax(y, -1)
            : strcmp(last, "softmax") == 0     ? y
            : strcmp(last, "log_softmax") == 0 ? cx_exp(y)
                                               : cx_softmax(y, -1);
        cx_no_grad_end();
        if (!p || cx_tensor_ndim(p) != 2) {
            cli_fail(p ? "predict: the model's output is not a vector of class scores" : NULL);
        } else {
            const float *prob = cx_tensor_f32(p);
            int n = (int)cx_tensor_dim(p, 1);
            bool used[n];
            memset(used, 0, sizeof used);
            if (inverted) printf("(light picture: inverted to light-on-dark as in training)\n");
            for (int k = 0; k < top && k < n; k++) {
                int best = -1;
                for (int i = 0; i < n; i++)
                    if (!used[i] && (best < 0 || prob[i] > prob[best])) best = i;
                used[best] = true;
                const char *name = cli_class_name(state.dataset, best);
                printf("%d%s%s%s  %.4f\n", best, name ? " (" : "", name ? name : "",
                       name ? ")" : "", prob[best]);
            }
            rc = CLI_OK;
        }
    }
    cx_arena_end(arena);
    cx_arena_free(arena);
    cx_model_free(m);
    return rc;
}
