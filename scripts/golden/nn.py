#!/usr/bin/python3
"""Writes tests/golden/nn.safetensors: a small torch.nn.Sequential and its initialisers, which
tests/test_nn.c rebuilds from config text and compares against.

Model (tests/test_nn.c holds the same layer list as config text):
  Flatten, Linear(6,16), ReLU, Linear(16,12), Tanh, Dropout(0.3), Linear(12,10), GELU,
  Linear(10,8), ELU(0.7), Linear(8,6), LeakyReLU(0.2), Linear(6,4), FINAL
in eval mode, with FINAL and the loss per case:
  ce:    Softmax,    cross-entropy of the input of the softmax (the logits)
  logsm: LogSoftmax, the same loss (NLL of the log-softmax)
  bce:   Sigmoid,    BCE with logits of the input of the sigmoid
  mse:   Tanh,       MSE of the output
Tensors: the weights under their state_dict names ("1.weight", ...), "x" [5,2,3], "labels",
"bce.target", "mse.target", and per case "<case>.out", "<case>.loss", "<case>.grad.x" and
"<case>.grad.<param>" (from loss.backward()).
Initialisers: "init.<name>" = a [30,20] weight drawn after torch.manual_seed(7) (and
"init.default.bias" for nn.Linear(20, 30)'s default init).

Usage: /usr/bin/python3 scripts/golden/nn.py   (from the repository root; `make golden`)
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

FINALS = {"ce": nn.Softmax(dim=-1), "logsm": nn.LogSoftmax(dim=-1), "bce": nn.Sigmoid(),
          "mse": nn.Tanh()}


def body():
    return [nn.Flatten(), nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.Tanh(),
            nn.Dropout(0.3), nn.Linear(12, 10), nn.GELU(), nn.Linear(10, 8), nn.ELU(0.7),
            nn.Linear(8, 6), nn.LeakyReLU(0.2), nn.Linear(6, 4)]


def loss_of(case, model, x, labels, targets):
    logits = model[:-1](x)
    if case in ("ce", "logsm"):
        return nn.functional.cross_entropy(logits, labels)
    if case == "bce":
        return nn.functional.binary_cross_entropy_with_logits(logits, targets["bce"])
    return nn.functional.mse_loss(model(x), targets["mse"])


def inits(out):
    torch.manual_seed(7)
    lin = nn.Linear(20, 30)
    out["init.default.weight"] = lin.weight
    out["init.default.bias"] = lin.bias
    fills = {
        "glorot_uniform": nn.init.xavier_uniform_,
        "glorot_normal": nn.init.xavier_normal_,
        "he_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        "he_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        "uniform": lambda w: nn.init.uniform_(w, -0.05, 0.05),
        "normal": lambda w: nn.init.normal_(w, 0.0, 0.05),
    }
    for name, fill in fills.items():
        w = torch.empty(30, 20)
        torch.manual_seed(7)
        fill(w)
        out[f"init.{name}"] = w


def main():
    torch.manual_seed(0)
    trunk = body()
    x0 = torch.randn(5, 2, 3)
    labels = torch.randint(0, 4, (5,))
    targets = {"bce": torch.rand(5, 4), "mse": torch.randn(5, 4)}
    out = {"x": x0, "labels": labels.to(torch.int32), "bce.target": targets["bce"],
           "mse.target": targets["mse"]}
    for case, final in FINALS.items():
        model = nn.Sequential(*trunk, final).eval()
        model.zero_grad()
        x = x0.clone().requires_grad_(True)
        y = model(x)
        loss = loss_of(case, model, x, labels, targets)
        loss.backward()
        out[f"{case}.out"] = y
        out[f"{case}.loss"] = loss.reshape(())
        out[f"{case}.grad.x"] = x.grad
        for name, p in model.named_parameters():
            out[name] = p
            out[f"{case}.grad.{name}"] = p.grad.clone()  # zero_grad reuses the buffer
    inits(out)
    path = os.path.join("tests", "golden", "nn.safetensors")
    stio.save(path, out, {"generator": "scripts/golden/nn.py", "torch": torch.__version__})
    print(f"nn.py: wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
