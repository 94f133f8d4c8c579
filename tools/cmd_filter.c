/*
 * cmd_filter.c - `cortex filter IMAGE --kernel NAME|FILE --out OUT.png`: the classic image
 * kernels applied with the conv2d op, one channel at a time (a depthwise convolution with the
 * same kernel for every channel, zero padding so the size is kept). Kernels whose weights sum
 * to 0 (edge detectors) give signed responses: their magnitude is shown.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    float w[9];
    float scale;
} named_kernel;

static const named_kernel kernels[] = {
    {"identity", {0, 0, 0, 0, 1, 0, 0, 0, 0}, 1},
    {"edge", {0, -1, 0, -1, 4, -1, 0, -1, 0}, 1},
    {"edge-strong", {-1, -1, -1, -1, 8, -1, -1, -1, -1}, 1},
    {"sharpen", {0, -1, 0, -1, 5, -1, 0, -1, 0}, 1},
    {"blur", {1, 2, 1, 2, 4, 2, 1, 2, 1}, 1.0f / 16}, /* Gaussian 3x3 */
    {"sobel-x", {-1, 0, 1, -2, 0, 2, -1, 0, 1}, 1},
    {"sobel-y", {-1, -2, -1, 0, 0, 0, 1, 2, 1}, 1},
};
#define N_KERNELS (int)(sizeof kernels / sizeof kernels[0])

/* A kernel file: k*k numbers (k odd, up to 15) separated by spaces, commas or newlines. */
static int read_kernel_file(const char *path, float *w, int *k) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cortex: error: filter: '%s' is neither a kernel name (", path);
        for (int i = 0; i < N_KERNELS; i++) fprintf(stderr, "%s%s", i ? ", " : "", kernels[i].name);
        fprintf(stderr, ") nor a readable file\n");
        return CLI_USAGE;
    }
    int n = 0;
    char tok[64];
    int rc = CLI_OK;
    while (rc == CLI_OK && fscanf(f, " %63[^ \t\r\n,]%*[ \t\r\n,]", tok) == 1) {
        char *end;
        float v = strtof(tok, &end);
        if (*end || !isfinite(v)) {
            fprintf(stderr, "cortex: error: filter: %s: '%s' is not a number\n", path, tok);
            rc = CLI_FAIL;
        } else if (n >= 225) {
            fprintf(stderr, "cortex: error: filter: %s: more than 15x15 numbers\n", path);
            rc = CLI_FAIL;
        } else {
            w[n++] = v;
        }
    }
    fclose(f);
    if (rc != CLI_OK) return rc;
    for (*k = 1; *k * *k < n; *k += 2) continue;
    if (*k * *k != n) {
        fprintf(stderr, "cortex: error: filter: %s holds %d numbers; a kernel needs k*k with k "
                        "odd (9, 25, 49, ...)\n", path, n);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cmd_filter(int argc, char **argv) {
    const char *kernel = NULL, *out = NULL;
    cli_option options[] = {
        {"--kernel", OPT_STRING, &kernel, "NAME|FILE",
         "identity, edge, edge-strong, sharpen, blur, sobel-x, sobel-y, or a file of k*k numbers"},
        {"--out", OPT_STRING, &out, "OUT.png", "where to write the filtered picture"},
    };
    cli_command cmd = {.name = "filter", .usage = "IMAGE --kernel NAME|FILE --out OUT.png",
                       .about = "Applies an image kernel to a grey or colour picture (PNG, JPEG, "
                                "...) with the conv2d op.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 1,
                       .max_pos = 1};
    const char *pos[1];
    int rc = cli_parse(&cmd, argc, argv, pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!kernel || !out) return cli_usage_error("filter: needs --kernel and --out");
    float w[225], scale = 1;
    int k = 3;
    const named_kernel *nk = NULL;
    for (int i = 0; i < N_KERNELS; i++)
        if (strcmp(kernel, kernels[i].name) == 0) nk = &kernels[i];
    if (nk) memcpy(w, nk->w, sizeof nk->w), scale = nk->scale;
    else if ((rc = read_kernel_file(kernel, w, &k)) != CLI_OK) return rc;
    float sum = 0;
    for (int i = 0; i < k * k; i++) sum += w[i] *= scale;

    cx_arena *arena = cx_arena_new(0);
    if (!arena) return cli_fail(NULL);
    cx_arena_begin(arena);
    cx_tensor *img = cx_image_load(pos[0], 0, 0, 0); /* [C, H, W] as stored */
    if (img && cx_tensor_dim(img, 0) != 1 && cx_tensor_dim(img, 0) != 3) /* grey+alpha, RGBA */
        img = cx_image_load(pos[0], cx_tensor_dim(img, 0) == 2 ? 1 : 3, 0, 0);
    rc = CLI_FAIL;
    if (img) {
        int64_t c = cx_tensor_dim(img, 0);
        cx_tensor *weight = cx_zeros(CX_SHAPE(c, 1, k, k)); /* one kernel per channel */
        for (int64_t ch = 0; weight && ch < c; ch++)
            memcpy(cx_tensor_f32(weight) + ch * k * k, w, (size_t)(k * k) * sizeof *w);
        cx_conv2d_params p = {.padding = {k / 2, k / 2}, .groups = c};
        cx_tensor *x = cx_reshape(img, 4, (int64_t[]){1, c, cx_tensor_dim(img, 1),
                                                      cx_tensor_dim(img, 2)});
        cx_tensor *y = cx_conv2d(x, weight, NULL, &p);
        if (y && fabsf(sum) < 1e-6f) y = cx_abs(y); /* edge detectors: response magnitude */
        y = cx_reshape(y, 3, cx_tensor_shape(img));
        if (y && cx_image_save_png(out, y) == CX_OK) {
            printf("%s\n", out);
            rc = CLI_OK;
        }
    }
    if (rc != CLI_OK) cli_fail(NULL);
    cx_arena_end(arena);
    cx_arena_free(arena);
    return rc;
}
