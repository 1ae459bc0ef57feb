"""Loss = weighted mean squares of the PDE residual and of every condition's residual."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from kanpde.errors import KanpdeError
from kanpde.problem import Problem
from kanpde.training.sampler import Batch

RESIDUAL = "residual"


def evaluate_residual(problem: Problem, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """PDE residual at interior points x: (N, d) -> (N, k)."""
    x = x.detach().requires_grad_(True)
    u = problem.field(x, problem.solution(model, x))
    r = problem.residual(u, problem.coords(x), problem.params)
    if not isinstance(r, torch.Tensor) or r.ndim not in (1, 2) or r.shape[0] != len(x):
        shape = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
        raise KanpdeError(f"problem {problem.name!r}: the residual returned {shape} for {len(x)} "
                          f"points; expected a tensor of shape ({len(x)},) or ({len(x)}, k): one "
                          "value per point, or k values for k equations")
    return r.reshape(len(x), -1)


def loss_terms(problem: Problem, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Mean square of the residual and of each condition, by name: scalar tensors."""
    terms = {RESIDUAL: evaluate_residual(problem, model, batch.interior).square().mean()}
    for condition, points in zip(problem.conditions, batch.conditions):
        x = points.x.detach().requires_grad_(True)
        u = problem.field(x, problem.solution(model, x))
        terms[condition.label] = condition.residual(u, problem.coords(x), points, problem.params).square().mean()
    return terms


def term_weights(problem: Problem, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Weight of each term: 1 for the residual, each condition's own weight, then overrides."""
    weights = {RESIDUAL: 1.0, **{c.label: c.weight for c in problem.conditions}}
    unknown = set(overrides or {}) - set(weights)
    if unknown:
        raise KanpdeError(f"loss weights name unknown terms {sorted(unknown)}; the terms of "
                          f"{problem.name!r} are: {', '.join(weights)}")
    return {**weights, **(overrides or {})}


def total_loss(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    return sum(weights[name] * value for name, value in terms.items())
