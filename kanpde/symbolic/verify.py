"""Verify a closed-form candidate solution against the PDE itself, symbolically.

The problem's own torch code (residual, condition values) runs unchanged on the stand-ins
of kanpde.symbolic.sym (a sympy expression where the code expects a tensor).

Conditions are put on their faces by substitution: Dirichlet u - g; Neumann/Robin with
the outward normal (axis-aligned faces: the face's coordinate fixed and n = +-e_axis);
Initial at t = t0 (value or d^k/dt^k); Periodic d^k u/dx^k at the lower minus at the upper
bound; a Disk's circle as (c + R cos theta, R sin theta). PointData (and a face with no such
parametrisation) is checked at its points only (``exact_zero=None``).

A problem whose code does what sympy cannot follow (``torch.where``, comparisons, indexing
by points, a tensor of many numbers) raises KanpdeError naming the problem and term: such
a formula can be verified only numerically (kanpde's normal autograd path), not here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import sympy
import torch

from kanpde.conditions import Condition, Dirichlet, Initial, Neumann, Periodic, PointData, Robin
from kanpde.errors import KanpdeError
from kanpde.geometry import Disk, SpaceTime
from kanpde.problem import Params, Problem
from kanpde.symbolic.formula import coordinate_symbols as formula_symbols
from kanpde.symbolic.parse import parse_formula
from kanpde.symbolic.sym import Sym, SymbolicCoords, SymbolicField, as_expr, exact_number

log = logging.getLogger(__name__)

_MAX_OPS = 600  # larger expressions are not given to sympy.simplify (time bound)
_ZERO_ROOM = 1e-6  # above this at some point an expression is not 0, whatever sympy would say
_THETA = sympy.Symbol("theta", real=True)  # angle along a disk's boundary


# -- from a problem and a formula to expressions ---------------------------------------------
def coordinate_symbols(problem: Problem) -> dict[str, sympy.Symbol]:
    """name -> ``sympy.Symbol(name, real=True)`` for the problem's coordinates, in order."""
    names = problem.domain.names
    return dict(zip(names, formula_symbols(names)))


def _formula_exprs(problem: Problem, formula, symbols, exact_constants: bool) -> tuple[sympy.Expr, ...]:
    """The formula (an Expr or str; for several components a mapping or sequence) per component."""
    components = problem.components
    if isinstance(formula, Mapping) and set(formula) == set(components):
        parts = [formula[c] for c in components]
    elif isinstance(formula, Sequence) and not isinstance(formula, str) and len(formula) == len(components):
        parts = list(formula)
    elif len(components) == 1 and (isinstance(formula, str) or not isinstance(formula, (Mapping, Sequence))):
        parts = [formula]
    else:
        got = ", ".join(map(str, formula)) if isinstance(formula, Mapping) else type(formula).__name__
        raise KanpdeError(f"problem {problem.name!r} has components {', '.join(components)}; give one formula "
                          f"per component (a dict component -> expression); got {got}")
    out = []
    for part in parts:
        expr = _read(part, symbols, problem)
        strangers = sorted(s.name for s in expr.free_symbols if s.name not in symbols)
        if strangers:
            raise KanpdeError(f"the formula {expr} has symbols {', '.join(strangers)} that are not coordinates "
                              f"of problem {problem.name!r} ({', '.join(symbols)}); substitute their values")
        expr = expr.xreplace({s: symbols[s.name] for s in expr.free_symbols})
        if exact_constants:
            expr = expr.xreplace({f: exact_number(float(f)) for f in expr.atoms(sympy.Float)})
        out.append(expr)
    return tuple(out)


def _read(part, symbols: Mapping[str, sympy.Symbol], problem: Problem) -> sympy.Expr:
    """One component's formula as an expression: a string through the safe parser (never
    evaluated as Python), anything else through a strict sympify (no fallback to str)."""
    if isinstance(part, str):
        return parse_formula(part, symbols, f"the formula for problem {problem.name!r}")
    try:
        expr = sympy.sympify(part, strict=True)
    except (sympy.SympifyError, TypeError, ValueError) as err:
        raise KanpdeError(f"the formula for problem {problem.name!r}: a {type(part).__name__} is not an "
                          "expression; give a sympy expression or a string such as 'exp(-t)*sin(pi*x)'") from err
    if not isinstance(expr, sympy.Expr):
        raise KanpdeError(f"the formula for problem {problem.name!r}: {expr!r} is not an expression")
    return expr


