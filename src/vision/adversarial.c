/*
 * adversarial.c - adversarial examples: pictures changed by at most eps per pixel so that a
 * classifier gets them wrong (or calls them a chosen class).
 *
 * FGSM (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial
 * examples"): x + eps sign(d loss / d x). PGD (Madry et al. 2018, "Towards deep learning
 * models resistant to adversarial attacks"): steps of step_size along the sign, each followed
 * by projection onto the eps ball around x and onto the valid pixels 0..1. A targeted attack
 * descends the loss of the target class instead. The gradient is taken through the
 * normalisation, so eps is in pixel units whatever the model was trained on.
 */
#include "vision/vision_impl.h"

#include <math.h>
#include <string.h>

static const char *const WHO = "cx_adversarial";

/* Checks the settings and the inputs; the number of classes in *classes. */
static bool check(cx_model *m, cx_tensor *images, cx_tensor *labels, const cx_attack_params *p,
                  int64_t *classes) {
    if (!m || !p) {
        cx__error(CX_ERR_ARG, "%s: %s is NULL", WHO, m ? "params" : "model");
        return false;
    }
    if (!cx__check_f32(WHO, "images", images)) return false;
    if (cx_model_get_loss(m) != CX_LOSS_CROSS_ENTROPY) {
        cx__error(CX_ERR_ARG, "%s: the model is not a classifier trained with cross-entropy", WHO);
        return false;
    }
    if (p->method != CX_ATTACK_FGSM && p->method != CX_ATTACK_PGD) {
        cx__error(CX_ERR_ARG, "%s: unknown method %d (FGSM or PGD)", WHO, (int)p->method);
        return false;
    }
    if (!cx__check_setting(WHO, "eps", p->eps, 1e-9, 1) ||
        !cx__check_setting(WHO, "steps", p->steps, 0, 100000) ||
        !cx__check_setting(WHO, "step_size", p->step_size, 0, 1))
        return false;
    int64_t out[CX_MAX_DIMS];
    if (cx_model_output_shape(m, out) != 1) {
        cx__error(CX_ERR_SHAPE, "%s: the model's output is not one score per class", WHO);
        return false;
    }
    *classes = out[0];
    int64_t n = cx_tensor_ndim(images) ? cx_tensor_dim(images, 0) : 0;
    if (p->targeted) {
        if (p->target < 0 || p->target >= *classes) {
            cx__error(CX_ERR_ARG, "%s: target class %d is not one of the model's 0 to %lld", WHO,
                      p->target, (long long)*classes - 1);
            return false;
        }
    } else if (!cx__check(WHO, "labels", labels)) {
        return false;
    } else if (cx_tensor_dtype(labels) != CX_DTYPE_I32 || cx_tensor_ndim(labels) != 1 ||
               cx_tensor_dim(labels, 0) != n) {
        char s[CX_SHAPE_STR_MAX];
        cx__error(CX_ERR_SHAPE, "%s: labels must be i32 [%lld] (one per image), got %s %s", WHO,
                  (long long)n, cx_dtype_name(cx_tensor_dtype(labels)),
                  cx_tensor_shape_str(labels, s, sizeof s));
        return false;
    }
    return true;
}

cx_tensor *cx_classify(cx_model *m, cx_tensor *images, const cx_pixel_norm *norm) {
    cx_no_grad_begin();
    cx_tensor *x = cx__pixel_normalise(images, norm);
    cx_tensor *y = x ? cx_model_forward(m, x) : NULL;
    cx_tensor *c = y && cx_tensor_ndim(y) == 2 ? cx_argmax(y, 1, false) : NULL;
    if (y && !c && cx_tensor_ndim(y) != 2)
        cx__error(CX_ERR_SHAPE, "cx_classify: the model's output is not one score per class");
    cx_no_grad_end();
    cx_tensor_free(y);
    cx_tensor_free(x);
    return c;
}

/* One step: adv moves by alpha along the sign of the loss gradient (away from targets' class
 * for an untargeted attack, toward it for a targeted one). */
