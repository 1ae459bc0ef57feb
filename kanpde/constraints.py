"""Hard constraints by output transform.

``hard_dirichlet(problem)`` turns the constant-valued Dirichlet conditions of a problem
into part of the ansatz: component i becomes ``c_i + D_i(x) * net_i(x)`` where ``D_i``
vanishes exactly on the constrained faces (a product of normalised distances to box
faces, or ``1 - |x - center|^2 / R^2`` on a disk). Those conditions then hold exactly
and leave the loss; the network only has to make the residual vanish.

``hard_initial(problem)`` does the same for initial values on a space-time domain:
component i becomes ``g_i(x) + tau(t) * rest_i`` with ``tau = (t - t0) / (t1 - t0)``, where
``rest_i`` is the ansatz so far (``D_i * net_i`` after ``hard_dirichlet``). Applied after
``hard_dirichlet``, both hold exactly when the initial value meets the boundary value.

``hard_periodic(problem)`` returns the problem without its ``Periodic`` conditions and the
inputs in which the network must then be periodic (``KAN(..., periodic=axes)``: cos/sin
input features, see kanpde.model.features).

``hard_symmetry(problem)`` returns the mirror symmetry the network must then have
(``KAN(..., reflect=(axis, parity))``, see kanpde.model.reflection), after checking that
the hard constraints keep it: the shift must have the solution's parity, the scale be even.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from kanpde.conditions import Dirichlet, Initial, Periodic, condition_values
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


def hard_dirichlet(problem: Problem, components: list[str] | None = None) -> Problem:
    """The problem with its constant-valued Dirichlet conditions built into the ansatz;
    of the named components only, when ``components`` is given (the others' conditions
    stay in the loss: e.g. a lid-driven cavity's v = 0 on every wall exactly, and u, which
    is 1 on the lid and 0 on the other walls, softly)."""
    names = problem.components
    if components is not None:
        unknown = [c for c in components if c not in names]
        if unknown:
            raise KanpdeError(f"problem {problem.name!r} has no component {', '.join(map(repr, unknown))} to "
                              f"impose exactly; its components: {', '.join(names)}")
    chosen = set(names if components is None else components)
    hard = [c for c in problem.conditions if isinstance(c, Dirichlet) and not callable(c.value)
            and (c.component or names[0]) in chosen]
    if not hard:
        raise KanpdeError(f"problem {problem.name!r} has no Dirichlet condition with a constant "
                          "value to impose exactly; use the soft (loss) form")
    by_component: dict[int, tuple[float, list[str]]] = {}
    for c in hard:
        index = problem.components.index(c.component) if c.component else 0
        faces = list(c.faces or problem.domain.default_faces())
        constant = float(c.value)  # type: ignore[arg-type]  # not callable: filtered above
        value, seen = by_component.get(index, (constant, []))
        if value != constant:
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


def hard_initial(problem: Problem, check_points: int = 64) -> Problem:
    """The problem with its initial values (``Initial`` with derivative 0) built into the
    ansatz; compose with ``hard_dirichlet`` by applying that first. Raises when a hard
    Dirichlet value and the initial value disagree on the boundary at t0: no ansatz can
    meet both there."""
    domain = problem.domain
    hard = [c for c in problem.conditions if isinstance(c, Initial) and c.derivative == 0]
    if not isinstance(domain, SpaceTime) or not hard:
        raise KanpdeError(f"problem {problem.name!r} has no initial value to impose exactly "
                          "(an Initial condition with derivative 0 on a SpaceTime domain)")
    index = {problem.components.index(c.component) if c.component else 0: c for c in hard}
    if len(index) < len(hard):
        raise KanpdeError(f"problem {problem.name!r} has two initial values for one component")
    t0, t1 = domain.t_bounds
    inner = problem.transform

    def initial_values(x: torch.Tensor) -> torch.Tensor:
        """g(x): (N, m), 0 for components without an initial value."""
        columns = [torch.zeros(len(x), dtype=x.dtype, device=x.device)] * len(problem.components)
        for i, condition in index.items():
            columns[i] = condition_values(condition.value, problem.coords(x), problem.params)
        return torch.stack(columns, dim=1)

    def transform(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(shift, scale), each (N, m): g, and tau times the inner scale."""
        tau = ((x[:, -1:] - t0) / (t1 - t0))
        scale = tau.expand(len(x), len(problem.components))
        if inner is not None:
            scale = scale * inner(x)[1]
        return initial_values(x), scale

    if inner is not None:
        _check_compatible(problem, inner, initial_values, t0, check_points)
    soft = [c for c in problem.conditions if c not in hard]
    return replace(problem, conditions=soft, transform=transform)


