"""Twin of bench/mlp.c: MLP 784-512-512-10 (ReLU), batch 128, SGD momentum 0.9 lr 0.01,
16,384 random u8 images with random labels, shuffled every epoch, converted to float /255
per batch as a data loader would. Prints the same JSON lines (median step time over 5 epochs
after a warm-up epoch, images/s, GFLOP/s, page faults per step, peak RSS). Run through
../shared/bench/torch-tuned (scripts/bench does)."""
import json
import resource
import statistics
import time

import torch

import common

filt = common.setup("mlp.py")
torch.manual_seed(1)

N, BATCH, EPOCHS = 16384, 128, 5
# the step's products: forward and dW per layer, dX for the two upper layers
STEP_FLOPS = 2.0 * BATCH * (2 * 784 * 512 + 3 * 512 * 512 + 3 * 512 * 10)


def bench_mlp():
    x_all = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8)
    y_all = torch.randint(0, 10, (N,))
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps = N // BATCH
    times, faults = [], 0
    for e in range(EPOCHS + 1):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        perm = torch.randperm(N)
        for s in range(steps):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            x = x_all[idx].float().div_(255)
            y = y_all[idx]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()  # the loop reads the loss each step, as a progress display does
        t = time.perf_counter() - t0
        if e > 0:
            times.append(t * 1e3 / steps)
            faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    step = statistics.median(times)
    flops = STEP_FLOPS
    print(json.dumps({"name": "mlp 784-512-512-10 train step", "ms": round(step, 4),
                      "images_per_s": round(BATCH / step * 1e3),
                      "gflops": round(flops / step / 1e6, 1),
                      "faults_per_step": round(faults / (EPOCHS * steps), 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024, 1)}), flush=True)


def bench_products():
    dims = (784, 512, 512, 10)
    x = [torch.randn(BATCH, dims[l]) for l in range(3)]
    w = [torch.randn(dims[l + 1], dims[l]) for l in range(3)]
    g = [torch.randn(BATCH, dims[l + 1]) for l in range(3)]
    ts = []
    for i in range(55):
        t0 = time.perf_counter()
        for l in range(3):
            torch.nn.functional.linear(x[l], w[l])
            g[l].t() @ x[l]
            if l > 0:
                g[l] @ w[l]
        if i >= 5:
            ts.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(ts)
    print(json.dumps({"name": "mlp step products alone (roof)", "ms": round(ms, 4),
                      "gflops": round(STEP_FLOPS / ms / 1e6, 1)}), flush=True)


def bench_sgemm():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    ts = []
    for i in range(17):
        t0 = time.perf_counter()
        a @ b
        if i >= 2:
            ts.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(ts)
    print(json.dumps({"name": "sgemm 1024^3 (roof)", "ms": round(ms, 4),
                      "gflops": round(2 * 1024 ** 3 / ms / 1e6, 1)}), flush=True)


for name, fn in (("mlp 784-512-512-10 train step", bench_mlp),
                 ("mlp step products alone (roof)", bench_products),
                 ("sgemm 1024^3 (roof)", bench_sgemm)):
    if filt is None or filt in name:
        fn()
