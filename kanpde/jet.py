"""Derivative jets: values carried forward together with their derivatives.

A PDE residual needs a few derivatives of the solution with respect to its inputs. Instead
of nested reverse-mode autograd, a network that supports it (``model.jet(x, request)``)
pushes *channels* through its layers in one forward pass:

    value, d/dx_a for a in ``tangents``, d2/dx_a dx_b for (a, b) in ``second``,
    d3/dx_a dx_b dx_c for (a, b, c) in ``third``, and optionally the Laplacian over
    ``laplacian`` axes as a single channel.

All channels are stacked in one tensor ``data: (C, N, m)`` so that a layer's weights meet
every channel in one matmul. Parameter gradients come from an ordinary backward pass
through that forward computation.

This module knows neither PDEs nor KANs: it is the bookkeeping (which channel is which,
the chain rule for an elementwise function, sums and products of jets) and an autograd
reference implementation used by hard constraints and by the tests.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class JetRequest:
    """Which input derivatives a jet carries (axes are input column indices).

    first: axes of wanted first derivatives; second: pairs ``(a, b)`` with ``a <= b``;
    laplacian: axes of a summed Laplacian channel (empty: none); third: triples
    ``(a, b, c)`` with ``a <= b <= c``. The tangents carried are the union of all axes
    named, and the pairs every pair within a triple, since each derivative needs the
    lower ones of its axes (the chain rule).
    """

    first: tuple[int, ...] = ()
    second: tuple[tuple[int, int], ...] = ()
    laplacian: tuple[int, ...] = ()
    third: tuple[tuple[int, int, int], ...] = ()

    @staticmethod
    def of(first: Iterable[int] = (), second: Iterable[tuple[int, int]] = (),
           laplacian: Iterable[int] = (), third: Iterable[tuple[int, int, int]] = ()) -> JetRequest:
        """A normalised request: sorted, without repeats, pairs ordered ``a <= b`` (triples
        likewise), ``second`` naming the pairs within each triple and ``first`` every
        tangent carried."""
        triples = tuple(sorted({(a, b, c) for a, b, c in (sorted(axes) for axes in third)}))
        within = [pair for a, b, c in triples for pair in ((a, b), (a, c), (b, c))]
        pairs = tuple(sorted({(min(a, b), max(a, b)) for a, b in (*second, *within)}))
        laplacian = tuple(sorted(set(laplacian)))
        axes = set(first) | set(laplacian) | {a for pair in pairs for a in pair}
        return JetRequest(tuple(sorted(axes)), pairs, laplacian, triples)

    @property
    def tangents(self) -> tuple[int, ...]:
        axes = set(self.first) | set(self.laplacian)
        for a, b in self.second:
            axes |= {a, b}
        return tuple(sorted(axes))

    @property
    def order(self) -> int:
        """Highest derivative order carried: 0 to 3."""
        if self.third:
            return 3
        return 2 if self.second or self.laplacian else (1 if self.tangents else 0)

    @property
    def channels(self) -> int:
        return 1 + len(self.tangents) + len(self.second) + len(self.third) + (1 if self.laplacian else 0)

    def union(self, other: JetRequest) -> JetRequest:
        third = self.third + other.third
        if self.laplacian and other.laplacian and self.laplacian != other.laplacian:
            # two different Laplacians: carry their second derivatives instead
            pairs = {(a, a) for a in self.laplacian + other.laplacian}
            return JetRequest.of(self.tangents + other.tangents, self.second + other.second + tuple(pairs),
                                 third=third)
        return JetRequest.of(self.tangents + other.tangents, self.second + other.second,
                             self.laplacian or other.laplacian, third)


class Jet:
    """Values and derivatives at N points: ``data: (C, N, ...)`` in the channel order
    value, tangents, second pairs, third triples, Laplacian (see :class:`JetRequest`)."""

    def __init__(self, request: JetRequest, data: Tensor):
        if data.shape[0] != request.channels:
            raise ValueError(f"a jet for {request} needs {request.channels} channels; got {data.shape[0]}")
        self.request = request
        self.data = data
        self._tangent = {a: 1 + i for i, a in enumerate(request.tangents)}
        start = 1 + len(request.tangents)
        self._second = {pair: start + i for i, pair in enumerate(request.second)}
        start += len(request.second)
        self._third = {triple: start + i for i, triple in enumerate(request.third)}

    @property
    def value(self) -> Tensor:
        return self.data[0]

    @property
    def tangents(self) -> Tensor:
        """First derivatives along ``request.tangents``: (p, N, ...)."""
        return self.data[1:1 + len(self.request.tangents)]

    def d(self, a: int) -> Tensor:
        return self.data[self._tangent[a]]

    def d2(self, a: int, b: int) -> Tensor:
        return self.data[self._second[(min(a, b), max(a, b))]]

    def d3(self, a: int, b: int, c: int) -> Tensor:
        x, y, z = sorted((a, b, c))
        return self.data[self._third[(x, y, z)]]

    def laplacian(self) -> Tensor:
        if not self.request.laplacian:
            raise KeyError("this jet carries no Laplacian channel")
        return self.data[-1]

    def with_data(self, data: Tensor) -> Jet:
        return Jet(self.request, data)

    def compose(self, f0: Tensor, f1: Tensor | None = None, f2: Tensor | None = None,
                f3: Tensor | None = None) -> Tensor:
        """Channels of ``f(h)`` for an elementwise ``f`` applied to this jet's value ``h``.

        ``f0 .. f3``: f and its first three derivatives at ``h``, shaped like the value
        ``(N, w)`` or with trailing dimensions ``(N, w, K)`` (K functions of each entry,
        e.g. B-splines). Returns ``(C, N, w[, K])`` by the chain rule:
        ``d_a f = f1 h_a``, ``d_ab f = f2 h_a h_b + f1 h_ab``,
        ``d_abc f = f3 h_a h_b h_c + f2 (h_ab h_c + h_ac h_b + h_bc h_a) + f1 h_abc``,
        ``lap f = f2 |grad h|^2 + f1 lap h``.
        """
        r = self.request
        extra = f0.ndim - self.value.ndim
        if not r.tangents:
            return f0[None]
        if f1 is None:
            raise ValueError(f"compose needs f' for first derivatives ({r})")

        def chan(t: Tensor) -> Tensor:  # a channel, broadcast against f's trailing dims
            return t.reshape(t.shape + (1,) * extra)

        channels = [f0[None], f1[None] * chan(self.tangents)]
        if not (r.second or r.laplacian or r.third):
            return torch.cat(channels)
        if f2 is None:
            raise ValueError(f"compose needs f'' for second derivatives ({r})")
        for a, b in r.second:
            channels.append(torch.addcmul(f2 * chan(self.d(a) * self.d(b)), f1, chan(self.d2(a, b)))[None])
        if r.third:
            if f3 is None:
                raise ValueError(f"compose needs the third derivative of f for third derivatives ({r})")
            for a, b, c in r.third:
                da, db, dc = self.d(a), self.d(b), self.d(c)
                mixed = self.d2(a, b) * dc + self.d2(a, c) * db + self.d2(b, c) * da
                outer = torch.addcmul(f3 * chan(da * db * dc), f2, chan(mixed))
                channels.append(torch.addcmul(outer, f1, chan(self.d3(a, b, c)))[None])
        if r.laplacian:
            channels.append(torch.addcmul(f2 * chan(self.gradient_square()), f1, chan(self.laplacian()))[None])
        return torch.cat(channels)

    def gradient_square(self) -> Tensor:
        """sum of d_a(value)^2 over the Laplacian's axes: (N, ...)."""
        axes = self.request.laplacian
        if axes == self.request.tangents:  # all tangents: one reduction
            return self.tangents.square().sum(0)
        return torch.stack([self.d(a) for a in axes]).square().sum(0)

    def __add__(self, other: Jet) -> Jet:
        return self.with_data(self.data + other.data)

    def __mul__(self, other: Jet) -> Jet:
        """Product rule, channel by channel (both jets carry the same request)."""
        r = self.request
        channels = [self.value * other.value]
        channels += [self.d(a) * other.value + self.value * other.d(a) for a in r.tangents]
        channels += [self.d2(a, b) * other.value + self.d(a) * other.d(b) + self.d(b) * other.d(a)
                     + self.value * other.d2(a, b) for a, b in r.second]
        channels += [self.d3(a, b, c) * other.value + self.value * other.d3(a, b, c)
                     + self.d2(a, b) * other.d(c) + self.d2(a, c) * other.d(b) + self.d2(b, c) * other.d(a)
                     + self.d(a) * other.d2(b, c) + self.d(b) * other.d2(a, c) + self.d(c) * other.d2(a, b)
                     for a, b, c in r.third]
        if r.laplacian:
            cross = torch.stack([self.d(a) * other.d(a) for a in r.laplacian]).sum(0)
            channels.append(self.laplacian() * other.value + 2.0 * cross + self.value * other.laplacian())
        return self.with_data(torch.stack(channels))


