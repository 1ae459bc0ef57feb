"""The KAN's analytic derivative jet against nested autograd (the oracle), in float64.

Random networks with large spline coefficients (so the spline part dominates), random
points including some outside the grid range (where the splines continue their end
polynomials), grids after extension and after update_grid.
"""

import pytest
import torch

from kanpde.errors import KanpdeError
from kanpde.jet import JetRequest, autograd_jet, input_jet
from kanpde.model import KAN, KANConfig, extend_grid, fused, update_grid
from kanpde.model.basis import bspline_basis, bspline_local, bspline_taylor, taylor_table, uniform_knots
from kanpde.model.spline_product import spline_product

F64 = torch.float64
BOUNDS = [[0.0, 1.0], [-1.0, 2.0], [0.0, 3.0]]
FULL = JetRequest.of(first=[0, 1, 2], second=[(0, 0), (0, 1), (1, 2), (2, 2)], laplacian=[0, 1, 2])
THIRD = JetRequest.of(first=[0], second=[(0, 0)], laplacian=[0, 1, 2], third=[(1, 1, 1), (0, 1, 2), (0, 0, 2)])


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def points(n, seed, outside=0):
    """n points in BOUNDS, the first ``outside`` of them pushed beyond the upper bound of y."""
    lower = torch.tensor([b[0] for b in BOUNDS], dtype=F64)
    upper = torch.tensor([b[1] for b in BOUNDS], dtype=F64)
    x = lower + (upper - lower) * torch.rand(n, 3, dtype=F64, generator=gen(seed))
    x[:outside, 1] = upper[1] + 0.5
    return x


def network(widths=(3, 5, 4, 2), grid=5, order=3, seed=1):
    config = KANConfig(grid_size=grid, order=order, noise_scale=1.0)
    return KAN(list(widths), BOUNDS, config, generator=gen(seed), dtype=F64)


def use(model, product):
    """Set every layer's jet implementation; the fused kernel must have been built."""
    if product == "fused" and not fused.available():
        pytest.skip("the fused CPU kernel could not be built here (see the log)")
    for layer in model.layers:
        layer.product = product
    return model


def assert_same_jet(model, x, request, rtol=1e-12):
    analytic = model.jet(x, request).data
    reference = autograd_jet(model, x, request).data
    scale = reference.abs().max()
    assert (analytic - reference).abs().max() <= rtol * scale, (analytic - reference).abs().max() / scale


REQUESTS = {
    "values": JetRequest(),
    "gradient": JetRequest.of(first=[0, 1, 2]),
    "one axis": JetRequest.of(first=[1]),
    "laplacian": JetRequest.of(laplacian=[0, 1]),
    "mixed": JetRequest.of(second=[(0, 2)]),
    "pure and mixed": JetRequest.of(second=[(0, 0), (1, 1), (0, 1)]),
    "all": FULL,
    "third pure": JetRequest.of(third=[(1, 1, 1)]),
    "third with all": THIRD,
}


PRODUCTS = ["fused", "dense", "local"]


@pytest.mark.parametrize("name", REQUESTS)
@pytest.mark.parametrize("product", PRODUCTS)
def test_jet_equals_autograd(name, product):
    model = use(network(), product)
    if product == "fused" and REQUESTS[name].order == 3:  # the kernel carries up to second derivatives
        with pytest.raises(KanpdeError, match="up to the second"):
            model.jet(points(5, seed=2), REQUESTS[name])
        return
    assert_same_jet(model, points(200, seed=2, outside=10), REQUESTS[name])


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("product", PRODUCTS)
def test_jet_equals_autograd_for_every_spline_order(order, product):
    assert_same_jet(use(network(order=order), product), points(150, seed=3), FULL)
    if product != "fused":
        assert_same_jet(use(network(order=order), product), points(150, seed=3), THIRD)


# widths the fused kernel specialises (1, 8, 16, 32 outputs with cubic splines) and others
@pytest.mark.parametrize("widths", [(3, 8, 1), (3, 16, 32, 3), (3, 7, 2)])
def test_fused_jet_equals_autograd_for_every_output_width(widths):
    model = use(network(widths=widths), "fused")
    assert_same_jet(model, points(120, seed=13, outside=6), FULL)


def test_jet_equals_autograd_after_grid_extension_and_update():
    model = network(grid=4)
    x = points(300, seed=4)
    extend_grid(model, 12)
    assert_same_jet(model, points(200, seed=5), FULL)
    assert_same_jet(use(model, "dense"), points(200, seed=5), FULL)
    use(model, "auto")
    update_grid(model, x)  # non-uniform knots now
    assert_same_jet(model, points(200, seed=6), FULL)
    assert_same_jet(model, x, FULL)  # also the samples that now sit on the ends of the ranges


@pytest.mark.parametrize("request_", [FULL, THIRD], ids=["second", "third"])
def test_parameter_gradients_through_the_jet_equal_autograd(request_):
    model = network(grid=7)
    x = points(100, seed=7, outside=5)
    weights = torch.randn(request_.channels, 100, 2, dtype=F64, generator=gen(8))
    for product in PRODUCTS if request_.order < 3 else ["auto", "dense", "local"]:
        use(model, product)
        analytic = torch.autograd.grad((model.jet(x, request_).data * weights).sum(), list(model.parameters()))
        nested = autograd_jet(model, x, request_, create_graph=True)
        reference = torch.autograd.grad((nested.data * weights).sum(), list(model.parameters()))
        for a, r in zip(analytic, reference):
            assert (a - r).abs().max() <= 1e-12 * r.abs().max()


