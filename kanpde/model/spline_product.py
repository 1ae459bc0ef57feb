"""The spline branch of a KAN layer as a product of local basis features and coefficients.

    out[c, n, :] = sum_i sum_r features[c, n, i, r] * table[i, first[n, i] + r, :]

features: (C, N, in, k+1) (the k+1 non-zero B-splines of each input, or their jet
channels), first: (N, in) index of the first of them, table: (in, G+k, out).

Two ways to compute it, same result:

- ``dense``: scatter the features into (C*N, in*(G+k)) and do one matmul. Best while G is
  small: the matmul wastes (G+k)/(k+1) of its work on zeros but runs at GEMM speed.
- ``local``: gather the k+1 coefficient rows of each input and contract per point
  (batched matmuls), with a hand-written backward whose coefficient gradient is one
  ``index_add_`` per input cell. Work and memory do not grow with G.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

# dense while G+k <= DENSE_MAX_WIDTH * (k+1), i.e. G <= 29 for cubic splines: on a 2-core CPU
# the dense product of configuration L was still faster at G = 20 (see BENCHMARKS.md)
DENSE_MAX_WIDTH = 8


def spline_product(features: Tensor, first: Tensor, table: Tensor, method: str = "auto") -> Tensor:
    """(C, N, in, k+1), (N, in), (in, G+k, out) -> (C, N, out); method: auto | dense | local."""
    n_basis, k1 = table.shape[1], features.shape[-1]
    if method == "auto":
        method = "dense" if n_basis <= DENSE_MAX_WIDTH * k1 else "local"
    if method == "dense":
        return _dense(features, first, table)
    if method == "local":
        return _LocalProduct.apply(features, first, table)
    raise ValueError(f"unknown spline product method {method!r}; accepted: auto, dense, local")


def _dense(features: Tensor, first: Tensor, table: Tensor) -> Tensor:
    channels, n, n_in, k1 = features.shape
    index = (first[..., None] + torch.arange(k1, device=first.device)).expand_as(features)
    dense = features.new_zeros(channels, n, n_in, table.shape[1]).scatter_(3, index, features)
    return (dense.reshape(channels * n, -1) @ table.reshape(-1, table.shape[2])).reshape(channels, n, -1)


def _rows(first: Tensor, n_basis: int, k1: int) -> Tensor:
    """Row of the flattened table for every (point, input, r): (N, in*(k+1))."""
    n_in = first.shape[1]
    cell = first + n_basis * torch.arange(n_in, device=first.device)  # (N, in)
    return (cell[..., None] + torch.arange(k1, device=first.device)).reshape(first.shape[0], -1)


def _gather_rows(table: Tensor, first: Tensor, k1: int) -> Tensor:
    """The k+1 coefficient rows of every (point, input): (N, in*(k+1), out). index_select
    (not advanced indexing, several times slower on CPU)."""
    n_basis, n_out = table.shape[1], table.shape[2]
    rows = _rows(first, n_basis, k1)
    return table.reshape(-1, n_out).index_select(0, rows.reshape(-1)).reshape(*rows.shape, n_out)


class _LocalProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features: Tensor, first: Tensor, table: Tensor) -> Tensor:
        channels, n, _, k1 = features.shape
        gathered = _gather_rows(table, first, k1)  # (N, in*(k+1), out)
        per_point = features.reshape(channels, n, -1).transpose(0, 1)  # (N, C, in*(k+1))
        ctx.save_for_backward(features, first, table)
        return torch.bmm(per_point, gathered).transpose(0, 1)  # (C, N, out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        features, first, table = ctx.saved_tensors
        channels, n, n_in, k1 = features.shape
        n_in, n_basis, n_out = table.shape
        grad_per_point = grad_out.transpose(0, 1)  # (N, C, out)
        grad_features = grad_table = None
        if ctx.needs_input_grad[0]:
            gathered = _gather_rows(table, first, k1)  # (N, in*(k+1), out)
            grad_features = torch.bmm(grad_per_point, gathered.transpose(1, 2))  # (N, C, in*(k+1))
            grad_features = grad_features.transpose(0, 1).reshape(features.shape)
        if ctx.needs_input_grad[2]:
            per_point = features.reshape(channels, n, -1).permute(1, 2, 0)  # (N, in*(k+1), C)
            outer = torch.bmm(per_point, grad_per_point)  # (N, in*(k+1), out)
            # accumulate each point's (k+1, out) block on its interval cell, then spread the
            # block's rows r onto the coefficients s + r
            grid = n_basis - k1 + 1
            cells = first + grid * torch.arange(n_in, device=first.device)  # (N, in)
            blocks = outer.new_zeros(n_in * grid, k1 * n_out)
            blocks.index_add_(0, cells.reshape(-1), outer.reshape(n * n_in, k1 * n_out))
            blocks = blocks.reshape(n_in, grid, k1, n_out)
            grad_table = table.new_zeros(table.shape)
            for r in range(k1):
                grad_table[:, r:r + grid] += blocks[:, :, r]
        return grad_features, None, grad_table
