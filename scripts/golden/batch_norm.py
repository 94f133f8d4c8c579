#!/usr/bin/python3
"""Writes tests/golden/batch_norm.safetensors: torch's running-statistics update of
F.batch_norm, which tests/test_pool.c replays with cx_batch_norm.

For each case c: running statistics c.rm0 / c.rv0 go through two training calls on c.x1 and
c.x2 (outputs c.y1, c.y2; statistics after each c.rm1, c.rv1, c.rm2, c.rv2), then an eval call
on c.x3 with the final statistics (c.y3). c.w / c.b are absent for a case without affine
parameters; c.hyper holds [momentum, eps]. Computed in float64 and stored as float32.

Usage: /usr/bin/python3 scripts/golden/batch_norm.py   (from the repository root; `make golden`)
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

# name: (x shape, affine, momentum, eps)
CASES = {
    "nchw": ((4, 3, 5, 6), True, 0.3, 1e-3),
    "nc": ((8, 5), True, 0.1, 1e-5),
    "ncl": ((2, 4, 3), False, 0.5, 0.1),
}


def main():
    gen = torch.Generator().manual_seed(20261201)
    out = {}
    for name, (shape, affine, momentum, eps) in CASES.items():
        c = shape[1]

        def draw(*s, scale=1.0, shift=0.0):  # float32 values, so C reads exactly these
            return (shift + scale * torch.randn(s, generator=gen)).double()

        xs = [draw(*shape, scale=2.0, shift=1.5) for _ in range(3)]
        w, b = (draw(c), draw(c)) if affine else (None, None)
        rm, rv = draw(c), (0.5 + torch.rand(c, generator=gen)).double()
        saved = {"x1": xs[0], "x2": xs[1], "x3": xs[2], "rm0": rm.clone(), "rv0": rv.clone(),
                 "hyper": torch.tensor([momentum, eps])}
        if affine:
            saved.update(w=w, b=b)
        for step in (1, 2):
            saved[f"y{step}"] = F.batch_norm(xs[step - 1], rm, rv, w, b, training=True,
                                             momentum=momentum, eps=eps)
            saved[f"rm{step}"], saved[f"rv{step}"] = rm.clone(), rv.clone()
        saved["y3"] = F.batch_norm(xs[2], rm, rv, w, b, training=False, momentum=momentum,
                                   eps=eps)
        for key, t in saved.items():
            out[f"{name}.{key}"] = t.float()
    path = os.path.join("tests", "golden", "batch_norm.safetensors")
    stio.save(path, out, {"generator": "scripts/golden/batch_norm.py", "torch": torch.__version__})
    print(f"batch_norm.py: wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
