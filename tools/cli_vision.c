/*
 * cli_vision.c - what the commands that optimise a network's input share (adversarial,
 * visualize, dream, style): loading a network from a checkpoint or from a config with a
 * weights file (a torch state_dict exported by scripts/export_torch.py), naming layers by
 * index or name, and the pictures they read and write.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

cx_model *cli_load_network(const char *model, const char *weights, cx_pixel_norm *norm,
                           cx_train_state *state) {
    cx_train_state own = {0};
    if (!state) state = &own;
    *state = own;
    bool config = ends_with(model, ".cfg") || weights;
    cx_model *m = config ? cx_model_load_config(model, NULL) : cx_checkpoint_load(model, NULL, state);
    if (!m) return cli_fail(NULL), NULL;
    if (weights) {
        cx_safetensors *f = cx_safetensors_open(weights);
        cx_status st = f ? cx_model_load_weights(m, f) : cx_last_status();
        cx_safetensors_close(f);
        if (st != CX_OK) {
            fprintf(stderr, "cortex: error: %s: %s\n", weights, cx_last_error());
            cx_model_free(m);
            return NULL;
        }
    } else if (config) {
        fprintf(stderr, "cortex: note: %s has no weights (--weights FILE): the network is "
                        "untrained\n", model);
    }
    int64_t in[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, in);
    if (norm) {
        /* torch-exported 3-channel networks (vgg16) expect ImageNet's normalisation */
        if (!config) *norm = cx_pixel_norm_from_loader(&state->normalisation);
        else if (nd == 3 && in[0] == 3) *norm = cx_pixel_norm_imagenet();
        else *norm = (cx_pixel_norm){{0}, {0}};
    }
    cx_model_set_training(m, false);
    return m;
}

int cli_layer_index(const cx_model *m, const char *spec, const char *who) {
    char *end = NULL;
    errno = 0;
    long v = strtol(spec, &end, 10);
    int n = cx_model_num_layers(m);
    int i = end != spec && *end == '\0' && errno == 0 ? (v < 0 ? (int)(n + v) : (int)v) : -1;
    if (end == spec || *end != '\0') i = cx_model_find_layer(m, spec);
    if (i < 0 || i >= n) {
        fprintf(stderr, "cortex: error: %s: no layer '%s' (layers 0 to %d, or their names; "
                        "cortex summary lists them)\n", who, spec, n - 1);
        return -1;
    }
    return i;
}

int cli_layer_list(const cx_model *m, const char *list, const char *who, int *out, int max) {
    char buf[1024];
    if (strlen(list) >= sizeof buf) {
        fprintf(stderr, "cortex: error: %s: the layer list is too long\n", who);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, "cortex: error: %s: at most %d layers\n", who, max);
            return -1;
        }
        if ((out[n++] = cli_layer_index(m, tok, who)) < 0) return -1;
    }
    if (n == 0) fprintf(stderr, "cortex: error: %s: no layers in '%s'\n", who, list);
    return n ? n : -1;
}

int cli_last_image_layer(const cx_model *m) {
    int best = -1;
    int64_t s[CX_MAX_DIMS];
    for (int i = 0; i < cx_model_num_layers(m); i++)
        if (cx_model_layer_output_shape(m, i, s) == 3) best = i;
        else break;
    return best;
}

cx_tensor *cli_load_picture(const char *path, int channels, int64_t longest) {
    cx_tensor *img = cx_image_load(path, channels, 0, 0);
    if (!img) return cli_fail(NULL), NULL;
    int64_t h = cx_tensor_dim(img, 1), w = cx_tensor_dim(img, 2);
    if (longest <= 0 || (h <= longest && w <= longest)) return img;
    cx_tensor_free(img);
    int64_t nh = h >= w ? longest : (h * longest + w / 2) / w;
    int64_t nw = w >= h ? longest : (w * longest + h / 2) / h;
    img = cx_image_load(path, channels, nh < 1 ? 1 : nh, nw < 1 ? 1 : nw);
    if (!img) cli_fail(NULL);
    return img;
}

cx_status cli_save_picture(const char *path, cx_tensor *picture, int zoom) {
    cx_tensor *big = picture;
    if (zoom > 1) {
        int nd = cx_tensor_ndim(picture);
        int64_t c = nd == 3 ? cx_tensor_dim(picture, 0) : 1;
        cx_tensor *b4 = cx_reshape(picture, CX_SHAPE(1, c, cx_tensor_dim(picture, -2),
                                                     cx_tensor_dim(picture, -1)));
        cx_tensor *up = cx_upsample2d(b4, cx_tensor_dim(picture, -2) * zoom,
                                      cx_tensor_dim(picture, -1) * zoom, CX_UPSAMPLE_NEAREST, false);
        big = up ? cx_reshape(up, CX_SHAPE(c, cx_tensor_dim(up, 2), cx_tensor_dim(up, 3))) : NULL;
        cx_tensor_free(up);
        cx_tensor_free(b4);
    }
    cx_status st = big ? cx_image_save_png(path, big) : cx_last_status();
    if (big != picture) cx_tensor_free(big);
    return st;
}