def test_jet_value_channel_equals_the_forward_pass():
    model = network()
    x = points(64, seed=9, outside=4)
    expected = model(x)
    assert (model.jet(x, JetRequest()).value - expected).abs().max() <= 1e-13 * expected.abs().max().clamp_min(1.0)


# -- the local basis ------------------------------------------------------------------------

def nonuniform_knots(grid, order, seed=0):
    knots = uniform_knots(torch.tensor([-1.0, 0.0], dtype=F64), torch.tensor([1.0, 2.0], dtype=F64), grid, order)
    knots[:, 1:-1] += 0.03 * torch.rand(2, knots.shape[1] - 2, dtype=F64, generator=gen(seed))
    return knots.sort(dim=1).values


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("evaluate", ["recursion", "taylor"])
def test_local_basis_is_the_nonzero_part_of_the_dense_basis(order, evaluate):
    grid = 7
    knots = nonuniform_knots(grid, order)
    lower, upper = knots[:, order], knots[:, grid + order]
    x = lower + (upper - lower) * torch.rand(400, 2, dtype=F64, generator=gen(1))
    x[0], x[1], x[2] = lower, upper, knots[:, order + 2]  # both ends and an interior knot
    if evaluate == "recursion":
        first, values = bspline_local(x, knots, order, derivatives=2)
    else:
        first, values = bspline_taylor(x, knots, taylor_table(knots, order, 2), derivatives=2)
    index = first[..., None] + torch.arange(order + 1)
    x = x.clone().requires_grad_(True)
    dense = bspline_basis(x, knots, order)  # (N, in, G+k)
    local = torch.gather(dense, 2, index)
    torch.testing.assert_close(values[0], local.detach(), rtol=0, atol=1e-14)
    assert dense.detach().scatter(2, index, 0.0).abs().max() == 0  # nothing non-zero elsewhere
    # derivatives against autograd of the dense recursion, one basis function at a time
    for q in (1, 2):
        if q > order:  # a piecewise polynomial of degree order
            assert values[q].abs().max() == 0
            continue
        for r in range(order + 1):
            column = local[..., r]
            for _ in range(q):
                column = torch.autograd.grad(column.sum(), x, create_graph=True)[0]
            torch.testing.assert_close(values[q][..., r], column.detach(), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("grid", [3, 50])
def test_spline_products_agree(grid):
    order, n_in, n_out = 3, 4, 5
    features = torch.randn(3, 60, n_in, order + 1, dtype=F64, generator=gen(2), requires_grad=True)
    first = torch.randint(0, grid, (60, n_in), generator=gen(3))
    table = torch.randn(n_in, grid + order, n_out, dtype=F64, generator=gen(4), requires_grad=True)
    weights = torch.randn(3, 60, n_out, dtype=F64, generator=gen(5))
    results = {}
    for method in ("dense", "local"):
        out = spline_product(features, first, table, method)
        results[method] = (out, *torch.autograd.grad((out * weights).sum(), [features, table]))
    for dense, local in zip(results["dense"], results["local"]):
        torch.testing.assert_close(local, dense, rtol=1e-13, atol=1e-13)
    # and against the definition, written as a loop over points
    rows = torch.stack([table[i, first[:, i, None] + torch.arange(order + 1)] for i in range(n_in)], dim=1)
    expected = torch.einsum("cnir,niro->cno", features, rows)
    torch.testing.assert_close(results["local"][0], expected, rtol=1e-13, atol=1e-13)


def test_first_layer_feature_memo_follows_knot_changes():
    # the same points (no grad) through extension, update and a state load: the memo of
    # the first layer's features must never serve features of old knots
    model, x = network(grid=4), points(120, seed=10)
    model.jet(x, FULL)
    extend_grid(model, 8)
    assert_same_jet(model, x, FULL)
    update_grid(model, points(300, seed=11))
    assert_same_jet(model, x, FULL)
    other = network(grid=8, seed=3)
    update_grid(other, points(300, seed=12))
    model.load_state_dict(other.state_dict())
    assert_same_jet(model, x, FULL)


def test_without_the_fused_kernel_auto_uses_torch_and_fused_says_why(monkeypatch):
    monkeypatch.setitem(fused._state, "loaded", False)  # as after a failed build
    model, jet = network(), input_jet(points(4, seed=0), FULL)
    assert not any(layer.runs_fused(jet) for layer in model.layers)
    assert_same_jet(model, points(100, seed=14), FULL)
    model.layers[1].product = "fused"
    with pytest.raises(KanpdeError, match="use product 'auto', 'dense' or 'local'"):
        model.jet(points(4, seed=0), FULL)


def test_the_fused_kernel_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("KANPDE_FUSED", "0")
    monkeypatch.delitem(fused._state, "loaded", raising=False)
    assert not fused.available()


def test_an_unknown_product_names_the_accepted_ones():
    model = network()
    model.layers[0].product = "sparse"
    with pytest.raises(KanpdeError, match="accepted: auto, fused, dense, local"):
        model.jet(points(4, seed=0), FULL)
