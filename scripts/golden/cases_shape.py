"""Golden cases for src/ops/{view,concat,index,matmul}.c: row name -> the PyTorch computation on
the row's inputs (index inputs arrive as torch.long). Each callable repeats what the row's run
function in C does, including the transposes and slices it applies to its inputs first."""
import torch

CASES = {
    # view.c
    "reshape_basic": lambda x: x.reshape(2, 6),
    "reshape_infer": lambda x: x.reshape(5, -1, 3),
    "reshape_flat": lambda x: x.reshape(-1),
    "reshape_copy": lambda x: x.transpose(0, 1).reshape(-1),
    "reshape_split": lambda x: x.permute(1, 0, 2).reshape(3, 2, 2, 2),
    "transpose_2d": lambda x: x.transpose(0, 1),
    "transpose_neg": lambda x: x.transpose(-1, -3),
    "transpose_mid": lambda x: x.transpose(1, -1),
    "permute_3d": lambda x: x.permute(2, 0, 1),
    "permute_neg": lambda x: x.permute(-1, 1, 0, -2),
    "permute_of_slice": lambda x: x[:, 1:5:2].permute(1, 2, 0),
    "contiguous_t": lambda x: x.transpose(0, 1).contiguous(),
    "contiguous_same": lambda x: x.contiguous(),
    "contiguous_slice": lambda x: x[..., 0:5:2].contiguous(),
    "clone_basic": lambda x: x.clone(),
    "clone_t": lambda x: x.transpose(0, 2).clone(),
    "slice_step2": lambda x: x[-6:7:2],
    "slice_mid": lambda x: x[:, 2:-1:3],
    "slice_clamp": lambda x: x[:, -100:100:4],
    "slice_of_t": lambda x: x.transpose(0, 1)[:, 1:-1],
    # concat.c
    "concat_mid3": lambda a, b, c: torch.cat([a, b, c], 1),
    "concat_last": lambda a, b: torch.cat([a, b], -1),
    "concat_first": lambda a, b: torch.cat([a, b], 0),
    "concat_one": lambda a: torch.cat([a], 0),
    "concat_t": lambda a, b: torch.cat([a.transpose(0, 1), b], 0),
    "concat_twice": lambda a: torch.cat([a, a], -2),
    # index.c
    "index_select_rep": lambda x, i: torch.index_select(x, 0, i),
    "index_select_neg": lambda x, i: torch.index_select(x, -2, i),
    "index_select_last": lambda x, i: torch.index_select(x, 1, i),
    "index_select_t": lambda x, i: torch.index_select(x.transpose(0, 1), 1, i),
    "gather_dim0": lambda x, i: torch.gather(x, 0, i),
    "gather_dim1": lambda x, i: torch.gather(x, 1, i),
    "gather_neg": lambda x, i: torch.gather(x, -1, i),
    "gather_t": lambda x, i: torch.gather(x.transpose(0, 1), 0, i),
    # matmul.c
    "matmul_t": lambda a, b: torch.matmul(a.transpose(-1, -2), b.transpose(-1, -2)),
    "matmul_sliced": lambda a, b: torch.matmul(a[..., 0:8:2], b),
    "matmul_bt": lambda a, b: torch.matmul(a, b.transpose(-1, -2)),
}
for _row in ("2d", "odd", "dot", "vec_mat", "mat_vec", "batch_mat", "batch_one", "mat_batch",
             "bcast4", "batched", "batch_vec", "vec_batch"):
    CASES[f"matmul_{_row}"] = torch.matmul
