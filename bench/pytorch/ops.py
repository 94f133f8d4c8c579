"""Twin of bench/ops.c: the same workloads in PyTorch, one JSON line per workload with the
median time of one call in ms. Run through ../shared/bench/torch-tuned (scripts/bench does)."""
import json
import statistics
import time

import torch

import common

filt = common.setup("ops.py")
torch.manual_seed(0)
F = torch.nn.functional


def bwd(fn):
    def run(a, b, g):
        out = fn(a, b, None)
        out.backward(g)
        return out
    return run


WORKLOADS = [
    ("matmul 256x256x256", lambda a, b, g: a @ b, (256, 256), (256, 256), False),
    ("matmul 1024x1024x1024", lambda a, b, g: a @ b, (1024, 1024), (1024, 1024), False),
    ("matmul 128x784x512 (mlp layer)", lambda a, b, g: a @ b, (128, 784), (784, 512), False),
    ("matmul fwd+bwd 128x784x512", bwd(lambda a, b, g: a @ b), (128, 784), (784, 512), True),
    ("add 1M", lambda a, b, g: a + b, (1024, 1024), (1024, 1024), False),
    ("add bias-broadcast 1M", lambda a, b, g: a + b, (1024, 1024), (1, 1024), False),
    ("add fwd+bwd bias 1M", bwd(lambda a, b, g: a + b), (1024, 1024), (1, 1024), True),
    ("mul 1M", lambda a, b, g: a * b, (1024, 1024), (1024, 1024), False),
    ("relu 1M", lambda a, b, g: torch.relu(a), (1024, 1024), None, False),
    ("relu fwd+bwd 1M", bwd(lambda a, b, g: torch.relu(a)), (1024, 1024), None, True),
    ("exp 1M", lambda a, b, g: torch.exp(a), (1024, 1024), None, False),
    ("sigmoid 1M", lambda a, b, g: torch.sigmoid(a), (1024, 1024), None, False),
    ("gelu 1M", lambda a, b, g: F.gelu(a), (1024, 1024), None, False),
    ("sum all 4M", lambda a, b, g: a.sum(), (2048, 2048), None, False),
    ("sum rows 4M", lambda a, b, g: a.sum(1), (2048, 2048), None, False),
    ("sum cols 4M", lambda a, b, g: a.sum(0), (2048, 2048), None, False),
    ("softmax 256x1000", lambda a, b, g: torch.softmax(a, -1), (256, 1000), None, False),
    ("softmax fwd+bwd 256x1000", bwd(lambda a, b, g: torch.softmax(a, -1)), (256, 1000), None, True),
    ("transpose+copy 2048x2048", lambda a, b, g: a.t().contiguous(), (2048, 2048), None, False),
]

for name, fn, sa, sb, backward in WORKLOADS:
    if filt and filt not in name:
        continue
    a = torch.randn(*sa, requires_grad=backward)
    b = torch.randn(*sb, requires_grad=backward) if sb else None
    g = None
    if backward:
        with torch.no_grad():
            g = torch.ones_like(fn.__closure__[0].cell_contents(a, b, None))
    ctx = torch.enable_grad() if backward else torch.no_grad()
    with ctx:
        for _ in range(2):
            fn(a, b, g)
        times = []
        start = time.perf_counter()
        while len(times) < 200 and (len(times) < 5 or time.perf_counter() - start < 0.4):
            if backward:
                a.grad = None
                if b is not None:
                    b.grad = None
            t0 = time.perf_counter()
            fn(a, b, g)
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"name": name, "ms": round(statistics.median(times), 4)}), flush=True)
