#!/usr/bin/python3
"""compare.py A B [TOL [STATE_TOL]]: safetensors files A and B hold the same tensors (names,
shapes, dtypes), the model's (weights, buffers, generator state) within TOL (default 1e-6,
absolute) and the optimizer's running sums ("optim.*": momentum, Adam's moments) within
STATE_TOL (default 1e-5) of max(1, |value|): they accumulate raw gradients, whose rounding
differs with how the batch was split, while the weights move by the learning rate times them.
Prints the largest differences and exits 1 naming the tensor that is off. Standard library
only."""
import json
import struct
import sys
from array import array

CODES = {"F32": "f", "I32": "i", "F64": "d", "I64": "q", "U8": "B"}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        values = array(CODES[info["dtype"]])
        values.frombytes(data[lo:hi])
        out[name] = (info["dtype"], info["shape"], values)
    return out


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-6
    state_tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5
    if sorted(a) != sorted(b):
        print(f"compare: the files hold different tensors: {sorted(set(a) ^ set(b))}")
        return 1
    worst = {False: (0.0, None), True: (0.0, None)}  # by: is optimizer state
    for name in sorted(a):
        (da, sa, va), (db, sb, vb) = a[name], b[name]
        if (da, sa) != (db, sb):
            print(f"compare: {name}: {da}{sa} against {db}{sb}")
            return 1
        state = name.startswith("optim.")
        scale = (lambda x: max(1.0, abs(x))) if state else (lambda x: 1.0)
        diff = max((abs(x - y) / scale(x) for x, y in zip(va, vb)), default=0.0)
        if diff != diff or diff > worst[state][0]:  # NaN counts as a difference
            worst[state] = (diff, name)
    (dm, nm), (ds, ns) = worst[False], worst[True]
    print(f"compare: {len(a)} tensors; model {dm:.3g}" + (f" ({nm})" if nm else "") +
          f", optimizer state {ds:.3g}" + (f" ({ns})" if ns else ""))
    if not dm <= tol:
        print(f"compare: {nm} differs by {dm:.3g}, more than {tol:g}")
        return 1
    if not ds <= state_tol:
        print(f"compare: {ns} differs by {ds:.3g} (relative), more than {state_tol:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
