"""The library of 1-D functions that KAN edges are fitted to.

Each function is written once, as a sympy expression in the real symbol ``X`` ("x"); its
torch callables (value, first and second derivative) are generated from it with
``sympy.lambdify`` and ``sympy.diff``, so the formula shown to the user and the numbers the
fitter uses cannot disagree. Outside a function's domain (``log`` of a negative, ``1/0``)
torch returns NaN/inf; the fitter treats non-finite values as invalid.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import SupportsFloat

import sympy
import torch
from torch import Tensor

from kanpde.errors import KanpdeError
from kanpde.symbolic.parse import parse_formula

X = sympy.Symbol("x", real=True)  # real, so that d|x|/dx is sign(x)


def _lift(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor | SupportsFloat], Tensor]:
    """A torch function that also accepts Python numbers (lambdify passes ``sqrt(2)`` as 2)."""
    return lambda v: fn(v if isinstance(v, Tensor) else torch.tensor(float(v), dtype=torch.float64))


_TORCH_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp,
    "log": torch.log, "sqrt": torch.sqrt, "tanh": torch.tanh, "atan": torch.atan,
    "sinh": torch.sinh, "cosh": torch.cosh, "asin": torch.asin, "acos": torch.acos,
    "asinh": torch.asinh, "acosh": torch.acosh, "atanh": torch.atanh, "erf": torch.erf,
    "Abs": torch.abs, "abs": torch.abs, "torch_sign": torch.sign,
}
_TORCH = ({name: _lift(fn) for name, fn in _TORCH_FUNCTIONS.items()} | {"pi": math.pi, "E": math.e, "e": math.e}
          # d^2|x|/dx^2 = 2 delta(x), d^3 = 2 delta'(x) (DiracDelta(x, 1)): zero away from the kink
          | {"DiracDelta": lambda v, _order=0: _lift(torch.zeros_like)(v)})
_ELEMENTARY = sorted(k for k in _TORCH if k.isalpha() and k.islower() and len(k) > 2)
_SIGN = sympy.Function("torch_sign")  # the Python printer writes sign(x) as a copysign branch

# name -> (expression of X, complexity); the order is the default library order
_DEFAULTS: dict[str, tuple[sympy.Expr, int]] = {
    "0": (sympy.Integer(0), 0), "x": (X, 1), "x^2": (X**2, 2), "x^3": (X**3, 3),
    "x^4": (X**4, 4), "1/x": (1 / X, 2), "sqrt": (sympy.sqrt(X), 2), "exp": (sympy.exp(X), 2),
    "log": (sympy.log(X), 2), "sin": (sympy.sin(X), 2), "cos": (sympy.cos(X), 2),
    "tan": (sympy.tan(X), 3), "tanh": (sympy.tanh(X), 3), "arctan": (sympy.atan(X), 3),
    "gaussian": (sympy.exp(-(X**2)), 3), "abs": (sympy.Abs(X), 3),
}
DEFAULT_FUNCTIONS: tuple[str, ...] = tuple(_DEFAULTS)


def lambdify_torch(
    expr: sympy.Expr, symbol: sympy.Symbol | Sequence[sympy.Symbol] = X
) -> Callable[..., Tensor | SupportsFloat]:
    """An elementwise torch callable of ``symbol`` (or of several symbols, one tensor
    each) for expr; a constant part may come back as a number or a 0-d tensor (see
    :func:`as_like`)."""
    return sympy.lambdify(symbol, expr.replace(sympy.sign, _SIGN), modules=[_TORCH])


def as_like(value: Tensor | SupportsFloat, u: Tensor) -> Tensor:
    """A lambdified result (tensor or constant) as a tensor shaped, typed and placed like u."""
    if isinstance(value, Tensor):
        value = value.to(dtype=u.dtype, device=u.device)
        if value.shape == u.shape and value is not u:
            return value
        return torch.broadcast_to(value, u.shape).clone()  # a constant, or u itself (f = x)
    return torch.full_like(u, float(value))


@dataclass(frozen=True)
class LibraryFunction:
    """One library function ``f`` of ``X``; ``complexity`` is its cost in model selection."""

    name: str  # "x^2", "sin", ...
    expr: sympy.Expr  # of X
    complexity: int
    _callables: tuple = field(init=False, repr=False, compare=False)  # f and its first three derivatives

    def __post_init__(self) -> None:
        others = sorted(str(s) for s in self.expr.free_symbols if s != X)
        if others:
            raise KanpdeError(
                f"library function {self.name!r} = {self.expr} depends on {others}; "
                "a library function may depend on the variable x only"
            )
        if not isinstance(self.complexity, int) or self.complexity < 0:
            raise KanpdeError(
                f"library function {self.name!r} has complexity {self.complexity!r}; "
                "expected an integer >= 0"
            )
        exprs = (self.expr, *(sympy.diff(self.expr, X, q) for q in (1, 2, 3)))
        fns = tuple(lambdify_torch(e) for e in exprs)
        object.__setattr__(self, "_callables", fns)
        try:  # fail here, with the name, rather than inside a fit
            self.derivatives(torch.linspace(0.1, 0.9, 3, dtype=torch.float64), 3)
        except Exception as err:  # any failure means: not evaluable by torch
            raise KanpdeError(
                f"library function {self.name!r} = {self.expr} cannot be evaluated with torch "
                f"({type(err).__name__}: {err}); use elementary functions such as "
                f"{', '.join(_ELEMENTARY)}"
            ) from err

    def __call__(self, u: Tensor) -> Tensor:
        """f(u), elementwise; same shape as u."""
        return as_like(self._callables[0](u), u)

    def derivatives(self, u: Tensor, order: int) -> list[Tensor]:
        """f and its first ``order`` derivatives at u, each shaped like u; order in 0..3."""
        if order not in (0, 1, 2, 3):
            raise KanpdeError(f"derivative order {order!r} is not supported; expected 0, 1, 2 or 3")
        return [as_like(fn(u), u) for fn in self._callables[: order + 1]]

    def sympy(self, arg: sympy.Expr) -> sympy.Expr:
        """The expression with X replaced by ``arg`` (e.g. ``a*x + b`` for an edge fit)."""
        return self.expr.subs(X, arg)


@functools.lru_cache(maxsize=None)
def _default(name: str) -> LibraryFunction:
    """The default function ``name`` (immutable, so built once and shared)."""
    return LibraryFunction(name, *_DEFAULTS[name])


def parse_extra(name: str, spec: object, label: str = "extra library function") -> LibraryFunction:
    """A user function: an expression (sympy, or a string in x read by the safe parser of
    kanpde.symbolic.parse, never evaluated), or (expression, complexity); a two-item list
    counts as that pair, since that is how a config writes it. ``label`` begins messages
    (the config key, "symbolic.extra", when the app checks its options)."""
    expr, complexity = spec, None
    if isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 2:
        expr, complexity = spec
    what = f"{label} {name!r}"
    if isinstance(expr, str):
        expr = parse_formula(expr, {"x": X}, what)
    else:
        try:  # strict: no fallback to parsing str(expr), which would evaluate it
            expr = sympy.sympify(expr, strict=True)
        except (sympy.SympifyError, TypeError, ValueError) as err:
            raise KanpdeError(
                f"{what}: cannot read {spec!r} as a formula in x (a {type(expr).__name__}); give a sympy "
                "expression, a string such as 'x*exp(-x)', or (expression, complexity)"
            ) from err
        if not isinstance(expr, sympy.Expr):
            raise KanpdeError(f"{what}: cannot read {spec!r} as a formula in x (a {type(expr).__name__}, "
                              "not an expression)")
        expr = expr.subs(sympy.Symbol("x"), X)  # a plain Symbol("x") works too
    if complexity is None:
        complexity = int(sympy.count_ops(expr)) + 1
    try:
        return LibraryFunction(str(name), expr, complexity)
    except KanpdeError as err:
        if label == "extra library function":
            raise
        raise KanpdeError(f"{label}: {err}") from err  # name the config key too


def function_library(
    names: Sequence[str] | None = None, extra: Mapping[str, object] | None = None
) -> tuple[LibraryFunction, ...]:
    """The library: the named defaults (all of :data:`DEFAULT_FUNCTIONS` when ``names`` is None),
    in the order given, followed by the ``extra`` user functions (name -> sympy expression,
    string in x, or (expression, complexity); complexity defaults to ``count_ops + 1``).
    A fresh tuple each call; the defaults are never modified.
    """
    if names is None:
        names = DEFAULT_FUNCTIONS
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in _DEFAULTS]
    if unknown:
        raise KanpdeError(
            f"unknown library function(s) {unknown}; known: {', '.join(DEFAULT_FUNCTIONS)} "
            "(add others through extra={name: expression})"
        )
    funcs = [_default(n) for n in dict.fromkeys(names)]
    for name, spec in (extra or {}).items():
        if name in names:
            raise KanpdeError(
                f"extra library function {name!r} clashes with a selected library function; "
                "give it a new name"
            )
        funcs.append(parse_extra(name, spec))
    return tuple(funcs)
