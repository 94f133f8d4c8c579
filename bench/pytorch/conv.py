"""Twin of bench/conv.c: the same convolutions in PyTorch (mnist_cnn's two layers at batch
128, VGG-style 3x3 layers, a DCGAN-style transposed convolution), one JSON line per workload
with the median time of one call in ms and the products' GFLOP/s. Run through
../shared/bench/torch-tuned (scripts/bench does)."""
import json
import statistics
import time

import torch

import common

filt = common.setup("conv.py")
torch.manual_seed(0)
F = torch.nn.functional

# name, n, c, h, w, o, k, pad, stride, transpose, backward, input_grad
WORKLOADS = [
    ("conv mnist1 128x1x28x28 -> 32 k3", 128, 1, 28, 28, 32, 3, 0, 1, False, False, False),
    ("conv mnist1 fwd+bwd", 128, 1, 28, 28, 32, 3, 0, 1, False, True, False),
    ("conv mnist2 128x32x26x26 -> 64 k3", 128, 32, 26, 26, 64, 3, 0, 1, False, False, False),
    ("conv mnist2 fwd+bwd", 128, 32, 26, 26, 64, 3, 0, 1, False, True, True),
    ("conv vgg 16x64x56x56 -> 64 k3 p1", 16, 64, 56, 56, 64, 3, 1, 1, False, False, False),
    ("conv vgg64 fwd+bwd", 16, 64, 56, 56, 64, 3, 1, 1, False, True, True),
    ("conv vgg 16x128x28x28 -> 128 k3 p1", 16, 128, 28, 28, 128, 3, 1, 1, False, False, False),
    ("conv vgg128 fwd+bwd", 16, 128, 28, 28, 128, 3, 1, 1, False, True, True),
    ("conv vgg 1x64x56x56 -> 64 k3 p1", 1, 64, 56, 56, 64, 3, 1, 1, False, False, False),
    ("conv_t dcgan 64x64x7x7 -> 32 k4 s2 p1", 64, 64, 7, 7, 32, 4, 1, 2, True, False, False),
    ("conv_t dcgan fwd+bwd", 64, 64, 7, 7, 32, 4, 1, 2, True, True, True),
]

for name, n, c, h, w, o, k, pad, stride, transpose, backward, input_grad in WORKLOADS:
    if filt and filt not in name:
        continue
    x = torch.randn(n, c, h, w, requires_grad=input_grad)
    wt = torch.randn(*((c, o) if transpose else (o, c)), k, k, requires_grad=backward)
    b = torch.randn(o, requires_grad=backward)
    conv = F.conv_transpose2d if transpose else F.conv2d

    def call():
        y = conv(x, wt, b, stride=stride, padding=pad)
        if backward:
            y.backward(g)
        return y

    with torch.no_grad():
        probe = conv(x, wt, b, stride=stride, padding=pad)
    g = torch.ones_like(probe)
    s = x.shape if transpose else probe.shape
    macs = s[0] * s[2] * s[3] * c * o * k * k
    passes = (3 if input_grad else 2) if backward else 1
    ctx = torch.enable_grad() if backward else torch.no_grad()
    with ctx:
        for _ in range(2):
            call()
        times = []
        start = time.perf_counter()
        while len(times) < 200 and (len(times) < 5 or time.perf_counter() - start < 0.6):
            x.grad = wt.grad = b.grad = None
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    print(json.dumps({"name": name, "ms": round(ms, 4),
                      "gflops": round(2 * macs * passes / ms / 1e6, 1)}), flush=True)
