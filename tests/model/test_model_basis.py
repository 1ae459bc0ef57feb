"""B-spline basis: partition of unity, positivity, local support, agreement with scipy."""

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanpde.model.basis import bspline_basis, extend_knots, uniform_knots

F64 = torch.float64


def random_knots(n_in, grid_size, order, seed):
    """Strictly increasing random knots, one row per input: (in, G+2k+1)."""
    rng = np.random.default_rng(seed)
    gaps = rng.uniform(0.2, 1.0, size=(n_in, grid_size + 2 * order))
    start = rng.uniform(-2.0, 0.0, size=(n_in, 1))
    return torch.tensor(np.concatenate([start, start + np.cumsum(gaps, axis=1)], axis=1), dtype=F64)


def points_in_range(knots, order, n, seed):
    """Random points in each grid range plus both end points: (n+2, in)."""
    lower, upper = knots[:, order], knots[:, -order - 1]
    u = torch.rand(n, knots.shape[0], generator=torch.Generator().manual_seed(seed), dtype=F64)
    return torch.cat([lower[None], upper[None], lower + u * (upper - lower)])


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["uniform", "random"])
def test_partition_of_unity_and_nonnegative(order, kind):
    g = 6
    if kind == "uniform":
        lower, upper = torch.tensor([-1.0, 0.0, 2.0], dtype=F64), torch.tensor([1.0, 0.5, 7.0], dtype=F64)
        knots = uniform_knots(lower, upper, g, order)
    else:
        knots = random_knots(3, g, order, seed=order)
    x = points_in_range(knots, order, 200, seed=1)
    basis = bspline_basis(x, knots, order)  # (N, in, G+k)
    assert basis.shape == (x.shape[0], 3, g + order)
    torch.testing.assert_close(basis.sum(-1), torch.ones_like(x), rtol=0, atol=1e-12)
    assert (basis >= -1e-15).all()


def test_uniform_knots_hit_the_range_ends_exactly():
    lower, upper = torch.tensor([0.1, -3.0], dtype=F64), torch.tensor([0.7, 11.0], dtype=F64)
    knots = uniform_knots(lower, upper, 7, 3)
    assert torch.equal(knots[:, 3], lower) and torch.equal(knots[:, -4], upper)
    steps = knots.diff(dim=1)
    torch.testing.assert_close(steps, ((upper - lower) / 7)[:, None].expand_as(steps), rtol=1e-12, atol=0)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_local_support_k_plus_one_nonzeros(order):
    knots = random_knots(2, 8, order, seed=10 + order)
    x = points_in_range(knots, order, 50, seed=2)[2:]  # generic points, not on knots
    nonzero = (bspline_basis(x, knots, order) != 0).sum(-1)
    assert (nonzero == order + 1).all()


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_matches_scipy_basis(order):
    g = 7
    knots = random_knots(2, g, order, seed=20 + order)
    x = points_in_range(knots, order, 300, seed=3)
    basis = bspline_basis(x, knots, order).numpy()
    for i in range(2):
        expected = BSpline.design_matrix(x[:, i].numpy(), knots[i].numpy(), order).toarray()
        np.testing.assert_allclose(basis[:, i, :], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", [2, 3])
def test_derivative_matches_scipy(order):
    knots = random_knots(1, 6, order, seed=30 + order)
    coef = np.random.default_rng(4).normal(size=6 + order)
    x = points_in_range(knots, order, 100, seed=5)[2:].requires_grad_(True)  # (N, 1)
    spline = bspline_basis(x, knots, order)[:, 0, :] @ torch.tensor(coef)  # (N,)
    (grad,) = torch.autograd.grad(spline.sum(), x)
    expected = BSpline(knots[0].numpy(), coef, order).derivative()(x.detach()[:, 0].numpy())
    np.testing.assert_allclose(grad[:, 0].numpy(), expected, rtol=1e-10, atol=1e-10)


def test_extend_knots_uses_end_spacing():
    interior = torch.tensor([[0.0, 0.1, 0.5, 2.0]], dtype=F64)
    knots = extend_knots(interior, 2)
    expected = torch.tensor([[-0.2, -0.1, 0.0, 0.1, 0.5, 2.0, 3.5, 5.0]], dtype=F64)
    torch.testing.assert_close(knots, expected, rtol=0, atol=1e-15)
