"""Twin of bench/cnn.c: the Keras mnist_cnn in PyTorch - training (batch 128, Adam 1e-3,
8,192 random u8 28x28 pictures reshuffled every epoch, /255 per batch; median step of epochs
2-4), inference at batch 256 and one picture (eval mode, no_grad). Run through
../shared/bench/torch-tuned (scripts/bench does)."""
import json
import resource
import statistics
import time

import torch

import common

filt = common.setup("cnn.py")
torch.manual_seed(1)
N, BATCH, EPOCHS = 8192, 128, 3
FWD_FLOPS = 2.0 * (26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9 + 9216 * 128 + 1280)


def model():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
                         nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def wanted(name):
    return filt is None or filt in name


def bench_training():
    x_all = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8)
    y_all = torch.randint(0, 10, (N,))
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    steps, times = N // BATCH, []
    m.train()
    for e in range(EPOCHS + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(N)
        for s in range(steps):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            x = x_all[idx].float().div_(255)
            opt.zero_grad(set_to_none=False)
            loss = torch.nn.functional.cross_entropy(m(x), y_all[idx])
            loss.backward()
            opt.step()
            loss.item()
        if e > 0:
            times.append((time.perf_counter() - t0) * 1e3 / steps)
    step = statistics.median(times)
    print(json.dumps({"name": "mnist_cnn train step (batch 128)", "ms": round(step, 4),
                      "images_per_s": round(BATCH / step * 1e3),
                      "gflops": round(3 * FWD_FLOPS * BATCH / step / 1e6, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024, 1)}), flush=True)


def forward_ms(m, batch, reps):
    x = torch.rand(batch, 1, 28, 28)
    ts = []
    with torch.no_grad():
        for i in range(reps + 3):
            t0 = time.perf_counter()
            m(x)
            if i >= 3:
                ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


if wanted("mnist_cnn train step (batch 128)"):
    bench_training()
m = model().eval()
if wanted("mnist_cnn inference (batch 256)"):
    ms = forward_ms(m, 256, 20)
    print(json.dumps({"name": "mnist_cnn inference (batch 256)", "ms": round(ms, 4),
                      "images_per_s": round(256 / ms * 1e3),
                      "gflops": round(FWD_FLOPS * 256 / ms / 1e6, 1)}), flush=True)
if wanted("mnist_cnn one picture"):
    ms = forward_ms(m, 1, 200)
    print(json.dumps({"name": "mnist_cnn one picture", "ms": round(ms, 4)}), flush=True)
