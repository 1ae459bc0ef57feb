"""Differential operators on a solution field.

A residual is written against a :class:`Field` (the network's output at some points) and
:class:`Coords` (the points, by coordinate name)::

    def residual(u, x, p):
        return -u.laplacian() - p.f * torch.sin(x.x)

Two backends compute the derivatives. A field built from a :class:`~kanpde.jet.Jet`
(the KAN's analytic forward derivatives) reads them off its channels. Otherwise they are
computed on demand by reverse-mode autograd with ``create_graph=True`` (so a loss built
from them can be back-propagated to the parameters) and cached, so ``u.d("x", "x")``
reuses the gradient that ``u.d("x")`` computed. Either way the field records what was
asked (``jet_request()``), so the next evaluation can ask the model for exactly that jet.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import torch

from kanpde.errors import KanpdeError
from kanpde.jet import Jet, JetRequest


class CoordinateError(KanpdeError, AttributeError):
    """An unknown coordinate name (an AttributeError too, so hasattr() works)."""


class Coords:
    """Points ``(N, d)`` with access by coordinate name: ``x.x``, ``x["t"]``, ``x.tensor``."""

    def __init__(self, tensor: torch.Tensor, names: Sequence[str]):
        self.tensor = tensor
        self.names = tuple(names)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.names:
            raise CoordinateError(f"unknown coordinate {name!r}; the coordinates are: {', '.join(self.names)}")
        return self.tensor[:, self.names.index(name)]

    def __getattr__(self, name: str) -> torch.Tensor:
        if name.startswith("_") or name in ("tensor", "names"):
            raise AttributeError(name)
        return self[name]

    def __len__(self) -> int:
        return self.tensor.shape[0]


class JetMiss(Exception):
    """A jet-backed field was asked for a derivative its jet does not carry."""


class _Shared:
    """State shared by a field and its component views: derivative cache, jet, requests."""

    def __init__(self, jet: Jet | None):
        self.jet = jet
        self.probe = False  # a probe only records what is asked and answers zeros
        self.cache: dict = {}  # (component, sorted axes) -> (N,) derivative
        self.derivatives: set[tuple[int, ...]] = set()  # sorted axes asked through d()
        self.laplacians: set[tuple[int, ...]] = set()  # axes asked through laplacian()


class Field:
    """Solution values at points, with partial derivatives by coordinate name.

    x: (N, d) points that require grad; values: (N, m), one column per component.
    ``space`` names the coordinates that ``grad``, ``div`` and ``laplacian`` act on
    (all but time for a space-time domain).
    """

    def __init__(self, x: torch.Tensor, values: torch.Tensor, names: Sequence[str],
                 components: Sequence[str] = ("u",), space: Sequence[str] | None = None,
                 *, jet: Jet | None = None, _component: int | None = None, _shared: _Shared | None = None):
        self.x = x
        self.values = values
        self.names = tuple(names)
        self.components = tuple(components)
        self.space = tuple(space) if space is not None else self.names
        self._component = _component
        self._shared = _Shared(jet) if _shared is None else _shared

    @classmethod
    def from_jet(cls, x: torch.Tensor, jet: Jet, names: Sequence[str], components: Sequence[str] = ("u",),
                 space: Sequence[str] | None = None) -> Field:
        """A field whose derivatives are the jet's channels (jet data: (C, N, m))."""
        return cls(x, jet.value, names, components, space, jet=jet)

    @classmethod
    def probe(cls, x: torch.Tensor, names: Sequence[str], components: Sequence[str] = ("u",),
              space: Sequence[str] | None = None) -> Field:
        """A field of zeros whose derivatives are zeros too: running a residual on it
        records which derivatives the residual asks for, at no cost (see jet_request)."""
        values = torch.zeros(len(x), len(tuple(components)), dtype=x.dtype, device=x.device)
        field = cls(x, values, names, components, space)
        field._shared.probe = True
        return field

    @property
    def backend(self) -> str:
        if self._shared.probe:
            return "probe"
        return "jet" if self._shared.jet is not None else "autograd"

    def jet_request(self) -> JetRequest | None:
        """The jet that covers everything asked of this field so far; None when something
        needs a derivative of order four or more (autograd only)."""
        asked = self._shared.derivatives
        if any(len(axes) > 3 for axes in asked):
            return None
        laplacians = self._shared.laplacians
        request = JetRequest.of(first=[a for axes in asked for a in axes],
                                second=[axes for axes in asked if len(axes) == 2],
                                third=[axes for axes in asked if len(axes) == 3])
        for axes in laplacians:
            request = request.union(JetRequest.of(laplacian=axes))
        return request

    # -- components ---------------------------------------------------------------------
    def __getitem__(self, component: str | int) -> Field:
        index = self._component_index(component)
        return Field(self.x, self.values, self.names, self.components, self.space,
                     _component=index, _shared=self._shared)

    def _component_index(self, component: str | int) -> int:
        if isinstance(component, int) and 0 <= component < len(self.components):
            return component
        if component in self.components:
            return self.components.index(component)
        raise KanpdeError(f"unknown solution component {component!r}; the components are: "
                          f"{', '.join(self.components)}")

    def _scalar_index(self) -> int:
        if self._component is not None:
            return self._component
        if len(self.components) == 1:
            return 0
        raise KanpdeError(f"the solution has components {', '.join(self.components)}; pick one "
                          f"first, e.g. u[{self.components[0]!r}].d(...)")

    @property
    def value(self) -> torch.Tensor:
        """(N,) for a scalar field or a selected component, else (N, m)."""
        if self._component is None and len(self.components) > 1:
            return self.values
        return self.values[:, self._scalar_index()]

    # -- derivatives ----------------------------------------------------------------------
    def _axis(self, name: str) -> int:
        if name not in self.names:
            raise KanpdeError(f"cannot differentiate by {name!r}; the coordinates are: "
                              f"{', '.join(self.names)}")
        return self.names.index(name)

    def d(self, *axes: str) -> torch.Tensor:
        """Partial derivative of any order, e.g. ``u.d("x", "x", "y")``: (N,)."""
        if not axes:
            return self.value
        key = tuple(sorted(self._axis(a) for a in axes))
        self._shared.derivatives.add(key)
        return self._derivative(self._scalar_index(), key)

    def _derivative(self, component: int, axes: tuple[int, ...]) -> torch.Tensor:
        cache = self._shared.cache
        if (component, axes) in cache:
            return cache[(component, axes)]
        jet = None if self._shared.probe else self._shared.jet  # a probe answers with its values
        if self._shared.probe or jet is not None:
            value = self.values[:, component] if jet is None else _from_jet(jet, axes)[:, component]
            cache[(component, axes)] = value
            return value
        parent = self.values[:, component] if len(axes) == 1 else self._derivative(component, axes[:-1])
        gradient = _gradient(parent, self.x)  # (N, d)
        for axis in range(len(self.names)):  # cache every sibling partial of this order
            cache.setdefault((component, tuple(sorted(axes[:-1] + (axis,)))), gradient[:, axis])
        return cache[(component, axes)]

    def grad(self, axes: Sequence[str] | None = None) -> torch.Tensor:
        """Gradient over ``axes`` (default: the spatial coordinates): (N, len(axes))."""
        return torch.stack([self.d(a) for a in (axes or self.space)], dim=1)

    def laplacian(self, axes: Sequence[str] | None = None) -> torch.Tensor:
        """Sum of pure second derivatives over ``axes`` (default: spatial): (N,)."""
        indices = tuple(sorted(self._axis(a) for a in (axes or self.space)))
        self._shared.laplacians.add(indices)
        jet, component = self._shared.jet, self._scalar_index()
        if jet is not None and jet.request.laplacian == indices:
            return jet.laplacian()[:, component]
        return functools.reduce(operator.add, (self._derivative(component, (a, a)) for a in indices))

    def div(self, components: Sequence[str] | None = None, axes: Sequence[str] | None = None) -> torch.Tensor:
        """Divergence of the vector made of ``components`` (default: all) over ``axes``: (N,)."""
        components = tuple(components or self.components)
        axes = tuple(axes or self.space)
        if len(components) != len(axes):
            raise KanpdeError(f"div needs as many components as axes; got components "
                              f"{components} and axes {axes}")
        return functools.reduce(operator.add, (self[c].d(a) for c, a in zip(components, axes)))


def _from_jet(jet: Jet, axes: tuple[int, ...]) -> torch.Tensor:
    """The derivative ``axes`` (sorted) from the jet's channels: (N, m); JetMiss if absent."""
    request = jet.request
    if len(axes) == 1 and axes[0] in request.tangents:
        return jet.d(axes[0])
    if len(axes) == 2 and axes in request.second:
        return jet.d2(*axes)
    if len(axes) == 3 and axes in request.third:
        return jet.d3(*axes)
    raise JetMiss(axes)


def _gradient(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d(sum y)/dx: (N, d); zeros where y does not depend on x."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g
