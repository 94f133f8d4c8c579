/*
 * generative_impl.h - the autoencoder's internals, shared by src/generative/.
 */
#ifndef CX_GENERATIVE_IMPL_H
#define CX_GENERATIVE_IMPL_H

#include "cortex_impl.h"

struct cx_autoencoder {
    cx_model *enc, *dec;
    cx_ae_params p;
    int lat_ndim; /* per-sample latent shape: the decoder's input */
    int64_t lat_shape[CX_MAX_DIMS];
    int64_t latent; /* its elements */
    int in_ndim;    /* per-sample input shape: the encoder's */
    int64_t in_shape[CX_MAX_DIMS];
    int64_t in_numel;
    cx_rng *rng; /* training noise and eps */
};

/* t [N, ...] viewed as [N, shape...] (ndim sizes per sample); a new reference. */
cx_tensor *cx__ae_as(cx_tensor *t, int ndim, const int64_t *shape);

#endif
