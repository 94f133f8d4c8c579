"""Golden cases for src/ops/linear.c: torch.nn.functional.linear on the rows' inputs."""
import torch.nn.functional as F

CASES = {
    "linear_2d": lambda x, w, b: F.linear(x, w, b),
    "linear_3d": lambda x, w, b: F.linear(x, w, b),
    "linear_1d": lambda x, w, b: F.linear(x, w, b),
    "linear_nobias": lambda x, w: F.linear(x, w),
    "linear_t": lambda x, w, b: F.linear(x.t(), w, b),
}
