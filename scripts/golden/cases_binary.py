"""Golden cases for src/ops/binary.c: row name -> the PyTorch computation on the row's inputs."""
import torch

CASES = {}
for op, fn, rows in (("add", torch.add, ("same", "bcast", "bcast2", "0d")),
                     ("sub", torch.sub, ("same", "bcast", "bcast2", "0d")),
                     ("mul", torch.mul, ("same", "bcast", "bcast2", "0d")),
                     ("div", torch.div, ("same", "bcast")),
                     ("pow", torch.pow, ("same", "bcast"))):
    for row in rows:
        CASES[f"{op}_{row}"] = fn
