"""Golden cases for src/ops/binary.c: row name -> the PyTorch computation on the row's inputs."""
import torch

CASES = {}
for op, fn in {"add": torch.add, "sub": torch.sub, "mul": torch.mul,
               "div": torch.div, "pow": torch.pow}.items():
    for row in ("same", "bcast", "bcast2", "0d"):
        CASES[f"{op}_{row}"] = fn