def _check_compatible(problem: Problem, inner, initial_values, t0: float, n: int) -> None:
    """Where the inner transform pins the solution (scale 0), at t0, its value must be g."""
    domain = problem.domain
    x, _ = domain.sample_boundary(n, domain.default_faces(), "uniform",
                                  generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[:, -1] = t0
    shift, scale = inner(x)
    pinned = scale.abs() < 1e-12
    gap = (shift - initial_values(x)).detach().abs()[pinned]
    largest = float(gap.max()) if gap.numel() else 0.0
    if largest > 1e-8:
        raise KanpdeError(f"problem {problem.name!r}: the initial value differs from the hard "
                          f"Dirichlet value on the boundary at t0 by up to {largest:.3g}; "
                          "impose one of them softly (in the loss)")


def hard_periodic(problem: Problem) -> tuple[Problem, tuple[int, ...]]:
    """(the problem without its Periodic conditions, the indices of their coordinates).
    Only sound with a network built periodic in those inputs."""
    periodic = [c for c in problem.conditions if isinstance(c, Periodic)]
    if not periodic:
        raise KanpdeError(f"problem {problem.name!r} has no Periodic condition to build into the "
                          "network")
    axes = tuple(sorted({problem.domain.axis(c.axis) for c in periodic}))
    if problem.transform is not None:
        for condition in periodic:
            _check_periodic_transform(problem, condition)
    soft = [c for c in problem.conditions if c not in periodic]
    return replace(problem, conditions=soft), axes


def _check_periodic_transform(problem: Problem, condition: Periodic, n: int = 32, rtol: float = 1e-8) -> None:
    """The ansatz ``shift + scale * net`` with a periodic net is periodic only when shift and
    scale are, with their first ``condition.derivatives`` derivatives along the axis. A hard
    initial value that is not (x^2 cos(pi x) on [-1, 1] has u_x = 2 and -2 at the two ends)
    would keep its kink for all t: no collocation point sees it."""
    domain, axis, transform = problem.domain, problem.domain.axis(condition.axis), problem.transform
    assert transform is not None
    x = condition.sample(domain, n, "uniform", torch.Generator().manual_seed(0), torch.float64, "cpu").x
    x.requires_grad_(True)
    for part, values in zip(("shift", "scale"), transform(x)):
        for column in values.unbind(dim=1):
            for order in range(condition.derivatives + 1):
                gap = float((column[:n] - column[n:]).detach().abs().max())
                if gap > rtol * (1.0 + float(column.detach().abs().max())):
                    what = "value" if order == 0 else f"derivative of order {order}"
                    raise KanpdeError(
                        f"problem {problem.name!r}: the hard constraints make the ansatz's {part} non-periodic "
                        f"along {condition.axis!r} (its {what} differs by {gap:.3g} between the faces "
                        f"{condition.axis}- and {condition.axis}+), so no periodic network can meet "
                        f"Periodic(axis={condition.axis!r}, derivatives={condition.derivatives}); with an initial "
                        "value that is not periodic to that order, set problem.hard_initial=false (the initial "
                        "value is then fitted)")
                if not column.requires_grad:
                    break  # independent of x: its derivatives vanish
                column = torch.autograd.grad(column.sum(), x, create_graph=True)[0][:, axis]


def hard_symmetry(problem: Problem, n: int = 64, rtol: float = 1e-10) -> tuple[int, str]:
    """(input index, "odd" | "even") of the problem's declared ``symmetry``, for a network
    built with that reflection; refuses a problem without one, or hard constraints that
    break it (then ``shift + scale * net`` would not have the parity, whatever the net)."""
    if problem.symmetry is None:
        raise KanpdeError(f"problem {problem.name!r} declares no symmetry to build into the network "
                          "(Problem(symmetry=(coordinate, 'odd' | 'even'))); set problem.hard_symmetry=false")
    name, parity = problem.symmetry
    axis = problem.domain.axis(name)
    if parity not in ("odd", "even"):
        raise KanpdeError(f"problem {problem.name!r}: symmetry parity {parity!r}; accepted: odd, even")
    if problem.transform is not None:
        x = problem.domain.sample_interior(n, "uniform", generator=torch.Generator().manual_seed(0),
                                           dtype=torch.float64)
        lower, upper = (float(b) for b in problem.domain.bounds[axis])
        mirrored = x.clone()
        mirrored[:, axis] = lower + upper - x[:, axis]
        sign = -1.0 if parity == "odd" else 1.0
        for part, here, there, expected in zip(("shift", "scale"), problem.transform(x), problem.transform(mirrored),
                                               (sign, 1.0)):
            gap = float((there - expected * here).abs().max())
            if gap > rtol * (1.0 + float(here.abs().max())):
                raise KanpdeError(f"problem {problem.name!r}: the hard constraints' {part} is not "
                                  f"{'even' if expected > 0 else 'odd'} in {name!r} (off by {gap:.3g} at mirror "
                                  f"points), so the ansatz cannot be {parity} in it; drop the hard constraint that "
                                  "breaks the symmetry, or set problem.hard_symmetry=false")
    return axis, parity
