/*
 * style.c - neural style transfer (Gatys, Ecker & Bethge 2016, "Image style transfer using
 * convolutional neural networks"): a picture optimised so that a network's responses to it
 * match the content picture's at the content layers and the style picture's Gram matrices
 * (correlations between channels, blind to where things are) at the style layers, plus a
 * total-variation penalty against noise.
 *
 * loss = content_weight · mean_l mse(F_l(x), F_l(content))
 *      + style_weight   · mean_l mse(G(F_l(x)), G(F_l(style)))
 *      + tv_weight      · (mean (x[i+1,j] - x[i,j])² + mean (x[i,j+1] - x[i,j])²)
 * with G(F) = F Fᵀ / (C H W). The targets are computed once; the network runs at the content
 * picture's size (and once at the style picture's, cx_model_head). L-BFGS (as Gatys et al.)
 * or Adam (steps clamped to 0..1) minimise it.
 */
#include "vision/vision_impl.h"

#include <math.h>
#include <string.h>

static const char *const WHO = "cx_style_transfer";
#define MAX_LAYERS 32

cx_tensor *cx_gram(cx_tensor *features) {
    if (!cx__check_f32("gram", "features", features)) return NULL;
    int nd = cx_tensor_ndim(features);
    if (!(nd == 3 || (nd == 4 && cx_tensor_dim(features, 0) == 1))) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "gram: features %s must be [1,C,H,W] or [C,H,W]",
                  cx_tensor_shape_str(features, s, sizeof s));
        return NULL;
    }
    int64_t c = cx_tensor_dim(features, -3), hw = cx_tensor_dim(features, -2) * cx_tensor_dim(features, -1);
    cx_tensor *f = cx_reshape(features, CX_SHAPE(c, hw));
    cx_tensor *ft = cx_transpose(f, 0, 1);
    cx_tensor *g = cx_matmul(f, ft);
    cx_tensor *out = cx_div_scalar(g, (float)(c * hw));
    cx_tensor_free(f);
    cx_tensor_free(ft);
    cx_tensor_free(g);
    return out;
}

/* Mean squared differences between neighbouring pixels of x [1, C, H, W]. */
static cx_tensor *total_variation(cx_tensor *x) {
    int64_t h = cx_tensor_dim(x, 2), w = cx_tensor_dim(x, 3);
    cx_tensor *dh = cx_sub(cx_slice(x, 2, 1, h, 1), cx_slice(x, 2, 0, h - 1, 1));
    cx_tensor *dw = cx_sub(cx_slice(x, 3, 1, w, 1), cx_slice(x, 3, 0, w - 1, 1));
    return cx_add(cx_mean(cx_mul(dh, dh), 0, NULL, false), cx_mean(cx_mul(dw, dw), 0, NULL, false));
}

typedef struct {
    const cx_style_params *p;
    cx_model *net; /* at the content picture's size */
    int n, layers[2 * MAX_LAYERS]; /* content layers, then style layers */
    cx_tensor *targets[2 * MAX_LAYERS]; /* content features, then style Gram matrices */
    float cw, sw;
    cx_tensor *x;  /* the picture being optimised: a heap leaf [1, C, H, W] */
    cx_arena *arena;
} style_run;

/* The outputs of r's layers for pictures [1, C, H, W] (new references in outs). */
static cx_status features(cx_model *net, const style_run *r, cx_tensor *pixels, cx_tensor **outs) {
    cx_tensor *in = cx__pixel_normalise(pixels, &r->p->norm);
    cx_status st = in ? cx_model_forward_layers(net, in, r->n, r->layers, outs) : cx_last_status();
    cx_tensor_free(in);
    return st;
}

static cx_tensor *loss_of(style_run *r) {
    cx_tensor *outs[2 * MAX_LAYERS];
    if (features(r->net, r, r->x, outs) != CX_OK) return NULL;
    int nc = r->p->n_content, ns = r->p->n_style;
    cx_tensor *total = cx_mul_scalar(total_variation(r->x), r->p->tv_weight);
    for (int k = 0; k < r->n; k++) {
        bool style = k >= nc;
        cx_tensor *f = style ? cx_gram(outs[k]) : outs[k];
        cx_tensor *term = cx_mse_loss(f, r->targets[k], CX_REDUCTION_MEAN);
        total = cx_add(total, cx_mul_scalar(term, style ? r->sw / (float)ns : r->cw / (float)nc));
        if (style) cx_tensor_free(f);
        cx_tensor_free(outs[k]);
    }
    return total;
}

