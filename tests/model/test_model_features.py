"""Periodic input features: the network and all its derivatives are periodic, and the
analytic jet through the features equals nested autograd."""

import pytest
import torch

from kanpde import Interval, KanpdeError, Periodic, Problem, SpaceTime, hard_periodic
from kanpde.jet import JetRequest, autograd_jet
from kanpde.model import KAN, MLP, KANConfig

F64 = torch.float64
BOUNDS = [[-1.0, 1.0], [0.0, 2.0]]  # (x, t): periodic in x
FULL = JetRequest.of(first=[0, 1], second=[(0, 0), (0, 1), (1, 1)], laplacian=[0])


def kan(periodic=(0,)):
    config = KANConfig(grid_size=5, noise_scale=1.0)
    return KAN([2, 6, 3], BOUNDS, config, periodic=periodic, generator=torch.Generator().manual_seed(0), dtype=F64)


def ends(n=50):
    """Pairs of points at x = -1 and x = 1 with the same t: (2n, 2)."""
    t = torch.linspace(0.0, 2.0, n, dtype=F64)
    return torch.stack([-torch.ones_like(t), t], 1), torch.stack([torch.ones_like(t), t], 1)


@pytest.mark.parametrize("product", ["auto", "dense"])
def test_values_and_derivatives_agree_at_both_ends(product):
    model = kan()
    for layer in model.layers:
        layer.product = product
    left, right = ends()
    a, b = model.jet(left, FULL).data, model.jet(right, FULL).data
    assert (a - b).abs().max() < 1e-12 * a.abs().max()
    assert a[0].abs().max() > 1e-3  # not trivially zero


def test_without_features_the_ends_differ():
    left, right = ends()
    assert (kan(periodic=())(left) - kan(periodic=())(right)).abs().max() > 1e-3


@pytest.mark.parametrize("product", ["auto", "dense", "local"])
def test_jet_through_the_features_equals_autograd(product):
    model = kan()
    for layer in model.layers:
        layer.product = product
    x = torch.rand(64, 2, dtype=F64, generator=torch.Generator().manual_seed(3)) * torch.tensor([2.0, 2.0], dtype=F64)
    x[:, 0] -= 1.0
    analytic = model.jet(x, FULL).data
    reference = autograd_jet(model, x, FULL).data
    assert (analytic - reference).abs().max() <= 1e-12 * reference.abs().max()


def test_the_first_layer_sees_cos_and_sin():
    model = kan()
    assert model.widths[0] == 3  # x -> (cos, sin), t
    mlp = MLP([2, 8, 1], BOUNDS, periodic=(0,), generator=torch.Generator().manual_seed(0), dtype=F64)
    left, right = ends()
    assert torch.allclose(mlp(left), mlp(right), atol=1e-14)


def test_hard_periodic_takes_the_condition_out_of_the_loss():
    domain = SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0)
    problem = Problem("p", domain, lambda u, x, p: u.value, [Periodic(axis="x")])
    stripped, axes = hard_periodic(problem)
    assert axes == (0,) and stripped.conditions == ()
    with pytest.raises(KanpdeError, match="no Periodic condition"):
        hard_periodic(stripped)
    with pytest.raises(KanpdeError, match="distinct indices"):
        kan(periodic=(2,))
