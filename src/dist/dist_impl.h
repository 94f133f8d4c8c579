/*
 * dist_impl.h - what src/dist/ shares: the MPI header and error reporting.
 */
#ifndef CX_DIST_IMPL_H
#define CX_DIST_IMPL_H

#include "cortex_impl.h"

#include <mpi.h>

/* CX_OK for MPI_SUCCESS; otherwise CX_ERR_DEVICE naming what failed, the rank and MPI's
 * reason. */
cx_status cx__mpi_check(int rc, const char *what);

#endif
