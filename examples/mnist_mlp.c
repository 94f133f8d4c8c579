/*
 * mnist_mlp.c - a digit classifier from C: the 784-512-512-10 MLP built layer by layer, trained
 * with Adam on the MNIST digits (scripts/get-data), checked on the held-out test digits and
 * saved as a checkpoint that `cortex eval` and `cortex predict` read.
 * Usage: build/examples/mnist_mlp [EPOCHS]
 */
#include <cortex.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(void) {
    fprintf(stderr, "mnist_mlp: %s\n", cx_last_error());
    return 1;
}

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 5;
    cx_dataset *train = cx_dataset_load("mnist", CX_SPLIT_TRAIN);
    cx_dataset *test = cx_dataset_load("mnist", CX_SPLIT_TEST);
    if (!train || !test) return fail();

    cx_rng *rng = cx_rng_new(1);
    cx_model *m = cx_model_new(CX_SHAPE(1, 28, 28));
    if (!m || cx_model_add_flatten(m) ||
        cx_model_add_dense(m, 512, true, CX_INIT_DEFAULT, 0, rng) ||
        cx_model_add_activation(m, CX_ACT_RELU, 0) ||
        cx_model_add_dense(m, 512, true, CX_INIT_DEFAULT, 0, rng) ||
        cx_model_add_activation(m, CX_ACT_RELU, 0) ||
        cx_model_add_dense(m, 10, true, CX_INIT_DEFAULT, 0, rng))
        return fail();
    cx_model_summary(m, stdout);

    cx_tensor *params[8];
    int n = cx_model_num_param_tensors(m);
    for (int i = 0; i < n; i++) params[i] = cx_model_param(m, i);
    cx_optim_params hp = cx_optim_defaults(CX_OPTIM_ADAM); /* lr 1e-3, as torch.optim.Adam */
    cx_optim *adam = cx_optim_new(CX_OPTIM_ADAM, &hp, params, n);
    if (!adam) return fail();

    cx_fit_params fit = {.epochs = epochs, .batch_size = 128, .seed = 1,
                         .checkpoint_path = "mnist_mlp.safetensors"};
    cx_fit_result r;
    if (cx_fit(m, adam, train, test, &fit, &r) != CX_OK) return fail();
    cx_metrics final;
    if (cx_evaluate(m, test, 256, NULL, &final) != CX_OK) return fail();
    printf("test accuracy %.4f on %lld digits; saved mnist_mlp.safetensors\n", final.accuracy,
           (long long)final.samples);

    cx_optim_free(adam);
    cx_model_free(m);
    cx_rng_free(rng);
    cx_dataset_free(train);
    cx_dataset_free(test);
    return 0;
}
