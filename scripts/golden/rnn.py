#!/usr/bin/python3
"""Writes tests/golden/rnn.safetensors: a 2-layer LSTM and a 2-layer GRU (torch.nn.LSTM/GRU,
input 5, hidden 8, batch_first) over 10 steps of a batch of 3, which tests/test_rnn.c runs
through cx_lstm / cx_gru and through the [lstm] / [gru] layers.

Per net (prefix "lstm." or "gru."): the state_dict as layer 0 of a model ("0.weight_ih_l0",
..., "0.bias_hh_l1"), "x" [3,10,5], "h0" (and "c0") [2,3,8], the outputs "out" [3,10,8] and
final states "h_n" (and "c_n") [2,3,8] from those initial states, upstream gradients "g_out",
"g_h" (and "g_c"), and the gradients of sum(out g_out) + sum(h_n g_h) (+ sum(c_n g_c)):
"grad.x", "grad.h0" ("grad.c0"), "grad.<param>". From zero initial states (as a model layer
starts): "zero.out" and "zero.grad.<param>" of sum(zero.out g_out).

Usage: /usr/bin/python3 scripts/golden/rnn.py   (from the repository root; `make golden`)
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402


def net_golden(prefix, module, lstm, out):
    torch.manual_seed(1 if lstm else 2)
    net = module(5, 8, num_layers=2, batch_first=True)
    for name, t in net.state_dict().items():
        out[f"{prefix}.0.{name}"] = t.clone()
    x = torch.randn(3, 10, 5, requires_grad=True)
    h0 = torch.randn(2, 3, 8, requires_grad=True)
    c0 = torch.randn(2, 3, 8, requires_grad=True)
    g_out, g_h, g_c = torch.randn(3, 10, 8), torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    if lstm:
        y, (h, c) = net(x, (h0, c0))
        loss = (y * g_out).sum() + (h * g_h).sum() + (c * g_c).sum()
    else:
        y, h = net(x, h0)
        loss = (y * g_out).sum() + (h * g_h).sum()
    loss.backward()
    out.update({f"{prefix}.x": x, f"{prefix}.h0": h0, f"{prefix}.out": y, f"{prefix}.h_n": h,
                f"{prefix}.g_out": g_out, f"{prefix}.g_h": g_h, f"{prefix}.grad.x": x.grad.clone(),
                f"{prefix}.grad.h0": h0.grad})
    if lstm:
        out.update({f"{prefix}.c0": c0, f"{prefix}.c_n": c, f"{prefix}.g_c": g_c,
                    f"{prefix}.grad.c0": c0.grad})
    for name, p in net.named_parameters():
        out[f"{prefix}.grad.0.{name}"] = p.grad.clone()
        p.grad = None
    y0 = net(x.detach())[0]
    (y0 * g_out).sum().backward()
    out[f"{prefix}.zero.out"] = y0
    for name, p in net.named_parameters():
        out[f"{prefix}.zero.grad.0.{name}"] = p.grad


def main():
    torch.set_num_threads(1)
    out = {}
    net_golden("lstm", nn.LSTM, True, out)
    net_golden("gru", nn.GRU, False, out)
    out = {k: v.detach() for k, v in out.items()}
    path = os.path.join("tests", "golden", "rnn.safetensors")
    stio.save(path, out, {"generator": "scripts/golden/rnn.py", "torch": torch.__version__})
    print(f"rnn.py: wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
