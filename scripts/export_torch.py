#!/usr/bin/python3
"""Exports a PyTorch model's parameters as a safetensors file that Cortex loads by name.

A torch state_dict names every tensor after the module path that holds it: torchvision's vgg16
has features.0.weight ... features.28.bias and classifier.0.weight ... classifier.6.bias.
A Cortex config whose layers carry the same names and that says `param_names = layer` in its
[model] section (models/vgg16.cfg does) names its parameters the same way, so the file loads
into it directly:

    cortex style --model models/vgg16.cfg --weights vgg16.safetensors --content C.png ...

From Python (any model; floating-point tensors are written as F32, BatchNorm's int64 step
counter num_batches_tracked as I64, which Cortex skips):

    import sys; sys.path.insert(0, "scripts")
    from export_torch import export_state_dict
    export_state_dict(model, "model.safetensors")

From the command line:

    /usr/bin/python3 scripts/export_torch.py --torchvision vgg16 vgg16.safetensors
        torchvision's vgg16 with its pretrained ImageNet weights (needs torchvision and the
        weights in torch's cache or the network)
    /usr/bin/python3 scripts/export_torch.py --golden tests/golden
        the import parity test's files: a small randomly initialised torchvision-style CNN
        (features / avgpool / classifier, see tests/golden/torch_import.cfg) exported as
        torch_import.safetensors, and an input with the logits torch computes for it in
        torch_import_check.safetensors (tests/test_vision.c compares Cortex's within 1e-5)
"""
import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
import stio  # noqa: E402  (the repository's dependency-free safetensors writer)


def export_state_dict(model, path, metadata=None):
    """Writes model.state_dict() (or a dict of tensors) to path as safetensors."""
    state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    tensors = {}
    for name, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.float()
        elif t.dtype != torch.int64 or not name.endswith("num_batches_tracked"):
            raise ValueError(f"{name}: {t.dtype} tensors are not parameters Cortex can load")
        tensors[name] = t
    stio.save(path, tensors, metadata)
    return sorted(tensors)


class TinyVGG(nn.Module):
    """vgg16's layout in miniature (tests/golden/torch_import.cfg is its Cortex config)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(inplace=True), nn.Dropout(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def write_golden(out_dir):
    torch.manual_seed(9)
    model = TinyVGG()
    bn = model.features[3]
    with torch.no_grad():  # running statistics that are not the defaults, so loading them counts
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        logits = model(x)
    names = export_state_dict(model, os.path.join(out_dir, "torch_import.safetensors"))
    stio.save(os.path.join(out_dir, "torch_import_check.safetensors"), {"x": x, "logits": logits})
    print("\n".join(names))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--torchvision", metavar="NAME", help="a torchvision model, e.g. vgg16")
    ap.add_argument("--golden", metavar="DIR", help="write the import parity test's files")
    ap.add_argument("out", nargs="?", help="the safetensors file (--torchvision)")
    a = ap.parse_args()
    if a.golden:
        write_golden(a.golden)
    elif a.torchvision and a.out:
        import torchvision  # only this path needs it
        model = getattr(torchvision.models, a.torchvision)(weights="DEFAULT")
        for name in export_state_dict(model, a.out):
            print(name)
    else:
        ap.error("give --golden DIR, or --torchvision NAME OUT")


if __name__ == "__main__":
    main()
