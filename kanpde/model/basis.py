"""B-spline basis on per-input knot grids.

A grid for one input is ``G + 2k + 1`` knots ``t_0 < ... < t_{G+2k}``: ``G`` intervals on
the *grid range* ``[t_k, t_{G+k}]`` plus ``k`` extension knots on each side. Order ``k``
gives ``G + k`` B-splines, which sum to one on the grid range.

Everything here is written for a batch of inputs: ``knots: (in, G+2k+1)`` holds one knot
row per input, ``x: (N, in)`` one sample per row.
"""

from __future__ import annotations

import torch
from torch import Tensor


def uniform_knots(lower: Tensor, upper: Tensor, grid_size: int, order: int) -> Tensor:
    """Uniform knots: ``grid_size`` intervals on ``[lower, upper]`` plus ``order`` extension
    knots on each side with the same spacing.

    lower, upper: (in,)  ->  knots: (in, G+2k+1); ``knots[:, k] == lower`` and
    ``knots[:, G+k] == upper`` exactly.
    """
    h = (upper - lower) / grid_size  # (in,)
    steps = torch.arange(-order, grid_size + order + 1, dtype=lower.dtype, device=lower.device)
    knots = lower[:, None] + steps[None, :] * h[:, None]  # (in, G+2k+1)
    knots[:, order + grid_size] = upper  # exact right end of the grid range
    return knots


def extend_knots(interior: Tensor, order: int) -> Tensor:
    """Add ``order`` extension knots on each side, spaced like the end intervals.

    interior: (in, G+1) sorted  ->  knots: (in, G+2k+1)
    """
    steps = torch.arange(1, order + 1, dtype=interior.dtype, device=interior.device)  # (k,)
    h_left = (interior[:, 1] - interior[:, 0])[:, None]  # (in, 1)
    h_right = (interior[:, -1] - interior[:, -2])[:, None]  # (in, 1)
    left = interior[:, :1] - steps.flip(0)[None, :] * h_left  # (in, k)
    right = interior[:, -1:] + steps[None, :] * h_right  # (in, k)
    return torch.cat([left, interior, right], dim=1)


def bspline_basis(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """All B-splines of ``order`` on each input's knots, by the Cox–de Boor recursion.

    x: (N, in), knots: (in, G+2k+1)  ->  basis: (N, in, G+k)

    Intervals are half-open ``[t_i, t_{i+1})``, except that the right end of the grid range
    ``x == t_{G+k}`` is assigned to the last interval ``[t_{G+k-1}, t_{G+k}]``, so the basis
    is a partition of unity on the closed grid range (for every order, including 0).
    Callers clamp ``x`` into the grid range; outside the knots all B-splines vanish.
    Zero-length knot intervals are allowed (0/0 is taken as 0).
    """
    x_ = x[..., None]  # (N, in, 1)
    left, right = knots[:, :-1], knots[:, 1:]  # (in, G+2k)
    inside = (x_ >= left) & (x_ < right)  # (N, in, G+2k)
    last = knots.shape[1] - order - 2  # index of the last interval of the grid range
    at_upper = (x == knots[:, last + 1])  # (N, in)
    inside[..., last] |= at_upper
    if order > 0:  # with order 0 there is no interval beyond the grid range
        inside[..., last + 1] &= ~at_upper
    basis = inside.to(x.dtype)
    for p in range(1, order + 1):
        n = basis.shape[-1] - 1  # number of B-splines of degree p
        t_i, t_ip = knots[:, :n], knots[:, p:p + n]  # (in, n)
        t_i1, t_ip1 = knots[:, 1:1 + n], knots[:, p + 1:p + 1 + n]  # (in, n)
        basis = (x_ - t_i) / _nonzero(t_ip - t_i) * basis[..., :-1] \
            + (t_ip1 - x_) / _nonzero(t_ip1 - t_i1) * basis[..., 1:]
    return basis


def _nonzero(d: Tensor) -> Tensor:
    """Replace zero denominators by one (the matching B-spline is zero there)."""
    return torch.where(d == 0, torch.ones_like(d), d)
