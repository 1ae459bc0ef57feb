"""From a trained KAN to a verified formula: prune, retrain, fit the edges, fix the good
fits, refine their constants with the PDE loss, assemble, snap constants, verify.

Every step is deterministic given the seed: the points come from a seeded generator, the
edges are sampled afresh on uniform grids, and the fits have no random start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy
import torch

from kanpde.analysis.metrics import comparison_points, predict, relative_l2
from kanpde.errors import KanpdeError
from kanpde.model import KAN
from kanpde.problem import Problem
from kanpde.reference.solution import GridSolution
from kanpde.symbolic.edges import EdgeRecord, fit_network, fix_edges
from kanpde.symbolic.formula import FormulaModel, is_closed, network_formula, snap_constants
from kanpde.symbolic.library import function_library
from kanpde.symbolic.prune import prune
from kanpde.symbolic.verify import Verification, verify_formula
from kanpde.training import SamplerConfig, Stage, solve

log = logging.getLogger("kanpde")


@dataclass(frozen=True)
class SymbolicOptions:
    """prune_threshold: edges below this fraction of their layer's largest are masked;
    retrain: stages after pruning; functions / extra: the library (None: all defaults;
    extra: name -> formula in x); r2_threshold: fits below it are rejected (the edge stays
    numeric); complexity_weight: score penalty per complexity unit (None: the fitter's
    default); samples: points per edge; refine: stages training the closed-form constants
    (and any numeric edges left) with the PDE loss; snap_rtol: a constant is snapped when
    the error against the reference grows by at most this fraction; verify_points: points
    of the numeric checks."""

    prune_threshold: float = 0.05
    retrain: Sequence[Stage] = ()
    functions: Sequence[str] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    r2_threshold: float = 0.999
    complexity_weight: float | None = None
    samples: int = 201
    refine: Sequence[Stage] = (Stage(100, "lbfgs", 1.0),)
    snap_rtol: float = 0.01
    verify_points: int = 4096


@dataclass
class SymbolicResult:
    """status: "verified" (closed form; residual and conditions are exactly zero),
    "closed" (closed form, not an exact solution: see verification), or "partial"
    (some edges stayed numeric; the formula names them phi_l_i_j)."""

    status: str
    message: str
    formulas: list[sympy.Expr]
    unsnapped: list[sympy.Expr]
    edges: list[EdgeRecord]
    metrics: dict
    verification: Verification | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "message": self.message, "formula": [str(f) for f in self.formulas],
                "unsnapped": [str(f) for f in self.unsnapped], **self.metrics,
                "edges": [e.to_dict() for e in self.edges],
                "verification": self.verification.to_dict() if self.verification is not None else None}


def extract_formula(problem: Problem, model: KAN, options: SymbolicOptions = SymbolicOptions(), *,
                    reference: GridSolution | None = None, sampler: SamplerConfig | None = None,
                    seed: int = 0, eval_points: int = 10_000, callbacks=()) -> SymbolicResult:
    """Read a formula off the trained ``model`` (changed in place: pruned, edges fixed,
    constants refined) and check it against the reference and the PDE."""
    check_symbolic(problem, model)
    first = next(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    x = problem.domain.sample_interior(4096, "sobol", generator=generator, dtype=first.dtype, device=first.device)
    masked = prune(model, x, options.prune_threshold)
    train = dict(sampler=sampler, seed=seed, callbacks=callbacks)
    if masked and options.retrain:
        solve(problem, model, list(options.retrain), **train)
    functions = function_library(options.functions, options.extra)
    fit_options = {"r2_threshold": options.r2_threshold}
    if options.complexity_weight is not None:
        fit_options["complexity_weight"] = options.complexity_weight
    records = fit_network(model, x, functions, samples=options.samples, **fit_options)
    fixed = fix_edges(model, records, functions)
    log.info("symbolic: %d of %d edges fitted to closed forms", fixed, len(records))
    if options.refine:
        refined = solve(problem, model, list(options.refine), **train)
        if not refined.ok:  # e.g. L-BFGS breaking down once the loss reaches rounding level
            log.info("symbolic refine: %s", refined.message)

    points, truth, _ = comparison_points(problem, eval_points, reference, first.dtype, first.device)
    names = problem.domain.names

    def error(formulas: list[sympy.Expr]) -> float:
        if truth is None:
            return float("nan")
        return relative_l2(predict(problem, FormulaModel(formulas, names), points), truth)

    unsnapped = network_formula(model, names)
    metrics = {"edges_fitted": fixed, "edges_active": len(records),
               "network_rel_l2": relative_l2(predict(problem, model, points), truth) if truth is not None else None}
    if not all(is_closed(f) for f in unsnapped):
        return SymbolicResult("partial", f"{len(records) - fixed} edges stayed numeric (no fit reached r2 "
                              f"{options.r2_threshold}); the formula names them phi_l_i_j", unsnapped, unsnapped,
                              records, metrics)
    formulas, _ = snap_constants(unsnapped, error, rtol=options.snap_rtol)
    formulas = [sympy.simplify(f) for f in formulas]
    metrics["formula_rel_l2"] = error(formulas)
    metrics["unsnapped_rel_l2"] = error(unsnapped)
    verification = verify_formula(problem, formulas, points=options.verify_points, seed=seed)
    exact = verification.exact
    status = "verified" if exact else "closed"
    message = ("the formula solves the PDE and its conditions exactly" if exact else
               f"closed form, not an exact solution: largest residual or condition misfit "
               f"{verification.max_abs:.3e} on sampled points")
    return SymbolicResult(status, message, formulas, unsnapped, records, metrics, verification)


def check_symbolic(problem: Problem, model) -> None:
    """Refuse, with what to change, a model or problem no formula can be read from."""
    if not isinstance(model, KAN):
        raise KanpdeError(f"symbolic extraction reads a KAN's edges; the model is a {type(model).__name__} "
                          "(use model=kan)")
    if problem.transform is not None:
        raise KanpdeError(f"problem {problem.name!r} has a hard constraint (an output transform), so the network "
                          "is not the solution; set problem.hard_dirichlet=false and problem.hard_initial=false "
                          "for symbolic extraction")
