#!/usr/bin/python3
"""FGSM in PyTorch on a Cortex mnist_cnn checkpoint: the same attack that `cortex adversarial`
runs, done independently, so the two accuracies can be compared.

    /usr/bin/python3 scripts/check/fgsm_torch.py CNN.safetensors data/mnist [--eps 0.2]

CNN.safetensors is a checkpoint of models/mnist_cnn.cfg (`cortex train models/mnist_cnn.cfg
--data mnist --out CNN.safetensors`); its parameter names are torch.nn.Sequential's, and the
input normalisation it was trained with ((x - mean) / std on pixels in 0..1) is read from its
metadata. Prints the clean and the FGSM accuracy on the test split, x + eps sign(grad), clamped
to 0..1, in eval mode (dropout off), the loss the mean cross-entropy over each batch.
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "golden"))
import stio  # noqa: E402


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def mnist_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
                         nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("data")
    ap.add_argument("--eps", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=250)
    a = ap.parse_args()
    tensors, meta = stio.load(a.checkpoint)
    train = json.loads(meta.get("train", "{}"))
    mean, std = train.get("mean", 0.0), train.get("std", 0.0) or 1.0
    net = mnist_cnn()
    net.load_state_dict({k: v for k, v in tensors.items() if k[0].isdigit()})
    net.eval()
    images = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte")).float() / 255
    labels = read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte")).long()
    clean = fooled = 0
    for i in range(0, len(images), a.batch):
        x = images[i:i + a.batch].unsqueeze(1).clone().requires_grad_(True)
        y = labels[i:i + a.batch]
        logits = net((x - mean) / std)
        F.cross_entropy(logits, y).backward()
        adv = (x + a.eps * x.grad.sign()).clamp(0, 1).detach()
        with torch.no_grad():
            clean += (logits.argmax(1) == y).sum().item()
            fooled += (net((adv - mean) / std).argmax(1) == y).sum().item()
    n = len(images)
    print(json.dumps({"images": n, "eps": a.eps, "clean_accuracy": clean / n,
                      "adversarial_accuracy": fooled / n}))


if __name__ == "__main__":
    main()
