/*
 * transfer_fashion.c - transfer learning: the convolutional features of a CNN trained on MNIST
 * digits, frozen, under a new head trained on Fashion-MNIST clothes.
 *
 *   build/cortex train models/mnist_cnn.cfg --data mnist --epochs 3 --out mnist_cnn.safetensors
 *   build/examples/transfer_fashion mnist_cnn.safetensors [EPOCHS]
 *
 * The new model repeats mnist_cnn's layers 0-9 (so their parameters have the same names and
 * load from the checkpoint) and ends in a different head: layer 10 is a 64-unit dense layer
 * where mnist_cnn has its 10-unit output, so it is listed as not matching and keeps its fresh
 * weights, and layer 12 is new. Layers 0-8 (both convolutions and the 128-unit dense layer)
 * are frozen.
 */
#include <cortex.h>

#include <stdio.h>
#include <stdlib.h>

static const char config[] =
    "[model]\ninput = 1,28,28\n"
    "[conv2d]\nfilters = 32\nkernel = 3\n[relu]\n"               /* 0, 1 */
    "[conv2d]\nfilters = 64\nkernel = 3\n[relu]\n"               /* 2, 3 */
    "[maxpool2d]\nkernel = 2\n[dropout]\nrate = 0.25\n[flatten]\n" /* 4, 5, 6 */
    "[dense]\nunits = 128\n[relu]\n[dropout]\n"                   /* 7, 8, 9 */
    "[dense]\nunits = 64\n[relu]\n[dense]\nunits = 10\n";         /* 10 (new), 11, 12 */

static int fail(void) {
    fprintf(stderr, "transfer_fashion: %s\n", cx_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MNIST_CNN.safetensors [EPOCHS]\n", argv[0]);
        return 2;
    }
    int epochs = argc > 2 ? atoi(argv[2]) : 2;
    cx_model *m = cx_model_from_config(config, "transfer_fashion", NULL);
    cx_safetensors *mnist = m ? cx_safetensors_open(argv[1]) : NULL;
    if (!mnist) return fail();
    static char report[4096];
    int loaded = 0;
    if (cx_model_init_from(m, mnist, false, &loaded, report, sizeof report) != CX_OK) return fail();
    cx_safetensors_close(mnist);
    printf("loaded %d tensors from %s; not loaded:\n%s", loaded, argv[1], report);
    if (cx_model_freeze(m, 8) != CX_OK) return fail();

    cx_dataset *all = cx_dataset_load("fashion-mnist", CX_SPLIT_TRAIN);
    cx_dataset *train = all ? cx_dataset_head(all, 12000) : NULL; /* a quick run */
    cx_dataset *test = cx_dataset_load("fashion-mnist", CX_SPLIT_TEST);
    if (!train || !test) return fail();
    cx_tensor *params[32];
    int n = cx_model_trainable_params(m, params);
    cx_optim_params hp = cx_optim_defaults(CX_OPTIM_ADAM);
    cx_optim *adam = cx_optim_new(CX_OPTIM_ADAM, &hp, params, n);
    if (!adam) return fail();
    printf("training %d of %d parameter tensors on %lld Fashion-MNIST pictures\n", n,
           cx_model_num_param_tensors(m), (long long)cx_dataset_size(train));
    cx_fit_params fit = {.epochs = epochs, .batch_size = 128, .seed = 1};
    if (cx_fit(m, adam, train, test, &fit, NULL) != CX_OK) return fail();
    cx_metrics r;
    if (cx_evaluate(m, test, 256, NULL, &r) != CX_OK) return fail();
    printf("Fashion-MNIST test accuracy with MNIST features: %.4f\n", r.accuracy);

    cx_optim_free(adam);
    cx_dataset_free(test);
    cx_dataset_free(train);
    cx_dataset_free(all);
    cx_model_free(m);
    return 0;
}
