"""Multiplication nodes, masked edges and closed-form (fixed) edges of the KAN.

Oracles: nested autograd for every jet, and networks whose edges are set to known
functions reproducing the product of those functions exactly.
"""

import pytest
import torch

from kanpde.errors import KanpdeError
from kanpde.jet import JetRequest, autograd_jet
from kanpde.model import KAN, KANConfig, extend_grid, fused, update_grid
from kanpde.model.fixed import FixedEdge, FixedEdges

F64 = torch.float64
BOUNDS = [[0.0, 1.0], [-1.0, 2.0]]
FULL = JetRequest.of(first=[0, 1], second=[(0, 0), (0, 1), (1, 1)], laplacian=[0, 1])


class Elementwise:
    """A closed form with its first two derivatives, as the library provides them."""

    def __init__(self, name, f, f1, f2):
        self.name, self._f = name, (f, f1, f2)

    def derivatives(self, u, order):
        return [g(u) for g in self._f[:order + 1]]


SIN = Elementwise("sin", torch.sin, torch.cos, lambda u: -torch.sin(u))
EXP = Elementwise("exp", torch.exp, torch.exp, torch.exp)
IDENTITY = Elementwise("x", lambda u: u, torch.ones_like, torch.zeros_like)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def points(n=64, seed=0):
    lower, upper = torch.tensor([0.0, -1.0], dtype=F64), torch.tensor([1.0, 2.0], dtype=F64)
    return lower + (upper - lower) * torch.rand(n, 2, dtype=F64, generator=gen(seed))


def network(widths=(2, 2, 3, 1), mult=(1, 2), seed=1):
    return KAN(list(widths), BOUNDS, KANConfig(noise_scale=1.0), mult=mult, generator=gen(seed), dtype=F64)


def product_network(functions):
    """[2, (0 sums, 1 product), 1]: spline edges off, the two inputs' edges into the product
    fixed to ``functions`` (a, b, c, d given), the output edge fixed to the identity."""
    model = network((2, 0, 1), (1,))
    first, last = model.layers
    first.mask.zero_()
    last.mask.zero_()
    first.fixed = FixedEdges(2, 2, [FixedEdge(0, 0, functions[0][0], *functions[0][1]),
                                    FixedEdge(1, 1, functions[1][0], *functions[1][1])], dtype=F64)
    last.fixed = FixedEdges(1, 1, [FixedEdge(0, 0, IDENTITY)], dtype=F64)
    return model


@pytest.mark.parametrize("product", ["dense", "local", "fused"])
def test_jet_of_a_network_with_products_matches_autograd(product):
    model = network()
    for layer in model.layers:
        layer.product = product
    if product == "fused" and not fused.available():
        pytest.skip("the fused CPU kernel could not be built here")
    x = points()
    analytic = model.jet(x, FULL).data
    reference = autograd_jet(model, x, FULL).data
    assert (analytic - reference).abs().max() <= 1e-12 * reference.abs().max()


def test_product_node_multiplies_two_layer_outputs():
    model = network((2, 1, 1), (1,))
    x = points()
    first = model.layers[0](model.mapped_inputs(x))  # (N, 1 sum + 2 product inputs)
    nodes = model.nodes(0, first)
    assert model.widths == [2, 2, 1]
    assert torch.equal(nodes[:, 0], first[:, 0])
    assert torch.allclose(nodes[:, 1], first[:, 1] * first[:, 2], rtol=0, atol=0)


def test_planted_closed_forms_reproduce_their_product_and_its_derivatives():
    # u = (2 sin(3 x' + 0.5) + 0.1) * exp(-0.7 y' + 0.2), x', y' the mapped inputs
    model = product_network([(SIN, (3.0, 0.5, 2.0, 0.1)), (EXP, (-0.7, 0.2, 1.0, 0.0))])
    x = points()
    z = model.mapped_inputs(x)
    expected = (2 * torch.sin(3 * z[:, 0] + 0.5) + 0.1) * torch.exp(-0.7 * z[:, 1] + 0.2)
    assert torch.allclose(model(x)[:, 0], expected, rtol=1e-14, atol=0)
    analytic = model.jet(x, FULL).data
    assert (analytic - autograd_jet(model, x, FULL).data).abs().max() <= 1e-12 * analytic.abs().max()


