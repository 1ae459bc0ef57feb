"""Point weights of the residual term: causal slabs in time and residual-based attention."""

import math

import pytest
import torch

from kanpde import KanpdeError, PointWeighting
from kanpde.training.weighting import ResidualReduction


def points(times):
    """(N, 2) points (x, t) at the given times."""
    t = torch.tensor(times, dtype=torch.float64)
    return torch.stack([torch.zeros_like(t), t], dim=1)


def test_causal_weights_follow_the_earlier_slabs_residuals():
    reduce = ResidualReduction(PointWeighting(causal=2.0, bins=4), (0.0, 2.0))
    x = points([0.1, 0.2, 0.7, 1.2, 1.9, 1.6])  # slabs 0, 0, 1, 2, 3, 3
    squares = torch.tensor([1.0, 3.0, 0.5, 0.25, 0.1, 0.3], dtype=torch.float64)
    term = reduce(squares, x)
    means = [2.0, 0.5, 0.25, 0.2]
    weights = [1.0, math.exp(-2.0 * 2.0), math.exp(-2.0 * 2.5), math.exp(-2.0 * 2.75)]
    assert float(term) == pytest.approx(sum(w * m for w, m in zip(weights, means)) / 4, rel=1e-14)
    assert reduce.causal_weights.tolist() == pytest.approx(weights, rel=1e-14)


def test_weights_are_fixed_within_a_step_and_refreshed_by_the_next():
    reduce = ResidualReduction(PointWeighting(causal=1.0, bins=2), (0.0, 1.0))
    x = points([0.25, 0.75])
    reduce(torch.tensor([1.0, 1.0], dtype=torch.float64), x)
    squares = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    term = reduce(squares, x)  # same step (an L-BFGS line search): weights from the first call
    assert float(term.detach()) == pytest.approx(math.exp(-1.0) / 2, rel=1e-14)
    term.backward()
    assert squares.grad.tolist() == pytest.approx([0.5, math.exp(-1.0) / 2], rel=1e-14)
    reduce.new_step()
    assert float(reduce(squares.detach(), x)) == pytest.approx(0.5, rel=1e-14)  # slab 0 now fits


def test_attention_accumulates_where_the_residual_stays_large():
    config = PointWeighting(attention=0.01, decay=0.9)
    reduce = ResidualReduction(config, None)
    x = points([0.0, 0.0, 0.0])
    squares = torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64)  # |r| = 2, 1, 0
    steps = 50
    for _ in range(steps):
        reduce.new_step()
        term = reduce(squares, x)
    share = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)  # |r| / max |r|
    lam = 0.9**steps + 0.01 * share * (1 - 0.9**steps) / (1 - 0.9)
    assert float(term) == pytest.approx(float((lam.square() * squares).mean()), rel=1e-12)
    reduce.new_step()
    fresh = points([0.0, 0.0, 0.0])  # redrawn points: their weights start again at 1
    once = 0.9 + 0.01 * share
    assert float(reduce(squares, fresh)) == pytest.approx(float((once.square() * squares).mean()), rel=1e-12)


def test_time_decay_weights_are_exponential_in_time_with_mean_one():
    rate = 3.0
    reduce = ResidualReduction(PointWeighting(time_decay=rate), (1.0, 3.0))
    t = torch.linspace(1.0, 3.0, 20001, dtype=torch.float64)
    weights = reduce.point_weights(torch.ones_like(t), points(t.tolist()))
    assert float(weights[-1] / weights[0]) == pytest.approx(math.exp(-rate), rel=1e-12)
    assert float(weights[10000] / weights[0]) == pytest.approx(math.exp(-rate / 2), rel=1e-12)
    assert float(torch.trapezoid(weights, t) / 2.0) == pytest.approx(1.0, rel=1e-8)  # mean 1 over the range
    assert PointWeighting(time_decay=rate).active and not PointWeighting(time_decay=rate).varies


