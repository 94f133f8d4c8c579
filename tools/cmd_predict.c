/*
 * cmd_predict.c - `cortex predict FILE IMAGE`: the top classes of one image for a saved
 * classifier. The image is converted to the model's input (grey 28x28 for the MNIST models;
 * other sizes are resized) and normalised as the training data was. MNIST digits are light on
 * dark; a picture that is mostly light (a dark digit drawn on white) is inverted first.
 */
#include "cli.h"

#include <string.h>

/* The image as one model input [1, sample shape...]: C x H x W from the model's input shape,
 * or a square grey picture for a flat input (784 = 28 x 28). */
static cx_tensor *load_input(cx_model *m, const char *path, const cx_loader_params *norm,
                             bool *inverted) {
    int64_t shape[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, shape);
    int64_t c = 1, h, w;
    if (nd == 3) {
        c = shape[0], h = shape[1], w = shape[2];
    } else {
        int64_t n = 1;
        for (int i = 0; i < nd; i++)
            n *= shape[i];
        for (h = 1; h * h < n; h++)
            continue;
        w = h;
        if (h * w != n) {
            fprintf(stderr, "cortex: error: predict: the model's input shape is not an image\n");
            return NULL;
        }
    }
    if (c != 1 && c != 3) {
        fprintf(stderr,
                "cortex: error: predict: the model takes %lld channels; images have 1 "
                "or 3\n",
                (long long)c);
        return NULL;
    }
    cx_tensor *img = cx_image_load(path, (int)c, h, w);
    if (!img) return cli_fail(NULL), NULL;
    float *v = cx_tensor_f32(img);
    int64_t n = cx_tensor_numel(img);
    double mean = 0;
    for (int64_t i = 0; i < n; i++)
        mean += v[i];
    *inverted = mean / (double)n > 0.5;
    /* training saw (u8 * scale - mean) / std with scale 0 meaning 1/255; v is u8 / 255 */
    float scale = norm->scale > 0 ? norm->scale * 255.0f : 1.0f;
    float std = norm->std > 0 ? norm->std : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float x = *inverted ? 1.0f - v[i] : v[i];
        v[i] = (x * scale - norm->mean) / std;
    }
    int64_t batch_shape[CX_MAX_DIMS + 1] = {1};
    memcpy(batch_shape + 1, shape, (size_t)nd * sizeof *shape);
    cx_tensor *x = cx_reshape(img, nd + 1, batch_shape);
    if (!x) cli_fail(NULL);
    return x;
}

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
    cx_tensor *x = load_input(m, pos[1], &state.normalisation, &inverted);
    cx_tensor *p = NULL;
    rc = CLI_FAIL;
    if (x) {
        cx_no_grad_begin();
        p = cx_softmax(cx_model_forward(m, x), -1);
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
