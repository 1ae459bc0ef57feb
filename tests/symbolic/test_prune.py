"""Pruning: constant and near-zero edges go, the function they carried stays (their mean
moves onto a neighbour), and dead nodes take their edges with them."""

import pytest
import torch

from kanpde.errors import KanpdeError
from kanpde.model import KAN, KANConfig
from kanpde.symbolic.prune import edge_importance, prune

F64 = torch.float64
BOUNDS = [[-1.0, 1.0], [-1.0, 1.0]]


def points(n=2000, seed=0):
    return 2.0 * torch.rand(n, 2, dtype=F64, generator=torch.Generator().manual_seed(seed)) - 1.0


def network(widths, mult=()):
    return KAN(list(widths), BOUNDS, KANConfig(noise_scale=1.0), mult=mult,
               generator=torch.Generator().manual_seed(3), dtype=F64)


def make_constant(layer, source, target, value):
    """Edge source -> target becomes the constant ``value``."""
    with torch.no_grad():
        layer.w_base[source, target] = 0.0
        layer.coef[source, :, target] = value / layer.w_spline[source, target]


def test_constant_edges_are_pruned_without_changing_the_function():
    model = network((2, 2, 1), (1,))  # first layer: 2 inputs -> 2 sums + 2 product factors
    first = model.layers[0]
    make_constant(first, 1, 0, 0.3)
    make_constant(first, 0, 2, -0.2)
    x = points()
    before = model(x)
    masked = prune(model, x, threshold=1e-3)
    assert masked == 2
    assert first.mask[1, 0] == 0 and first.mask[0, 2] == 0 and first.mask.sum() == 6
    assert torch.allclose(model(x), before, rtol=0, atol=1e-12)


def test_small_edges_go_and_importance_is_relative_to_the_layer():
    model = network((2, 3, 1))
    with torch.no_grad():
        model.layers[0].coef[0, :, 1] *= 1e-4
        model.layers[0].w_base[0, 1] *= 1e-4
    x = points()
    importance, _, _ = edge_importance(model, x)[0]
    assert importance.max() == 1.0 and importance[0, 1] < 1e-3
    prune(model, x, threshold=1e-2)
    assert model.layers[0].mask[0, 1] == 0
    assert model.layers[0].mask.sum() == 5


def test_a_node_without_outputs_loses_its_inputs():
    model = network((2, 3, 1))
    make_constant(model.layers[1], 2, 0, 0.0)  # hidden node 2 feeds nothing
    prune(model, points(), threshold=1e-6)
    assert model.layers[1].mask[2, 0] == 0
    assert model.layers[0].mask[:, 2].sum() == 0  # its incoming edges went too
    assert model.layers[0].mask[:, :2].sum() == 4


def test_a_product_with_a_dead_factor_is_pruned_whole():
    model = network((2, 0, 1), (1,))
    first = model.layers[0]
    make_constant(first, 0, 1, 0.0)
    make_constant(first, 1, 1, 0.0)  # second factor identically zero
    prune(model, points(), threshold=1e-6)
    assert first.mask.sum() == 0 and model.layers[1].mask.sum() == 0


def test_bad_threshold_is_refused():
    with pytest.raises(KanpdeError, match=r"\[0, 1\)"):
        prune(network((2, 2, 1)), points(), threshold=1.5)


def test_a_constant_factor_keeps_one_edge():
    model = network((2, 0, 1), (1,))
    first = model.layers[0]
    make_constant(first, 0, 1, 0.5)  # second factor: the constant 0.5 + 0.01
    make_constant(first, 1, 1, 0.01)
    x = points()
    before = model(x)
    prune(model, x, threshold=1e-2)
    assert first.mask[:, 1].sum() == 1 and first.mask[:, 0].sum() == 2
    assert torch.allclose(model(x), before, rtol=0, atol=1e-12)
