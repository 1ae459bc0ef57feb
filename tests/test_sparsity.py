"""The sparsity regulariser (L1 + entropy of the KAN's edge scales) and its curriculum
switch."""

import pytest
import torch

import kanpde
from kanpde.errors import KanpdeError
from kanpde.model import KAN, MLP, KANConfig
from kanpde.training import Stage, solve
from kanpde.training.losses import sparsity

F64 = torch.float64
BOUNDS = [[-1.0, 1.0], [0.0, 2.0]]


def network(seed=0):
    return KAN([2, 4, 1], BOUNDS, KANConfig(noise_scale=1.0), generator=torch.Generator().manual_seed(seed),
               dtype=F64)


def points(n=500):
    return torch.rand(n, 2, dtype=F64, generator=torch.Generator().manual_seed(1)) * torch.tensor([2.0, 2.0]) \
        - torch.tensor([1.0, 0.0])


def brute_force(model, x, entropy):
    """From the materialised (N, in, out) edge outputs."""
    total = 0.0
    for layer, h in zip(model.layers, model.layer_inputs(x)):
        scales = layer.edge_function(h).square().mean(0).sqrt()  # (in, out)
        share = scales / scales.sum(1, keepdim=True)
        total = total + scales.sum() - entropy * (share * share.log()).sum()
    return total


@pytest.mark.parametrize("entropy", [0.0, 2.0])
def test_regulariser_matches_its_definition(entropy):
    model, x = network(), points()
    assert torch.allclose(sparsity(model, x, entropy), brute_force(model, x, entropy), rtol=1e-12)


def test_descent_on_the_regulariser_lowers_it():
    model, x = network(), points()
    start = sparsity(model, x, 2.0).item()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        sparsity(model, x, 2.0).backward()
        optimizer.step()
    assert sparsity(model, x, 2.0).item() < 0.5 * start


def test_a_sparsify_stage_needs_a_kan():
    problem = kanpde.load_problem("poisson2d")
    mlp = MLP([2, 8, 1], problem.domain.bounds, dtype=F64)
    with pytest.raises(KanpdeError, match="sparsify"):
        solve(problem, mlp, [Stage(1, sparsify=1e-3)])
    with pytest.raises(KanpdeError, match="sparsify"):
        Stage(1, sparsify=-1.0)


def test_a_sparsify_stage_records_the_term_and_trains():
    problem = kanpde.load_problem("poisson2d")
    model = KAN([2, 3, 1], problem.domain.bounds, generator=torch.Generator().manual_seed(0), dtype=F64)
    result = solve(problem, model, [Stage(20, lr=1e-2, sparsify=1e-3)], log_every=10)
    assert result.ok and all("sparsity" in row for row in result.history)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
