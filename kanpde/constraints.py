"""Hard constraints by output transform.

``hard_dirichlet(problem)`` turns the constant-valued Dirichlet conditions of a problem
into part of the ansatz: component i becomes ``c_i + D_i(x) * net_i(x)`` where ``D_i``
vanishes exactly on the constrained faces (a product of normalised distances to box
faces, or ``1 - |x - center|^2 / R^2`` on a disk). Those conditions then hold exactly
and leave the loss; the network only has to make the residual vanish.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from kanpde.conditions import Dirichlet
from kanpde.errors import KanpdeError
from kanpde.geometry import Disk, SpaceTime
from kanpde.problem import Problem


def _face_factor(domain, face: str, x: torch.Tensor) -> torch.Tensor:
    """Normalised distance to one face, 0 on it, at most 2 inside: (N,)."""
    space = domain.space if isinstance(domain, SpaceTime) else domain
    if isinstance(space, Disk):
        r2 = (x[:, :2] - space.center.to(x)).square().sum(dim=1)
        return 1.0 - r2 / space.radius**2
    axis, side = domain.face_axis(face)
    lower, upper = (float(b) for b in domain.bounds[axis])
    t = (x[:, axis] - lower) / (upper - lower)
    return 2.0 * (t if side < 0 else 1.0 - t)


def hard_dirichlet(problem: Problem) -> Problem:
    """The problem with its constant-valued Dirichlet conditions built into the ansatz."""
    hard = [c for c in problem.conditions if isinstance(c, Dirichlet) and not callable(c.value)]
    if not hard:
        raise KanpdeError(f"problem {problem.name!r} has no Dirichlet condition with a constant "
                          "value to impose exactly; use the soft (loss) form")
    by_component: dict[int, tuple[float, list[str]]] = {}
    for c in hard:
        index = problem.components.index(c.component) if c.component else 0
        faces = list(c.faces or problem.domain.default_faces())
        value, seen = by_component.get(index, (float(c.value), []))
        if value != float(c.value):
            raise KanpdeError(f"problem {problem.name!r}: component {problem.components[index]!r} "
                              "has Dirichlet conditions with different values; only one constant "
                              "per component can be imposed exactly")
        by_component[index] = (value, seen + faces)

    def transform(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(shift, scale), each (N, m): the constant and the distance factor per component."""
        ones = torch.ones(len(x), dtype=x.dtype, device=x.device)
        shifts, scales = [], []
        for i in range(len(problem.components)):
            value, faces = by_component.get(i, (0.0, []))
            distance = ones
            for face in faces:
                distance = distance * _face_factor(problem.domain, face, x)
            shifts.append(value * ones)
            scales.append(distance)
        shift, scale = torch.stack(shifts, dim=1), torch.stack(scales, dim=1)
        return shift, scale

    soft = [c for c in problem.conditions if c not in hard]
    return replace(problem, conditions=soft, transform=transform)
