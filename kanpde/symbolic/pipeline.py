"""From a trained KAN to a verified formula: prune, retrain, fit the edges, fix the good
fits, refine their constants with the PDE loss, assemble, snap constants, verify.

Every step is deterministic given the seed: the points come from a seeded generator, the
edges are sampled afresh on uniform grids, and the fits have no random start.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from typing import Any

import sympy
import torch

from kanpde.compare import comparison_points, predict, relative_l2
from kanpde.errors import KanpdeError
from kanpde.model import KAN
from kanpde.problem import Problem
from kanpde.reference.solution import GridSolution
from kanpde.symbolic.edges import EdgeRecord, fit_network, fix_edges
from kanpde.symbolic.formula import FormulaModel, is_closed, network_formula, snap_constants
from kanpde.symbolic.library import DEFAULT_FUNCTIONS, function_library, parse_extra
from kanpde.symbolic.prune import prune
from kanpde.symbolic.verify import Verification, verify_formula
from kanpde.training import PointWeighting, SamplerConfig, Stage, solve

log = logging.getLogger("kanpde")


@dataclass
class SymbolicOptions:
    """prune_threshold: edges below this fraction of their layer's largest are masked;
    retrain: stages after pruning; functions / extra: the library (None: all defaults;
    extra: name -> formula in x, or (formula, complexity)); r2_threshold: fits below it are
    rejected (the edge stays numeric); complexity_weight: score penalty per complexity unit
    (None: the fitter's default); samples: points per edge; refine: stages training the
    closed-form constants (and any numeric edges left) with the PDE loss; snap_rtol: a
    constant is snapped when the error against the reference grows by at most this
    fraction; verify_points: points of the numeric checks. Also the config schema of the
    symbolic stage (kanpde.app.schema), hence the plain list and dict types."""

    prune_threshold: float = 0.05
    retrain: list[Stage] = field(default_factory=list)
    functions: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    r2_threshold: float = 0.999
    complexity_weight: float | None = None
    samples: int = 201
    refine: list[Stage] = field(default_factory=lambda: [Stage(100, "lbfgs", 1.0)])
    snap_rtol: float = 0.01
    verify_points: int = 4096

    def __post_init__(self) -> None:
        """Check every option here, so that a bad one fails before any training is spent
        (the app builds these options before it trains); messages use the config keys."""
        _number("prune_threshold", self.prune_threshold, 0.0, 1.0, "in [0, 1)", upper_open=True)
        _number("r2_threshold", self.r2_threshold, 0.0, 1.0, "in [0, 1]")
        if self.complexity_weight is not None:
            _number("complexity_weight", self.complexity_weight, 0.0, math.inf, ">= 0 (or null for the default)")
        _number("snap_rtol", self.snap_rtol, 0.0, math.inf, ">= 0")
        _integer("samples", self.samples, _MIN_SAMPLES)
        _integer("verify_points", self.verify_points, 1)
        names = _check_functions(self.functions)
        if not isinstance(self.extra, Mapping):
            raise KanpdeError(f"symbolic.extra is a {type(self.extra).__name__}; expected a mapping name -> "
                              "formula in x, e.g. {xexp: 'x*exp(-x)'}")
        for name, spec in self.extra.items():
            if name in names:
                raise KanpdeError(f"symbolic.extra {name!r} clashes with a selected library function; give it a "
                                  "new name")
            parse_extra(name, spec, label="symbolic.extra")  # the safe parser; never evaluates Python


_MIN_SAMPLES = 8  # an edge fit has 4 constants (a f(b x + c) + d): fewer samples cannot judge its r2


def _number(key: str, value, low: float, high: float, accepted: str, upper_open: bool = False) -> None:
    real = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not real or not low <= value <= high or (upper_open and value == high):
        raise KanpdeError(f"symbolic.{key}={value!r} is out of range; expected a finite number {accepted}")


def _integer(key: str, value, low: int) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise KanpdeError(f"symbolic.{key}={value!r} is out of range; expected an integer >= {low}")


def _check_functions(functions) -> tuple[str, ...]:
    """The selected default names (all when None); unknown ones are refused, listing the known."""
    if functions is None:
        return DEFAULT_FUNCTIONS
    names = (functions,) if isinstance(functions, str) else tuple(functions)
    unknown = [n for n in names if n not in DEFAULT_FUNCTIONS]
    if unknown:
        raise KanpdeError(f"symbolic.functions: unknown library function(s) {unknown}; known: "
                          f"{', '.join(DEFAULT_FUNCTIONS)} (add others through symbolic.extra: name -> formula in x)")
    return names


@dataclass
class SymbolicResult:
    """status: "verified" (closed form; residual and conditions are exactly zero),
    "closed" (every edge fitted above the r2 threshold, but not an exact solution: see
    verification) or "approximate" (some edges had no fit above the threshold and were
    forced to their best fits: the formula approximates the network, and its error says by
    how much; ``metrics["partial_formula"]`` keeps those edges numeric, as phi_l_i_j).
    edges: the first fits; refits: the edges those left numeric, fitted again after the
    refine (``accepted`` False: still below the threshold, fixed all the same)."""

    status: str
    message: str
    formulas: list[sympy.Expr]
    unsnapped: list[sympy.Expr]
    edges: list[EdgeRecord]
    metrics: dict
    verification: Verification | None = None
    refits: list[EdgeRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message, "formula": [str(f) for f in self.formulas],
                "unsnapped": [str(f) for f in self.unsnapped], **self.metrics,
                "edges": [e.to_dict() for e in self.edges], "refits": [e.to_dict() for e in self.refits],
                "verification": self.verification.to_dict() if self.verification is not None else None}


def extract_formula(problem: Problem, model: KAN, options: SymbolicOptions | None = None, *,
                    reference: GridSolution | None = None, sampler: SamplerConfig | None = None,
                    weights: Mapping[str, float] | None = None, point_weighting: PointWeighting | None = None,
                    seed: int = 0, eval_points: int = 10_000, callbacks=()) -> SymbolicResult:
    """Read a formula off the trained ``model`` (changed in place: pruned, edges fixed,
    constants refined) and check it against the reference and the PDE. The retraining and
    refining stages minimise the loss training did: pass its ``sampler``, ``weights`` and
    ``point_weighting``.

    Edges whose best fit stays below ``options.r2_threshold`` are first kept numeric while
    the accepted fits are refined; then they too are fixed to their best fits, so the
    result is always a closed formula, with its error stated ("approximate")."""
    options = options or SymbolicOptions()
    check_symbolic(problem, model)
    first = next(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    x = problem.domain.sample_interior(4096, "sobol", generator=generator, dtype=first.dtype, device=first.device)
    masked = prune(model, x, options.prune_threshold)
    train = dict(sampler=sampler, weights=weights, point_weighting=point_weighting, seed=seed, callbacks=callbacks)
    if masked and options.retrain:
        solve(problem, model, list(options.retrain), **train)
    points, truth, _ = comparison_points(problem, eval_points, reference, first.dtype, first.device)
    names = problem.domain.names

    def error(m) -> float | None:
        """Relative L2 error of a network or of formulas against the reference (None: none)."""
        if truth is None:
            return None
        m = m if isinstance(m, torch.nn.Module) else FormulaModel(m, names)
        return relative_l2(predict(problem, m, points), truth)

    functions = function_library(options.functions, options.extra)
    fit_options = {"r2_threshold": options.r2_threshold}
    if options.complexity_weight is not None:
        fit_options["complexity_weight"] = options.complexity_weight
    metrics: dict[str, object] = {"network_rel_l2": error(model)}  # the trained network, before any edge is fixed
    records = fit_network(model, x, functions, samples=options.samples, **fit_options)
    fixed = fix_edges(model, records, functions)
    metrics.update(edges_fitted=fixed, edges_active=len(records))
    log.info("symbolic: %d of %d edges fitted to closed forms", fixed, len(records))
    _refine(problem, model, options.refine, train, error)
    unsnapped = network_formula(model, names)
    refits, forced = [], []
    if not all(is_closed(f) for f in unsnapped):
        metrics["partial_formula"] = [str(f) for f in unsnapped]
        refits = fit_network(model, x, functions, samples=options.samples, **fit_options)
        forced = [r for r in refits if not r.fit.accepted]  # a rejected fit is the best-r2 one
        fix_edges(model, [replace(r, fit=replace(r.fit, accepted=True)) for r in refits], functions)
        log.info("symbolic: after the refine, %d of the %d numeric edges fitted above r2 %g; %d forced to "
                 "their best fits", len(refits) - len(forced), len(refits), options.r2_threshold, len(forced))
        _refine(problem, model, options.refine, train, error)
        unsnapped = network_formula(model, names)
    metrics["edges_forced"] = len(forced)
    # snapping is judged by the error against the reference: without one, nothing snaps
    formulas = snap_constants(unsnapped, error, rtol=options.snap_rtol)[0] if truth is not None else unsnapped
    formulas = [sympy.simplify(f) for f in formulas]
    metrics["formula_rel_l2"] = error(formulas)
    metrics["unsnapped_rel_l2"] = error(unsnapped)
    verification = verify_formula(problem, formulas, points=options.verify_points, seed=seed)
    misfit = f"largest residual or condition misfit {verification.max_abs:.3e} on sampled points"
    if verification.exact:
        status, message = "verified", "the formula solves the PDE and its conditions exactly"
    elif forced:
        status, message = "approximate", (
            f"{len(forced)} of {len(records)} edges had no fit reaching r2 {options.r2_threshold} (lowest "
            f"{min(r.fit.r2 for r in forced):.4f}) and were forced to their best fits, so this is an "
            f"approximation, not a solution: {_measured(metrics)}; {misfit}")
    else:
        status, message = "closed", f"closed form, not an exact solution: {misfit}"
    return SymbolicResult(status, message, formulas, unsnapped, records, metrics, verification, refits)


def _refine(problem: Problem, model: KAN, stages: Sequence[Stage], train: dict, error) -> None:
    """Train the closed-form constants (and any numeric edges) with the PDE loss; when that
    raises the error against the reference (a poor fit can slide to a trivial solution of
    lower loss, such as u = 0), keep the constants of the fit instead."""
    if not stages:
        return
    before, state = error(model), copy.deepcopy(model.state_dict())
    refined = solve(problem, model, list(stages), **train)
    if not refined.ok:  # e.g. L-BFGS breaking down once the loss reaches rounding level
        log.info("symbolic refine: %s", refined.message)
    after = error(model)
    if before is not None and math.isfinite(before) and not after <= before * (1.0 + 1e-3):  # NaN too
        model.load_state_dict(state)
        log.info("symbolic refine raised the error against the reference from %.3e to %.3e; kept the fitted "
                 "constants", before, after)


def _measured(metrics: dict) -> str:
    """How far the formula is from the reference, in words."""
    error = metrics["formula_rel_l2"]
    if error is None:
        return "no reference to measure it against"
    if not math.isfinite(error):
        return "its values are not finite at some reference points (a forced fit overflows there)"
    return f"relative L2 error {error:.3e} against the reference (the network's: {metrics['network_rel_l2']:.3e})"


def check_symbolic(problem: Problem, model) -> None:
    """Refuse, with what to change, a model or problem no formula can be read from."""
    if not isinstance(model, KAN):
        raise KanpdeError(f"symbolic extraction reads a KAN's edges; the model is a {type(model).__name__} "
                          "(use model=kan)")
    if problem.transform is not None:
        raise KanpdeError(f"problem {problem.name!r} has a hard constraint (an output transform), so the network "
                          "is not the solution; set problem.hard_dirichlet=false and problem.hard_initial=false "
                          "for symbolic extraction")
