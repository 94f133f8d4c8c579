/*
 * window.c - output sizes of convolution and pooling windows, checked when a layer is added
 * so a model that does not fit is refused at build time with the arithmetic spelled out:
 *     input 7x7 with kernel 3, stride 3, padding 0 does not fit: (7 + 0 - 3) / 3 + 1 is not
 *     whole; use padding 1 (or floor = true)
 * Also the checks of the settings both convolution layers share.
 * Reference: the shape formulas of torch.nn.Conv2d and torch.nn.MaxPool2d (1.13 docs).
 */
#include "nn/layer.h"

/* "7x7" or "7" when both entries are equal; buf is returned. */
static char *pair_str(const int64_t v[2], char *buf, size_t size, bool as_size) {
    if (v[0] == v[1] && !as_size)
        snprintf(buf, size, "%lld", (long long)v[0]);
    else
        snprintf(buf, size, "%lldx%lld", (long long)v[0], (long long)v[1]);
    return buf;
}

/* The smallest padding p (0..kernel) that makes (in + 2p - span) divisible by stride. */
static int64_t padding_that_fits(int64_t in, int64_t span, int64_t stride) {
    for (int64_t p = 0; p <= span; p++)
        if (in + 2 * p >= span && (in + 2 * p - span) % stride == 0) return p;
    return -1;
}

cx_status cx__window_out(const int64_t in[2], const int64_t kernel[2], const int64_t stride[2],
                         const int64_t pad[2], const int64_t dilation[2], bool ceil_mode,
                         bool exact, int64_t out[2]) {
    for (int d = 0; d < 2; d++) {
        int64_t span = dilation[d] * (kernel[d] - 1) + 1; /* the window's extent */
        int64_t room = in[d] + 2 * pad[d] - span;         /* where windows may start */
        int64_t o = room < 0 ? 0 : room / stride[d] + 1;
        if (room >= 0 && ceil_mode && room % stride[d]) {
            o++;
            /* torch drops a last window that would start in the right padding */
            if ((o - 1) * stride[d] >= in[d] + pad[d]) o--;
        }
        bool inexact = room >= 0 && exact && room % stride[d] != 0;
        if (o >= 1 && !inexact) {
            out[d] = o;
            continue;
        }
        char a[48], k[48], s[48], p[48], dl[48], dil[64] = "", why[160];
        if (dilation[0] != 1 || dilation[1] != 1)
            snprintf(dil, sizeof dil, ", dilation %s", pair_str(dilation, dl, sizeof dl, false));
        pair_str(in, a, sizeof a, true);
        pair_str(kernel, k, sizeof k, false);
        pair_str(stride, s, sizeof s, false);
        pair_str(pad, p, sizeof p, false);
        if (inexact) {
            int64_t fix = padding_that_fits(in[d], span, stride[d]);
            char use[64] = "";
            if (fix >= 0) snprintf(use, sizeof use, "use padding %lld (or ", (long long)fix);
            snprintf(why, sizeof why, "is not whole; %sfloor = true%s", use, fix >= 0 ? ")" : "");
        } else {
            snprintf(why, sizeof why, "= %lld is below 1",
                     (long long)(room < 0 ? room / stride[d] + 1 : o));
        }
        return cx__error(CX_ERR_SHAPE,
                         "input %s with kernel %s, stride %s, padding %s%s does not fit: "
                         "(%lld + %lld - %lld) / %lld + 1 %s",
                         a, k, s, p, dil, (long long)in[d], (long long)(2 * pad[d]),
                         (long long)span, (long long)stride[d], why);
    }
    return CX_OK;
}

cx_status cx__build_check_conv(const cx_layer_build *b, const cx_conv_args *c) {
    cx_status st = cx__build_need_image(b);
    if (st != CX_OK) return st;
    if (c->filters < 1 || c->filters > CX_DIM_MAX)
        return cx__error(CX_ERR_ARG, "filters = %lld: must be 1 to %lld", (long long)c->filters,
                         (long long)CX_DIM_MAX);
    const int64_t *pairs[] = {c->kernel, c->stride, c->dilation};
    static const char *const names[] = {"kernel", "stride", "dilation"};
    for (int i = 0; i < 3; i++)
        for (int d = 0; d < 2; d++)
            if (pairs[i][d] < 1 || pairs[i][d] > CX_DIM_MAX)
                return cx__error(CX_ERR_ARG, "%s = %lld: must be at least 1", names[i],
                                 (long long)pairs[i][d]);
    if (c->w.init < CX_INIT_DEFAULT || c->w.init > CX_INIT_ZEROS)
        return cx__error(CX_ERR_ARG, "unknown init %d", c->w.init);
    int64_t channels = b->in_shape[0];
    if (c->groups < 1 || channels % c->groups || c->filters % c->groups)
        return cx__error(CX_ERR_SHAPE, "groups = %lld must divide the %lld input channels and "
                         "the %lld filters", (long long)c->groups, (long long)channels,
                         (long long)c->filters);
    return CX_OK;
}

void cx__conv_args_set(cx_conv_args *c, int64_t filters, int64_t kh, int64_t kw, bool bias,
                       const int64_t *stride, const int64_t *dilation, int64_t groups) {
    c->filters = filters;
    c->kernel[0] = kh;
    c->kernel[1] = kw;
    c->w.bias = bias;
    for (int d = 0; stride && d < 2; d++) {
        c->stride[d] = stride[d] ? stride[d] : 1;
        c->dilation[d] = dilation[d] ? dilation[d] : 1;
    }
    c->groups = groups ? groups : 1;
}
