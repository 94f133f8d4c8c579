/*
 * cmd_style.c - `cortex style --content C.png --style S.png --out O.png`: neural style
 * transfer (cx_style_transfer). Without --model it uses cx_style_random_net, random filters
 * that need no training, so it runs on a fresh machine; with models/vgg16.cfg and torchvision's
 * weights (--weights, exported by scripts/export_torch.py) it uses the classic VGG layers.
 */
#include "cli.h"

#include <string.h>

#define MAX_LAYERS 16

typedef struct {
    int every;
} progress_ctx;

static bool progress(int step, float loss, void *ctx) {
    const progress_ctx *pc = ctx;
    if (pc->every > 0 && step % pc->every == 0) {
        printf("step %d: loss %.6g\n", step, (double)loss);
        fflush(stdout);
    }
    return true;
}

int cmd_style(int argc, char **argv) {
    const char *content = NULL, *style = NULL, *out = NULL, *model = NULL, *weights = NULL;
    const char *content_layers = NULL, *style_layers = NULL, *optimizer = "lbfgs",
               *init = "content";
    float content_weight = 1, style_weight = 1e4f, tv_weight = 0, lr = 0;
    int steps = 200, size = 256, style_size = 0, threads = 0, every = 50;
    uint64_t seed = 0;
    cli_option options[] = {
        {"--content", OPT_STRING, &content, "C.png", "the picture whose content to keep"},
        {"--style", OPT_STRING, &style, "S.png", "the picture whose style to take"},
        {"--out", OPT_STRING, &out, "O.png", "where to write the result"},
        {"--model", OPT_STRING, &model, "FILE", "a checkpoint or config (default: random filters)"},
        {"--weights", OPT_STRING, &weights, "FILE", "parameters for a --model given as a config"},
        {"--content-layers", OPT_STRING, &content_layers, "L,...", "content loss layers"},
        {"--style-layers", OPT_STRING, &style_layers, "L,...", "style (Gram) loss layers"},
        {"--content-weight", OPT_FLOAT, &content_weight, "W", "default 1"},
        {"--style-weight", OPT_FLOAT, &style_weight, "W", "default 1e4"},
        {"--tv-weight", OPT_FLOAT, &tv_weight, "W", "total-variation weight (default 0)"},
        {"--steps", OPT_INT, &steps, "N", "optimizer iterations (default 200)"},
        {"--optimizer", OPT_STRING, &optimizer, "lbfgs|adam", "default lbfgs"},
        {"--lr", OPT_FLOAT, &lr, "R", "step size (adam 0.02, lbfgs 1)"},
        {"--init", OPT_STRING, &init, "noise|content", "the starting picture (default content)"},
        {"--size", OPT_INT, &size, "PX", "longer side of the content picture (default 256; 0 as is)"},
        {"--style-size", OPT_INT, &style_size, "PX", "longer side of the style picture (default --size)"},
        {"--seed", OPT_U64, &seed, "N", "random filters and the starting noise"},
        {"--progress", OPT_INT, &every, "N", "print the loss every N steps (default 50; 0 never)"},
        {"--threads", OPT_INT, &threads, "N", "CPU threads"},
    };
    cli_command cmd = {.name = "style",
                       .usage = "--content C.png --style S.png --out O.png [--model FILE] [options]",
                       .about = "Style transfer: a picture with the content of C and the style of "
                                "S (Gatys et al.): content loss on chosen layers, style loss on "
                                "Gram matrices, total variation; L-BFGS or Adam.",
                       .options = options, .n_options = CLI_N(options), .min_pos = 0, .max_pos = 0};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
    if (!content || !style || !out) return cli_usage_error("style: needs --content, --style and --out");
    cx_style_params p = {.content_weight = content_weight, .style_weight = style_weight,
                         .tv_weight = tv_weight, .steps = steps, .lr = lr, .seed = seed,
                         .progress = progress, .ctx = &(progress_ctx){every}};
    if (strcmp(optimizer, "lbfgs") == 0) p.optimizer = CX_STYLE_LBFGS;
    else if (strcmp(optimizer, "adam") == 0) p.optimizer = CX_STYLE_ADAM;
    else return cli_usage_error("style: --optimizer %s: valid: lbfgs, adam", optimizer);
    if (strcmp(init, "noise") == 0) p.init_noise = true;
    else if (strcmp(init, "content") != 0)
        return cli_usage_error("style: --init %s: valid: noise, content", init);
    if (!(content_weight >= 0) || !(style_weight >= 0) || !(tv_weight >= 0) || steps < 1 ||
        size < 0 || style_size < 0 || !(lr >= 0))
        return cli_usage_error("style: weights, --lr and sizes must not be negative, --steps at "
                               "least 1");
    if (weights && !model) return cli_usage_error("style: --weights needs --model CONFIG");
    if ((rc = cli_set_threads(threads)) != CLI_OK) return rc;

    cx_model *m = NULL;
    const char *dc = cx_style_random_content, *ds = cx_style_random_style;
    if (model) {
        m = cli_load_network(model, weights, &p.norm, NULL);
        if (m && cx_model_find_layer(m, cx_style_vgg_content) >= 0)
            dc = cx_style_vgg_content, ds = cx_style_vgg_style;
        else if (m && (!content_layers || !style_layers)) {
            fprintf(stderr, "cortex: error: style: %s is not models/vgg16.cfg: name its "
                            "--content-layers and --style-layers\n", model);
            cx_model_free(m);
            return CLI_USAGE;
        }
    } else {
        m = cx_style_random_net(3, seed);
        p.norm = (cx_pixel_norm){.mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f}};
    }
    if (!m) return model ? CLI_FAIL : cli_fail(NULL);
    int64_t in[CX_MAX_DIMS];
    int channels = cx_model_input_shape(m, in) == 3 ? (int)in[0] : 3;
    int cl[MAX_LAYERS], sl[MAX_LAYERS];
    p.n_content = cli_layer_list(m, content_layers ? content_layers : dc, "style", cl, MAX_LAYERS);
    p.n_style = p.n_content > 0 ? cli_layer_list(m, style_layers ? style_layers : ds, "style", sl,
                                                 MAX_LAYERS)
                                : -1;
    p.content_layers = cl;
    p.style_layers = sl;
    rc = CLI_USAGE;
    cx_tensor *c = NULL, *s = NULL, *result = NULL;
    if (p.n_content > 0 && p.n_style > 0) {
        rc = CLI_FAIL;
        c = cli_load_picture(content, channels, size);
        s = c ? cli_load_picture(style, channels, style_size ? style_size : size) : NULL;
        double t0 = cli_now_s();
        result = s ? cx_style_transfer(m, c, s, &p) : NULL;
        if (result && cx_image_save_png(out, result) == CX_OK) {
            printf("%s: %lldx%lld in %.1f s (%d %s steps)\n", out,
                   (long long)cx_tensor_dim(result, 2), (long long)cx_tensor_dim(result, 1),
                   cli_now_s() - t0, steps, optimizer);
            rc = CLI_OK;
        } else if (s) {
            cli_fail(NULL);
        }
    }
    cx_tensor_free(result);
    cx_tensor_free(s);
    cx_tensor_free(c);
    cx_model_free(m);
    return rc;
}
