"""Read a trained KAN's edges as closed forms, and fix the good fits into the network.

Every active spline edge is sampled afresh on a dense uniform grid over its own input
range (the range its input takes over the given points), never on activations cached by
an earlier forward pass, so the same model and points always give the same fits. All
edges of all layers are fitted in one batched call (``symbolic.fit.fit_edges``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from kanpde.model import KAN
from kanpde.model.fixed import FixedEdge, FixedEdges
from kanpde.symbolic.fit import EdgeFit, fit_edges
from kanpde.symbolic.library import LibraryFunction


@dataclass(frozen=True)
class EdgeRecord:
    """One spline edge ``source -> target`` of ``layer``: samples x, y: (S,), its best fit
    and that fit's values at x (S,)."""

    layer: int
    source: int
    target: int
    x: Tensor
    y: Tensor
    fit: EdgeFit
    fitted: Tensor

    def to_dict(self) -> dict:
        f = self.fit
        return {"layer": self.layer, "source": self.source, "target": self.target, "function": f.function,
                "a": f.a, "b": f.b, "c": f.c, "d": f.d, "r2": f.r2, "complexity": f.complexity,
                "accepted": f.accepted, "input_range": [float(self.x[0]), float(self.x[-1])]}


@torch.no_grad()
def sample_edges(model: KAN, x: Tensor, samples: int = 201) -> list[tuple[int, int, int, Tensor, Tensor]]:
    """(layer, source, target, inputs (S,), outputs (S,)) of every active spline edge,
    on ``samples`` uniform points over the range of its input on x: (N, d)."""
    out = []
    t = torch.linspace(0.0, 1.0, samples, dtype=x.dtype, device=x.device)[:, None]  # (S, 1)
    for index, (layer, h) in enumerate(zip(model.layers, model.layer_inputs(x))):
        lower, upper = h.min(dim=0).values, h.max(dim=0).values  # (in,)
        grid = lower + (upper - lower) * t  # (S, in)
        values = layer.edge_function(grid)  # (S, in, out)
        for source, target in torch.nonzero(layer.mask).tolist():
            out.append((index, source, target, grid[:, source], values[:, source, target]))
    return out


def fit_network(model: KAN, x: Tensor, functions: Sequence[LibraryFunction], *, samples: int = 201,
                **fit_options) -> list[EdgeRecord]:
    """Fit every active spline edge of ``model`` (sampled over its range on x) to the
    library; ``fit_options`` go to :func:`kanpde.symbolic.fit.fit_edges`."""
    edges = sample_edges(model, x, samples)
    if not edges:
        return []
    xs = torch.stack([e[3] for e in edges])  # (E, S)
    ys = torch.stack([e[4] for e in edges])  # (E, S)
    fits = fit_edges(xs, ys, functions, **fit_options)
    by_name = {f.name: f for f in functions}
    return [EdgeRecord(layer, source, target, xe.cpu(), ye.cpu(), fit, _curve(by_name[fit.function], fit, xe).cpu())
            for (layer, source, target, xe, ye), fit in zip(edges, fits)]


def _curve(function: LibraryFunction, fit: EdgeFit, x: Tensor) -> Tensor:
    """c f(a x + b) + d at x: (S,)."""
    return fit.c * function(fit.a * x + fit.b) + fit.d


@torch.no_grad()
def fix_edges(model: KAN, records: Sequence[EdgeRecord], functions: Sequence[LibraryFunction]) -> int:
    """Replace the spline edges whose fit was accepted by closed-form edges with the fitted
    (trainable) constants; returns how many edges were fixed."""
    by_name = {f.name: f for f in functions}
    fixed = 0
    for index, layer in enumerate(model.layers):
        accepted = [r for r in records if r.layer == index and r.fit.accepted]
        if not accepted:
            continue
        kept = layer.fixed.current() if layer.fixed is not None else []
        new = [FixedEdge(r.source, r.target, by_name[r.fit.function], r.fit.a, r.fit.b, r.fit.c, r.fit.d)
               for r in accepted]
        reference = layer.coef
        layer.fixed = FixedEdges(layer.in_dim, layer.out_dim, kept + new, dtype=reference.dtype,
                                 device=reference.device)
        for r in accepted:
            layer.mask[r.source, r.target] = 0.0
        fixed += len(new)
    return fixed
