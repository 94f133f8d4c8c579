"""Golden cases for src/ops/unary.c and src/ops/activation.c: row name -> the PyTorch
computation on the row's inputs. Rows ending in _t read their input through a view with the
first and last dims swapped (cx__test_swap_dims(x, 0, -1) in C), hence x.transpose(0, -1)."""
import torch
import torch.nn.functional as F

# op name -> the computation of its rows "<op>_2d" (and "<op>_0d") and "<op>_t"
_PLAIN = {
    "neg": torch.neg,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "clamp": lambda x: torch.clamp(x, -0.5, 0.5),
    "add_scalar": lambda x: x + 1.5,
    "sub_scalar": lambda x: x - (-0.25),
    "rsub_scalar": lambda x: 2.0 - x,
    "mul_scalar": lambda x: x * -2.5,
    "div_scalar": lambda x: x / -0.3,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "gelu": F.gelu,
}


def _t(fn):
    return lambda x: fn(x.transpose(0, -1))


CASES = {}
for _op, _fn in _PLAIN.items():
    CASES[f"{_op}_2d"] = _fn
    CASES[f"{_op}_t"] = _t(_fn)
for _op in ("neg", "exp", "sigmoid"):
    CASES[f"{_op}_0d"] = _PLAIN[_op]

CASES.update({
    "clamp_lo": lambda x: torch.clamp(x, min=-0.3),
    "clamp_hi_t": _t(lambda x: torch.clamp(x, max=0.2)),
    "pow_scalar_2d": lambda x: torch.pow(x, 2.5),
    "pow_scalar_neg_t": _t(lambda x: torch.pow(x, -1.5)),
    "pow_scalar_sq": lambda x: torch.pow(x, 2.0),
    "pow_scalar_cube_t": _t(lambda x: torch.pow(x, 3.0)),
    "pow_scalar_sqrt": lambda x: torch.pow(x, 0.5),
    "pow_scalar_recip": lambda x: torch.pow(x, -1.0),
    "sigmoid_wide": torch.sigmoid,
    "leaky_relu_2d": lambda x: F.leaky_relu(x, 0.01),
    "leaky_relu_t": _t(lambda x: F.leaky_relu(x, 0.2)),
    "elu_2d": lambda x: F.elu(x, 1.0),
    "elu_t": _t(lambda x: F.elu(x, 0.5)),
})
