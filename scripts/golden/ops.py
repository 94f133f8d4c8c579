#!/usr/bin/python3
"""Writes tests/golden/ops.safetensors: PyTorch's result for every op test row.

The rows come from the C registry (build/op_rows prints one JSON line per cx_op_test row), the
computations from scripts/golden/cases_*.py, each defining CASES = {row_name: callable}. For a
row with inputs in0, in1, ... the file holds
    "<row>.in<i>"    the inputs (F32 uniform in [lo, hi), I32 integers in [lo, hi))
    "<row>.out"      callable(*inputs)
    "<row>.gout"     a random upstream gradient shaped like out
    "<row>.grad<i>"  d(sum(out * gout))/d(in<i>) for every differentiable input
tests/test_golden.c runs each row's C op on the saved inputs and compares. A row returning an
integer tensor is saved as I32, with no gout or grads.

Inputs reach the callable as float64 copies of the saved float32 values (so the golden is the
exact result rounded once to float32, not float32 PyTorch's own rounding), and integer inputs as
torch.long. A callable that fails in float64 (say, it mixes in float32 constants) is rerun in
float32, and the row is reported. Each row draws from its own generator seeded from its name,
so adding rows leaves the other rows' data unchanged.

Usage: /usr/bin/python3 scripts/golden/ops.py [path/to/op_rows]   (from the repository root;
`make golden` builds op_rows and runs this)
"""
import glob
import importlib.util
import json
import os
import subprocess
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import stio  # noqa: E402

OUT_PATH = os.path.join("tests", "golden", "ops.safetensors")


def load_cases():
    """Merges CASES from every cases_*.py; a name defined twice is an error."""
    cases, origin = {}, {}
    for path in sorted(glob.glob(os.path.join(HERE, "cases_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for row, fn in getattr(mod, "CASES", {}).items():
            if row in cases:
                sys.exit(f"ops.py: case {row} is defined in both {origin[row]} and {name}.py")
            cases[row], origin[row] = fn, f"{name}.py"
    return cases


def load_rows(op_rows):
    try:
        text = subprocess.run([op_rows], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"ops.py: cannot run {op_rows} ({e}); build it with `make golden`")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def make_input(spec, gen):
    shape, lo, hi = spec["shape"], spec["lo"], spec["hi"]
    if spec["dtype"] == "f32":
        return lo + (hi - lo) * torch.rand(shape, generator=gen)
    if spec["dtype"] == "i32":
        return torch.randint(int(lo), int(hi), shape, generator=gen).to(torch.int32)
    sys.exit(f"ops.py: input dtype {spec['dtype']} is not handled")


def differentiable(spec):
    return spec["dtype"] == "f32" and not spec["no_grad"]


def run_case(fn, row, inputs, float_type):
    """Calls fn on copies of inputs; returns (out, leaves that require grad)."""
    args = []
    for spec, x in zip(row["inputs"], inputs):
        if spec["dtype"] == "f32":
            args.append(x.to(float_type).requires_grad_(differentiable(spec)))
        else:
            args.append(x.long())
    out = fn(*args)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"returned {type(out).__name__}, not a tensor")
    return out, args


def golden_row(row, fn, saved):
    name = row["name"]
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    inputs = [make_input(spec, gen) for spec in row["inputs"]]
    try:
        out, args = run_case(fn, row, inputs, torch.float64)
        note = None
    except (RuntimeError, TypeError) as e64:
        try:
            out, args = run_case(fn, row, inputs, torch.float32)
        except Exception as e32:
            sys.exit(f"ops.py: {name}: the case fails: {e32} (in float64: {e64})")
        note = f"{name}: computed in float32 (float64 failed: {str(e64).splitlines()[0]})"
    for i, x in enumerate(inputs):
        saved[f"{name}.in{i}"] = x
    if not out.is_floating_point():
        saved[f"{name}.out"] = out.detach().to(torch.int32)
        return note
    saved[f"{name}.out"] = out.detach().float()
    if not out.requires_grad:
        return note
    gout = torch.randn(out.shape, generator=gen)
    out.backward(gout.to(out.dtype))
    saved[f"{name}.gout"] = gout
    for i, (spec, a) in enumerate(zip(row["inputs"], args)):
        if differentiable(spec):
            g = a.grad if a.grad is not None else torch.zeros_like(a)
            saved[f"{name}.grad{i}"] = g.float()
    return note


def main():
    op_rows = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "op_rows")
    torch.set_num_threads(1)  # deterministic reductions
    cases, rows = load_cases(), load_rows(op_rows)
    missing = [r["name"] for r in rows if r["name"] not in cases]
    if missing:
        sys.exit("ops.py: no case in scripts/golden/cases_*.py for these rows:\n  "
                 + "\n  ".join(missing))
    unused = sorted(set(cases) - {r["name"] for r in rows})
    if unused:
        print("ops.py: cases with no test row (ignored): " + ", ".join(unused), file=sys.stderr)
    saved = {}
    for row in rows:
        note = golden_row(row, cases[row["name"]], saved)
        if note:
            print("ops.py: " + note, file=sys.stderr)
    stio.save(OUT_PATH, saved, {"generator": "scripts/golden/ops.py",
                                "torch": torch.__version__, "rows": str(len(rows))})
    print(f"ops.py: wrote {len(rows)} rows ({len(saved)} tensors) to {OUT_PATH}")


if __name__ == "__main__":
    main()