def _run(problem: Problem, term: str, fn: Callable, *args):
    """fn(*args) on symbolic stand-ins; what they cannot express becomes a KanpdeError."""
    try:
        return fn(*args)
    except (KanpdeError, TypeError, AttributeError, IndexError, RuntimeError) as error:
        raise KanpdeError(f"problem {problem.name!r}, {term}: its code cannot run on a symbolic formula "
                          f"({type(error).__name__}: {error}); the formula can then be verified only "
                          "numerically") from error


def _equations(value) -> list[sympy.Expr]:
    return list(value.items) if isinstance(value, Sym) else [as_expr(value)]


def _setup(problem: Problem, formula, exact_constants: bool):
    symbols = coordinate_symbols(problem)
    field = SymbolicField(_formula_exprs(problem, formula, symbols, exact_constants), symbols,
                          problem.components, problem.space)
    return symbols, field, SymbolicCoords(symbols), Params(dict(problem.params))  # stored (true) values


def residual_expression(problem: Problem, formula, *, exact_constants: bool = False) -> list[sympy.Expr]:
    """The problem's residual on the formula: one sympy expression per equation (unsimplified).

    The problem's stored parameter values are used (for an inverse problem the true ones,
    not the estimates; use ``problem.with_params(...)`` for others).
    """
    _, u, x, p = _setup(problem, formula, exact_constants)
    return _equations(_run(problem, "residual", problem.residual, u, x, p))


def _value(problem: Problem, condition: Dirichlet | Neumann | Robin | Initial, x: SymbolicCoords, p) -> sympy.Expr:
    value = condition.value
    return as_expr(_run(problem, f"condition {condition.label}", value, x, p) if callable(value) else value)


def _condition_equations(problem, condition, u, x, p, normals) -> list[sympy.Expr]:
    """What must vanish on the condition's faces, in the coordinates and the normal's symbols."""
    v = u[condition.component] if condition.component is not None else u
    if isinstance(condition, (Neumann, Robin)):
        dn = sympy.Add(*(n * v.d(name).expr for name, n in zip(u.names, normals)))
        lhs = dn if isinstance(condition, Neumann) else (
            as_expr(condition.alpha) * v.value.expr + as_expr(condition.beta) * dn)
        return [lhs - _value(problem, condition, x, p)]
    if isinstance(condition, Initial):
        return [v.d(*[u.names[-1]] * condition.derivative).expr - _value(problem, condition, x, p)]
    if isinstance(condition, Dirichlet):
        return [v.value.expr - _value(problem, condition, x, p)]
    if isinstance(condition, Periodic):
        axis = u.symbols[condition.axis]
        lower, upper = (exact_number(float(b)) for b in problem.domain.bounds[problem.domain.axis(condition.axis)])
        terms = [v.d(*[condition.axis] * k).expr for k in range(condition.derivatives + 1)]
        return [t.subs(axis, lower) - t.subs(axis, upper) for t in terms]
    if isinstance(condition, PointData):
        return [v.value.expr]
    raise KanpdeError(f"condition {condition.label} ({type(condition).__name__}) has no symbolic check; "
                      f"the supported conditions are Dirichlet, Neumann, Robin, Periodic, Initial, PointData")


def _faces(problem: Problem, condition: Condition) -> tuple[str, ...]:
    domain = problem.domain
    if isinstance(condition, Initial) and isinstance(domain, SpaceTime):  # Initial needs a SpaceTime (checked)
        return (f"{domain.time_name}0",)
    if isinstance(condition, Periodic):
        return (f"{condition.axis}-",)  # equations already pair the faces
    return tuple(condition.faces or domain.default_faces())


