"""Golden cases for src/ops/conv2d.c and src/ops/conv_transpose2d.c: torch.nn.functional's
conv2d and conv_transpose2d with each row's settings."""
import torch.nn.functional as F


def conv(**kw):
    return lambda x, w, b=None: F.conv2d(x, w, b, **kw)


def convt(**kw):
    return lambda x, w, b=None: F.conv_transpose2d(x, w, b, **kw)


CASES = {
    "conv2d_3x3": conv(),
    "conv2d_1x1": conv(),
    "conv2d_stride2": conv(stride=2),
    "conv2d_pad1": conv(padding=1),
    "conv2d_stride2_pad": conv(stride=(2, 1), padding=(1, 2)),
    "conv2d_same_odd": conv(padding="same"),
    "conv2d_same_even": conv(padding="same"),
    "conv2d_same_dil": conv(padding="same", dilation=(2, 1)),
    "conv2d_dil2": conv(dilation=2, padding=(1, 0)),
    "conv2d_groups2": conv(groups=2, padding=1),
    "conv2d_depthwise": conv(groups=3, padding=1),
    "conv2d_nobias": conv(stride=(1, 2)),
    "conv2d_1x1_stride2": conv(stride=2),
    "conv2d_permuted": lambda x, w, b: F.conv2d(x.permute(0, 3, 1, 2), w, b, padding=1),
    "conv_transpose2d_basic": convt(),
    "conv_transpose2d_stride2_op1": convt(stride=2, output_padding=1),
    "conv_transpose2d_pad": convt(stride=(2, 1), padding=1),
    "conv_transpose2d_dil2": convt(dilation=2, padding=(1, 0), output_padding=(1, 0)),
    "conv_transpose2d_groups2": convt(groups=2, stride=2),
    "conv_transpose2d_nobias": convt(stride=(3, 2), output_padding=(2, 1)),
    "conv_transpose2d_1x1": convt(),
}
