/*
 * op_rows.c - prints every op test row (cx_op_test, from the op registry) as one JSON line:
 *     {"name": "add_bcast", "n_in": 2, "inputs": [{"shape": [2,3,4], "dtype": "f32",
 *      "lo": -1, "hi": 1, "no_grad": false}, ...]}
 * with the defaults applied (f32 range -1..1 when lo == hi == 0). scripts/golden/ops.py reads
 * these lines to generate the PyTorch goldens for exactly the rows the C tests run.
 * Usage: op_rows   (run by `make golden`)
 */
#include "cortex_impl.h"

#include <stdio.h>

static void print_input(const cx_test_input *in) {
    float lo = in->lo, hi = in->hi;
    if (in->dtype == CX_DTYPE_F32 && lo == 0 && hi == 0) lo = -1, hi = 1;
    printf("{\"shape\": [");
    for (int d = 0; d < CX_MAX_DIMS && in->shape[d] > 0; d++)
        printf(d ? ", %lld" : "%lld", (long long)in->shape[d]);
    printf("], \"dtype\": \"%s\", \"lo\": %.9g, \"hi\": %.9g, \"no_grad\": %s}",
           cx_dtype_name(in->dtype), lo, hi, in->no_grad ? "true" : "false");
}

int main(void) {
    for (const cx_op *const *op = cx__ops; *op; op++) {
        for (const cx_op_test *r = (*op)->tests; r && r->name; r++) {
            printf("{\"name\": \"%s\", \"op\": \"%s\", \"n_in\": %d, \"inputs\": [", r->name,
                   (*op)->name, r->n_in);
            for (int i = 0; i < r->n_in; i++) {
                if (i) printf(", ");
                print_input(&r->in[i]);
            }
            printf("]}\n");
        }
    }
    return ferror(stdout) ? 1 : 0;
}
