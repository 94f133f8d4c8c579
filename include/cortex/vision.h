/*
 * cortex/vision.h - optimising the input of a frozen network: adversarial examples, feature
 * visualisation, deep dream and style transfer. Included by cortex.h.
 *
 * All four follow gradients back into a picture while the network's parameters stay as they
 * are (they neither receive gradients nor change; the model's training mode is left as it was
 * found, and the functions run it in evaluation mode). Pictures are f32 with values in 0..1,
 * [N, C, H, W] batches or single [C, H, W] pictures; the network sees them normalised per
 * channel as (pixel - mean[c]) / std[c] (cx_pixel_norm), inside the graph, so gradients reach
 * the pixels and bounds such as the adversarial radius eps are in pixel units.
 *
 * Layers are given by index (cx_model_find_layer turns names into indices). Deep dream and
 * style transfer run the layers up to the deepest one they use on pictures of their own size
 * (cx_model_head), so those layers must be convolutional (no dense layer before them).
 *
 * Errors: NULL + CX_ERR_ARG for bad settings (naming the setting and its valid range),
 * CX_ERR_SHAPE for pictures that do not fit the model, and the model's own errors.
 * Results are new tensors (current arena or heap, see "Ownership" in cortex.h); inputs are not
 * changed. Each function runs its steps in an arena of its own, so a long optimisation does
 * not allocate per step.
 */
#ifndef CORTEX_VISION_H
#define CORTEX_VISION_H

#include "cortex.h"
#include "cortex/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Model input = (pixel - mean[c]) / std[c]; a picture with one channel uses entry 0. All zero
 * (the default) is the identity: a std of 0 means 1. */
typedef struct {
    float mean[3];
    float std[3];
} cx_pixel_norm;

/* The normalisation torchvision's ImageNet models (vgg16) were trained with. */
cx_pixel_norm cx_pixel_norm_imagenet(void);
/* The normalisation of a training run, whose samples were (u8 * scale - mean) / std (scale 0
 * meaning 1/255, std 0 meaning 1), for pixels u8 / 255. */
cx_pixel_norm cx_pixel_norm_from_loader(const cx_loader_params *p);

/* ---- adversarial examples ---- */

typedef enum {
    CX_ATTACK_FGSM = 0, /* one step of eps along the sign of the loss gradient (Goodfellow) */
    CX_ATTACK_PGD,      /* steps of step_size, projected back into the eps ball (Madry) */
} cx_attack_method;

typedef struct {
    cx_attack_method method;
    float eps;         /* L-infinity radius in pixel units, 0 < eps <= 1 */
    int steps;         /* PGD: iterations (0 = 10) */
    float step_size;   /* PGD: per iteration (0 = 2.5 eps / steps) */
    bool random_start; /* PGD: start from a uniform point of the ball (seeded by seed) */
    bool targeted;     /* move toward class target instead of away from the true labels */
    int target;
    uint64_t seed;
    cx_pixel_norm norm;
} cx_attack_params;

/* Adversarial versions of images [N, sample shape] (pixels 0..1) for classifier m (a model
 * trained with cross-entropy): each differs from its original by at most eps per pixel and
 * stays in 0..1. Untargeted attacks raise the loss of labels (i32 [N]); targeted ones lower
 * the loss of class target (labels are then not read and may be NULL). Returns a new tensor
 * of images' shape, or NULL + error. */
cx_tensor *cx_adversarial(cx_model *m, cx_tensor *images, cx_tensor *labels,
                          const cx_attack_params *p);

/* The class m predicts for each of images [N, ...] (pixels, normalised by norm), as i32 [N]
 * (a new tensor), without recording gradients. */
cx_tensor *cx_classify(cx_model *m, cx_tensor *images, const cx_pixel_norm *norm);

/* ---- feature visualisation ---- */

typedef struct {
    int steps;          /* gradient-ascent steps (0 = 128) */
    float step_size;    /* each step moves a picture by step_size times its gradient divided
                         * by the gradient's mean magnitude (0 = 0.01) */
    int jitter;         /* pictures shift by up to this many pixels each step (0 = 2; -1 none) */
    float blur;         /* sigma of a Gaussian blur every blur_every steps (0 = 0.5; < 0 none) */
    int blur_every;     /* (0 = 4) */
    float decay;        /* pixels shrink toward grey by this fraction per step (0 = none;
                         * 0.05 keeps what a filter does not need grey) */
    int64_t height, width; /* picture size (0 = the model's input; other sizes need the layer
                            * to be convolutional) */
    uint64_t seed;      /* the starting noise and the jitter */
    cx_pixel_norm norm;
} cx_visualize_params;