def _on_face(problem: Problem, face: str, symbols, normals) -> dict | None:
    """Substitution that puts an expression on ``face``; None where it has no parametrisation."""
    domain, names = problem.domain, problem.domain.names
    if isinstance(domain, SpaceTime) and face in domain.time_faces:
        axis, side = len(names) - 1, (-1 if face == domain.time_faces[0] else 1)
    else:
        space = domain.space if isinstance(domain, SpaceTime) else domain
        if isinstance(space, Disk):
            (cx, cy), r = (exact_number(float(c)) for c in space.center), exact_number(space.radius)
            (x, y), (nx, ny) = (symbols[n] for n in space.names), normals[:2]
            subs = {x: cx + r * sympy.cos(_THETA), y: cy + r * sympy.sin(_THETA),
                    nx: sympy.cos(_THETA), ny: sympy.sin(_THETA)}
            return subs | {n: 0 for n in normals[2:]}
        try:
            axis, side = domain.face_axis(face)
        except KanpdeError:
            return None
    bound = exact_number(float(domain.bounds[axis, 0 if side < 0 else 1]))
    return {symbols[names[axis]]: bound} | {n: (side if i == axis else 0) for i, n in enumerate(normals)}


def _reduce(expr: sympy.Expr, numeric_max: float) -> tuple[sympy.Expr, bool]:
    """(simplified expression, whether sympy reduced it to 0). Bounded in time: an
    expression whose values at the points (max ``numeric_max``) are clearly not all zero,
    or one of more than _MAX_OPS ops, is not given to sympy.simplify (which can take minutes
    on large floats), and the slow expand_trig pass runs only when the numbers leave room
    for a zero."""
    if expr == 0 or expr.is_Float and expr.is_zero:  # a Float 0.0 is != 0 in sympy
        return sympy.Integer(0), True
    if not numeric_max <= _ZERO_ROOM:
        return expr, False
    if sympy.count_ops(expr) > _MAX_OPS:
        log.info("an expression of %d ops is reported unsimplified", sympy.count_ops(expr))
        return expr, False
    if sympy.expand(expr).is_zero:
        return sympy.Integer(0), True
    simple = sympy.simplify(expr)
    if simple.is_zero or sympy.simplify(sympy.expand_trig(simple)).is_zero:
        return sympy.Integer(0), True
    return simple, False


def _max_abs(expr: sympy.Expr, args: Sequence[sympy.Symbol], columns: Sequence[np.ndarray], target=0.0) -> float:
    """max |expr - target| over the points given as columns (inf if any value is not finite).
    A DiracDelta (the second derivative of a kink, e.g. of |x|) is 0 at every sampled point
    off the kink; the symbolic check, not this number, is what sees it."""
    n = len(columns[0])
    with np.errstate(all="ignore"):
        f = sympy.lambdify(args, expr, [{"DiracDelta": _zero_off_the_support}, "numpy"])
        values = np.abs(np.broadcast_to(np.asarray(f(*columns)), (n,)) - target)
    return (float(values.max()) if np.isfinite(values).all() else math.inf) if n else 0.0


def _zero_off_the_support(x, *order):
    return np.zeros(np.shape(x))


