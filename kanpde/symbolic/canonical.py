"""What a library function's symmetries let (c, d) absorb of (a, b) in ``c f(a x + b) + d``,
and the canonical form of a fit under them, so that equal curves give equal parameters
(exp(x + 1) is e exp(x); sin has a period; x^2 and |x| are even). Found with sympy once
per function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from kanpde.symbolic.library import X, as_like, lambdify_torch

_L = sympy.Symbol("L", positive=True)
_S = sympy.Symbol("s", real=True)


@dataclass(frozen=True)
class Symmetries:
    """What of (a, b) a function lets (c, d) absorb; each q maps a tensor to a tensor."""

    constant: bool  # f does not depend on x: a = 1, b = 0
    parity: int  # +1 even, -1 odd, 0 neither: a >= 0
    scale: Callable | None  # f(L u) = q(L) f(u) for L > 0 (powers, abs): |a| = 1
    log_scale: Callable | None  # f(L u) = f(u) + q(L) (log): |a| = 1
    shift: Callable | None  # f(u + s) = q(s) f(u) (exp): b = 0
    translate: Callable | None  # f(u + s) = f(u) + q(s) (x): b = 0
    period: float | None  # b reduced to (-period/2, period/2]


@functools.lru_cache(maxsize=None)
def symmetries(expr: sympy.Expr) -> Symmetries:
    """The symmetries of f(X) = expr, found with sympy once per expression."""

    def free_of_x(q: sympy.Expr, symbol: sympy.Symbol) -> Callable | None:
        return None if X in q.free_symbols else lambdify_torch(q, symbol)

    if X not in expr.free_symbols:
        return Symmetries(True, 0, None, None, None, None, None)
    mirrored = expr.subs(X, -X)
    parity = next((p for p in (1, -1) if sympy.expand(mirrored - p * expr) == 0), 0)
    scaled, shifted = expr.subs(X, _L * X), expr.subs(X, X + _S)
    try:
        period = sympy.periodicity(expr, X)
    except (NotImplementedError, ValueError, TypeError):
        period = None
    return Symmetries(
        False, parity,
        free_of_x(sympy.powsimp(sympy.expand_power_base(scaled / expr, force=True),
                                force=True), _L),
        free_of_x(sympy.expand_log(scaled - expr, force=True), _L),
        free_of_x(sympy.powsimp(shifted / expr, force=True), _S),
        free_of_x(sympy.expand(shifted - expr), _S),
        float(period) if period is not None and period.is_number and period > 0 else None,
    )


def canonical(sym: Symmetries, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> list[Tensor]:
    """The same curve c f(a x + b) + d with (a, b) normalised as far as f's symmetries allow:
    a >= 0 for even or odd f, |a| = 1 for powers and log, b = 0 for exp and x, b within one
    period for periodic f. All (E,); entries whose new values would not be finite stay."""

    def where(ok: Tensor, new: list[Tensor], old: list[Tensor]) -> list[Tensor]:
        ok = ok & torch.stack([torch.isfinite(t) for t in new]).all(0)
        return [torch.where(ok, n, o) for n, o in zip(new, old)]

    if sym.constant:
        return [torch.ones_like(a), torch.zeros_like(b), c, d]
    if sym.parity:
        a, b, c = where(a < 0, [-a, -b, c * sym.parity], [a, b, c])
    size = a.abs()
    if sym.scale is not None:
        q = as_like(sym.scale(size), size)
        a, b, c = where(size > 0, [a / size, b / size, c * q], [a, b, c])
    elif sym.log_scale is not None:
        q = as_like(sym.log_scale(size), size)
        a, b, d = where(size > 0, [a / size, b / size, d + c * q], [a, b, d])
    if sym.shift is not None:
        b, c = where(b == b, [torch.zeros_like(b), c * as_like(sym.shift(b), b)], [b, c])
    elif sym.translate is not None:
        b, d = where(b == b, [torch.zeros_like(b), d + c * as_like(sym.translate(b), b)], [b, d])
    if sym.period is not None:
        b = b - sym.period * torch.round(b / sym.period)
    return [a, b, c, d]
