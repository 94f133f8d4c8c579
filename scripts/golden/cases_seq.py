"""Golden cases for src/ops/conv1d.c and src/ops/embedding.c: torch.nn.functional's conv1d,
max_pool1d, avg_pool1d and embedding with each row's settings."""
import torch.nn.functional as F

CASES = {
    "conv1d_basic": lambda x, w, b: F.conv1d(x, w, b),
    "conv1d_strided": lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2),
    "conv1d_same_groups": lambda x, w: F.conv1d(x, w, padding="same", groups=2),
    "max_pool1d_pad": lambda x: F.max_pool1d(x, 3, stride=2, padding=1),
    "avg_pool1d_basic": lambda x: F.avg_pool1d(x, 2),
    "embedding_2d": lambda i, w: F.embedding(i, w),
    "embedding_repeats": lambda i, w: F.embedding(i, w),
}
