"""What the PyTorch twins share: their command line (--threads N, --filter SUBSTRING), applied
the same way the Cortex benchmarks apply it."""
import sys

import torch


def setup(name):
    """Parses the arguments, sets torch's threads; returns the filter (or None)."""
    threads, filt = 2, None
    args = sys.argv[1:]
    while args:
        if args[0] == "--threads" and len(args) > 1:
            threads = int(args[1]); args = args[2:]
        elif args[0] == "--filter" and len(args) > 1:
            filt = args[1]; args = args[2:]
        else:
            sys.exit(f"usage: {name} [--threads N] [--filter SUBSTRING]")
    torch.set_num_threads(threads)
    return filt
