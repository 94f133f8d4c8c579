/* quickstart.c - fit y = 3x + 1 with one weight and one bias by gradient descent. */
#include <cortex.h>
#include <stdio.h>

int main(void) {
    cx_arena *data = cx_arena_new(0), *step = cx_arena_new(0); /* tensors die with their arena */
    cx_arena_begin(data);
    cx_tensor *x = cx_rand(NULL, CX_SHAPE(64, 1));                /* inputs in [0,1) */
    cx_tensor *y = cx_add_scalar(cx_mul_scalar(x, 3.0f), 1.0f);  /* targets */
    cx_tensor *w = cx_randn(NULL, CX_SHAPE(1, 1)), *b = cx_zeros(CX_SHAPE(1));
    cx_arena_end(data);
    cx_tensor_set_requires_grad(w, true);
    cx_tensor_set_requires_grad(b, true);
    for (int i = 0; i <= 500; i++) {
        cx_arena_begin(step);
        cx_tensor *loss = cx_mse_loss(cx_add(cx_matmul(x, w), b), y, CX_REDUCTION_MEAN);
        if (!loss || cx_backward(loss) != CX_OK) return fprintf(stderr, "%s\n", cx_last_error()), 1;
        for (cx_tensor **p = (cx_tensor *[]){w, b, NULL}; *p; p++) {   /* SGD, lr 0.5 */
            cx_tensor_f32(*p)[0] -= 0.5f * cx_tensor_f32(cx_tensor_grad(*p))[0];
            cx_tensor_zero_grad(*p);
        }
        if (i % 100 == 0) printf("step %3d  loss %.6f\n", i, cx_tensor_item(loss));
        cx_arena_end(step);
        cx_arena_reset(step);                                     /* the step's memory, reused */
    }
    printf("w = %.3f, b = %.3f (want 3, 1)\n", cx_tensor_f32(w)[0], cx_tensor_f32(b)[0]);
    cx_arena_free(step);
    cx_arena_free(data);
    return 0;
}
