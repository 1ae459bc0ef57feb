"""The Jacobian of a stage's residual vector with respect to the parameters.

Generic reverse mode costs one backward pass per residual (M passes), and torch.func's
vmap over the jet's operations is slower still (measured: 0.6 s and 13-35 s for a
1024 x 600 Jacobian that one backward pass computes the gradient of in 2 ms). The KAN
allows far better, because every point's jet is computed independently of the others:

    a layer's output jet at point p is   out[:, p, :] = base[:, p, :] @ w_base
                                                     + sum_r spline[:, p, i, r] table[i, first[p, i] + r, :]

so the derivative of residual r_m (which, for a point-wise residual, depends on its own
point p(m) only) with respect to a layer's parameters is the outer product of that
point's features with delta[:, p, :] = d r_m / d out[:, p, :]. One backward pass of the
sum of the residuals gives delta for every point and layer at once (one pass per
equation of a system), and the Jacobian rows are formed by two einsums per layer: the
per-example-gradient construction, exact here.

Parameters outside the KAN layers (an inverse problem's unknowns, the closed-form edges'
constants) get their columns by forward mode through double backward (two passes per
scalar). The result is checked once per point set against autograd's gradient
(J^T r); a residual coupling points (a periodic condition written as u(a) - u(b)), an
autograd-evaluated term or a model without recorded layers (the MLP) takes the generic
path instead: exact, but one backward pass per residual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from kanpde.jet import Jet
from kanpde.model import KAN, MLP, KANLayer
from kanpde.training.flat import flatten_grads

if TYPE_CHECKING:
    from kanpde.training.objective import Objective

log = logging.getLogger(__name__)

CHECK_RTOL = {torch.float64: 1e-9, torch.float32: 1e-3}  # J^T r against autograd's gradient
GENERIC_CHUNK = 256  # residual rows per batched backward pass on the generic path


def residual_jacobian(objective: Objective, params: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """r (M,) and J = dr/dparams (M, n), columns in the order of ``params`` flattened.

    On a KAN or an MLP, every term's rows come from the per-point construction, checked once per
    point set (``objective.fast_terms``) against reverse mode along a random vector; the
    terms that fail (a condition coupling points, a term evaluated by autograd) get their
    rows by reverse mode, one pass per residual."""
    model = objective.model
    if not isinstance(model, (KAN, MLP)):
        return _generic(objective, params)
    with torch.enable_grad(), _recording(model) as records:
        blocks = objective.residual_blocks()
    units = _units(model)
    r = torch.cat([b.reshape(-1) for b in blocks.values()]).detach()
    J = r.new_zeros(len(r), sum(p.numel() for p in params))
    rows, start = {}, 0  # term -> its rows of r
    for name, block in blocks.items():
        rows[name] = (start, start + block.numel())
        start += block.numel()
    joint = len(records) == len(units)  # one joint jet pass over all the points
    if joint:
        _per_point(J, blocks, rows, list(zip(units, records)), params, objective.point_offsets(),
                   len(objective.batch.points()))
    if objective.fast_terms is None:  # first Jacobian on these points: check each term
        objective.fast_terms = {name for name, block in blocks.items()
                                if joint and _agrees(block, J[slice(*rows[name])], params)}
        slow = [name for name in blocks if name not in objective.fast_terms]
        if slow:
            log.warning("Jacobian rows of %s by reverse mode, one backward pass per residual (the term couples "
                        "points or is not all from the jet): slow for many points; a quasi-Newton stage "
                        "(ssbroyden) costs no more per step than L-BFGS", ", ".join(slow))
    vector = torch.cat([b.reshape(-1) for b in blocks.values()])
    fast = objective.fast_terms if joint else set()
    for name in blocks:
        if name not in fast:
            J[slice(*rows[name])] = _reverse_rows(vector, params, *rows[name])
    return r, J


def _agrees(block: Tensor, J: Tensor, params: Sequence[Tensor]) -> bool:
    """J (rows of ``block``, n) against reverse mode along a random vector u: J^T u."""
    u = torch.randn(block.shape, generator=torch.Generator().manual_seed(0), dtype=block.dtype).to(block.device)
    with torch.enable_grad():
        grads = torch.autograd.grad(block, params, grad_outputs=u, retain_graph=True, allow_unused=True)
    g = flatten_grads(grads, params)
    gap = float((J.T @ u.reshape(-1) - g).norm())
    return gap <= CHECK_RTOL.get(block.dtype, 1e-3) * max(float(g.norm()), float(J.abs().max()), 1e-300)


def _units(model: KAN | MLP) -> list:
    """The parametrised layers, in the order their jets are computed."""
    return list(model.layers) if isinstance(model, KAN) else list(model.linears)


@contextlib.contextmanager
def _recording(model: KAN | MLP) -> Iterator[list[tuple[Jet, Tensor]]]:
    """(input jet, output channels) of every parametrised layer, in order, while inside."""
    records: list[tuple[Jet, Tensor]] = []
    holders = list(model.layers) if isinstance(model, KAN) else [model]
    for holder in holders:
        holder.recording = records
    try:
        yield records
    finally:
        for holder in holders:
            holder.recording = None


def _per_point(J: Tensor, blocks: dict[str, Tensor], rows: dict[str, tuple[int, int]],
               layers: list[tuple[nn.Module, tuple[Jet, Tensor]]], params: Sequence[Tensor],
               offsets: dict[str, int], n_points: int) -> None:
    """Fill J's rows of every term as if each residual depended on its own point only, or,
    for a network that sees each of the ``n_points`` points in several copies (a
    reflection: the points, then their mirror images), on its own point's copies."""
    outs = [out for _, (_, out) in layers]
    copies = outs[0].shape[1] // n_points  # 1, or 2 with a reflection
    layer_params = {id(p) for layer, _ in layers for p in layer.parameters()}
    others = [p for p in params if id(p) not in layer_params]
    columns = _column_ranges(params)
    device = J.device
    for e in range(max(b.shape[1] for b in blocks.values())):  # delta of equation e at every point: one pass
        selectors = [torch.zeros_like(b) for b in blocks.values()]
        for s in selectors:
            if s.shape[1] > e:
                s[:, e] = 1.0
        deltas = torch.autograd.grad(list(blocks.values()), outs, grad_outputs=selectors,
                                     retain_graph=True, allow_unused=True)
        per_point = {}  # id(param) -> (P, numel): d r_{p, e} / d param at every point p
        for (layer, (h, _)), delta in zip(layers, deltas):
            if delta is not None and isinstance(layer, KANLayer):
                per_point.update(_layer_rows(layer, h, delta))
            elif delta is not None and isinstance(layer, nn.Linear):
                per_point.update(_linear_rows(layer, h, delta))
        for name, b in blocks.items():
            if b.shape[1] <= e or offsets[name] + b.shape[0] > n_points:
                continue  # (a block with more rows than points: left to reverse mode by the check)
            points = torch.arange(b.shape[0], device=device) + offsets[name]
            term_rows = rows[name][0] + torch.arange(b.shape[0], device=device) * b.shape[1] + e
            for p in params:
                if id(p) in per_point:
                    lo, hi = columns[id(p)]
                    J[term_rows, lo:hi] = sum(per_point[id(p)][points + c * n_points] for c in range(copies))
    if others:
        _forward_columns(J, blocks, others, columns)


