/*
 * cmd_featuremaps.c - `cortex featuremaps MODEL IMAGE --layer N --out maps.png`: what one layer
 * of a trained network sees in a picture, as a grid of its channels (each stretched to 0..1).
 *
 * The model is rebuilt from its stored config cut after layer N; since parameters are named by
 * layer index, the first N+1 layers load their weights from the checkpoint by name as they
 * are, and a forward pass of the cut model is layer N's output.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* A copy of config text keeping [model] and the first n layer sections (caller frees). */
static char *cut_config(const char *config, int n) {
    char *text = strdup(config);
    if (!text) return NULL;
    int sections = 0;
    for (char *p = text; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (*p == '[' && sections++ == n + 2) { /* [model] is 0, layer i is i + 1 */
            *p = '\0';
            break;
        }
    }
    return text;
}

int cmd_featuremaps(int argc, char **argv) {
    int layer = -1, columns = 0;
    const char *out = NULL;
    cli_option options[] = {
        {"--layer", OPT_INT, &layer, "N", "the layer whose output to draw (cortex summary lists them)"},
        {"--out", OPT_STRING, &out, "FILE.png", "where to write the grid"},
        {"--columns", OPT_INT, &columns, "K", "pictures per row (default: a square grid)"},
    };
    cli_command cmd = {.name = "featuremaps", .usage = "MODEL IMAGE --layer N --out maps.png",
                       .about = "Draws the feature maps one layer of a trained network computes "
                                "for IMAGE.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 2,
                       .max_pos = 2};
    const char *pos[2];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!out || layer < 0) return cli_usage_error("featuremaps: needs --layer N (N >= 0) and --out");
    if (columns < 0) return cli_usage_error("featuremaps: --columns must not be negative");

    cx_train_state state;
    cx_model *full = cx_checkpoint_load(pos[0], NULL, &state);
    if (!full) return cli_fail(NULL);
    if (layer >= cx_model_num_layers(full)) {
        fprintf(stderr, "cortex: error: featuremaps: %s has layers 0..%d\n", pos[0],
                cx_model_num_layers(full) - 1);
        cx_model_free(full);
        return CLI_USAGE;
    }
    char *config = cut_config(cx_model_config(full), layer);
    cx_model *m = config ? cx_model_from_config(config, pos[0], NULL) : NULL;
    free(config);
    cx_model_free(full);
    cx_safetensors *weights = m ? cx_safetensors_open(pos[0]) : NULL;
    if (!weights || cx_model_load_weights(m, weights) != CX_OK) {
        cx_safetensors_close(weights);
        cx_model_free(m);
        return cli_fail(NULL);
    }
    cx_safetensors_close(weights);

    cx_arena *arena = cx_arena_new(0);
    if (!arena) return cx_model_free(m), cli_fail(NULL);
    cx_arena_begin(arena);
    bool inverted;
    rc = CLI_FAIL;
    cx_tensor *x = cli_image_input(m, pos[1], &state.normalisation, &inverted);
    if (x) {
        cx_no_grad_begin();
        cx_tensor *y = cx_model_forward(m, x);
        cx_no_grad_end();
        if (y && cx_tensor_ndim(y) == 4) {
            /* [1, C, H, W] -> C grey pictures [C, H, W] */
            cx_tensor *maps = cx_reshape(y, 3, cx_tensor_shape(y) + 1);
            cx_tensor *grid = cx_image_grid(maps, columns, 1, true);
            if (grid && cx_image_save_png(out, grid) == CX_OK) {
                printf("%s: %lld maps of %lldx%lld from layer %d (%s)\n", out,
                       (long long)cx_tensor_dim(y, 1), (long long)cx_tensor_dim(y, 2),
                       (long long)cx_tensor_dim(y, 3), layer, cx_model_layer_kind(m, layer));
                rc = CLI_OK;
            }
        } else if (y) {
            fprintf(stderr, "cortex: error: featuremaps: layer %d (%s) outputs %d dimensions per "
                            "batch, not feature maps [N, C, H, W]\n", layer,
                    cx_model_layer_kind(m, layer), cx_tensor_ndim(y));
            rc = CLI_USAGE;
        }
        if (rc == CLI_FAIL) cli_fail(NULL);
    }
    cx_arena_end(arena);
    cx_arena_free(arena);
    cx_model_free(m);
    return rc;
}
