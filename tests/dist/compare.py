#!/usr/bin/python3
"""compare.py A B [TOL]: every tensor of safetensors file A equals B's within TOL (default
1e-6, absolute); the same names, shapes and dtypes. Prints the largest difference per file and
exits 1 naming the first tensor that differs. Standard library only."""
import json
import struct
import sys
from array import array


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
        codes = {"F32": "f", "I32": "i", "F64": "d", "I64": "q", "U8": "B"}
        values = array(codes[info["dtype"]])
        values.frombytes(data[lo:hi])
        out[name] = (info["dtype"], info["shape"], values)
    return out


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-6
    if sorted(a) != sorted(b):
        print(f"compare: the files hold different tensors: {sorted(set(a) ^ set(b))}")
        return 1
    worst, where = 0.0, None
    for name in sorted(a):
        (da, sa, va), (db, sb, vb) = a[name], b[name]
        if (da, sa) != (db, sb):
            print(f"compare: {name}: {da}{sa} against {db}{sb}")
            return 1
        diff = max((abs(x - y) for x, y in zip(va, vb)), default=0.0)
        if diff != diff or diff > worst:  # NaN counts as a difference
            worst, where = diff, name
    print(f"compare: {len(a)} tensors, largest difference {worst:.3g}"
          + (f" ({where})" if where else ""))
    if not worst <= tol:
        print(f"compare: {where} differs by {worst:.3g}, more than {tol:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
