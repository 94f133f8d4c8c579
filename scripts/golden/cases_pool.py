"""Golden cases for src/ops/pool.c, upsample.c and batch_norm.c: row name -> the torch
computation on the row's inputs. Batch-norm eval rows pass the running statistics as one
input stats [2, C] (mean, variance)."""
import torch.nn.functional as F


def _interp(size, mode, align=None):
    return lambda x: F.interpolate(x, size=size, mode=mode, align_corners=align)


def _bn_eval(x, w=None, b=None, stats=None):
    return F.batch_norm(x, stats[0], stats[1], w, b, training=False, momentum=0.1, eps=1e-5)


CASES = {
    "max_pool2d_k2": lambda x: F.max_pool2d(x, 2),
    "max_pool2d_odd": lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
    "max_pool2d_ceil": lambda x: F.max_pool2d(x, 2, ceil_mode=True),
    "max_pool2d_ceil_rule": lambda x: F.max_pool2d(x, 2, padding=1, ceil_mode=True),
    "max_pool2d_dilated": lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=2,
                                                 ceil_mode=True),
    "max_pool2d_t": lambda x: F.max_pool2d(x.transpose(2, 3), 3, stride=2, padding=1),
    "max_pool2d_rect": lambda x: F.max_pool2d(x, (2, 3), stride=(1, 2), padding=(1, 0),
                                              dilation=(1, 2)),
    "avg_pool2d_k2": lambda x: F.avg_pool2d(x, 2),
    "avg_pool2d_pad": lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
    "avg_pool2d_exclude": lambda x: F.avg_pool2d(x, 3, stride=2, padding=1,
                                                 count_include_pad=False),
    "avg_pool2d_ceil": lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
    "avg_pool2d_ceil_exclude": lambda x: F.avg_pool2d(x, 3, stride=2, padding=1,
                                                      ceil_mode=True, count_include_pad=False),
    "avg_pool2d_rect": lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 0)),
    "adaptive_avg_pool2d_1x1": lambda x: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avg_pool2d_3x2": lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
    "adaptive_avg_pool2d_5x4": lambda x: F.adaptive_avg_pool2d(x, (5, 4)),
    "adaptive_avg_pool2d_up": lambda x: F.adaptive_avg_pool2d(x, (5, 7)),
    "upsample2d_nearest_x2": _interp((6, 8), "nearest"),
    "upsample2d_nearest_frac": _interp((7, 10), "nearest"),
    "upsample2d_nearest_down": _interp((4, 5), "nearest"),
    "upsample2d_bilinear_x2": _interp((6, 8), "bilinear", False),
    "upsample2d_bilinear_frac": _interp((7, 10), "bilinear", False),
    "upsample2d_bilinear_down": _interp((4, 5), "bilinear", False),
    "upsample2d_bilinear_ac": _interp((7, 10), "bilinear", True),
    "upsample2d_bilinear_ac_line": _interp((1, 9), "bilinear", True),
    "upsample2d_bilinear_t": lambda x: _interp((7, 10), "bilinear", False)(x.transpose(2, 3)),
    "batch_norm_4d_t": lambda x, w, b: F.batch_norm(x.transpose(2, 3), None, None, w, b,
                                                    training=True, eps=1e-5),
    "batch_norm_4d_eps_nobias": lambda x, w: F.batch_norm(x, None, None, w, None, training=True,
                                                          eps=0.1),
    "batch_norm_4d_eval": lambda x, w, b, s: _bn_eval(x, w, b, s),
    "batch_norm_3d_eval_noaffine": lambda x, s: _bn_eval(x, stats=s),
    "batch_norm_2d_eval": lambda x, w, b, s: _bn_eval(x, w, b, s),
}

for dims in ("2d", "2d_wide", "3d", "4d"):
    CASES[f"batch_norm_{dims}"] = lambda x, w, b: F.batch_norm(x, None, None, w, b,
                                                               training=True, eps=1e-5)
for dims in ("2d", "3d", "4d"):
    CASES[f"batch_norm_{dims}_noaffine"] = lambda x: F.batch_norm(x, None, None, training=True,
                                                                  eps=1e-5)
