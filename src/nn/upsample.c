/*
 * upsample.c - resizing layer, as torch.nn.Upsample: by a scale (output floor(H * scale)) or
 * to a size, nearest or bilinear (align_corners as torch). One cx_upsample2d op.
 *   x (N, C, H, W) -> (N, C, Ho, Wo)
 * Reference: https://pytorch.org/docs/1.13/generated/torch.nn.Upsample.html
 */
#include "nn/layer.h"

#include <math.h>

static const char *const mode_names[] = {"nearest", "bilinear", NULL};

typedef struct {
    float scale;     /* 0: by size */
    int64_t size[2]; /* 0: by scale */
    int mode;        /* cx_upsample_mode */
    bool align_corners;
} upsample_args;

static const upsample_args upsample_defaults = {.mode = CX_UPSAMPLE_NEAREST};

static const cx_layer_key upsample_keys[] = {
    CX_KEY("scale", CX_KEY_FLOAT, upsample_args, scale, .min = 0, .max = 1 << 16),
    CX_KEY("size", CX_KEY_PAIR, upsample_args, size, .min = 1, .max = (double)CX_DIM_MAX),
    CX_KEY("mode", CX_KEY_ENUM, upsample_args, mode, .choices = mode_names),
    CX_KEY("align_corners", CX_KEY_BOOL, upsample_args, align_corners),
    CX_KEY_END,
};

static cx_status upsample_build(cx_layer_build *b) {
    const upsample_args *a = b->args;
    cx_status st = cx__build_need_image(b);
    if (st != CX_OK) return st;
    bool by_size = a->size[0] > 0 || a->size[1] > 0;
    if (by_size == (a->scale > 0))
        return cx__error(CX_ERR_ARG, "give either scale or size (one of them)");
    if (a->mode != CX_UPSAMPLE_NEAREST && a->mode != CX_UPSAMPLE_BILINEAR)
        return cx__error(CX_ERR_ARG, "unknown mode %d", a->mode);
    if (a->align_corners && a->mode != CX_UPSAMPLE_BILINEAR)
        return cx__error(CX_ERR_ARG, "align_corners applies to mode = bilinear only (as torch)");
    b->out_ndim = 3;
    b->out_shape[0] = b->in_shape[0];
    for (int d = 0; d < 2; d++) {
        double o = by_size ? (double)a->size[d] : floor((double)b->in_shape[1 + d] * a->scale);
        if (!(o >= 1 && o <= (double)CX_DIM_MAX))
            return cx__error(CX_ERR_SHAPE, "input %lldx%lld gives an output %s of %.0f; it must "
                             "be 1 to %lld", (long long)b->in_shape[1], (long long)b->in_shape[2],
                             d ? "width" : "height", o, (long long)CX_DIM_MAX);
        b->out_shape[1 + d] = (int64_t)o;
    }
    return CX_OK;
}

static cx_tensor *upsample_forward(const cx_layer *l, cx_tensor *x, const cx_layer_run *run) {
    (void)run;
    const upsample_args *a = (const upsample_args *)l->args;
    return cx_upsample2d(x, l->out_shape[1], l->out_shape[2], (cx_upsample_mode)a->mode,
                         a->align_corners);
}

cx_status cx_model_add_upsample(cx_model *m, float scale, int64_t out_h, int64_t out_w,
                                cx_upsample_mode mode, bool align_corners) {
    upsample_args a = {.scale = out_h || out_w ? 0 : scale, .size = {out_h, out_w},
                       .mode = (int)mode, .align_corners = align_corners};
    return cx__model_add(m, &cx_layer_upsample, &a, NULL);
}

CX_LAYER_DEFINE(upsample, upsample_args, .title = "Upsample", .defaults = &upsample_defaults,
                .keys = upsample_keys, .build = upsample_build, .forward = upsample_forward);
