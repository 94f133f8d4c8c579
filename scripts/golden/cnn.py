#!/usr/bin/python3
"""Writes tests/golden/cnn.safetensors: a small convolutional graph in torch that
tests/test_cnn.c rebuilds from config text (the same layer list, numbered the same way) and
compares against.

Layers (index: module; tests/test_cnn.c holds the config):
   0 Conv2d(3, 8, 3, padding=1)     1 BatchNorm2d(8)     2 ReLU            -> a
   3 Conv2d(8, 8, 3, padding=1)     4 BatchNorm2d(8)     5 add a (residual)
   6 ReLU                           7 MaxPool2d(2)                        -> pool
   8 Conv2d(8, 4, 1)  (from pool)                                         -> b1
   9 Conv2d(8, 6, 3, padding=1) (from pool)  10 ReLU                      -> b3
  11 cat(pool, b1, b3) along channels (18)   12 AdaptiveAvgPool2d(1)
  13 Flatten  14 Linear(18, 5)  15 Softmax (folded into the cross-entropy loss)
Batch norms start from random running statistics and weights (so loading buffers is
tested) and run in training mode: batch statistics, running ones updated once.

Tensors: the state_dict ("0.weight", "1.running_mean", "1.num_batches_tracked" as int64,
which the loader must skip, ...), "x" [4,3,8,8], "labels", "logits" (training-mode output
before the softmax), "loss", "grad.x", "grad.<param>", "after.<buffer>" (running statistics
after the step) and "eval.out" (the softmax output in evaluation mode afterwards).

Usage: /usr/bin/python3 scripts/golden/cnn.py   (from the repository root; `make golden`)
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402


class Graph(nn.Module):
    """The layer list with parameter names "<index>.<param>", as Cortex numbers them."""

    def __init__(self):
        super().__init__()
        layers = {0: nn.Conv2d(3, 8, 3, padding=1), 1: nn.BatchNorm2d(8),
                  3: nn.Conv2d(8, 8, 3, padding=1), 4: nn.BatchNorm2d(8),
                  8: nn.Conv2d(8, 4, 1), 9: nn.Conv2d(8, 6, 3, padding=1),
                  14: nn.Linear(18, 5)}
        for i, m in layers.items():
            self.add_module(str(i), m)

    def layer(self, i):
        return getattr(self, str(i))

    def forward(self, x):
        a = torch.relu(self.layer(1)(self.layer(0)(x)))
        h = torch.relu(self.layer(4)(self.layer(3)(a)) + a)
        pool = nn.functional.max_pool2d(h, 2)
        b1 = self.layer(8)(pool)
        b3 = torch.relu(self.layer(9)(pool))
        cat = torch.cat([pool, b1, b3], 1)
        g = nn.functional.adaptive_avg_pool2d(cat, 1).flatten(1)
        return self.layer(14)(g)


def main():
    torch.manual_seed(0)
    model = Graph()
    with torch.no_grad():
        for i in (1, 4):
            bn = model.layer(i)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
    out = {name: t.clone() for name, t in model.state_dict().items()}
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    labels = torch.randint(0, 5, (4,))
    model.train()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    out.update({"x": x, "labels": labels.to(torch.int32), "logits": logits,
                "loss": loss.reshape(()), "grad.x": x.grad})
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad
    for name, b in model.named_buffers():
        if b.dtype == torch.float32:
            out[f"after.{name}"] = b.clone()
    model.eval()
    with torch.no_grad():
        out["eval.out"] = torch.softmax(model(x), -1)
    path = os.path.join("tests", "golden", "cnn.safetensors")
    stio.save(path, out, {"generator": "scripts/golden/cnn.py", "torch": torch.__version__})
    print(f"cnn.py: wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