class PointCache:
    """Values computed from a point set x: (N, d), kept for the last ``size`` point sets
    (a training batch is reused step after step). Keyed on the tensor itself (identity and
    in-place version) and an extra key; holding x keeps its id from being reused."""

    def __init__(self, size: int):
        self.size = size
        self._entries: dict = {}

    def get(self, x: Tensor, key, compute: Callable[[], object]):
        full = (id(x), x._version, key)
        hit = self._entries.get(full)
        if hit is not None and hit[0] is x:
            return hit[1]
        value = compute()
        if len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[full] = (x, value)
        return value


def input_jet(x: Tensor, request: JetRequest) -> Jet:
    """The jet of the identity map at x: (N, d): unit tangents, zero higher derivatives."""
    channels = [x]
    for a in request.tangents:
        unit = torch.zeros_like(x)
        unit[:, a] = 1.0
        channels.append(unit)
    zeros = torch.zeros_like(x)
    channels += [zeros] * (len(request.second) + len(request.third) + (1 if request.laplacian else 0))
    return Jet(request, torch.stack(channels))


def autograd_jet(fn: Callable[[Tensor], Tensor], x: Tensor, request: JetRequest,
                 create_graph: bool = False) -> Jet:
    """The jet of a pointwise ``fn: (N, d) -> (N, m)`` by reverse-mode autograd.

    The reference the analytic jets are tested against, and the way the jets of small
    closed-form factors (hard constraints) are formed. ``create_graph`` keeps the graph
    for a later backward pass to parameters inside ``fn``.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        m = y.shape[1]
        grads = [_grad(y[:, j], x, graph=True) for j in range(m)]  # m x (N, d)
        channels = [y]
        channels += [torch.stack([g[:, a] for g in grads], dim=1) for a in request.tangents]
        hessian_rows: dict[int, list[Tensor]] = {}  # axis a -> m x (N, d): d(dy_j/dx_a)/dx
        third_rows: dict[tuple[int, int], list[Tensor]] = {}  # (a, b) -> m x (N, d): d(d2y_j/dx_a dx_b)/dx
        keep = create_graph or bool(request.third)  # third derivatives differentiate the Hessian rows again

        def row(a: int) -> list[Tensor]:
            if a not in hessian_rows:
                hessian_rows[a] = [_grad(g[:, a], x, graph=keep) for g in grads]
            return hessian_rows[a]

        def third_row(a: int, b: int) -> list[Tensor]:
            if (a, b) not in third_rows:
                third_rows[(a, b)] = [_grad(h[:, b], x, graph=create_graph) for h in row(a)]
            return third_rows[(a, b)]

        channels += [torch.stack([h[:, b] for h in row(a)], dim=1) for a, b in request.second]
        channels += [torch.stack([h[:, c] for h in third_row(a, b)], dim=1) for a, b, c in request.third]
        if request.laplacian:
            channels.append(functools.reduce(operator.add, (torch.stack([h[:, a] for h in row(a)], dim=1)
                                                            for a in request.laplacian)))
    data = torch.stack(channels)
    return Jet(request, data if create_graph else data.detach())


def _grad(y: Tensor, x: Tensor, graph: bool) -> Tensor:
    if not y.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=graph, retain_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g
