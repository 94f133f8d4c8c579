/*
 * registry.c - the table of every op, built from build/gen/ops.def (which the Makefile
 * collects from the CX_OP_DEFINE lines in src/ops/), so it cannot drift from the op files.
 */
#include "cortex_impl.h"

const cx_op *const cx__ops[] = {
#define CX_OP(opname) &cx_op_##opname,
#include "ops.def"
#undef CX_OP
    NULL,
};
