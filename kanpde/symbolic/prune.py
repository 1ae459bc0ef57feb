"""Pruning: switch off the KAN edges and nodes that carry (almost) nothing.

An edge's importance is how much its output varies over the samples (its standard
deviation, from ``KANLayer.edge_moments``), relative to the most varying edge of its layer:
a constant edge carries nothing a neighbour cannot (only the sum into a node matters), so
when an edge is masked its mean moves onto the most important edge left into the same
node. Edges below ``threshold`` are masked; then a hidden node whose inputs are all masked
(a sum node, or either factor of a product node) or whose outputs are all masked carries
nothing, and all its edges are masked too, until nothing changes. Pruning changes the
function a little: retrain afterwards.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from kanpde.errors import KanpdeError
from kanpde.model import KAN

log = logging.getLogger("kanpde")


@torch.no_grad()
def edge_importance(model: KAN, x: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Each layer's edge standard deviations and means on x: (N, d), relative to the
    layer's largest standard deviation (masked edges 0), and the means themselves:
    [((in, out), (in, out), (in, out))]."""
    out = []
    for layer, h in zip(model.layers, model.layer_inputs(x)):
        mean, square = layer.edge_moments(h)
        mean = mean * layer.mask
        spread = (square - mean * mean).clamp_min(0.0).sqrt() * layer.mask
        top = spread.max().clamp_min(1e-300)
        out.append((spread / top, mean / top, mean))
    return out


@torch.no_grad()
def prune(model: KAN, x: Tensor, threshold: float = 1e-2) -> int:
    """Mask the edges of ``model`` whose relative importance on x: (N, d) is below
    ``threshold``, then the edges of dead nodes; returns how many edges were masked.

    A node whose every edge is weak but which receives a mean above the threshold keeps
    one edge (it carries a constant, e.g. a constant factor of a product node)."""
    if not 0.0 <= threshold < 1.0:
        raise KanpdeError(f"prune threshold must lie in [0, 1) (a fraction of each layer's largest edge); "
                          f"got {threshold}")
    before = sum(int(layer.mask.sum()) for layer in model.layers)
    for layer, (importance, relative_mean, mean) in zip(model.layers, edge_importance(model, x)):
        for target in range(layer.out_dim):
            active = layer.mask[:, target] > 0
            weak = active & (importance[:, target] < threshold)
            if not weak.any():
                continue
            strong = active & ~weak
            if strong.any():
                keeper = int(torch.argmax(importance[:, target]))
            elif float((relative_mean[:, target].abs() * weak).max()) >= threshold:
                keeper = int(torch.argmax(relative_mean[:, target].abs() * weak))
                weak[keeper] = False
            else:
                keeper = None
            for source in torch.nonzero(weak).flatten().tolist():
                layer.mask[source, target] = 0.0
                if keeper is not None:  # the sum into the node keeps this edge's mean
                    layer.add_constant(keeper, target, float(mean[source, target]))
    while _mask_dead_nodes(model):
        pass
    after = sum(int(layer.mask.sum()) for layer in model.layers)
    log.info("pruning (threshold %g) masked %d of %d edges", threshold, before - after, before)
    return before - after


def _mask_dead_nodes(model: KAN) -> bool:
    """One sweep over the hidden nodes; True when it masked something."""
    changed = False
    for index in range(len(model.layers) - 1):
        into, out_of = model.layers[index], model.layers[index + 1]
        fed = into.active_edges().any(dim=0)  # (outputs of layer index,): has an input edge
        m = model.mult[index]
        w = into.out_dim - 2 * m
        alive = torch.cat([fed[:w], fed[w::2] & fed[w + 1::2]])  # (nodes,)
        alive &= out_of.active_edges().any(dim=1)
        for node in torch.nonzero(~alive).flatten().tolist():
            columns = [node] if node < w else [w + 2 * (node - w), w + 2 * (node - w) + 1]
            if into.mask[:, columns].any() or out_of.mask[node].any():
                into.mask[:, columns] = 0.0
                out_of.mask[node] = 0.0
                changed = True
    return changed