/* Pictures [n, C, H, W] in 0..1 made by gradient ascent from noise: picture k maximises
 * unit units[k] of layer's output, a channel summed over positions for image outputs
 * [N, C, H, W] or one element for flat outputs [N, K] (a class score when layer gives the
 * logits). scores (may be NULL, n entries) receives each unit's final response. */
cx_tensor *cx_visualize(cx_model *m, int layer, int n, const int *units,
                        const cx_visualize_params *p, float *scores);

/* ---- deep dream ---- */

typedef struct {
    int octaves;        /* scales, each octave_scale smaller than the next (0 = 4) */
    float octave_scale; /* (0 = 1.4) */
    int steps;          /* gradient-ascent steps per octave (0 = 10) */
    float step_size;    /* as cx_visualize_params (0 = 0.01) */
    int jitter;         /* (0 = 4; -1 none) */
    uint64_t seed;
    cx_pixel_norm norm;
} cx_dream_params;

/* Deep dream of picture image [C, H, W]: gradient ascent on the sum over the n layers of
 * weights[k] (NULL: all 1) times the mean square of layer layers[k]'s output, at octaves
 * scales from the smallest up, the detail found at one scale carried into the next. Returns
 * the dreamed picture [C, H, W] in 0..1. */
cx_tensor *cx_deep_dream(const cx_model *m, cx_tensor *image, int n, const int *layers,
                         const float *weights, const cx_dream_params *p);

/* ---- style transfer ---- */

typedef enum { CX_STYLE_LBFGS = 0, CX_STYLE_ADAM } cx_style_optimizer;

typedef struct {
    int n_content;
    const int *content_layers; /* content loss: mean squared difference of their outputs */
    int n_style;
    const int *style_layers;   /* style loss: of the Gram matrices of their outputs */
    float content_weight;      /* (0 = 1) */
    float style_weight;        /* (0 = 1e4) */
    float tv_weight;           /* total variation: mean squared neighbour differences (0 =
                                * none) */
    int steps;                 /* optimizer iterations (0 = 200) */
    float lr;                  /* Adam's learning rate (0 = 0.02); L-BFGS's step (0 = 1) */
    cx_style_optimizer optimizer;
    bool init_noise;           /* start from noise instead of the content picture */
    uint64_t seed;
    cx_pixel_norm norm;
    /* Called after every iteration with its loss (may be NULL); returning false stops. */
    bool (*progress)(int step, float loss, void *ctx);
    void *ctx;
} cx_style_params;

/* The Gram matrix of features [1, C, H, W] (or [C, H, W]): F Fᵀ / (C H W) with F the
 * features as [C, H W]; [C, C], recorded for autograd. */
cx_tensor *cx_gram(cx_tensor *features);

/* A picture of content's size [C, H, W] whose outputs at the content layers match content's
 * and whose Gram matrices at the style layers match style's ([C, H', W'], any size), with a
 * total-variation penalty; values 0..1. m's layers must be convolutional up to the deepest
 * layer used. */
cx_tensor *cx_style_transfer(const cx_model *m, cx_tensor *content, cx_tensor *style,
                             const cx_style_params *p);

/* A network that needs no training for style transfer: random convolution filters at four
 * scales of the picture (the picture average-pooled by 1, 2, 4 and 8, each followed by a 5x5
 * convolution of 64 filters and a ReLU, then a 3x3 convolution of 64 and a ReLU), drawn from
 * seed. Random multi-scale filters capture texture statistics well enough for Gram-matrix
 * style losses. Its layers are named s1a, s1, s2a, s2, ..., s8 (the outputs of each
 * scale's first and second ReLU); for channels (1 or 3) picture channels. The default
 * layers are cx_style_random_layers. Free with cx_model_free. */
cx_model *cx_style_random_net(int channels, uint64_t seed);
/* The layer names style transfer uses by default with the random network ("s1a,s1,...")
 * and with models/vgg16.cfg (torchvision's names: content features.22 = relu4_2, style
 * features.1,6,11,20,29 = relu1_1 ... relu5_1). */
extern const char *const cx_style_random_content;
extern const char *const cx_style_random_style;
extern const char *const cx_style_vgg_content;
extern const char *const cx_style_vgg_style;

#ifdef __cplusplus
}
#endif
#endif /* CORTEX_VISION_H */
