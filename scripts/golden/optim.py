#!/usr/bin/python3
"""Writes tests/golden/optim.safetensors: torch.optim updates, lr_scheduler values and
clip_grad_norm_ results, which src/optim reproduces (tests/test_optim.c replays them).

Optimizer case <c> (CASES below): three f32 parameters of shapes SHAPES, five steps of given
gradients; a parameter listed in LATE gets no gradient (grad None) in the first two steps.
    "<c>.hparams"       the cx_optim_params fields, in HPARAM_FIELDS order (float32)
    "<c>.p<i>.init"     parameter i before the first step
    "<c>.p<i>.grad<s>"  its gradient at step s (absent when it has none)
    "<c>.p<i>.step<s>"  parameter i after step s
    "<c>.state.<name>"  torch's state buffer after the last step, under Cortex's state name
                        "<param index>.<buffer>" (torch's own buffer names)
    metadata "<c>.kind" the Cortex kind name (cx_optim_kind_parse)
Hyper-parameters are rounded to float32 before torch sees them, so both sides use the same
numbers.

Schedule <s>: "schedule.<s>.hparams" = [base_lr, step_size, gamma, t_max, eta_min],
"schedule.<s>.lr" = the learning rate torch's scheduler sets for epochs 0..EPOCHS-1,
metadata "schedule.<s>.kind".

Clipping <k>: "clip.<k>.max_norm", "clip.<k>.norm" (what clip_grad_norm_ returned),
"clip.<k>.g<i>.before" / ".after" for each tensor with a gradient (tensor 1 has none).

Usage: /usr/bin/python3 scripts/golden/optim.py   (from the repository root; `make golden`)
"""
import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 5
EPOCHS = 20
# The order of "<c>.hparams"; tests/test_optim.c reads them in this order.
HPARAM_FIELDS = ["lr", "momentum", "dampening", "beta1", "beta2", "alpha", "rho", "eps",
                 "weight_decay", "lr_decay", "initial_accumulator", "centered", "amsgrad"]
# Cortex's defaults (cx_optim_defaults) for the fields a case does not set.
BASE = dict(lr=0.01, momentum=0.0, dampening=0.0, beta1=0.9, beta2=0.999, alpha=0.99, rho=0.9,
            eps=1e-8, weight_decay=0.0, lr_decay=0.0, initial_accumulator=0.0, centered=0,
            amsgrad=0)
LATE = 1  # the parameter that "_late" cases leave without gradients for two steps

CASES = {
    "sgd": ("sgd", dict(lr=0.1)),
    "sgd_wd": ("sgd", dict(lr=0.1, weight_decay=0.05)),
    "momentum": ("momentum", dict(lr=0.05, momentum=0.9)),
    "momentum_dampening": ("momentum", dict(lr=0.05, momentum=0.8, dampening=0.3,
                                            weight_decay=0.01)),
    "momentum_late": ("momentum", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    "nesterov": ("nesterov", dict(lr=0.05, momentum=0.9)),
    "nesterov_wd": ("nesterov", dict(lr=0.05, momentum=0.7, weight_decay=0.02)),
    "adagrad": ("adagrad", dict(lr=0.1, eps=1e-10)),
    "adagrad_lr_decay": ("adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator=0.1,
                                         weight_decay=0.01, eps=1e-10)),
    "adagrad_late": ("adagrad", dict(lr=0.1, lr_decay=0.2, eps=1e-10)),
    "adadelta": ("adadelta", dict(lr=1.0, rho=0.9, eps=1e-6)),
    "adadelta_wd": ("adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1)),
    "rmsprop": ("rmsprop", dict(lr=0.01)),
    "rmsprop_centered": ("rmsprop", dict(lr=0.01, centered=1, weight_decay=0.01)),
    "rmsprop_momentum": ("rmsprop", dict(lr=0.01, momentum=0.9)),
    "rmsprop_centered_momentum": ("rmsprop", dict(lr=0.005, alpha=0.9, momentum=0.5,
                                                  centered=1, weight_decay=0.05)),
    "adam": ("adam", dict(lr=0.01, eps=1e-8)),
    "adam_wd": ("adam", dict(lr=0.01, weight_decay=0.1)),
    "adam_amsgrad": ("adam", dict(lr=0.02, beta1=0.8, beta2=0.99, amsgrad=1)),
    "adam_late": ("adam", dict(lr=0.01)),
    "adamw": ("adamw", dict(lr=0.01, weight_decay=0.01)),
    "adamw_amsgrad": ("adamw", dict(lr=0.02, weight_decay=0.1, beta2=0.9, amsgrad=1)),
}

SCHEDULES = {
    "step": dict(base_lr=0.1, step_size=3, gamma=0.5, t_max=0, eta_min=0.0),
    "exponential": dict(base_lr=0.1, step_size=0, gamma=0.85, t_max=0, eta_min=0.0),
    "cosine": dict(base_lr=0.1, step_size=0, gamma=0.0, t_max=7, eta_min=0.001),
}

CLIPS = {"clipped": 1.0, "unclipped": 100.0}


def f32(v):
    """v rounded to float32, as a Python float."""
    return float(torch.tensor(v, dtype=torch.float32))


def torch_optimizer(kind, h, params):
    """The torch.optim twin of a Cortex kind with hyper-parameters h."""
    wd = h["weight_decay"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=h["lr"], weight_decay=wd)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=h["lr"], momentum=h["momentum"],
                               dampening=h["dampening"], weight_decay=wd,
                               nesterov=kind == "nesterov")
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=h["lr"], lr_decay=h["lr_decay"], weight_decay=wd,
                                   initial_accumulator_value=h["initial_accumulator"],
                                   eps=h["eps"])
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=h["lr"], rho=h["rho"], eps=h["eps"],
                                    weight_decay=wd)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["lr"], alpha=h["alpha"], eps=h["eps"],
                                   weight_decay=wd, momentum=h["momentum"],
                                   centered=bool(h["centered"]))
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
               weight_decay=wd, amsgrad=bool(h["amsgrad"]))


