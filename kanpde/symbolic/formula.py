"""The network as a formula: assembly into sympy, constants snapped to simple numbers.

``network_formula`` writes the KAN out edge by edge in the problem's coordinate names:
the periodic features and the affine input map, then every layer's nodes (sums of edges,
products for multiplication nodes). A closed-form edge becomes ``c f(a z + b) + d``; an
edge still numeric becomes an undefined function ``phi_l_i_j(z)``, so the formula says
honestly which parts are not closed.

``snap_constants`` replaces each floating-point constant by 0, an integer, a simple
rational or a rational multiple of pi, keeping a replacement only when a measured error
(e.g. against the reference solution) does not grow beyond a tolerance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import cast

import sympy
import torch
from torch import Tensor, nn

from kanpde.model import KAN
from kanpde.symbolic.library import LibraryFunction, as_like, lambdify_torch

log = logging.getLogger("kanpde")


def coordinate_symbols(names: Sequence[str]) -> list[sympy.Symbol]:
    return [sympy.Symbol(name, real=True) for name in names]


def network_formula(model: KAN, names: Sequence[str]) -> list[sympy.Expr]:
    """One sympy expression per output of ``model``, in the coordinates ``names``."""
    symbols = coordinate_symbols(names)
    with torch.no_grad():
        h = _inputs(model, symbols)
        for index, layer in enumerate(model.layers):
            out = [sympy.Integer(0)] * layer.out_dim
            for source, target in torch.nonzero(layer.mask).tolist():
                phi = sympy.Function(f"phi_{index}_{source}_{target}")
                out[target] += phi(h[source])
            if layer.fixed is not None:
                for e in layer.fixed.current():
                    function = cast(LibraryFunction, e.function)  # the symbolic stage fixes library functions
                    out[e.target] += _float(e.c) * function.sympy(_float(e.a) * h[e.source] + _float(e.b)) \
                        + _float(e.d)
            m = model.mult[index] if index < len(model.mult) else 0
            w = layer.out_dim - 2 * m
            h = out[:w] + [out[w + 2 * k] * out[w + 2 * k + 1] for k in range(m)]
    if model.reflection is not None:  # (f(x) + parity f(R x)) / 2
        r = model.reflection
        s = symbols[r.axis]
        h = [(e + r.parity * e.subs(s, 2 * _float(r.center) - s)) / 2 for e in h]
    # function arguments are kept whole: expanding exp(-(a x + b)^2) splits off exp(-b^2),
    # which can underflow while the rest overflows
    return [sympy.expand(e, deep=False) for e in h]


def _inputs(model: KAN, symbols: list[sympy.Symbol]) -> list[sympy.Expr]:
    """The first layer's inputs: periodic features, then the affine map onto the grid range."""
    columns: list[sympy.Expr] = []
    features = model.features
    for a, s in enumerate(symbols):
        if features is not None and a in features.frequency:
            phase = _float(features.frequency[a]) * (s - _float(features.lower[a]))
            columns += [sympy.cos(phase), sympy.sin(phase)]
        else:
            columns.append(s)
    scale, shift = model.input_map.scale.tolist(), model.input_map.shift.tolist()
    return [_float(a) * c + _float(b) for c, a, b in zip(columns, scale, shift)]


def _float(v: float) -> sympy.Expr:
    return sympy.Integer(int(v)) if float(v).is_integer() else sympy.Float(v, 17)


def is_closed(expr: sympy.Expr) -> bool:
    """True when no numeric edge (undefined function) is left in ``expr``."""
    return not expr.atoms(sympy.core.function.AppliedUndef)


def latex(formula: sympy.Expr) -> str:
    """The formula in LaTeX, as a run directory's formula.tex holds it."""
    return sympy.latex(formula)


class FormulaModel(nn.Module):
    """A formula as a model ``(N, d) -> (N, m)`` (torch, via the library's lambdify), so it
    can be evaluated and compared like the network."""

    def __init__(self, formulas: Sequence[sympy.Expr], names: Sequence[str]):
        super().__init__()
        symbols = coordinate_symbols(names)
        self.functions = [lambdify_torch(f, symbols) for f in formulas]

    def forward(self, x: Tensor) -> Tensor:
        columns = [x[:, a] for a in range(x.shape[1])]
        return torch.stack([as_like(f(*columns), x[:, 0]) for f in self.functions], dim=1)


def snap_candidates(v: float, max_denominator: int = 12) -> list[sympy.Expr]:
    """Simple numbers near v, simplest first: 0, the nearest integer, p/q, (p/q) pi,
    (p/q) pi^2 (the decay rates of heat equations), and for v > 0 exp(p/q) (a factor in
    front of exp(a x) is often exp of a simple number)."""
    out = [sympy.Integer(0), sympy.Integer(round(v))]
    q = Fraction(v).limit_denominator(max_denominator)
    out.append(sympy.Rational(q.numerator, q.denominator))
    for power in (1, 2):
        q = Fraction(v / math.pi**power).limit_denominator(max_denominator)
        if q != 0:
            out.append(sympy.Rational(q.numerator, q.denominator) * sympy.pi**power)
    if v > 0:
        q = Fraction(math.log(v)).limit_denominator(max_denominator)
        if q != 0:
            out.append(sympy.exp(sympy.Rational(q.numerator, q.denominator)))
    unique = []
    for c in out:
        if c not in unique:
            unique.append(c)
    return unique


def snap_constants(formulas: list[sympy.Expr], error: Callable[[list[sympy.Expr]], float | None], *,
                   rtol: float = 0.01, atol: float = 1e-9) -> tuple[list[sympy.Expr], float | None]:
    """Snap the Float constants of ``formulas`` one at a time (largest first), keeping a
    snap when ``error(snapped) <= max(error(current) * (1 + rtol), atol)``; sweeps again
    while a sweep snapped something (a snap can merge constants into new ones). With no
    finite error to compare against (no reference: ``error`` returns None, or values that
    overflow) nothing snaps. Returns the snapped formulas and their error."""
    current, best = formulas, error(formulas)
    if best is None or not math.isfinite(best):
        return current, best
    tried: set[sympy.Float] = set()
    while True:
        floats = sorted({a for f in current for a in f.atoms(sympy.Float)} - tried, key=lambda a: -abs(float(a)))
        if not floats:
            return current, best
        for value in floats:
            tried.add(value)
            if not any(value in f.atoms(sympy.Float) for f in current):
                continue  # merged away by an earlier snap of this sweep
            for candidate in snap_candidates(float(value)):
                trial = [f.xreplace({value: candidate}) for f in current]
                e = error(trial)
                if e is not None and e <= max(best * (1.0 + rtol), atol):
                    current, best = trial, e
                    log.debug("snapped %s -> %s (error %.3e)", value, candidate, e)
                    break
