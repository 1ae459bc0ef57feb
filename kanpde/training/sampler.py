"""Collocation points: interior points for the residual, points for each condition."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    _points: torch.Tensor | None = field(default=None, init=False, repr=False)

    def points(self) -> torch.Tensor:
        """Interior and condition points in one tensor, in that order: (N_all, d). Built
        once, so that it is the same tensor step after step (caches key on it)."""
        if self._points is None:
            self._points = torch.cat([self.interior, *[c.x for c in self.conditions]])
        return self._points


def sample_batch(problem: Problem, config: SamplerConfig, generator: torch.Generator,
                 dtype: torch.dtype, device: torch.device) -> Batch:
    domain = problem.domain
    interior = domain.sample_interior(config.interior, config.method, generator=generator,
                                      dtype=dtype, device=device)
    conditions = [c.sample(domain, config.boundary, config.method, generator, dtype, device)
                  for c in problem.conditions]
    return Batch(interior, conditions)
