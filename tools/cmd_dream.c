/*
 * cmd_dream.c - `cortex dream MODEL IMAGE [--layers L,...] --out dream.png`: deep dream
 * (cx_deep_dream): IMAGE changed by multi-scale gradient ascent on the chosen layers'
 * responses, the network frozen.
 */
#include "cli.h"

#include <string.h>

#define MAX_LAYERS 16

int cmd_dream(int argc, char **argv) {
    const char *layers_spec = NULL, *out = NULL, *weights = NULL;
    int octaves = 4, steps = 10, jitter = 0, threads = 0, size = 0;
    float octave_scale = 1.4f, step_size = 0.01f;
    uint64_t seed = 0;
    cli_option options[] = {
        {"--layers", OPT_STRING, &layers_spec, "L,...", "layers whose responses to enhance "
                                                         "(default the last convolutional one)"},
        {"--octaves", OPT_INT, &octaves, "N", "scales (default 4)"},
        {"--octave-scale", OPT_FLOAT, &octave_scale, "F", "size ratio of one octave to the next (1.4)"},
        {"--steps", OPT_INT, &steps, "N", "gradient-ascent steps per octave (default 10)"},
        {"--step-size", OPT_FLOAT, &step_size, "S", "normalised step (default 0.01)"},
        {"--jitter", OPT_INT, &jitter, "PX", "random shift per step (default 4; -1 none)"},
        {"--size", OPT_INT, &size, "PX", "shrink IMAGE so its longer side is at most PX"},
        {"--out", OPT_STRING, &out, "FILE.png", "where to write the dream"},
        {"--weights", OPT_STRING, &weights, "FILE", "parameters for a MODEL given as a config"},
        {"--seed", OPT_U64, &seed, "N", "the jitter's seed"},
        {"--threads", OPT_INT, &threads, "N", "CPU threads"},
    };
    cli_command cmd = {.name = "dream",
                       .usage = "MODEL IMAGE [--layers L,...] [--octaves 4] [--steps N] "
                                "[--step-size S] --out dream.png",
                       .about = "Deep dream: enhances in IMAGE whatever the chosen layers of a "
                                "trained network respond to, by gradient ascent at several "
                                "scales with the network frozen.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 2, .max_pos = 2};
    const char *pos[2];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!out) return cli_usage_error("dream: needs --out FILE.png");
    if (octaves < 1 || steps < 1 || !(octave_scale >= 1) || !(step_size > 0) || size < 0)
        return cli_usage_error("dream: --octaves and --steps must be at least 1, --octave-scale "
                               "at least 1, --step-size above 0, --size not negative");
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;

    cx_dream_params p = {.octaves = octaves, .octave_scale = octave_scale, .steps = steps,
                         .step_size = step_size, .jitter = jitter, .seed = seed};
    cx_model *m = cli_load_network(pos[0], weights, &p.norm, NULL);
    if (!m) return CLI_FAIL;
    int layers[MAX_LAYERS], n = 1;
    if (layers_spec)
        n = cli_layer_list(m, layers_spec, "dream", layers, MAX_LAYERS);
    else if ((layers[0] = cli_last_image_layer(m)) < 0)
        n = -1, fprintf(stderr, "cortex: error: dream: the model has no convolutional layers\n");
    int64_t in[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, in);
    if (n > 0 && nd != 3) {
        fprintf(stderr, "cortex: error: dream: the model does not take pictures [C,H,W]\n");
        n = -1;
    }
    rc = CLI_USAGE;
    cx_tensor *img = n > 0 ? cli_load_picture(pos[1], (int)in[0], size) : NULL;
    if (img) {
        cx_tensor *dream = cx_deep_dream(m, img, n, layers, NULL, &p);
        if (dream && cx_image_save_png(out, dream) == CX_OK) {
            printf("%s: %lldx%lld, %d octaves of %d steps on layer%s", out,
                   (long long)cx_tensor_dim(dream, 2), (long long)cx_tensor_dim(dream, 1), octaves,
                   steps, n == 1 ? "" : "s");
            for (int k = 0; k < n; k++)
                printf("%s %d (%s)", k ? "," : "", layers[k], cx_model_layer_kind(m, layers[k]));
            printf("\n");
            rc = CLI_OK;
        } else {
            rc = cli_fail(NULL);
        }
        cx_tensor_free(dream);
    } else if (n > 0) {
        rc = CLI_FAIL;
    }
    cx_tensor_free(img);
    cx_model_free(m);
    return rc;
}
