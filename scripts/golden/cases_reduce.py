"""Golden cases for src/ops/reduce.c, softmax.c and loss.c: row name -> the PyTorch computation
on the row's inputs (labels arrive as torch.long)."""
import torch
import torch.nn.functional as F

REDUCTIONS = ("mean", "sum", "none")


def _kl_normal(mu, logvar, reduction):
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    if reduction == "sum":
        return kl.sum()
    if reduction == "mean":  # total over the batch size (dim 0), as cortex.h documents
        return kl.sum() / (mu.shape[0] if mu.dim() else 1)
    return kl


CASES = {
    "sum_all": lambda x: torch.sum(x),
    "sum_last": lambda x: torch.sum(x, dim=-1),
    "sum_first": lambda x: torch.sum(x, dim=0),
    "sum_mid_keep": lambda x: torch.sum(x, dim=1, keepdim=True),
    "sum_multi": lambda x: torch.sum(x, dim=(0, 2)),
    "sum_multi_keep": lambda x: torch.sum(x, dim=(-1, 1), keepdim=True),
    "sum_vec": lambda x: torch.sum(x, dim=-1),
    "sum_wide": lambda x: torch.sum(x, dim=0),
    "sum_big": lambda x: torch.sum(x),
    "sum_cols_big": lambda x: torch.sum(x, dim=0),
    "mean_all": lambda x: torch.mean(x),
    "mean_last": lambda x: torch.mean(x, dim=-1),
    "mean_first": lambda x: torch.mean(x, dim=0),
    "mean_mid_keep": lambda x: torch.mean(x, dim=-2, keepdim=True),
    "mean_multi": lambda x: torch.mean(x, dim=(0, 2)),
    "mean_big": lambda x: torch.mean(x),
    "max_last": lambda x: torch.max(x, dim=-1).values,
    "max_first": lambda x: torch.max(x, dim=0).values,
    "max_mid_keep": lambda x: torch.max(x, dim=-2, keepdim=True).values,
    "max_last_keep": lambda x: torch.max(x, dim=1, keepdim=True).values,
    "max_vec": lambda x: torch.max(x, dim=0).values,
    "max_wide": lambda x: torch.max(x, dim=0).values,
}

for name, fn in {"softmax": torch.softmax, "log_softmax": torch.log_softmax}.items():
    for row, dim in {"last": -1, "mid": 1, "first": 0, "neg": -3, "vec": 0, "large": -1,
                     "wide": 0}.items():
        CASES[f"{name}_{row}"] = lambda x, fn=fn, dim=dim: fn(x, dim)

for red in REDUCTIONS:
    CASES[f"mse_loss_{red}"] = lambda p, t, r=red: F.mse_loss(p, t, reduction=r)
    CASES[f"bce_with_logits_{red}"] = (
        lambda x, t, r=red: F.binary_cross_entropy_with_logits(x, t, reduction=r))
    CASES[f"kl_normal_{red}"] = lambda mu, lv, r=red: _kl_normal(mu, lv, r)
    CASES[f"cross_entropy_{red}"] = lambda x, y, r=red: F.cross_entropy(x, y, reduction=r)
    CASES[f"nll_loss_{red}"] = lambda x, y, r=red: F.nll_loss(x, y, reduction=r)
