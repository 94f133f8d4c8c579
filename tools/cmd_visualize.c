/*
 * cmd_visualize.c - `cortex visualize MODEL --layer L [--filter F | --class C] --out grid.png`:
 * the pattern each filter of a layer responds to most (or one filter's, or the picture a
 * class score likes best), by gradient ascent from noise (cx_visualize), as a grid.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The layer giving the class scores: the last, or the one before a final softmax. */
static int logits_layer(const cx_model *m) {
    int last = cx_model_num_layers(m) - 1;
    const char *kind = cx_model_layer_kind(m, last);
    bool folded = kind && (strcmp(kind, "softmax") == 0 || strcmp(kind, "log_softmax") == 0);
    return folded && last > 0 ? last - 1 : last;
}

int cmd_visualize(int argc, char **argv) {
    const char *layer_spec = NULL, *out = NULL, *weights = NULL;
    int filter = -1, cls = -1, max_filters = 64, steps = 128, jitter = 0, zoom = 0, columns = 0;
    int threads = 0, size = 0;
    float step_size = 0.01f, blur = 0, decay = 0.05f;
    uint64_t seed = 0;
    cli_option options[] = {
        {"--layer", OPT_STRING, &layer_spec, "L", "the layer (index or name; cortex summary lists them)"},
        {"--filter", OPT_INT, &filter, "F", "only this filter (channel) of the layer"},
        {"--class", OPT_INT, &cls, "C", "the picture that maximises class C's score instead"},
        {"--filters", OPT_INT, &max_filters, "N", "at most the first N filters (default 64)"},
        {"--out", OPT_STRING, &out, "FILE.png", "where to write the grid"},
        {"--steps", OPT_INT, &steps, "N", "gradient-ascent steps (default 128)"},
        {"--step-size", OPT_FLOAT, &step_size, "S", "normalised step (default 0.01)"},
        {"--jitter", OPT_INT, &jitter, "PX", "random shift per step (default 2; -1 none)"},
        {"--blur", OPT_FLOAT, &blur, "SIGMA", "Gaussian blur every 4 steps (default 0.5; -1 none)"},
        {"--decay", OPT_FLOAT, &decay, "D", "shrink toward grey per step (default 0.05)"},
        {"--size", OPT_INT, &size, "PX", "picture side (default the model's; a convolutional layer)"},
        {"--zoom", OPT_INT, &zoom, "K", "draw each pixel K times larger (default: to 64 px)"},
        {"--columns", OPT_INT, &columns, "K", "pictures per row (default a square grid)"},
        {"--weights", OPT_STRING, &weights, "FILE", "parameters for a MODEL given as a config"},
        {"--seed", OPT_U64, &seed, "N", "the starting noise and jitter"},
        {"--threads", OPT_INT, &threads, "N", "CPU threads"},
    };
    cli_command cmd = {.name = "visualize",
                       .usage = "MODEL --layer L [--filter F | --class C] --out grid.png",
                       .about = "Draws what a layer's filters (or a class) respond to most: "
                                "pictures found by gradient ascent from noise, with jitter and "
                                "blur as regularisers.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 1, .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    bool by_class = cli_seen(&cmd, "--class");
    if (!out) return cli_usage_error("visualize: needs --out FILE.png");
    if (!by_class && !layer_spec)
        return cli_usage_error("visualize: needs --layer L, or --class C");
    if (by_class && cli_seen(&cmd, "--filter"))
        return cli_usage_error("visualize: --filter and --class exclude each other");
    if ((cli_seen(&cmd, "--filter") && filter < 0) || (by_class && cls < 0) || max_filters < 1 ||
        steps < 0 || zoom < 0 || columns < 0 || size < 0 || step_size < 0)
        return cli_usage_error("visualize: --filter, --class, --steps, --zoom, --columns, --size "
                               "and --step-size must not be negative, --filters at least 1");
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;

    cx_visualize_params p = {.steps = steps, .step_size = step_size, .jitter = jitter,
                             .blur = blur, .decay = decay, .height = size, .width = size,
                             .seed = seed};
    cx_model *m = cli_load_network(pos[0], weights, &p.norm, NULL);
    if (!m) return CLI_FAIL;
    int layer = by_class && !layer_spec ? logits_layer(m) : cli_layer_index(m, layer_spec, "visualize");
    rc = layer >= 0 ? CLI_FAIL : CLI_USAGE;
    int64_t shape[CX_MAX_DIMS];
    int nd = layer >= 0 ? cx_model_layer_output_shape(m, layer, shape) : 0;
    int n = 0, *units = NULL;
    float *scores = NULL;
    if (layer >= 0) {
        int64_t avail = shape[0];
        n = by_class || cli_seen(&cmd, "--filter") ? 1 : (int)(avail < max_filters ? avail : max_filters);
        units = malloc((size_t)n * sizeof *units);
        scores = malloc((size_t)n * sizeof *scores);
        for (int k = 0; units && k < n; k++)
            units[k] = by_class ? cls : cli_seen(&cmd, "--filter") ? filter : k;
    }
    cx_tensor *pics = units && scores ? cx_visualize(m, layer, n, units, &p, scores) : NULL;
    if (pics) {
        int64_t h = cx_tensor_dim(pics, 2);
        int z = zoom ? zoom : (int)((64 + h - 1) / h);
        cx_tensor *grid = n == 1 ? cx_reshape(pics, 3, cx_tensor_shape(pics) + 1)
                                 : cx_image_grid(pics, columns, 1, false);
        if (grid && cli_save_picture(out, grid, z) == CX_OK) {
            int best = 0;
            for (int k = 1; k < n; k++)
                if (scores[k] > scores[best]) best = k;
            printf("%s: %d picture%s of %lldx%lld for layer %d (%s)%s; strongest: %s %d (mean "
                   "response %.4g)\n", out, n, n == 1 ? "" : "s", (long long)h,
                   (long long)cx_tensor_dim(pics, 3), layer, cx_model_layer_kind(m, layer),
                   nd == 3 ? ", one per filter" : "", by_class ? "class" : nd == 3 ? "filter" : "unit",
                   units[best], (double)scores[best]);
            rc = CLI_OK;
        } else {
            cli_fail(NULL);
        }
        cx_tensor_free(grid);
        cx_tensor_free(pics);
    } else if (layer >= 0) {
        cli_fail(NULL);
    }
    free(units);
    free(scores);
    cx_model_free(m);
    return rc;
}
