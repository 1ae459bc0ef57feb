"""Edges of a KAN layer fixed to closed forms: ``phi(x) = c f(a x + b) + d``.

A fixed edge keeps four trainable scalars (a, b, c, d), so the formula read off a network
can be re-trained with the same loss that trained the splines; a ``frozen`` edge keeps
them constant (a connection that must stay exactly what it is, e.g. the identity carrying
a product on to the next layer). The function ``f`` is any
object with a ``name`` and ``derivatives(u, order) -> [f(u), f'(u), f''(u)][:order + 1]``
(elementwise; e.g. kanpde.symbolic.library.LibraryFunction): the model needs nothing else.

Edges are grouped by function, so a layer with E fixed edges costs one elementwise
evaluation per distinct function, not one per edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.jet import Jet


class EdgeFunction(Protocol):
    """What a fixed edge needs of its function ``f``."""

    @property
    def name(self) -> str: ...

    def derivatives(self, u: Tensor, order: int) -> list[Tensor]:
        """f and its first ``order`` (<= 3) derivatives at u, elementwise."""
        ...


@dataclass(frozen=True)
class FixedEdge:
    """Edge ``source -> target`` fixed to ``c function(a x + b) + d``; ``frozen``: the
    constants are not trained."""

    source: int
    target: int
    function: EdgeFunction
    a: float = 1.0
    b: float = 0.0
    c: float = 1.0
    d: float = 0.0
    frozen: bool = False


class FixedEdges(nn.Module):
    """The fixed edges of one layer ``(N, in) -> (N, out)``; parameters ``a, b, c, d: (E,)``."""

    frozen: Tensor  # buffer (E,) bool
    source: Tensor  # buffer (E,)
    target: Tensor  # buffer (E,)

    def __init__(self, in_dim: int, out_dim: int, edges: Sequence[FixedEdge], *, dtype=None, device=None):
        super().__init__()
        bad = [(e.source, e.target) for e in edges if not (0 <= e.source < in_dim and 0 <= e.target < out_dim)]
        if bad or not edges:
            raise KanpdeError(f"fixed edges must be a non-empty list of source -> target pairs within "
                              f"{in_dim} inputs and {out_dim} outputs; got {bad or 'none'}")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.edges = tuple(edges)
        dtype = dtype or torch.get_default_dtype()

        def column(name: str) -> nn.Parameter:
            return nn.Parameter(torch.tensor([getattr(e, name) for e in edges], dtype=dtype, device=device))

        self.a, self.b, self.c, self.d = column("a"), column("b"), column("c"), column("d")
        self.register_buffer("frozen", torch.tensor([e.frozen for e in edges], device=device), persistent=False)
        self._any_frozen = any(e.frozen for e in edges)  # a Python flag: no device sync per call
        self.register_buffer("source", torch.tensor([e.source for e in edges], device=device), persistent=False)
        self.register_buffer("target", torch.tensor([e.target for e in edges], device=device), persistent=False)
        groups: dict[str, list[int]] = {}
        for index, edge in enumerate(edges):
            groups.setdefault(edge.function.name, []).append(index)
        self.functions = {name: next(e.function for e in edges if e.function.name == name) for name in groups}
        for name, indices in groups.items():  # buffers: they follow the module to its device
            self.register_buffer(_group(name), torch.tensor(indices, device=device), persistent=False)

    def current(self) -> list[FixedEdge]:
        """The edges with their current (trained) constants."""
        a, b, c, d = torch.stack([self.a, self.b, self.c, self.d]).detach().cpu().tolist()
        return [replace(e, a=a[i], b=b[i], c=c[i], d=d[i]) for i, e in enumerate(self.edges)]

    def constants(self) -> list[Tensor]:
        """a, b, c, d: (E,) each, with no gradient through the frozen edges' entries."""
        values: list[Tensor] = [self.a, self.b, self.c, self.d]
        if not self._any_frozen:
            return values
        return [torch.where(self.frozen, v.detach(), v) for v in values]

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in) -> (N, out), the sum of the fixed edges into each output."""
        out = x.new_zeros(x.shape[0], self.out_dim)
        a, b, c, d = self.constants()
        for name in self.functions:
            index = getattr(self, _group(name))
            u = x[:, self.source[index]] * a[index] + b[index]  # (N, E_f)
            values = c[index] * self.functions[name].derivatives(u, 0)[0] + d[index]
            out = out.index_add(1, self.target[index], values)
        return out

    def jet(self, h: Jet) -> Tensor:
        """Channels (C, N, in) of the layer input -> the fixed edges' channels (C, N, out)."""
        data = h.data
        out = data.new_zeros(*data.shape[:2], self.out_dim)
        a, b, c, d = self.constants()
        for name in self.functions:
            index = getattr(self, _group(name))
            inner = data[..., self.source[index]] * a[index]  # (C, N, E_f): a x and its derivatives
            inner = torch.cat([inner[:1] + b[index], inner[1:]])
            u = h.with_data(inner)
            channels = u.compose(*self.functions[name].derivatives(u.value, h.request.order)) * c[index]
            channels = torch.cat([channels[:1] + d[index], channels[1:]])
            out = out.index_add(2, self.target[index], channels)
        return out

    def extra_repr(self) -> str:
        return ", ".join(f"{e.source}->{e.target}: {e.function.name}" for e in self.edges)


def _group(name: str) -> str:
    """Buffer name of the edges using function ``name`` (any string: "x^2", "1/x")."""
    return "group_" + "".join(c if c.isalnum() else f"_{ord(c)}_" for c in name)
