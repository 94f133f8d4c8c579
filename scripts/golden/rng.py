#!/usr/bin/python3
"""Writes tests/golden/rng.safetensors: torch's CPU generator streams, which src/core/rng.c
reproduces. For each seed s and size n: torch.manual_seed(s); "rand.s<s>.n<n>" = torch.rand(n),
then "randn.s<s>.n<n>" = torch.randn(n). Sizes below 16 take torch's scalar normal path
(normal_distribution<double>), 16 and up its vectorised Box-Muller fill. "seq.s<s>" mixes
calls so a Box-Muller spare is carried between them. tests/test_rng.c holds the same lists.

Usage: /usr/bin/python3 scripts/golden/rng.py   (from the repository root; `make golden`)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

SEEDS = [0, 1, 42, 123456789, 2**32 + 7]
SIZES = [1, 5, 15, 16, 17, 37, 1000]
SEQ = [5, 3, 20, 1, 2]  # randn sizes drawn one after another for "seq.s<s>"


def main():
    out = {}
    for s in SEEDS:
        for n in SIZES:
            torch.manual_seed(s)
            out[f"rand.s{s}.n{n}"] = torch.rand(n)
            out[f"randn.s{s}.n{n}"] = torch.randn(n)
        torch.manual_seed(s)
        out[f"seq.s{s}"] = torch.cat([torch.randn(n) for n in SEQ])
    path = os.path.join("tests", "golden", "rng.safetensors")
    stio.save(path, out, {"generator": "scripts/golden/rng.py", "torch": torch.__version__})
    print(f"rng.py: wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
