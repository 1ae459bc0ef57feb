"""Differential operators on a solution field.

A residual is written against a :class:`Field` (the network's output at some points) and
:class:`Coords` (the points, by coordinate name)::

    def residual(u, x, p):
        return -u.laplacian() - p.f * torch.sin(x.x)

Derivatives are computed on demand by reverse-mode autograd with ``create_graph=True``
(so a loss built from them can be back-propagated to the parameters) and cached, so
``u.d("x", "x")`` reuses the gradient that ``u.d("x")`` computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from kanpde.errors import KanpdeError


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


class Field:
    """Solution values at points, with partial derivatives by coordinate name.

    x: (N, d) points that require grad; values: (N, m), one column per component.
    ``space`` names the coordinates that ``grad``, ``div`` and ``laplacian`` act on
    (all but time for a space-time domain).
    """

    def __init__(self, x: torch.Tensor, values: torch.Tensor, names: Sequence[str],
                 components: Sequence[str] = ("u",), space: Sequence[str] | None = None,
                 _component: int | None = None, _cache: dict | None = None):
        self.x = x
        self.values = values
        self.names = tuple(names)
        self.components = tuple(components)
        self.space = tuple(space) if space is not None else self.names
        self._component = _component
        # (component index, sorted axis indices) -> (N,) derivative; shared between views
        self._cache = {} if _cache is None else _cache

    # -- components ---------------------------------------------------------------------
    def __getitem__(self, component: str | int) -> Field:
        index = self._component_index(component)
        return Field(self.x, self.values, self.names, self.components, self.space,
                     _component=index, _cache=self._cache)

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
        return self._derivative(self._scalar_index(), tuple(sorted(self._axis(a) for a in axes)))

    def _derivative(self, component: int, axes: tuple[int, ...]) -> torch.Tensor:
        key = (component, axes)
        if key in self._cache:
            return self._cache[key]
        parent = self.values[:, component] if len(axes) == 1 else self._derivative(component, axes[:-1])
        gradient = _gradient(parent, self.x)  # (N, d)
        for axis in range(len(self.names)):  # cache every sibling partial of this order
            self._cache.setdefault((component, tuple(sorted(axes[:-1] + (axis,)))), gradient[:, axis])
        return self._cache[key]

    def grad(self, axes: Sequence[str] | None = None) -> torch.Tensor:
        """Gradient over ``axes`` (default: the spatial coordinates): (N, len(axes))."""
        return torch.stack([self.d(a) for a in (axes or self.space)], dim=1)

    def laplacian(self, axes: Sequence[str] | None = None) -> torch.Tensor:
        """Sum of pure second derivatives over ``axes`` (default: spatial): (N,)."""
        return sum(self.d(a, a) for a in (axes or self.space))

    def div(self, components: Sequence[str] | None = None, axes: Sequence[str] | None = None) -> torch.Tensor:
        """Divergence of the vector made of ``components`` (default: all) over ``axes``: (N,)."""
        components = tuple(components or self.components)
        axes = tuple(axes or self.space)
        if len(components) != len(axes):
            raise KanpdeError(f"div needs as many components as axes; got components "
                              f"{components} and axes {axes}")
        return sum(self[c].d(a) for c, a in zip(components, axes))


def _gradient(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d(sum y)/dx: (N, d); zeros where y does not depend on x."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g