def generator(name):
    """A generator seeded from the name, so adding cases leaves the others' data unchanged."""
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def run_case(name, kind, overrides, out, meta):
    h = {k: f32(v) for k, v in {**BASE, **overrides}.items()}
    gen = generator(name)
    params = [torch.randn(s, generator=gen) for s in SHAPES]
    # Gradients of changing size, so amsgrad's running maximum and momentum both matter.
    grads = [[torch.randn(s, generator=gen) * (0.5 + 0.5 * (step % 3)) for s in SHAPES]
             for step in range(STEPS)]
    for i, p in enumerate(params):
        out[f"{name}.p{i}.init"] = p.clone()
    opt = torch_optimizer(kind, h, params)
    for step in range(STEPS):
        for i, p in enumerate(params):
            late = name.endswith("_late") and i == LATE and step < 2
            p.grad = None if late else grads[step][i].clone()
            if not late:
                out[f"{name}.p{i}.grad{step}"] = grads[step][i]
        opt.step()
        for i, p in enumerate(params):
            out[f"{name}.p{i}.step{step}"] = p.detach().clone()
    for i, p in enumerate(params):
        for buf, value in opt.state[p].items():
            if buf != "step" and value is not None:
                out[f"{name}.state.{i}.{buf}"] = value.clone()
    out[f"{name}.hparams"] = torch.tensor([h[k] for k in HPARAM_FIELDS], dtype=torch.float32)
    meta[f"{name}.kind"] = kind


def run_schedule(name, s, out, meta):
    base_lr = f32(s["base_lr"])
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    if name == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=s["step_size"],
                                                gamma=f32(s["gamma"]))
    elif name == "exponential":
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=f32(s["gamma"]))
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["t_max"],
                                                           eta_min=f32(s["eta_min"]))
    lrs = []
    for _ in range(EPOCHS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out[f"schedule.{name}.lr"] = torch.tensor(lrs, dtype=torch.float32)
    out[f"schedule.{name}.hparams"] = torch.tensor(
        [base_lr, s["step_size"], f32(s["gamma"]), s["t_max"], f32(s["eta_min"])],
        dtype=torch.float32)
    meta[f"schedule.{name}.kind"] = name


def run_clip(name, max_norm, out):
    gen = generator("clip." + name)
    params = [torch.zeros(s, requires_grad=True) for s in SHAPES]
    for i, p in enumerate(params):
        if i != 1:
            p.grad = torch.randn(SHAPES[i], generator=gen) * 2.0
            out[f"clip.{name}.g{i}.before"] = p.grad.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    for i, p in enumerate(params):
        if p.grad is not None:
            out[f"clip.{name}.g{i}.after"] = p.grad.clone()
    out[f"clip.{name}.max_norm"] = torch.tensor(max_norm, dtype=torch.float32)
    out[f"clip.{name}.norm"] = norm.reshape(())


def main():
    out, meta = {}, {"generator": "scripts/golden/optim.py", "torch": torch.__version__}
    for name, (kind, overrides) in CASES.items():
        run_case(name, kind, overrides, out, meta)
    for name, s in SCHEDULES.items():
        run_schedule(name, s, out, meta)
    for name, max_norm in CLIPS.items():
        run_clip(name, max_norm, out)
    path = os.path.join("tests", "golden", "optim.safetensors")
    stio.save(path, out, meta)
    print(f"optim.py: wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