def test_fixed_edges_are_trainable_and_report_their_constants():
    model = product_network([(SIN, (1.0, 0.0, 1.0, 0.0)), (EXP, (1.0, 0.0, 1.0, 0.0))])
    x = points()
    model(x).sum().backward()
    fixed = model.layers[0].fixed
    assert fixed.a.grad is not None and bool((fixed.a.grad != 0).all())
    assert model.layers[0].coef.grad.abs().max() == 0  # masked spline edges get no gradient
    with torch.no_grad():
        fixed.b.fill_(0.25)
    assert [e.b for e in fixed.current()] == [0.25, 0.25]


def test_masked_edge_removes_its_input_from_the_output():
    model = network((2, 3, 1), ())
    model.layers[0].mask[1] = 0.0  # every edge out of input y
    jet = model.jet(points(), JetRequest.of(first=[0, 1]))
    assert jet.d(1).abs().max() == 0
    assert jet.d(0).abs().max() > 0


def test_grid_changes_keep_a_network_with_products():
    model = network()
    x = points(256)
    before = model(x).detach()
    extend_grid(model, 10)
    assert torch.allclose(model(x), before, rtol=0, atol=1e-10 * float(before.abs().max()))
    update_grid(model, x)  # knots follow each layer's inputs through the product nodes
    inputs = model.layer_inputs(x)
    for layer, h in zip(model.layers, inputs):
        assert torch.allclose(layer.lower, h.min(0).values) and torch.allclose(layer.upper, h.max(0).values)


@pytest.mark.parametrize("widths, mult, words", [
    ((2, 1, 1), (1, 1), "at most 1"),
    ((2, 0, 1), (), "no nodes"),
    ((2, 1, 1), (-1,), ">= 0"),
])
def test_bad_product_nodes_are_refused(widths, mult, words):
    with pytest.raises(KanpdeError, match=words):
        network(widths, mult)


def test_fixed_edges_outside_the_layer_are_refused():
    with pytest.raises(KanpdeError, match="source -> target"):
        FixedEdges(2, 1, [FixedEdge(2, 0, SIN)])



def test_edge_moments_match_the_materialised_edges():
    model = network()
    x = points(300)
    for layer, h in zip(model.layers, model.layer_inputs(x)):
        layer.mask[0, 0] = 0.0
        values = layer.edge_function(h) * layer.mask  # (N, in, out)
        mean, square = layer.edge_moments(h)
        assert torch.allclose(mean, values.mean(0), rtol=1e-12, atol=1e-14)
        assert torch.allclose(square, values.square().mean(0), rtol=1e-12, atol=1e-14)
        assert torch.allclose(layer.edge_scales(h), values.square().mean(0).sqrt(), rtol=1e-12, atol=1e-14)


def test_add_constant_shifts_one_edge_everywhere():
    model = network((2, 3, 1), ())
    layer = model.layers[0]
    x = torch.cat([points(50), points(5) * 4.0 - 2.0])  # inside and beyond the grid range
    h = model.mapped_inputs(x)
    before = layer.edge_function(h)
    layer.add_constant(1, 2, 0.375)
    shift = torch.zeros_like(before)
    shift[:, 1, 2] = 0.375
    assert torch.allclose(layer.edge_function(h), before + shift, rtol=0, atol=1e-12)


def test_frozen_fixed_edges_get_no_gradient_and_keep_their_flag():
    """In one layer, a frozen edge's constants stay out of training while its neighbour's
    are trained; the jet path (training) and the plain forward agree."""
    edges = FixedEdges(2, 1, [FixedEdge(0, 0, SIN, 2.0, 0.1, 1.5, 0.2, frozen=True), FixedEdge(1, 0, EXP)],
                       dtype=F64)
    x = points()
    edges(x).square().sum().backward()
    for p in (edges.a, edges.b, edges.c, edges.d):
        assert p.grad[0] == 0.0 and p.grad[1] != 0.0
    assert [e.frozen for e in edges.current()] == [True, False]
    model = product_network([(SIN, (2.0, 0.1, 1.5, 0.2)), (EXP, (0.5, 0.0, 1.0, 0.0))])
    first = model.layers[0]
    first.fixed = FixedEdges(2, 2, [FixedEdge(0, 0, SIN, 2.0, 0.1, 1.5, 0.2, frozen=True),
                                    FixedEdge(1, 1, EXP, 0.5)], dtype=F64)
    jet = model.jet(x, JetRequest.of(first=[0, 1]))
    torch.testing.assert_close(jet.value, model(x), rtol=1e-13, atol=1e-13)
    jet.value.sum().backward()
    assert first.fixed.a.grad[0] == 0.0 and first.fixed.a.grad[1] != 0.0
