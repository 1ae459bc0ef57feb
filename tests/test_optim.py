"""The stage-optimizer interface: every method resumes exactly from its state_dict."""

from __future__ import annotations

import copy
import numbers

import pytest
import torch

from kanpde import KAN, KANConfig, Stage, load_problem
from kanpde.training.curriculum import OPTIMIZERS
from kanpde.training.losses import term_weights
from kanpde.training.objective import Objective
from kanpde.training.optim import make_optimizer
from kanpde.training.sampler import SamplerConfig, sample_batch


def _setup():
    problem = load_problem("poisson1d")
    model = KAN([1, 3, 1], problem.domain.bounds, KANConfig(grid_size=4),
                generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    batch = sample_batch(problem, SamplerConfig(interior=64, boundary=2), torch.Generator().manual_seed(0),
                         torch.float64, torch.device("cpu"))
    return problem, model, batch


def _plain(value) -> bool:
    """Tensors, numbers, strings and None, in dicts, lists and tuples: checkpointable."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (torch.Tensor, numbers.Number, str))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_stage_optimizer_resumes_exactly_from_its_state_dict(name):
    stage = Stage(3, name, 1e-2 if name == "adam" else 1.0)
    problem, model, batch = _setup()
    objective = Objective(problem, model, batch, {}, term_weights(problem))
    optimizer = make_optimizer(stage, model)
    optimizer.step(objective)
    saved_model = copy.deepcopy(model.state_dict())
    saved = copy.deepcopy(optimizer.state_dict())
    assert _plain(saved)
    for _ in range(2):
        optimizer.step(objective)
    # a fresh process: a new model and optimizer, loaded from the checkpoint
    _, resumed_model, _ = _setup()
    resumed_model.load_state_dict(saved_model)
    resumed = make_optimizer(stage, resumed_model)
    resumed.load_state_dict(saved)
    resumed_objective = Objective(problem, resumed_model, batch, {}, term_weights(problem))
    for _ in range(2):
        resumed.step(resumed_objective)
    for (key, expected), actual in zip(model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(expected, actual), (name, key)
    moved = any(not torch.equal(a, b) for a, b in zip(saved_model.values(), model.state_dict().values()))
    assert moved  # the steps after the checkpoint did something


@pytest.mark.parametrize("restart", [False, True])
def test_redrawn_points_keep_or_restart_the_curvature(restart):
    problem, model, batch = _setup()
    objective = Objective(problem, model, batch, {}, term_weights(problem))
    optimizer = make_optimizer(Stage(3, "ssbroyden", resample_every=1, resample_restart=restart), model)
    optimizer.step(objective)
    learnt = optimizer.method.H.clone()
    assert not torch.equal(learnt, torch.eye(len(learnt), dtype=learnt.dtype))
    optimizer.new_points()
    if restart:
        assert torch.equal(optimizer.method.H, torch.eye(len(learnt), dtype=learnt.dtype)) and optimizer.method.fresh
    else:
        assert torch.equal(optimizer.method.H, learnt)
