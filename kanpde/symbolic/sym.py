"""Symbolic stand-ins that let a problem's torch code run on sympy expressions.

:class:`Sym` holds a sympy expression where the code expects a (N,) tensor (or columns,
for ``grad``/``torch.stack``) and answers arithmetic and, through ``__torch_function__``,
``torch.sin`` & co.; :class:`SymbolicField` and :class:`SymbolicCoords` give the Field and
Coords API. Python floats that the code produces (``math.pi``, ``2*math.pi**2``, D = 0.1)
are read back as exact numbers where unambiguous (:func:`exact_number`).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

import mpmath
import numpy as np
import sympy
import torch

from kanpde.errors import KanpdeError

_TOL = 4e-15  # relative: a float is read as an exact number only within ~20 ulps of it


def _rational(value: float, decimal: bool) -> sympy.Rational | None:
    guesses = [Fraction(value).limit_denominator(1000)] + ([Fraction(f"{value:.10g}")] if decimal else [])
    for f in guesses:
        if abs(float(f) - value) <= _TOL * abs(value):
            return sympy.Rational(f.numerator, f.denominator)
    return None


@functools.lru_cache(maxsize=4096)
def exact_number(value: float) -> sympy.Expr:
    """The exact number a float stands for, where unambiguous, else ``sympy.Float(value)``.

    Tried in order: p/q (q <= 1000, or a decimal of <= 10 digits), (p/q) pi^k (q <= 1000,
    k = 1, 2, -1, 3, -2), a + b pi^k (k = 1, 2; integer relation of coefficients <= 1000 by
    PSLQ). Accepted only within 4e-15 relative of the float: a looser tolerance (1e-12) would
    find such a number near almost any float.
    """
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return sympy.Integer(0) if value == 0 else sympy.Float(value)
    if (r := _rational(value, decimal=True)) is not None:
        return r
    for k in (1, 2, -1, 3, -2):
        if (r := _rational(value / math.pi**k, decimal=False)) is not None:
            return r * sympy.pi**k
    for k in (1, 2):
        relation = mpmath.pslq([value, 1, mpmath.pi**k], tol=1e-13, maxcoeff=1000, maxsteps=2000)
        if relation and relation[0]:
            c0, c1, c2 = relation
            guess = -(sympy.Integer(c1) + c2 * sympy.pi**k) / c0
            if abs(float(guess) - value) <= _TOL * abs(value):
                return guess
    return sympy.Float(value)


def as_expr(value) -> sympy.Expr:
    """A number, 1-number tensor, sympy expression or scalar Sym as a sympy expression."""
    if isinstance(value, Sym):
        if value.vector:
            raise KanpdeError(f"expected one value per point, got {len(value.items)} columns")
        return value.items[0]
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise KanpdeError(f"a tensor of shape {tuple(value.shape)} cannot be combined with a symbolic "
                              "solution; only single numbers (e.g. a parameter estimate) can")
        value = value.item()
    if isinstance(value, (bool, int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        return exact_number(float(value))
    if isinstance(value, sympy.Basic):
        return value
    raise KanpdeError(f"cannot use {type(value).__name__} {value!r} in a symbolic expression; "
                      "numbers, tensors of one number and symbolic values are accepted")


def _map(fn: Callable, *args) -> Sym:
    """fn applied elementwise, a scalar broadcast over the columns of a vector."""
    syms = [a if isinstance(a, Sym) else Sym(as_expr(a)) for a in args]
    widths = {len(s.items) for s in syms if s.vector}
    if len(widths) > 1:
        raise KanpdeError(f"cannot combine symbolic columns of widths {sorted(widths)}")
    if not widths:
        return Sym(fn(*(s.items[0] for s in syms)))
    k = widths.pop()
    return Sym([fn(*(s.items[i] if s.vector else s.items[0] for s in syms)) for i in range(k)])


def _binary(op):
    return (lambda a, b: _map(op, a, b)), (lambda a, b: _map(op, b, a))


_UNARY = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "log": sympy.log,
    "sqrt": sympy.sqrt, "tanh": sympy.tanh, "sinh": sympy.sinh, "cosh": sympy.cosh,
    "atan": sympy.atan, "arctan": sympy.atan, "asin": sympy.asin, "arcsin": sympy.asin,
    "acos": sympy.acos, "arccos": sympy.acos, "asinh": sympy.asinh, "acosh": sympy.acosh,
    "atanh": sympy.atanh, "abs": sympy.Abs, "absolute": sympy.Abs, "erf": sympy.erf, "sign": sympy.sign,
    "neg": operator.neg, "negative": operator.neg, "square": lambda a: a**2, "reciprocal": lambda a: 1 / a,
    "rsqrt": lambda a: 1 / sympy.sqrt(a), "expm1": lambda a: sympy.exp(a) - 1,
    "log1p": lambda a: sympy.log(1 + a), "log2": lambda a: sympy.log(a, 2), "log10": lambda a: sympy.log(a, 10),
    "sigmoid": lambda a: 1 / (1 + sympy.exp(-a)), "silu": lambda a: a / (1 + sympy.exp(-a)),
    "softplus": lambda a: sympy.log(1 + sympy.exp(a)), "zeros_like": lambda a: sympy.Integer(0),
    "ones_like": lambda a: sympy.Integer(1), "clone": lambda a: a, "detach": lambda a: a,
}
_BINARY = {
    "add": operator.add, "sub": operator.sub, "subtract": operator.sub, "mul": operator.mul,
    "multiply": operator.mul, "div": operator.truediv, "divide": operator.truediv,
    "true_divide": operator.truediv, "pow": operator.pow, "atan2": sympy.atan2,
    "rsub": lambda a, b: b - a,
}


def _apply(name: str, *args, **kwargs):
    """The torch function ``name`` on symbolic arguments."""
    if name == "stack":
        return _stack(*args, **kwargs)
    if name == "sum":
        return _sum(*args, **kwargs)
    kwargs = {k: v for k, v in kwargs.items() if not (k == "inplace" and v is False)}
    if kwargs or name not in _UNARY | _BINARY or len(args) != (1 if name in _UNARY else 2):
        given = f" with {kwargs}" if kwargs else ""
        raise KanpdeError(f"torch.{name}{given} has no symbolic counterpart; supported: "
                          f"{', '.join(sorted(_UNARY | _BINARY))}, stack, sum (over columns)")
    return _map(_UNARY.get(name) or _BINARY[name], *args)


def _stack(items, dim: int = 0):
    if dim not in (1, -1):
        raise KanpdeError(f"torch.stack(dim={dim}) joins along the points; only dim=1 (columns) is supported")
    return Sym([as_expr(item) for item in items])


def _sum(value, dim=None, keepdim: bool = False):
    if not (isinstance(value, Sym) and value.vector and dim in (1, -1, (1,), (-1,))) or keepdim:
        raise KanpdeError(f"sum(dim={dim}, keepdim={keepdim}) is supported only over columns (dim=1)")
    return Sym(sympy.Add(*value.items))


class Sym:
    """A sympy expression standing in for a (N,) tensor, or a list of them for (N, k) columns."""

    __array_ufunc__ = None  # numpy numbers defer to the reflected operators below

    def __init__(self, value: sympy.Expr | Sequence[sympy.Expr]):
        self.vector = isinstance(value, (list, tuple))
        self.items = tuple(value) if self.vector else (value,)

    @property
    def expr(self) -> sympy.Expr:
        return as_expr(self)

    def __repr__(self) -> str:
        return f"Sym({list(self.items) if self.vector else self.items[0]})"

    __add__, __radd__ = _binary(operator.add)
    __sub__, __rsub__ = _binary(operator.sub)
    __mul__, __rmul__ = _binary(operator.mul)
    __truediv__, __rtruediv__ = _binary(operator.truediv)
    __pow__, __rpow__ = _binary(operator.pow)

    def __neg__(self) -> Sym:
        return _map(operator.neg, self)

    def __pos__(self) -> Sym:
        return self

    def __getitem__(self, index):
        column = index[-1] if isinstance(index, tuple) else None
        if not self.vector or not isinstance(column, int) or len(index) != 2 or index[0] not in (Ellipsis, slice(None)):
            raise KanpdeError(f"symbolic values support only column indexing such as v[:, 0]; got {index!r}")
        return Sym(self.items[column])

    def __getattr__(self, name: str):  # tensor methods: v.exp(), v.sum(dim=1), v.square()
        if name.startswith("_") or name not in _UNARY | _BINARY | {"sum": 0}:
            raise AttributeError(name)
        return functools.partial(_apply, name, self)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return _apply(getattr(func, "__name__", repr(func)).strip("_"), *args, **(kwargs or {}))


class SymbolicCoords:
    """Coords API over coordinate symbols: ``x.x``, ``x["t"]``, ``x.tensor`` (all, as columns)."""

    def __init__(self, symbols: Mapping[str, sympy.Symbol]):
        self.symbols = dict(symbols)
        self.names = tuple(symbols)

    def __getitem__(self, name: str) -> Sym:
        if name not in self.symbols:
            raise KanpdeError(f"unknown coordinate {name!r}; the coordinates are: {', '.join(self.names)}")
        return Sym(self.symbols[name])

    def __getattr__(self, name: str) -> Sym:
        if name.startswith("_") or name in ("symbols", "names"):
            raise AttributeError(name)
        return self[name]

    @property
    def tensor(self) -> Sym:
        return Sym(list(self.symbols.values()))


class SymbolicField:
    """Field API (kanpde.operators.Field) over closed-form components, by sympy.diff."""

    def __init__(self, exprs: Sequence[sympy.Expr], symbols: Mapping[str, sympy.Symbol],
                 components: Sequence[str], space: Sequence[str], component: int | None = None):
        self.exprs, self.symbols = tuple(exprs), dict(symbols)
        self.names, self.components, self.space = tuple(symbols), tuple(components), tuple(space)
        self._component = component

    def __getitem__(self, component: str | int) -> SymbolicField:
        if isinstance(component, int) and 0 <= component < len(self.components):
            index = component
        elif component in self.components:
            index = self.components.index(component)
        else:
            raise KanpdeError(f"unknown solution component {component!r}; the components are: "
                              f"{', '.join(self.components)}")
        return SymbolicField(self.exprs, self.symbols, self.components, self.space, index)

    def _scalar(self) -> sympy.Expr:
        if self._component is None and len(self.components) > 1:
            raise KanpdeError(f"the solution has components {', '.join(self.components)}; pick one "
                              f"first, e.g. u[{self.components[0]!r}].d(...)")
        return self.exprs[self._component or 0]

    @property
    def value(self) -> Sym:
        """A scalar, or the components as columns when none is picked (as Field's (N, m))."""
        if self._component is None and len(self.components) > 1:
            return Sym(list(self.exprs))
        return Sym(self._scalar())

    def d(self, *axes: str) -> Sym:
        unknown = [a for a in axes if a not in self.symbols]
        if unknown:
            raise KanpdeError(f"cannot differentiate by {unknown[0]!r}; the coordinates are: {', '.join(self.names)}")
        return Sym(sympy.diff(self._scalar(), *(self.symbols[a] for a in axes)) if axes else self._scalar())

    def grad(self, axes: Sequence[str] | None = None) -> Sym:
        return Sym([self.d(a).expr for a in (axes or self.space)])

    def laplacian(self, axes: Sequence[str] | None = None) -> Sym:
        return Sym(sympy.Add(*(self.d(a, a).expr for a in (axes or self.space))))

    def div(self, components: Sequence[str] | None = None, axes: Sequence[str] | None = None) -> Sym:
        components, axes = tuple(components or self.components), tuple(axes or self.space)
        if len(components) != len(axes):
            raise KanpdeError(f"div needs as many components as axes; got components {components} and axes {axes}")
        return Sym(sympy.Add(*(self[c].d(a).expr for c, a in zip(components, axes))))