/* The loss and its gradient at x (for L-BFGS); NaN on error. */
static float loss_and_grad(const float *x, float *grad, void *ctx) {
    style_run *r = ctx;
    size_t bytes = (size_t)cx_tensor_numel(r->x) * sizeof(float);
    cx_tensor_copy_from(r->x, x, bytes);
    cx_tensor_zero_grad(r->x);
    cx_arena_begin(r->arena);
    cx_tensor *loss = loss_of(r);
    float value = loss && cx_backward(loss) == CX_OK ? cx_tensor_item(loss) : NAN;
    cx_arena_end(r->arena);
    cx_arena_reset(r->arena);
    if (!isnan(value)) memcpy(grad, cx_tensor_f32(cx_tensor_grad(r->x)), bytes);
    return value;
}

static cx_status run_adam(style_run *r, int steps) {
    const cx_style_params *p = r->p;
    cx_optim_params op = cx_optim_defaults(CX_OPTIM_ADAM);
    op.lr = p->lr > 0 ? p->lr : 0.02f;
    cx_optim *o = cx_optim_new(CX_OPTIM_ADAM, &op, &r->x, 1);
    if (!o) return cx_last_status();
    cx_status st = CX_OK;
    for (int s = 0; st == CX_OK && s < steps; s++) {
        cx_optim_zero_grad(o);
        cx_arena_begin(r->arena);
        cx_tensor *loss = loss_of(r);
        st = loss ? cx_backward(loss) : cx_last_status();
        float value = st == CX_OK ? cx_tensor_item(loss) : NAN;
        cx_arena_end(r->arena);
        cx_arena_reset(r->arena);
        if (st == CX_OK) st = cx_optim_step(o);
        cx__clamp01(cx_tensor_f32(r->x), cx_tensor_numel(r->x));
        if (st == CX_OK && p->progress && !p->progress(s + 1, value, p->ctx)) break;
    }
    cx_optim_free(o);
    return st;
}

static cx_status run_lbfgs(style_run *r, int steps) {
    int64_t n = cx_tensor_numel(r->x);
    float *x = cx__alloc((size_t)n * sizeof(float));
    if (!x) return CX_ERR_OOM;
    memcpy(x, cx_tensor_f32(r->x), (size_t)n * sizeof(float));
    cx_status st = cx__lbfgs(x, n, steps, r->p->lr > 0 ? r->p->lr : 1.0f, loss_and_grad, r,
                             r->p->progress, r->p->ctx);
    cx__clamp01(x, n);
    cx_tensor_copy_from(r->x, x, (size_t)n * sizeof(float));
    cx__free(x);
    return st;
}

static bool check(const cx_model *m, cx_tensor *content, cx_tensor *style, const cx_style_params *p) {
    if (!m || !p) {
        cx__error(CX_ERR_ARG, "%s: %s is NULL", WHO, m ? "params" : "model");
        return false;
    }
    if (!cx__check_f32(WHO, "content", content) || !cx__check_f32(WHO, "style", style)) return false;
    if (p->n_content > MAX_LAYERS || p->n_style > MAX_LAYERS) {
        cx__error(CX_ERR_ARG, "%s: at most %d content and %d style layers", WHO, MAX_LAYERS, MAX_LAYERS);
        return false;
    }
    if (!cx__check_layers(WHO, m, p->n_content, p->content_layers) ||
        !cx__check_layers(WHO, m, p->n_style, p->style_layers))
        return false;
    int64_t in[CX_MAX_DIMS];
    int nd = cx_model_input_shape(m, in);
    cx_tensor *const pics[2] = {content, style};
    for (int i = 0; i < 2; i++)
        if (cx_tensor_ndim(pics[i]) != 3 || nd != 3 || cx_tensor_dim(pics[i], 0) != in[0]) {
            char s[CX_SHAPE_STR_MAX];
            cx__error(CX_ERR_SHAPE, "%s: the %s picture %s does not fit the model, which takes "
                      "%lld channels", WHO, i ? "style" : "content",
                      cx_tensor_shape_str(pics[i], s, sizeof s), nd == 3 ? (long long)in[0] : 0LL);
            return false;
        }
    if (p->optimizer != CX_STYLE_LBFGS && p->optimizer != CX_STYLE_ADAM) {
        cx__error(CX_ERR_ARG, "%s: unknown optimizer %d", WHO, (int)p->optimizer);
        return false;
    }
    return cx__check_setting(WHO, "content_weight", p->content_weight, 0, 1e12) &&
           cx__check_setting(WHO, "style_weight", p->style_weight, 0, 1e12) &&
           cx__check_setting(WHO, "tv_weight", p->tv_weight, 0, 1e12) &&
           cx__check_setting(WHO, "steps", p->steps, 0, 1e6) &&
           cx__check_setting(WHO, "lr", p->lr, 0, 1e3);
}

