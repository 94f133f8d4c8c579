"""Twin of bench/gan.c: the DCGAN of cortex/gan.h (G: Linear(100, 6272, bias=False), view
128x7x7, BatchNorm2d, ReLU, ConvTranspose2d(128, 64, 4, 2, 1, bias=False), BatchNorm2d, ReLU,
ConvTranspose2d(64, 1, 4, 2, 1), Tanh; D: Conv2d(1, 64, 4, 2, 1), LeakyReLU(0.2),
Conv2d(64, 128, 4, 2, 1, bias=False), BatchNorm2d, LeakyReLU(0.2), Flatten, Linear(6272, 1)),
batch 64, Adam lr 2e-4 betas (0.5, 0.999) for both. One step, as the PyTorch DCGAN example:
D on the real batch (target 1) and on G(z).detach() (target 0), D update; D on G(z) (target 1),
G update; the losses and D's outputs read back each step, as cortex's step does. Prints the same
JSON line (median of 7 rounds of 20 steps after 10 warm-up steps). Run through
../shared/bench/torch-tuned (scripts/bench does)."""
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import common

filt = common.setup("gan.py")
torch.manual_seed(1)

BATCH, WARMUP, ROUNDS, STEPS = 64, 10, 7, 20
NAME = "dcgan train step (D + G, batch 64)"


class View(nn.Module):
    def forward(self, x):
        return x.view(x.shape[0], 128, 7, 7)


def bench_dcgan():
    g = nn.Sequential(nn.Linear(100, 6272, bias=False), View(), nn.BatchNorm2d(128), nn.ReLU(),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                      nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128),
                      nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(6272, 1))
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.rand(BATCH, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    def step():
        od.zero_grad(set_to_none=False)
        fake = g(torch.randn(BATCH, 100))
        dr = d(x)
        df = d(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(dr, ones) + \
            F.binary_cross_entropy_with_logits(df, zeros)
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=False)
        dg = d(fake)
        loss_g = F.binary_cross_entropy_with_logits(dg, ones)
        loss_g.backward()
        og.step()
        loss_d.item(), loss_g.item()
        torch.sigmoid(dr).mean().item(), torch.sigmoid(df).mean().item()

    times = []
    for r in range(-1, ROUNDS):
        n = WARMUP if r < 0 else STEPS
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        if r >= 0:
            times.append((time.perf_counter() - t0) * 1e3 / n)
    ms = statistics.median(times)
    print(json.dumps({"name": NAME, "ms": round(ms, 4), "steps_per_s": round(1e3 / ms, 2)}),
          flush=True)


if filt is None or filt in NAME:
    bench_dcgan()
