/*
 * gan_configs.c - the built-in generator and discriminator configs for 28x28 grey pictures,
 * written for a noise size. models/gan_*.cfg hold them for Z = 100 (a test checks they
 * agree), as starting points for configs of one's own.
 *
 * Dense:  G Z-256-512-1024-784 with batch normalisation between each hidden layer's sum and
 *         its LeakyReLU 0.2, tanh output; D 784-512-256-1 with LeakyReLU 0.2 (the layer sizes
 *         of the Keras GAN examples).
 * DCGAN:  the DCGAN guidelines (Radford et al., arXiv:1511.06434) at MNIST size, as in the
 *         TensorFlow DCGAN tutorial: G dense to 128x7x7 and two stride-2 transposed
 *         convolutions (batchnorm and ReLU between, tanh out); D two stride-2 convolutions
 *         (LeakyReLU 0.2, batchnorm on the second) and a dense logit: strided convolutions
 *         instead of pooling, no hidden dense layers. Weights from N(0, 0.02).
 * cGAN:   the DCGAN's nets with 10 more inputs: the one-hot label after the noise, and as 10
 *         constant planes after the picture (see cortex/gan.h).
 */
#include "generative/generative_impl.h"

#include <string.h>


#define INIT "init = normal\ninit_scale = 0.02\n"
#define LEAKY "[leaky_relu]\nslope = 0.2\n\n"
#define DENSE_BN_LEAKY(units) "[dense]\nunits = " units "\n" INIT "\n[batchnorm]\n\n" LEAKY
#define DENSE_LEAKY(units) "[dense]\nunits = " units "\n" INIT "\n" LEAKY

static const char *const arch_names[] = {"dense", "dcgan", "cgan"};

const char *cx_gan_arch_name(cx_gan_arch arch) {
    return (unsigned)arch < 3 ? arch_names[arch] : "unknown";
}

cx_status cx_gan_arch_parse(const char *name, cx_gan_arch *arch) {
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, arch_names[i]) == 0) return *arch = (cx_gan_arch)i, CX_OK;
    return cx__error(CX_ERR_ARG, "GAN architecture '%s' is not one of dense, dcgan, cgan",
                     name ? name : "(null)");
}

static bool dcgan(char *gen, char *disc, size_t size, long long z, int classes) {
    long long k = classes;
    const char *what = classes ? "conditional DCGAN" : "DCGAN";
    return cx__config_put(gen, size,
               "; %s generator: noise %lld%s -> 128x7x7 -> 64x14x14 -> 1x28x28\n[model]\n"
               "input = %lld\n\n"
               "[dense]\nunits = 6272\nbias = false\n" INIT "\n"
               "[reshape]\nshape = 128,7,7\n\n[batchnorm]\n\n[relu]\n\n"
               "[conv_transpose2d]\nfilters = 64\nkernel = 4\nstride = 2\npadding = 1\n"
               "bias = false\n" INIT "\n[batchnorm]\n\n[relu]\n\n"
               "[conv_transpose2d]\nfilters = 1\nkernel = 4\nstride = 2\npadding = 1\n" INIT
               "\n[tanh]\n",
               what, z, classes ? " + one-hot label 10" : "", z + k) &&
           cx__config_put(disc, size,
               "; %s discriminator: 1x28x28%s -> 64x14x14 -> 128x7x7 -> logit\n[model]\n"
               "input = %lld,28,28\n\n"
               "[conv2d]\nfilters = 64\nkernel = 4\nstride = 2\npadding = 1\n" INIT "\n" LEAKY
               "[conv2d]\nfilters = 128\nkernel = 4\nstride = 2\npadding = 1\nbias = false\n"
               INIT "\n[batchnorm]\n\n" LEAKY
               "[flatten]\n\n[dense]\nunits = 1\n" INIT,
               what, classes ? " + 10 label planes" : "", 1 + k);
}

cx_status cx_gan_default_configs(cx_gan_arch arch, int64_t noise, char *generator,
                                 char *discriminator, size_t size, int *classes) {
    if (!generator || !discriminator)
        return cx__error(CX_ERR_ARG, "cx_gan_default_configs: NULL buffer");
    if (noise == 0) noise = 100;
    if (noise < 1 || noise > 4096)
        return cx__error(CX_ERR_ARG, "GAN noise size %lld is out of 1..4096", (long long)noise);
    long long z = (long long)noise;
    bool ok;
    int k = 0;
    switch (arch) {
    case CX_GAN_ARCH_DENSE:
        ok = cx__config_put(generator, size,
                 "; dense GAN generator: noise %lld -> 256-512-1024 -> 784 (tanh)\n[model]\n"
                 "input = %lld\n\n" DENSE_BN_LEAKY("256") DENSE_BN_LEAKY("512")
                 DENSE_BN_LEAKY("1024") "[dense]\nunits = 784\n" INIT "\n[tanh]\n\n"
                 "[reshape]\nshape = 1,28,28\n", z, z) &&
             cx__config_put(discriminator, size,
                 "; dense GAN discriminator: 784 -> 512-256 -> logit\n[model]\n"
                 "input = 1,28,28\n\n[flatten]\n\n" DENSE_LEAKY("512") DENSE_LEAKY("256")
                 "[dense]\nunits = 1\n" INIT);
        break;
    case CX_GAN_ARCH_DCGAN:
        ok = dcgan(generator, discriminator, size, z, 0);
        break;
    case CX_GAN_ARCH_CGAN:
        ok = dcgan(generator, discriminator, size, z, k = 10);
        break;
    default:
        return cx__error(CX_ERR_ARG, "cx_gan_default_configs: unknown architecture %d", (int)arch);
    }
    if (!ok) return cx__error(CX_ERR_ARG, "cx_gan_default_configs: %zu bytes are too few", size);
    if (classes) *classes = k;
    return CX_OK;
}
