/*
 * cmd_eval.c - `cortex eval FILE --data NAME`: loss and accuracy of a saved model on a split.
 */
#include "cli.h"

#include <math.h>
#include <string.h>

int cmd_eval(int argc, char **argv) {
    const char *data = NULL, *split = "test";
    int64_t batch = 256;
    int threads = 0;
    bool json = false;
    cli_option options[] = {
        {"--data", OPT_STRING, &data, "NAME|DIR",
         "mnist, fashion-mnist or a directory of IDX files"},
        {"--split", OPT_STRING, &split, "NAME", "test (default) or train"},
        {"--batch", OPT_INT64, &batch, "B", "batch size (default 256)"},
        {"--threads", OPT_INT, &threads, "T", "CPU threads"},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
    };
    cli_command cmd = {
        .name = "eval",
        .usage = "FILE --data NAME|DIR [options]",
        .about = "Prints the loss and accuracy of the model saved in FILE on a dataset split.",
        .options = options,
        .n_options = CLI_N(options),
        .min_pos = 1,
        .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!data) return cli_usage_error("eval: needs --data NAME|DIR");
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0)
        return cli_usage_error("eval --split: '%s' is not test or train", split);
    if (batch < 1) return cli_usage_error("eval: --batch must be at least 1");
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;

    cx_train_state state;
    cx_model *m = cx_checkpoint_load(pos[0], NULL, &state);
    cx_dataset *d =
        m ? cx_dataset_load(data, strcmp(split, "test") == 0 ? CX_SPLIT_TEST : CX_SPLIT_TRAIN)
          : NULL;
    cx_metrics r;
    rc = d && cx_evaluate(m, d, batch, &state.normalisation, &r) == CX_OK ? CLI_OK : cli_fail(NULL);
    if (rc == CLI_OK && json) {
        printf("{\"loss\": %.6g, ", r.loss);
        printf(isnan(r.accuracy) ? "\"accuracy\": null, " : "\"accuracy\": %.6g, ", r.accuracy);
        printf("\"samples\": %lld}\n", (long long)r.samples);
    } else if (rc == CLI_OK) {
        printf("%s on %s (%s, %lld samples): loss %.4f", pos[0], data, split, (long long)r.samples,
               r.loss);
        if (!isnan(r.accuracy)) printf(" accuracy %.4f", r.accuracy);
        printf("\n");
    }
    cx_dataset_free(d);
    cx_model_free(m);
    return rc;
}
