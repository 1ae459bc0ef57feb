"""Networks built odd or even in one input (model.reflection): the symmetry holds exactly
for any parameters, and the analytic jet equals nested autograd (the oracle)."""

import pytest
import torch

from kanpde.errors import KanpdeError
from kanpde.jet import JetRequest, autograd_jet
from kanpde.model import KAN, MLP, KANConfig, extend_grid

F64 = torch.float64
BOUNDS = [[0.0, 2.0], [-1.0, 3.0]]  # mirror centres 1 and 1
REQUEST = JetRequest.of(first=[0, 1], second=[(0, 0), (0, 1), (1, 1)], laplacian=[0, 1],
                        third=[(0, 0, 0), (0, 0, 1), (1, 1, 1)])


def points(n=40, seed=0):
    lower, upper = torch.tensor(BOUNDS, dtype=F64).T
    return lower + (upper - lower) * torch.rand(n, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))


def network(kind, reflect):
    generator = torch.Generator().manual_seed(1)
    if kind == "mlp":
        return MLP([2, 6, 6, 2], BOUNDS, "tanh", reflect=reflect, generator=generator, dtype=F64)
    return KAN([2, 4, 3, 2], BOUNDS, KANConfig(grid_size=5, order=3, noise_scale=1.0), reflect=reflect,
               generator=generator, dtype=F64)


@pytest.mark.parametrize("kind", ["kan", "mlp"])
@pytest.mark.parametrize("axis, parity, sign", [(0, "odd", -1.0), (1, "even", 1.0)])
def test_the_network_has_the_parity_exactly(kind, axis, parity, sign):
    model = network(kind, (axis, parity))
    x = points()
    mirrored = x.clone()
    mirrored[:, axis] = 2.0 - x[:, axis]  # both axes have their middle at 1
    with torch.no_grad():
        here, there = model(x), model(mirrored)
    assert here.abs().max() > 1e-2  # not trivially zero
    torch.testing.assert_close(there, sign * here, atol=1e-14, rtol=0)
    plain = network(kind, None)
    with torch.no_grad():  # the same parameters without the reflection: the mean of f and its mirror image
        torch.testing.assert_close(here, (plain(x) + sign * plain(mirrored)) / 2, atol=1e-14, rtol=0)


@pytest.mark.parametrize("kind", ["kan", "mlp"])
@pytest.mark.parametrize("reflect", [(0, "odd"), (1, "even")])
def test_the_reflected_jet_equals_nested_autograd(kind, reflect):
    model = network(kind, reflect)
    if kind == "kan":
        extend_grid(model, 10)
    x = points(seed=3)
    analytic = model.jet(x, REQUEST).data
    reference = autograd_jet(model, x, REQUEST).data
    assert (analytic - reference).abs().max() <= 1e-11 * reference.abs().max()


def test_a_bad_reflection_says_what_is_accepted():
    with pytest.raises(KanpdeError, match="odd, even"):
        network("kan", (0, "skew"))
    with pytest.raises(KanpdeError, match="not an input index"):
        network("mlp", (2, "odd"))
