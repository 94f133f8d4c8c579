/*
 * cmd_summary.c - `cortex summary CONFIG|FILE`: the Keras-style table of a model config or of
 * the model stored in a checkpoint. A config is built for its shapes only, so the summary of
 * VGG16 allocates no 138 M parameters.
 */
#include "cli.h"

#include <string.h>

static bool is_safetensors_name(const char *path) {
    size_t n = strlen(path), k = strlen(".safetensors");
    return n >= k && strcmp(path + n - k, ".safetensors") == 0;
}

int cmd_summary(int argc, char **argv) {
    cli_command cmd = {
        .name = "summary",
        .usage = "CONFIG|FILE.safetensors",
        .about = "Prints each layer of a model with its output shape and parameter count, "
                 "and the totals.\nA layer that does not fit its input is reported with "
                 "the arithmetic.",
        .min_pos = 1,
        .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    cx_model *m = is_safetensors_name(pos[0]) ? cx_checkpoint_load(pos[0], NULL, NULL)
                                              : cx_model_load_config_shapes(pos[0]);
    if (!m) return cli_fail(NULL);
    rc = cx_model_summary(m, stdout) == CX_OK ? CLI_OK : cli_fail(NULL);
    cx_model_free(m);
    return rc;
}
