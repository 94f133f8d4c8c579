/*
 * random_net.c - a network for style transfer that needs no training.
 *
 * Gram matrices of random convolution filters already capture much of a texture
 * (Ustyuzhaninov et al. 2017, "What does it take to generate natural textures?": one layer
 * of random filters at several sizes rivals a trained VGG for texture synthesis). Here the
 * sizes come from a pyramid instead of ever larger filters: the picture average-pooled by
 * 1, 2, 4 and 8, each scale seen by 5x5 random filters and a ReLU (s1a, s2a, ...), then 3x3
 * random filters and a ReLU (s1, s2, ...), for receptive fields of 7 to 56 pixels at a
 * fraction of the cost. The model is built from config text, so `cortex summary` and
 * cx_model_config show it like any other.
 */
#include "vision/vision_impl.h"

#include <stdio.h>

const char *const cx_style_random_content = "s4";
const char *const cx_style_random_style = "s1a,s1,s2a,s2,s4a,s4,s8a,s8";
const char *const cx_style_vgg_content = "features.22";
const char *const cx_style_vgg_style = "features.1,features.6,features.11,features.20,features.29";

cx_model *cx_style_random_net(int channels, uint64_t seed) {
    if (channels != 1 && channels != 3) {
        cx__error(CX_ERR_ARG, "cx_style_random_net: pictures have 1 or 3 channels, not %d",
                  channels);
        return NULL;
    }
    char text[2048];
    int n = snprintf(text, sizeof text, "[model]\ninput = %d,64,64\n", channels);
    for (int scale = 1; scale <= 8; scale *= 2) {
        if (scale > 1)
            n += snprintf(text + n, sizeof text - (size_t)n,
                          "\n[avgpool2d]\ninput = input\nkernel = %d\n", scale);
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "\n[conv2d]\n%sfilters = 64\nkernel = 5\npadding = 2\n\n[relu]\n"
                      "name = s%da\n\n[conv2d]\nfilters = 64\nkernel = 3\npadding = 1\n\n"
                      "[relu]\nname = s%d\n",
                      scale == 1 ? "input = input\n" : "", scale, scale);
    }
    cx_rng *rng = cx_rng_new(seed);
    cx_model *m = rng ? cx_model_from_config(text, "random style network", rng) : NULL;
    cx_rng_free(rng);
    return m;
}
