"""Grid mechanism: adapt knots to samples (``update_grid``) and refine grids
(``extend_grid``), refitting the spline coefficients so the network's function is kept.

*When* to call these is the training curriculum's business, not this module's.

Refit. For each input ``i`` of a layer, the new coefficients are the discrete L2
projection of the old spline part (its end polynomials continued beyond its *old* grid range) onto the new
B-splines over the *new* grid range: Gauss–Legendre points in every new knot interval,
weighted by interval length, one batched least-squares solve over the inputs. The map
``old coef[i] -> new coef[i]`` is linear, ``P[i]: (G'+k, G+k)``, and acts on each output
column alike, so the same ``P`` carries optimizer moments (Adam's ``exp_avg``...) over.

Why extension is exact for nested knots. On the grid range ``[lower, upper]`` the span of
the order-``k`` B-splines is the space of piecewise polynomials of degree ``k`` that are
``C^{k-1}`` at the interior knots — whatever the extension knots. If the new interior
knots contain the old ones (``G'`` a multiple of ``G``) and the range is unchanged, the old
space is contained in the new one, so the least-squares fit reproduces the old spline
exactly (up to rounding) on the range. Outside it both splines continue their end
pieces, which are the same polynomials, so the whole function is preserved everywhere.
The silu path does not depend on the grid and is untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.model.basis import bspline_basis, continued_basis, extend_knots
from kanpde.model.layer import KANLayer
from kanpde.model.network import KAN


@torch.no_grad()
def update_grid(model: KAN, x: Tensor, eps: float | None = None) -> None:
    """Place every layer's knots on the samples ``x: (N, d)`` and refit its coefficients.

    Layers are visited in order; each sees its inputs on ``x`` after the earlier layers
    were updated. For each input, ``G+1`` interior knots are
    ``eps * uniform + (1 - eps) * quantiles`` over ``[min, max]`` of its samples
    (``eps`` in (0, 1], default ``model.config.grid_eps``; ``eps > 0`` keeps the knots
    strictly increasing), plus ``k`` extension knots each side spaced like the end intervals.
    Inputs whose samples are all equal keep their knots. Shapes are unchanged, so the
    parameters are updated in place (optimizer state stays attached, unmapped).
    """
    eps = model.config.grid_eps if eps is None else float(eps)
    if x.ndim != 2 or x.shape[0] < 2:
        raise KanpdeError(f"update_grid needs samples shaped (N, d) with N >= 2; got {tuple(x.shape)}")
    if not 0.0 < eps <= 1.0:
        raise KanpdeError(
            f"grid eps must lie in (0, 1]; got {eps}. eps = 0 (pure quantiles) repeats knots on "
            "samples with repeated values; use a small value such as 0.02"
        )
    h = model.mapped_inputs(model.seen_points(x))  # (a reflected network: its mirror images too)
    for index, layer in enumerate(model.layers):
        new_knots = _sample_knots(layer, h, eps)  # (in, G+2k+1)
        op = _refit_operator(layer, new_knots)  # (in, G+k, G+k)
        layer.coef.copy_(_apply(op, layer.coef))
        layer.knots.copy_(new_knots)
        h = model.nodes(index, layer(h))


@torch.no_grad()
def extend_grid(model: KAN, new_size: int) -> dict[str, Callable[[Tensor], Tensor]]:
    """Refine every layer's grid from ``G`` to ``new_size`` intervals, keeping the function.

    New interior knots interpolate the old ones piecewise-linearly at fractional indices
    ``linspace(0, G, G'+1)`` (so for ``G'`` a multiple of ``G`` they contain the old ones
    and the refit is exact, see the module docstring), plus ``k`` extension knots each side
    spaced like the new end intervals. ``layer.coef`` becomes a NEW ``nn.Parameter`` of
    shape ``(in, G'+k, out)``: rebuild the optimizer.

    Returns ``{"layers.{l}.coef": f}`` where ``f`` maps any tensor shaped like the old
    coefficient (e.g. Adam's ``exp_avg``) to the new shape by the same linear refit.
    (``exp_avg_sq`` is a second moment; mapping it linearly can make entries negative, so
    clamp it at zero or reset it.)
    """
    if int(new_size) != new_size or new_size < 1:
        raise KanpdeError(f"new grid size must be a positive integer; got {new_size}")
    new_size = int(new_size)
    maps: dict[str, Callable[[Tensor], Tensor]] = {}
    for index, layer in enumerate(model.layers):
        old = layer.grid_size
        interior = layer.knots[:, layer.order:layer.order + old + 1]  # (in, G+1)
        new_interior = _interp_rows(interior, old, new_size)  # (in, G'+1)
        new_knots = extend_knots(new_interior, layer.order)  # (in, G'+2k+1)
        op = _refit_operator(layer, new_knots)  # (in, G'+k, G+k)
        new_coef = _apply(op, layer.coef)
        layer.coef = nn.Parameter(new_coef, requires_grad=layer.coef.requires_grad)
        layer.knots = new_knots
        maps[f"layers.{index}.coef"] = _make_map(op)
    return maps


def _sample_knots(layer: KANLayer, h: Tensor, eps: float) -> Tensor:
    """Knots mixing quantiles and uniform points over each input's samples. h: (N, in)."""
    g, n = layer.grid_size, h.shape[0]
    ordered = torch.sort(h.to(layer.knots.dtype), dim=0).values.T  # (in, N)
    adaptive = _interp_rows(ordered, n - 1, g)  # (in, G+1)
    lo, hi = ordered[:, :1], ordered[:, -1:]  # (in, 1)
    t = torch.linspace(0.0, 1.0, g + 1, dtype=ordered.dtype, device=ordered.device)  # (G+1,)
    uniform = lo + (hi - lo) * t  # (in, G+1)
    interior = eps * uniform + (1.0 - eps) * adaptive
    interior = torch.cummax(interior, dim=1).values  # rounding must not unsort equal quantiles
    interior[:, 0], interior[:, -1] = lo[:, 0], hi[:, 0]  # cover the samples exactly
    knots = extend_knots(interior, layer.order)
    degenerate = (hi <= lo)  # (in, 1): constant input, keep the old grid
    return torch.where(degenerate, layer.knots, knots)


def _interp_rows(values: Tensor, n: int, m: int) -> Tensor:
    """Piecewise-linear interpolation of ``values: (in, n+1)`` at indices ``j*n/m``,
    j = 0..m  ->  (in, m+1). Integer indices return the stored values exactly."""
    j = torch.arange(m + 1, device=values.device)
    base = torch.clamp((j * n) // m, max=max(n - 1, 0))  # (m+1,)
    frac = ((j * n - base * m).to(values.dtype) / m)[None, :]  # (1, m+1), in [0, 1]
    upper = torch.clamp(base + 1, max=n)
    return (1.0 - frac) * values[:, base] + frac * values[:, upper]


def _refit_operator(layer: KANLayer, new_knots: Tensor) -> Tensor:
    """Least-squares operator ``P: (in, G'+k, G+k)`` (float64) taking old coefficients to
    new ones, fitting the old spline (end pieces continued) on the new grid range."""
    k = layer.order
    old_knots = layer.knots.to(torch.float64)
    new_knots = new_knots.to(torch.float64)
    points, weights = _gauss_points(new_knots[:, k:new_knots.shape[1] - k], k + 2)  # (M, in) each
    a_old = continued_basis(points, old_knots, k)  # (M, in, G+k)
    a_new = bspline_basis(points, new_knots, k)  # (M, in, G'+k)
    w = weights.sqrt()[..., None]  # (M, in, 1)
    a_old = (a_old * w).transpose(0, 1)  # (in, M, G+k)
    a_new = (a_new * w).transpose(0, 1)  # (in, M, G'+k)
    return _lstsq_svd(a_new, a_old)


def _lstsq_svd(a: Tensor, b: Tensor) -> Tensor:
    """Minimum-norm least squares ``argmin_x |a x - b|`` by SVD, batched.

    a: (B, M, n), b: (B, M, r) -> (B, n, r). SVD works on any device (CUDA's lstsq
    only has the full-rank QR driver) and tolerates a rank-deficient ``a`` (a zero-length
    knot interval leaves a B-spline without points).
    """
    u, s, vh = torch.linalg.svd(a, full_matrices=False)  # (B, M, n), (B, n), (B, n, n)
    cutoff = s[:, :1] * (max(a.shape[-2:]) * torch.finfo(s.dtype).eps)  # (B, 1)
    s_inv = torch.where(s > cutoff, 1.0 / s, torch.zeros_like(s))  # (B, n)
    return vh.transpose(-2, -1) @ (s_inv[..., None] * (u.transpose(-2, -1) @ b))


def _gauss_points(interior: Tensor, q: int) -> tuple[Tensor, Tensor]:
    """``q`` Gauss–Legendre points in every knot interval, weights scaled by its length.

    interior: (in, G+1)  ->  points, weights: (G*q, in)
    """
    unit_nodes, unit_w = np.polynomial.legendre.leggauss(q)  # on [-1, 1]
    nodes = torch.as_tensor((unit_nodes + 1.0) / 2.0, dtype=interior.dtype, device=interior.device)  # (q,)
    w = torch.as_tensor(unit_w / 2.0, dtype=interior.dtype, device=interior.device)  # (q,)
    left = interior[:, :-1, None]  # (in, G, 1)
    width = (interior[:, 1:] - interior[:, :-1]).clamp(min=0.0)[..., None]  # (in, G, 1)
    points = (left + width * nodes).reshape(interior.shape[0], -1)  # (in, G*q)
    weights = (width * w).reshape(interior.shape[0], -1)  # (in, G*q)
    return points.T.contiguous(), weights.T.contiguous()


def _apply(op: Tensor, coef: Tensor) -> Tensor:
    """op: (in, G'+k, G+k), coef: (in, G+k, out) -> (in, G'+k, out), in coef's dtype."""
    return (op.to(coef.device) @ coef.to(torch.float64)).to(coef.dtype)


def _make_map(op: Tensor) -> Callable[[Tensor], Tensor]:
    def refit(old: Tensor) -> Tensor:
        """Map a tensor shaped like the old coefficient to the new shape."""
        return _apply(op, old)

    return refit