def _column_ranges(params: Sequence[Tensor]) -> dict[int, tuple[int, int]]:
    ranges, start = {}, 0
    for p in params:
        ranges[id(p)] = (start, start + p.numel())
        start += p.numel()
    return ranges


def _layer_rows(layer: KANLayer, h: Jet, delta: Tensor) -> dict[int, Tensor]:
    """Per-point derivatives of one residual per point with respect to a KAN layer's
    parameters, from the layer's features at its input jet h and delta = d r_p / d out
    (C, P, out): id(param) -> (P, numel) in the parameter's own element order."""
    with torch.no_grad():
        # (P, in), (C, P, in, k+1), (C, P, in)
        first, spline, base = layer.jet_features(Jet(h.request, h.data.detach()))
        points, n_in, k1 = spline.shape[1], spline.shape[2], spline.shape[3]
        n_out, n_basis = layer.out_dim, layer.coef.shape[1]
        mask = layer.mask
        w_base = torch.einsum("cpi,cpo->pio", base, delta) * mask  # (P, in, out)
        local = torch.einsum("cpir,cpo->piro", spline, delta)  # (P, in, k+1, out)
        index = (first[..., None] + torch.arange(k1, device=first.device))[..., None].expand(points, n_in, k1, n_out)
        table = local.new_zeros(points, n_in, n_basis, n_out).scatter_add_(2, index, local)  # (P, in, G+k, out)
        coef = table * (layer.w_spline * mask)[None, :, None, :]
        w_spline = torch.einsum("pigo,igo->pio", table, layer.coef.detach()) * mask
    return {id(layer.coef): coef.reshape(points, -1), id(layer.w_base): w_base.reshape(points, -1),
            id(layer.w_spline): w_spline.reshape(points, -1)}


def _linear_rows(linear: nn.Linear, h: Jet, delta: Tensor) -> dict[int, Tensor]:
    """As :func:`_layer_rows` for a linear layer out = h W^T (+ b on the value channel)."""
    with torch.no_grad():
        weight = torch.einsum("cpo,cpi->poi", delta, h.data.detach())  # (P, out, in)
        return {id(linear.weight): weight.reshape(len(weight), -1), id(linear.bias): delta[0]}


def _forward_columns(J: Tensor, blocks: dict[str, Tensor], others: Sequence[Tensor],
                     columns: dict[int, tuple[int, int]]) -> None:
    """Fill the columns of ``others`` (few scalars) by forward mode through double
    backward: g(u) = J_o^T u is linear in u, and d g_j / d u is column j."""
    vector = torch.cat([b.reshape(-1) for b in blocks.values()])
    u = torch.zeros_like(vector, requires_grad=True)
    grads = torch.autograd.grad(vector, others, grad_outputs=u, create_graph=True, allow_unused=True)
    for p, g in zip(others, grads):
        if g is None or not g.requires_grad:
            continue  # the residuals do not depend on it: zero columns
        lo, _ = columns[id(p)]
        for j, gj in enumerate(g.reshape(-1)):
            (column,) = torch.autograd.grad(gj, u, retain_graph=True, allow_unused=True)
            if column is not None:
                J[:, lo + j] = column


def _generic(objective: Objective, params: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        vector = objective.residuals()
        return vector.detach(), _reverse_rows(vector, params, 0, len(vector))


def _reverse_rows(vector: Tensor, params: Sequence[Tensor], start: int, stop: int) -> Tensor:
    """Rows start..stop of d vector / d params by reverse mode, GENERIC_CHUNK rows per
    (vmapped) backward pass."""
    rows = []
    for first in range(start, stop, GENERIC_CHUNK):
        size = min(GENERIC_CHUNK, stop - first)
        pick = vector.new_zeros(size, len(vector))
        pick[torch.arange(size), first + torch.arange(size)] = 1.0
        grads = torch.autograd.grad(vector, params, grad_outputs=pick, is_grads_batched=True,
                                    retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(vector.new_zeros(size, p.numel()) if g is None else g.reshape(size, -1))
                               for p, g in zip(params, grads)], dim=1))
    return torch.cat(rows) if rows else vector.new_zeros(0, sum(p.numel() for p in params))
