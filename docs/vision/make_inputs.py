#!/usr/bin/python3
"""Draws the input pictures of docs/VISION.md (no photographs, so nothing to license):
scene.png, a landscape with sun, hills and a house (the content picture), mosaic.png, a
pattern of coloured cells with dark joints (the style picture), and digits.png, the first
eight MNIST test digits at twice their size (the dream picture; needs scripts/get-data's
data/mnist). Pure Python + numpy.

Usage: /usr/bin/python3 docs/vision/make_inputs.py docs/vision
"""
import struct
import sys
import zlib

import numpy as np


def save_png(path, rgb):
    """rgb: uint8 array [H, W, 3]."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def scene(h=192, w=256):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = y / h
    img[...] = np.stack([0.35 + 0.4 * sky, 0.55 + 0.3 * sky, 0.95 - 0.1 * sky], -1)
    sun = (x - 196) ** 2 + (y - 44) ** 2 < 22 ** 2
    img[sun] = [1.0, 0.85, 0.3]
    far = y > 120 - 18 * np.sin(x / 37.0) - 10 * np.sin(x / 13.0 + 1)
    img[far] = [0.35, 0.55, 0.35]
    near = y > 150 - 12 * np.sin(x / 29.0 + 2)
    img[near] = [0.25, 0.6, 0.2]
    house = (x > 50) & (x < 110) & (y > 110) & (y < 160)
    img[house] = [0.85, 0.8, 0.7]
    roof = (y <= 110) & (y > 80) & (np.abs(x - 80) < (y - 80) * 1.2)
    img[roof] = [0.7, 0.2, 0.15]
    door = (x > 72) & (x < 88) & (y > 132) & (y < 160)
    img[door] = [0.4, 0.25, 0.1]
    window = (x > 94) & (x < 106) & (y > 120) & (y < 132)
    img[window] = [0.3, 0.45, 0.8]
    return img


def mosaic(h=192, w=192, cells=70, seed=3):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, [h, w], size=(cells, 2))
    colours = rng.choice(np.array([[0.9, 0.3, 0.1], [0.95, 0.75, 0.2], [0.1, 0.35, 0.7],
                                   [0.2, 0.6, 0.55], [0.85, 0.85, 0.8]]), size=cells)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    d = (y[..., None] - pts[:, 0]) ** 2 + (x[..., None] - pts[:, 1]) ** 2
    order = np.sort(d, axis=-1)
    img = colours[np.argmin(d, axis=-1)]
    joint = np.sqrt(order[..., 1]) - np.sqrt(order[..., 0]) < 2.5
    img[joint] = [0.1, 0.08, 0.06]
    return img


def digits(path="data/mnist/t10k-images-idx3-ubyte", n=8):
    raw = open(path, "rb").read()
    rows = [np.frombuffer(raw, np.uint8, 784, 16 + 784 * i).reshape(28, 28) for i in range(n)]
    grid = np.concatenate([np.concatenate(rows[:n // 2], 1), np.concatenate(rows[n // 2:], 1)], 0)
    big = grid.repeat(2, 0).repeat(2, 1).astype(np.float32) / 255
    return np.stack([big] * 3, -1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    for name, img in [("scene.png", scene()), ("mosaic.png", mosaic()), ("digits.png", digits())]:
        save_png(f"{out}/{name}", (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))


if __name__ == "__main__":
    main()
