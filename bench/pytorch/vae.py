"""Twin of bench/vae.c: the variational autoencoder 784-512-2 (encoder 784-512-(2, 2), decoder
2-512-784, ReLU), loss = BCE on the decoder's logits summed per picture + KL to N(0, 1), both
means over the batch; batch 128, Adam lr 1e-3, 16,384 random u8 pictures shuffled every epoch
and converted to float /255 per batch. Prints the same JSON line (median step time over 5
epochs after a warm-up epoch, images/s). Run through ../shared/bench/torch-tuned (scripts/bench
does)."""
import json
import statistics
import time

import torch
import torch.nn.functional as F

import common

filt = common.setup("vae.py")
torch.manual_seed(1)

N, BATCH, EPOCHS = 16384, 128, 5
NAME = "vae 784-512-2 train step"


def bench_vae():
    x_all = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8)
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, 4))
    dec = torch.nn.Sequential(torch.nn.Linear(2, 512), torch.nn.ReLU(), torch.nn.Linear(512, 784))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
    steps = N // BATCH
    times = []
    for e in range(EPOCHS + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(N)
        for s in range(steps):
            x = x_all[perm[s * BATCH:(s + 1) * BATCH]].float().div_(255)
            opt.zero_grad(set_to_none=False)
            mu, logvar = enc(x).chunk(2, dim=1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = dec(z)
            recon = F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp())
            loss = (recon + kl) / BATCH
            loss.backward()
            opt.step()
            loss.item(), recon.item(), kl.item()  # the loop logs its terms, as cortex does
        if e > 0:
            times.append((time.perf_counter() - t0) * 1e3 / steps)
    step = statistics.median(times)
    print(json.dumps({"name": NAME, "ms": round(step, 4),
                      "images_per_s": round(BATCH / step * 1e3)}), flush=True)


if filt is None or filt in NAME:
    bench_vae()