# -- the record ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One equation: the residual (``residual``, ``residual[i]`` for several) or a condition's
    (its label, ``label[i]`` for several, e.g. Periodic's derivatives).

    expression: simplified where it may be zero (else as assembled); ``"face: expr; ..."`` when it
    differs between faces.
    exact_zero: True: sympy reduced it to 0 (on every face); False: it did not; None: not
    checked symbolically (PointData, or a face with no parametrisation).
    max_abs: max |expression| at ``points`` sampled points (inf if any is not finite).
    """

    name: str
    expression: str
    exact_zero: bool | None
    max_abs: float
    points: int


@dataclass(frozen=True)
class Verification:
    """The formula's checks against ``problem``: the residual first, then each condition."""

    problem: str
    formula: str
    checks: tuple[Check, ...]

    @property
    def exact(self) -> bool:
        """Every check that was checked symbolically reduced to 0."""
        return all(c.exact_zero for c in self.checks if c.exact_zero is not None)

    @property
    def max_abs(self) -> float:
        return max(c.max_abs for c in self.checks)

    def to_dict(self) -> dict:
        return {"problem": self.problem, "formula": self.formula, "exact": self.exact,
                "max_abs": self.max_abs, "checks": [asdict(c) for c in self.checks]}


def _named(name: str, k: int, i: int) -> str:
    return name if k == 1 else f"{name}[{i}]"


def _symbolic_check(name: str, expr: sympy.Expr, subs: Mapping[str, dict | None], args, columns) -> Check:
    """Evaluate expr (in coordinates and normals) at the points; simplify it on each face."""
    numeric = _max_abs(expr, args, columns)
    reduced = {face: _reduce(expr.subs(s), numeric) if s is not None else (expr, None) for face, s in subs.items()}
    texts = {str(r[0]) for r in reduced.values()}
    text = texts.pop() if len(texts) == 1 else "; ".join(f"{f}: {r[0]}" for f, r in reduced.items())
    verdicts = [r[1] for r in reduced.values()]
    return Check(name, text, None if None in verdicts else all(verdicts), numeric, len(columns[0]))


def _condition_checks(problem, condition, setup, normals, points, generator) -> list[Check]:
    symbols, u, x, p = setup
    args = [*symbols.values(), *normals]
    sample = condition.sample(problem.domain, points, "uniform", generator, torch.float64, torch.device("cpu"))
    at = sample.x.numpy()[: len(sample.x) // 2 if isinstance(condition, Periodic) else None]  # Periodic: lower half
    normal = sample.normal.numpy() if sample.normal is not None else np.zeros_like(at)
    equations = _condition_equations(problem, condition, u, x, p, normals)
    names = [_named(condition.label, len(equations), k) for k in range(len(equations))]
    if isinstance(condition, PointData):  # numbers only: u(x_i) - values_i
        data = torch.as_tensor(condition.values, dtype=torch.float64).reshape(-1).numpy()
        return [Check(names[0], f"{equations[0]} - data", None, _max_abs(equations[0], args, [*at.T, *normal.T], data),
                      len(at))]
    subs = {face: _on_face(problem, face, symbols, normals) for face in _faces(problem, condition)}
    return [_symbolic_check(name, expr, subs, args, [*at.T, *normal.T]) for name, expr in zip(names, equations)]


def verify_formula(problem: Problem, formula, *, points: int = 4096, seed: int = 0,
                   exact_constants: bool = False) -> Verification:
    """Substitute ``formula`` into the problem's residual and conditions; simplify; evaluate.

    formula: a sympy Expr (or str) in symbols named like ``problem.domain.names``; for
    several components a dict component -> Expr. exact_constants: read the formula's floats
    as exact numbers too (:func:`exact_number`); the problem's floats always are.
    The residual is evaluated at ``domain.sample_interior(points, "uniform")`` with a
    generator seeded ``seed``; condition i (from 0) at ``condition.sample(domain, points,
    "uniform", ...)`` seeded ``seed + 1 + i``.
    """
    setup = _setup(problem, formula, exact_constants)
    symbols, u, x, p = setup
    normals = [sympy.Dummy(f"n_{name}", real=True) for name in symbols]
    interior = problem.domain.sample_interior(points, "uniform", generator=torch.Generator().manual_seed(seed),
                                              dtype=torch.float64).numpy()
    columns = [*interior.T, *np.zeros((len(normals), len(interior)))]
    residual = _equations(_run(problem, "residual", problem.residual, u, x, p))
    checks = [_symbolic_check(_named("residual", len(residual), i), expr, {"interior": {}},
                              [*symbols.values(), *normals], columns) for i, expr in enumerate(residual)]
    for i, condition in enumerate(problem.conditions):
        generator = torch.Generator().manual_seed(seed + 1 + i)
        checks += _condition_checks(problem, condition, setup, normals, points, generator)
    result = Verification(problem.name, str(formula), tuple(checks))
    log.info("verified %s on problem %s: exact %s, max |check| %.3g", formula, problem.name,
             result.exact, result.max_abs)
    return result


def exact_formula(problem: Problem):
    """The problem's own exact solution as a sympy expression (a dict for several components),
    by running ``problem.exact`` on symbolic coordinates; KanpdeError when it has none."""
    if problem.exact is None:
        raise KanpdeError(f"problem {problem.name!r} has no exact solution to write as a formula")
    symbols = coordinate_symbols(problem)
    parts = _equations(_run(problem, "exact", problem.exact, SymbolicCoords(symbols), Params(dict(problem.params))))
    return parts[0] if len(parts) == 1 else dict(zip(problem.components, parts))
