"""Collocation points: interior points for the residual, points for each condition."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kanpde.conditions import Points
from kanpde.problem import Problem


@dataclass
class SamplerConfig:
    """method: uniform | sobol | lhs | grid; interior: residual points; boundary: points
    for each condition (observations use all their points)."""

    method: str = "sobol"
    interior: int = 1024
    boundary: int = 256


@dataclass
class Batch:
    interior: torch.Tensor  # (N, d)
    conditions: list[Points]  # one per problem condition, same order


def sample_batch(problem: Problem, config: SamplerConfig, generator: torch.Generator,
                 dtype: torch.dtype, device: torch.device) -> Batch:
    domain = problem.domain
    interior = domain.sample_interior(config.interior, config.method, generator=generator,
                                      dtype=dtype, device=device)
    conditions = [c.sample(domain, config.boundary, config.method, generator, dtype, device)
                  for c in problem.conditions]
    return Batch(interior, conditions)