/* The content features and style Gram matrices, computed once without gradients. */
static cx_status make_targets(style_run *r, const cx_model *m, int last, cx_tensor *content,
                              cx_tensor *style) {
    cx_tensor *outs[2 * MAX_LAYERS];
    cx_status st = CX_OK;
    cx_tensor *const pics[2] = {content, style};
    for (int i = 0; st == CX_OK && i < 2; i++) {
        const int64_t *s = cx_tensor_shape(pics[i]);
        cx_model *net = i == 0 ? r->net : cx_model_head(m, last, 3, s);
        cx_tensor *x = cx_reshape(pics[i], CX_SHAPE(1, s[0], s[1], s[2]));
        cx_no_grad_begin();
        st = net && x ? features(net, r, x, outs) : cx_last_status();
        cx_no_grad_end();
        for (int k = 0; st == CX_OK && k < r->n; k++) {
            bool mine = i == 0 ? k < r->p->n_content : k >= r->p->n_content;
            if (mine) r->targets[k] = i == 0 ? cx_clone(outs[k]) : cx_gram(outs[k]);
            if (mine && !r->targets[k]) st = cx_last_status();
            cx_tensor_free(outs[k]);
        }
        cx_tensor_free(x);
        if (net != r->net) cx_model_free(net);
    }
    return st;
}

cx_tensor *cx_style_transfer(const cx_model *m, cx_tensor *content, cx_tensor *style,
                             const cx_style_params *p) {
    if (!check(m, content, style, p)) return NULL;
    style_run r = {.p = p, .cw = p->content_weight > 0 ? p->content_weight : 1.0f,
                   .sw = p->style_weight > 0 ? p->style_weight : 1e4f};
    for (int k = 0; k < p->n_content; k++)
        r.layers[r.n++] = p->content_layers[k];
    for (int k = 0; k < p->n_style; k++)
        r.layers[r.n++] = p->style_layers[k];
    int last = cx__max_layer(r.n, r.layers);
    const int64_t *cs = cx_tensor_shape(content);
    r.net = cx_model_head(m, last, 3, cs);
    r.arena = cx_arena_new(0);
    cx_tensor *result = NULL;
    cx_status st = r.net && r.arena ? CX_OK : cx_last_status();
    if (st == CX_OK) st = make_targets(&r, m, last, content, style);
    if (st == CX_OK) { /* the starting picture: a copy of content, or noise */
        r.x = cx_tensor_new(CX_DTYPE_F32, CX_SHAPE(1, cs[0], cs[1], cs[2]));
        st = r.x ? cx_tensor_copy_to(content, cx_tensor_f32(r.x),
                                     (size_t)cx_tensor_numel(r.x) * sizeof(float))
                 : cx_last_status();
        if (st == CX_OK && p->init_noise) {
            cx_rng *rng = cx_rng_new(p->seed);
            for (int64_t i = 0; rng && i < cx_tensor_numel(r.x); i++)
                cx_tensor_f32(r.x)[i] = cx_rng_uniform(rng);
            cx_rng_free(rng);
        }
        if (st == CX_OK) st = cx_tensor_set_requires_grad(r.x, true);
    }
    if (st == CX_OK) {
        cx_hold hold = cx__hold_begin(r.net);
        int steps = p->steps ? p->steps : 200;
        if (p->optimizer == CX_STYLE_ADAM)
            st = run_adam(&r, steps);
        else /* on a copy: each evaluation writes its point into r.x */
            st = run_lbfgs(&r, steps);
        cx__hold_end(hold);
    }
    if (st == CX_OK) {
        cx_no_grad_begin();
        cx_tensor *d = cx_detach(r.x);
        cx_tensor *v = d ? cx_reshape(d, 3, cs) : NULL;
        result = v ? cx_clone(v) : NULL; /* its own storage, not a view of ours */
        cx_tensor_free(v);
        cx_tensor_free(d);
        cx_no_grad_end();
        if (result) cx__clamp01(cx_tensor_f32(result), cx_tensor_numel(result));
    }
    for (int k = 0; k < r.n; k++)
        cx_tensor_free(r.targets[k]);
    cx_tensor_free(r.x);
    cx_model_free(r.net);
    cx_arena_free(r.arena);
    return result;
}