static cx_status step(cx_model *m, cx_tensor *images, float *adv, cx_tensor *targets,
                      const cx_attack_params *p, float alpha) {
    cx_tensor *x = cx_from_data(CX_DTYPE_F32, cx_tensor_ndim(images), cx_tensor_shape(images), adv);
    if (!x || cx_tensor_set_requires_grad(x, true) != CX_OK) return cx_last_status();
    cx_tensor *in = cx__pixel_normalise(x, &p->norm);
    cx_tensor *loss = in ? cx_model_loss(m, in, targets, NULL) : NULL;
    cx_status st = loss ? cx_backward(loss) : cx_last_status();
    if (st == CX_OK) {
        const float *g = cx_tensor_f32(cx_tensor_grad(x));
        float dir = p->targeted ? -alpha : alpha;
        for (int64_t i = 0; i < cx_tensor_numel(x); i++)
            adv[i] += g[i] > 0 ? dir : g[i] < 0 ? -dir : 0.0f;
    }
    cx_tensor_free(loss);
    cx_tensor_free(in);
    cx_tensor_free(x);
    return st;
}

cx_tensor *cx_adversarial(cx_model *m, cx_tensor *images, cx_tensor *labels,
                          const cx_attack_params *p) {
    int64_t classes = 0;
    if (!check(m, images, labels, p, &classes)) return NULL;
    int64_t numel = cx_tensor_numel(images), n = cx_tensor_dim(images, 0);
    size_t bytes = (size_t)numel * sizeof(float);
    float *orig = cx__alloc(bytes), *adv = cx__alloc(bytes);
    cx_tensor *targets = NULL, *result = NULL;
    cx_arena *arena = cx_arena_new(0);
    cx_rng *rng = cx_rng_new(p->seed);
    if (!orig || !adv || !arena || !rng) goto done;
    cx_tensor_copy_to(images, orig, bytes);
    if (p->targeted) {
        targets = cx_tensor_new(CX_DTYPE_I32, 1, &n);
        for (int64_t i = 0; targets && i < n; i++)
            cx__i32(targets)[i] = p->target;
    } else {
        targets = cx_contiguous(labels);
    }
    if (!targets) goto done;
    int steps = p->method == CX_ATTACK_FGSM ? 1 : p->steps ? p->steps : 10;
    float alpha = p->method == CX_ATTACK_FGSM ? p->eps
                  : p->step_size > 0          ? p->step_size
                                              : 2.5f * p->eps / (float)steps;
    memcpy(adv, orig, bytes);
    if (p->method == CX_ATTACK_PGD && p->random_start)
        for (int64_t i = 0; i < numel; i++)
            adv[i] += p->eps * (2.0f * cx_rng_uniform(rng) - 1.0f);
    cx_hold hold = cx__hold_begin(m);
    cx_status st = CX_OK;
    for (int s = 0; st == CX_OK && s < steps; s++) {
        for (int64_t i = 0; i < numel; i++) /* into the ball and the pixel range */
            adv[i] = fminf(fmaxf(adv[i], fmaxf(orig[i] - p->eps, 0.0f)), fminf(orig[i] + p->eps, 1.0f));
        cx_arena_begin(arena);
        st = step(m, images, adv, targets, p, alpha);
        cx_arena_end(arena);
        cx_arena_reset(arena);
    }
    cx__hold_end(hold);
    if (st != CX_OK) goto done;
    for (int64_t i = 0; i < numel; i++)
        adv[i] = fminf(fmaxf(adv[i], fmaxf(orig[i] - p->eps, 0.0f)), fminf(orig[i] + p->eps, 1.0f));
    result = cx_from_data(CX_DTYPE_F32, cx_tensor_ndim(images), cx_tensor_shape(images), adv);
done:
    cx_tensor_free(targets);
    cx_arena_free(arena);
    cx_rng_free(rng);
    cx__free(orig);
    cx__free(adv);
    return result;
}
