/*
 * cmd_eval.c - `cortex eval FILE --data NAME`: loss and accuracy of a saved model on a split.
 */
#include "cli.h"

#include <math.h>
#include <string.h>

/* Draws the first n samples of d side by side in text (28x28 grey pictures become 28 rows of
 * shaded characters), with the model's guess and the true label under each. */
static int show_samples(cx_model *m, cx_dataset *d, const cx_loader_params *norm, int n,
                        const char *dataset) {
    static const char shades[] = " .:-=+*#%@";
    int64_t shape[CX_MAX_DIMS];
    int nd = cx_dataset_sample_shape(d, shape);
    int64_t h = nd == 3 ? shape[1] : 0, w = nd == 3 ? shape[2] : 0;
    if (nd != 3 || shape[0] != 1 || w > 64) return cli_fail("eval --show: the samples are not grey pictures");
    cx_loader_params lp = {.batch_size = n, .scale = norm->scale, .mean = norm->mean,
                           .std = norm->std};
    cx_loader *l = cx_loader_new(d, &lp);
    cx_arena *arena = cx_arena_new(0);
    cx_tensor *x, *y;
    int rc = CLI_FAIL;
    if (l && arena && (cx_loader_start_epoch(l, 0), cx_loader_next(l, &x, &y))) {
        cx_arena_begin(arena);
        cx_no_grad_begin();
        cx_tensor *guess = cx_argmax(cx_model_forward(m, x), -1, false);
        cx_no_grad_end();
        cx_tensor *u8 = cx_dataset_samples(d);
        if (guess && cx_tensor_dtype(u8) == CX_DTYPE_U8) {
            const uint8_t *px = cx_tensor_data(u8);
            const int32_t *g = cx_tensor_data(guess), *t = y ? cx_tensor_data(y) : NULL;
            int64_t shown = cx_tensor_dim(x, 0);
            for (int64_t r0 = 0; r0 < shown; r0 += 4) {
                int64_t cols = shown - r0 < 4 ? shown - r0 : 4;
                for (int64_t row = 0; row < h; row++) {
                    for (int64_t c = 0; c < cols; c++) {
                        const uint8_t *img = px + (r0 + c) * h * w + row * w;
                        for (int64_t k = 0; k < w; k++) putchar(shades[img[k] * 9 / 255]);
                        fputs("   ", stdout);
                    }
                    putchar('\n');
                }
                for (int64_t c = 0; c < cols; c++) {
                    char label[96];
                    const char *gn = cli_class_name(dataset, g[r0 + c]);
                    snprintf(label, sizeof label, "guess %d%s%s%s", g[r0 + c], gn ? " " : "",
                             gn ? gn : "", t ? (t[r0 + c] == g[r0 + c] ? " ok" : " WRONG") : "");
                    printf("%-*s   ", (int)w, label);
                }
                printf("\n\n");
            }
            rc = CLI_OK;
        } else {
            rc = cli_fail(guess ? "eval --show: the samples are not u8 pictures" : NULL);
        }
        cx_arena_end(arena);
    } else {
        rc = cli_fail(NULL);
    }
    cx_arena_free(arena);
    cx_loader_free(l);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *data = NULL, *split = "test";
    int64_t batch = 256;
    int threads = 0, show = 0;
    bool json = false;
    cli_option options[] = {
        {"--data", OPT_STRING, &data, "NAME|DIR",
         "mnist, fashion-mnist or a directory of IDX files"},
        {"--split", OPT_STRING, &split, "NAME", "test (default) or train"},
        {"--batch", OPT_INT64, &batch, "B", "batch size (default 256)"},
        {"--threads", OPT_INT, &threads, "T", "CPU threads"},
        {"--show", OPT_INT, &show, "N", "draw the first N samples with the model's guesses"},
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
    if (show < 0 || show > 64) return cli_usage_error("eval: --show takes 0 to 64 samples");
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
    if (rc == CLI_OK && show > 0) rc = show_samples(m, d, &state.normalisation, show, state.dataset);
    cx_dataset_free(d);
    cx_model_free(m);
    return rc;
}
