"""Boundary, initial and data conditions.

A condition knows where its points lie (``sample``) and what must vanish there
(``residual``). Values are constants or callables ``value(x: Coords, p) -> (N,)``.
Every residual returns (N, k): one column per scalar equation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from numbers import Real

import torch

from kanpde.errors import KanpdeError
from kanpde.geometry import Domain, SpaceTime
from kanpde.operators import Coords, Field

Value = float | Callable[[Coords, object], torch.Tensor]


@dataclass
class Points:
    """Where a condition is enforced. x: (N, d); normal: (N, d) outward, or None."""

    x: torch.Tensor
    normal: torch.Tensor | None = None


def condition_values(value: Value, x: Coords, p) -> torch.Tensor:
    """A constant or callable condition value at the points: (N,)."""
    out = value(x, p) if callable(value) else value
    out = torch.as_tensor(out, dtype=x.tensor.dtype, device=x.tensor.device)
    return out.expand(len(x)) if out.numel() == 1 else out.reshape(len(x))


def _as_faces(faces: str | Sequence[str] | None) -> tuple[str, ...] | None:
    return (faces,) if isinstance(faces, str) else (tuple(faces) if faces is not None else None)


@dataclass
class Condition:
    """Base: enforce something on ``faces`` (None: every spatial face) of one component."""

    faces: str | Sequence[str] | None = None
    _: KW_ONLY
    component: str | None = None
    weight: float = 1.0
    name: str | None = None

    def __post_init__(self):
        self.faces = _as_faces(self.faces)
        for name in ("value", "alpha", "beta", "weight"):  # those this condition has
            number = getattr(self, name, 0.0)
            if name == "value" and (callable(number) or isinstance(number, torch.Tensor)):
                continue
            if isinstance(number, bool) or not isinstance(number, Real):
                accepted = "a number or a function (x, p) -> tensor" if name == "value" else "a number"
                raise KanpdeError(f"{type(self).__name__}({name}={number!r}): {name} is a "
                                  f"{type(number).__name__}; accepted: {accepted}")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        where = ",".join(self.faces) if self.faces else "boundary"
        return f"{type(self).__name__.lower()}[{where}]"

    def check(self, domain: Domain, components: Sequence[str]) -> None:
        """Raise KanpdeError when the condition does not fit the domain or the unknowns."""
        if self.faces:
            domain.check_faces(self.faces)
        if self.component is None and len(components) > 1:
            raise KanpdeError(f"the solution has components {', '.join(components)}; "
                              "say which one this condition is on with component=...")
        if self.component is not None and self.component not in components:
            raise KanpdeError(f"unknown component {self.component!r}; the "
                              f"solution components are: {', '.join(components)}")

    def sample(self, domain: Domain, n: int, method: str, generator, dtype, device) -> Points:
        x, normal = domain.sample_boundary(n, self.faces, method, generator=generator,
                                           dtype=dtype, device=device)
        return Points(x, normal)

    def _u(self, u: Field) -> Field:
        return u[self.component] if self.component is not None else u

    def residual(self, u: Field, x: Coords, points: Points, p) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class Dirichlet(Condition):
    """u = value on the faces."""

    value: Value = 0.0

    def residual(self, u, x, points, p):
        return (self._u(u).value - condition_values(self.value, x, p))[:, None]


def _normal_derivative(u: Field, normal: torch.Tensor) -> torch.Tensor:
    """du/dn = grad u . n over all coordinates (n is 0 along time): (N,)."""
    return (u.grad(u.names) * normal).sum(dim=1)


@dataclass
class Neumann(Condition):
    """du/dn = value on the faces (n: outward unit normal)."""

    value: Value = 0.0

    def residual(self, u, x, points, p):
        return (_normal_derivative(self._u(u), points.normal) - condition_values(self.value, x, p))[:, None]


@dataclass
class Robin(Condition):
    """alpha u + beta du/dn = value on the faces."""

    alpha: float = 1.0
    beta: float = 1.0
    value: Value = 0.0

    def residual(self, u, x, points, p):
        v = self._u(u)
        lhs = self.alpha * v.value + self.beta * _normal_derivative(v, points.normal)
        return (lhs - condition_values(self.value, x, p))[:, None]


@dataclass
class Periodic(Condition):
    """u (and its first ``derivatives`` derivatives along ``axis``) equal on opposite faces.

    Points are drawn on the lower face "<axis>-" and paired with their image on
    "<axis>+"; both halves are evaluated in one pass (x holds 2N points).
    """

    axis: str = "x"
    derivatives: int = 1

    def __post_init__(self):
        super().__post_init__()
        self.faces = (f"{self.axis}-", f"{self.axis}+")

    @property
    def label(self) -> str:
        return self.name or f"periodic[{self.axis}]"

    def check(self, domain, components):
        if self.axis not in domain.names:
            raise KanpdeError(f"no coordinate {self.axis!r}; the coordinates are: "
                              f"{', '.join(domain.names)}")
        super().check(domain, components)

    def sample(self, domain, n, method, generator, dtype, device):
        lower, _ = domain.sample_boundary(n, (f"{self.axis}-",), method, generator=generator,
                                          dtype=dtype, device=device)
        upper = lower.clone()
        axis = domain.axis(self.axis)
        upper[:, axis] = float(domain.bounds[axis, 1])
        return Points(torch.cat([lower, upper]))

    def residual(self, u, x, points, p):
        v = self._u(u)
        n = len(x) // 2
        terms = [v.d(*[self.axis] * order) for order in range(self.derivatives + 1)]
        return torch.stack([t[:n] - t[n:] for t in terms], dim=1)


@dataclass
class Initial(Condition):
    """At t = t0: u = value (derivative=0) or du/dt = value (derivative=1)."""

    value: Value = 0.0
    derivative: int = 0

    def __post_init__(self):
        super().__post_init__()
        self.faces = None

    @property
    def label(self) -> str:
        return self.name or ("initial" if self.derivative == 0 else f"initial_d{self.derivative}t")

    def check(self, domain, components):
        if not isinstance(domain, SpaceTime):
            raise KanpdeError(f"an initial condition needs a SpaceTime domain; got "
                              f"{domain!r}")
        super().check(domain, components)

    def sample(self, domain, n, method, generator, dtype, device):
        x, normal = domain.sample_boundary(n, (f"{domain.time_name}0",), method,
                                           generator=generator, dtype=dtype, device=device)
        return Points(x, normal)

    def residual(self, u, x, points, p):
        v = self._u(u)
        time = x.names[-1]
        lhs = v.d(*[time] * self.derivative)
        return (lhs - condition_values(self.value, x, p))[:, None]


@dataclass
class PointData(Condition):
    """Observations: u(x_i) = values_i at fixed points x: (M, d), values: (M,)."""

    x: torch.Tensor | None = None
    values: torch.Tensor | None = None

    def check(self, domain, components):
        super().check(domain, components)
        if self.x is None or self.values is None:
            raise KanpdeError("PointData needs both x (M, d) and values (M,)")
        x = torch.as_tensor(self.x)
        if x.ndim != 2 or x.shape[1] != domain.dim or torch.as_tensor(self.values).numel() != x.shape[0]:
            raise KanpdeError(f"x must be (M, {domain.dim}) and values (M,); got x "
                              f"{tuple(x.shape)} and values {tuple(torch.as_tensor(self.values).shape)}")

    @property
    def label(self) -> str:
        return self.name or "data"

    def sample(self, domain, n, method, generator, dtype, device):
        return Points(torch.as_tensor(self.x, dtype=dtype, device=device))

    def residual(self, u, x, points, p):
        target = torch.as_tensor(self.values, dtype=x.tensor.dtype, device=x.tensor.device)
        return (self._u(u).value - target.reshape(-1))[:, None]


ALL_CONDITIONS = (Dirichlet, Neumann, Robin, Periodic, Initial, PointData)
__all__ = ["Condition", "Points", *[c.__name__ for c in ALL_CONDITIONS]]