def test_a_least_squares_stage_minimises_the_time_decay_weighted_residual_without_hold():
    """Fixed weights are one objective: a Levenberg-Marquardt stage keeps them (no hold);
    its first logged residual term is the weighted mean square of the initial network's
    residual at the run's first points."""
    from kanpde import KAN, KANConfig, Stage, load_problem, solve
    from kanpde.training.losses import evaluate_residual
    from kanpde.training.sampler import SamplerConfig, sample_batch

    problem = load_problem("diffusion1d")
    model = KAN([2, 3, 1], problem.domain.bounds, KANConfig(grid_size=3), generator=torch.Generator().manual_seed(0),
                dtype=torch.float64)
    batch = sample_batch(problem, SamplerConfig(), torch.Generator().manual_seed(0), torch.float64, torch.device("cpu"))
    squares = evaluate_residual(problem, model, batch.interior).detach().square().mean(dim=1)
    t = batch.interior[:, -1]
    (t0, t1), rate = problem.domain.t_bounds, 4.0
    weights = torch.exp(-rate * (t - t0) / (t1 - t0)) * rate / (1 - math.exp(-rate))
    result = solve(problem, model, [Stage(1, "lm")], seed=0, log_every=1,
                   point_weighting=PointWeighting(time_decay=rate))
    assert result.history[0]["residual"] == pytest.approx(float((weights * squares).mean()), rel=1e-10)
    assert result.history[0]["residual"] != pytest.approx(float(squares.mean()), rel=1e-2)


def test_bad_settings_say_what_is_accepted():
    with pytest.raises(KanpdeError, match="need a time axis"):
        ResidualReduction(PointWeighting(causal=1.0), None)
    with pytest.raises(KanpdeError, match="need a time axis"):
        ResidualReduction(PointWeighting(time_decay=1.0), None)
    with pytest.raises(KanpdeError, match="time_decay >= 0"):
        PointWeighting(time_decay=-1.0)
    with pytest.raises(KanpdeError, match="0 <= decay < 1"):
        PointWeighting(attention=0.1, decay=1.0)


def test_held_weights_stay_through_a_stage_and_the_residual_vector_carries_them():
    """hold: a least-squares stage minimises the attention-weighted loss with the weights
    of its start; the residual vector's squares sum to that weighted loss, and a later
    stage starts from refreshed weights."""
    from kanpde import KAN, KANConfig, load_problem
    from kanpde.training.losses import term_weights
    from kanpde.training.objective import Objective
    from kanpde.training.sampler import SamplerConfig, sample_batch

    problem = load_problem("poisson1d")
    model = KAN([1, 2, 1], problem.domain.bounds, KANConfig(grid_size=3), generator=torch.Generator().manual_seed(0),
                dtype=torch.float64)
    batch = sample_batch(problem, SamplerConfig(interior=32, boundary=2), torch.Generator().manual_seed(0),
                         torch.float64, torch.device("cpu"))
    reduce = ResidualReduction(PointWeighting(attention=0.5, decay=0.5, hold=True), None)
    reduce.hold()
    objective = Objective(problem, model, batch, {}, term_weights(problem), reduce)
    loss = float(objective().detach())
    first = reduce.point_weights(torch.zeros(32, dtype=torch.float64), batch.interior).clone()
    assert not torch.allclose(first, torch.ones_like(first))  # refreshed from the residual
    assert float(objective.residuals().detach().square().sum()) == pytest.approx(loss, rel=1e-12)
    with torch.no_grad():
        model.layers[0].coef.mul_(1.5)  # a step of the stage: other residuals
    objective.new_step()
    objective()
    assert torch.equal(reduce.point_weights(torch.zeros(32, dtype=torch.float64), batch.interior), first)  # held
    reduce.hold()  # the next stage's start
    objective()
    assert not torch.equal(reduce.point_weights(torch.zeros(32, dtype=torch.float64), batch.interior), first)
