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
    interior = interior[z_order(interior, domain.bounds)]
    conditions = [c.sample(domain, config.boundary, config.method, generator, dtype, device)
                  for c in problem.conditions]
    return Batch(interior, conditions)


def z_order(x: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """Permutation (N,) that orders points x: (N, d) along a Z (Morton) curve over the box
    bounds: (d, 2). Neighbours in memory are then neighbours in space, so consecutive
    points mostly fall into the same spline intervals of every layer and the layer's
    coefficient rows stay in cache (about 15% faster steps of configuration L on two CPU
    cores). The loss is a mean, so the order changes nothing else."""
    d = x.shape[1]
    levels = max(1, min(60 // d, 20))  # bits per axis; the key fits in an int64
    b = bounds.to(x)
    cells = (x - b[:, 0]) / (b[:, 1] - b[:, 0]) * (2**levels - 1)
    cells = cells.round().long().clamp(0, 2**levels - 1)  # (N, d)
    key = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    for level in range(levels):
        for axis in range(d):
            key |= ((cells[:, axis] >> level) & 1) << (level * d + axis)
    return key.argsort()
