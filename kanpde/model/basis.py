"""B-spline basis on per-input knot grids.

A grid for one input is ``G + 2k + 1`` knots ``t_0 < ... < t_{G+2k}``: ``G`` intervals on
the *grid range* ``[t_k, t_{G+k}]`` plus ``k`` extension knots on each side. Order ``k``
gives ``G + k`` B-splines, which sum to one on the grid range.

Everything here is written for a batch of inputs: ``knots: (in, G+2k+1)`` holds one knot
row per input, ``x: (N, in)`` one sample per row.
"""

from __future__ import annotations

import math

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
    Meant for x in the grid range (:func:`continued_basis` extends beyond it); outside the
    knots all B-splines vanish.
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


def continued_basis(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """All B-splines at any x, each input's end polynomials continued beyond its grid range.

    x: (N, in), knots: (in, G+2k+1)  ->  basis: (N, in, G+k). Inside the grid range this is
    :func:`bspline_basis`; outside it, the B-splines of the end interval evaluated as the
    polynomials they are there, so a spline continues its end piece smoothly (a spline of
    any order is then infinitely differentiable across the ends of the range). Built from
    :func:`bspline_local`; differentiable in x to any order.
    """
    first, (values,) = bspline_local(x, knots, order)  # (N, in), (N, in, k+1)
    index = first[..., None] + torch.arange(order + 1, device=x.device)
    return values.new_zeros(*x.shape, knots.shape[1] - order - 1).scatter(2, index, values)


def _nonzero(d: Tensor) -> Tensor:
    """Replace zero denominators by one (the matching B-spline is zero there)."""
    return torch.where(d == 0, torch.ones_like(d), d)


def bspline_local(x: Tensor, knots: Tensor, order: int, derivatives: int = 0) -> tuple[Tensor, list[Tensor]]:
    """The ``k+1`` B-splines that do not vanish at each input, and their derivatives.

    x: (N, in); knots: (in, G+2k+1)  ->
    ``first: (N, in)`` (long), the index of the first non-zero B-spline, and
    ``values[q]: (N, in, k+1)``, the q-th derivative of ``B_{first+r}`` for q = 0..derivatives.

    Equals ``bspline_basis(x)[..., first + r]`` (same interval convention: half-open, the
    upper end of the grid range in the last interval), at a cost independent of G. The
    recursion is de Boor's triangular one on the interval's own ``2k`` knots; the q-th
    derivative of an order-k spline is the order-(k-q) local basis pushed through q
    difference steps ``B'_{j,p} = p (B_{j,p-1}/(t_{j+p}-t_j) - B_{j+1,p-1}/(t_{j+p+1}-t_{j+1}))``.
    Beyond the grid range x falls into the end interval, whose polynomials are continued.
    """
    k = order
    grid_size = knots.shape[1] - 2 * k - 1
    breaks = knots[:, k + 1:grid_size + k].contiguous()  # interior knots, (in, G-1)
    interval = torch.searchsorted(breaks, x.T.contiguous(), right=True).T + k  # (N, in) in [k, G+k-1]
    offsets = torch.arange(1 - k, k + 1, device=x.device)  # t_{s+1-k} .. t_{s+k}
    index = interval[..., None] + offsets  # (N, in, 2k)
    local = torch.gather(knots.expand(x.shape[0], -1, -1), 2, index)  # (N, in, 2k)
    x_ = x[..., None]

    def spans(p: int) -> tuple[Tensor, Tensor, Tensor]:
        """t_{s-p+r} and t_{s+r} for r = 1..p, and their difference (0 replaced by 1)."""
        left, right = local[..., k - p:k], local[..., k:k + p]
        return left, right, _nonzero(right - left)

    levels = [torch.ones_like(x_)]  # local basis of degree 0, 1, ..., k: (N, in, p+1)
    for p in range(1, k + 1):
        left, right, span = spans(p)
        a = levels[-1] / span
        levels.append(_pad((x_ - left) * a, 1, 0) + _pad((right - x_) * a, 0, 1))
    values = [levels[k]]
    for q in range(1, derivatives + 1):
        if q > k:  # a piecewise polynomial of degree k
            values.append(torch.zeros_like(levels[k]))
            continue
        d = levels[k - q]
        for p in range(k - q + 1, k + 1):
            a = p * d / spans(p)[2]
            d = _pad(a, 1, 0) - _pad(a, 0, 1)
        values.append(d)
    return interval - k, values


def _pad(t: Tensor, before: int, after: int) -> Tensor:
    """Zeros added along the last dimension."""
    return torch.nn.functional.pad(t, (before, after))


def taylor_table(knots: Tensor, order: int, derivatives: int = 2) -> Tensor:
    """Per-interval polynomial coefficients of the non-zero B-splines and their derivatives.

    knots: (in, G+2k+1)  ->  table: (in, G, derivatives+1, k+1 (p), k+1 (r)) with
    ``d^q/dx^q B_{s+r}(x) = sum_p table[i, s, q, p, r] (x - t_{s+k})^p`` on the s-th interval
    of the grid range (exact: there the B-splines are polynomials of degree k). Built once
    per knot grid from :func:`bspline_local` at the intervals' left knots.
    """
    k = order
    grid_size = knots.shape[1] - 2 * k - 1
    left = knots[:, k:k + grid_size].T.contiguous()  # (G, in)
    _, values = bspline_local(left, knots, k, derivatives=k)  # k+1 x (G, in, k+1): B^(p)(t_s)
    taylor = [v / math.factorial(p) for p, v in enumerate(values)]  # coefficient of du^p
    tables = []
    for q in range(derivatives + 1):
        # d^q/dx^q du^p = p!/(p-q)! du^(p-q): coefficient of du^j is taylor[j+q] (j+q)!/j!
        rows = [taylor[j + q] * (math.factorial(j + q) / math.factorial(j)) if j + q <= k
                else torch.zeros_like(taylor[0]) for j in range(k + 1)]
        tables.append(torch.stack(rows, dim=2))  # (G, in, k+1 (p), k+1 (r))
    return torch.stack(tables, dim=2).transpose(0, 1).contiguous()


def bspline_taylor(x: Tensor, knots: Tensor, table: Tensor, derivatives: int = 0) -> tuple[Tensor, list[Tensor]]:
    """Same result as :func:`bspline_local`, evaluated by Horner's rule from
    :func:`taylor_table`: a few tensor operations whatever the order, for the hot path.

    x: (N, in)  ->  (first: (N, in), values[q]: (N, in, k+1)); beyond the grid range the
    end interval's polynomials, continued.
    """
    n_in, grid_size, _, k1, _ = table.shape
    k = k1 - 1
    breaks = knots[:, k + 1:grid_size + k].contiguous()  # (in, G-1)
    first = torch.searchsorted(breaks, x.T.contiguous(), right=True).T  # (N, in) in [0, G-1]
    cell = first + grid_size * torch.arange(n_in, device=x.device)  # (N, in) row of the table
    cell_flat = cell.reshape(-1)
    du = x - knots[:, k:k + grid_size].reshape(-1).index_select(0, cell_flat).reshape(cell.shape)  # (N, in)
    # expanded once, so that the backward reduces over r once rather than in every step
    du = du[..., None].expand(*du.shape, k1).contiguous()  # (N, in, k+1)
    used = min(derivatives, k) + 1  # tables of derivatives beyond k are zero
    flat = table[:, :, :used].reshape(n_in * grid_size, -1)  # (in*G, used*(k+1)*(k+1))
    coefs = flat.index_select(0, cell_flat).reshape(*cell.shape, used, k1, k1)  # (N, in, q, p, r)
    values: list[Tensor] = []
    for q in range(derivatives + 1):
        if q > k:  # a polynomial of degree k
            values.append(torch.zeros_like(values[0]))
            continue
        coef = coefs[..., q, :, :]  # (N, in, k+1 (p), k+1 (r))
        acc = coef[..., k - q, :]
        for p in range(k - q - 1, -1, -1):
            acc = torch.addcmul(coef[..., p, :], acc, du)
        values.append(acc)
    return first, values
