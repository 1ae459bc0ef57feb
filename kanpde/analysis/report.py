"""Write a run directory: model.pt, history.csv, config.yaml, solution.npz, the plots, metrics.json.

Every file is written atomically (kanpde.files), and metrics.json last: its presence means
the trained run is complete. ``incomplete.txt`` stands in a directory from the start of a
run (:func:`mark_incomplete`) until its last file is written (:func:`mark_complete`), so a
directory that a kill -9 left behind says so.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from kanpde.analysis.plots import EdgeCurve, plot_edges, plot_history, plot_solution
from kanpde.errors import log_failure
from kanpde.files import atomic_path, write_text_atomic
from kanpde.model.checkpoint import write_checkpoint
from kanpde.problem import Problem
from kanpde.result import TrainResult

log = logging.getLogger("kanpde")


INCOMPLETE = "incomplete.txt"


def mark_incomplete(run_dir: Path, what: str) -> None:
    """Say in ``run_dir`` that the run is not finished yet (``what``: what is still to come)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    # written in place, not atomically: the file's existence is the mark, even if cut short
    (Path(run_dir) / INCOMPLETE).write_text(f"This run has not finished: {what}. If no kanpde process is writing "
                                            "here any more, it was killed; metrics.json is written last, once a "
                                            "trained run is complete.\n")


def mark_complete(run_dir: Path) -> None:
    (Path(run_dir) / INCOMPLETE).unlink(missing_ok=True)


def write_history(history: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def write_json(path: Path, record: dict) -> None:
    write_text_atomic(path, json.dumps(record, indent=2, default=str))


def write_run(run_dir: Path, problem: Problem, model: nn.Module, result: TrainResult,
              extra: dict | None = None, config: str | None = None, solution: dict | None = None) -> dict:
    """Everything a run has, written even when training stopped early: the checkpoint
    first, then the history, the config (``config``: its YAML), solution.npz (``solution``:
    the arrays of ``evaluate``), the plots (the least essential, the likeliest to fail),
    and metrics.json last. Returns the metrics record."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_checkpoint(run_dir / "model.pt", model, result.state, problem=problem.name,
                     unknowns=problem.recovered(), **(extra or {}))
    write_history(result.history, run_dir / "history.csv")
    if config is not None:
        write_text_atomic(run_dir / "config.yaml", config)
    if solution:
        with atomic_path(run_dir / "solution.npz") as tmp:
            np.savez(tmp, **solution)
    try:
        with atomic_path(run_dir / "solution.png") as tmp:
            plot_solution(problem, model, tmp)
        with atomic_path(run_dir / "loss.png") as tmp:
            plot_history(result.history, tmp)
    except Exception as error:  # noqa: BLE001 - a figure is never worth losing the run over
        log_failure(log, error, "plotting the run", "the metrics, history and checkpoint are written")
    record = {"problem": problem.name, "params": dict(problem.params), "status": result.status,
              "message": result.message, "seconds": result.seconds, "final_loss": result.final_loss,
              **result.metrics, "stages": [asdict(s) for s in result.stages], **(extra or {})}
    write_json(run_dir / "metrics.json", record)
    log.info("wrote %s", run_dir)
    return record


def write_symbolic(run_dir: Path, problem: Problem, result, *, latex: Callable[[Any], str]) -> None:
    """formula.txt, formula.tex, symbolic.json (per-edge fits, errors, verification) and
    edges.png (each edge's learned curve and its fit) of a symbolic result
    (kanpde.symbolic.pipeline.SymbolicResult). ``latex``: a formula in LaTeX, for
    formula.tex (kanpde.symbolic.latex; the formulas are sympy's, and sympy stays there)."""
    run_dir = Path(run_dir)
    names = problem.components
    lines = [f"{name} = {formula}" for name, formula in zip(names, result.formulas)]
    write_json(run_dir / "symbolic.json", result.to_dict())
    tex = [f"{name} = {latex(formula)}" for name, formula in zip(names, result.formulas)]
    write_text_atomic(run_dir / "formula.tex", "\n".join(tex) + "\n")
    curves = {(e.layer, e.source, e.target): EdgeCurve(e.layer, e.source, e.target, e.x, e.y, e.fitted,
                                                       f"{e.fit.function}  r2={e.fit.r2:.6f}")
              for e in result.edges}
    for e in result.refits:  # edges left numeric by the first fits: their curve after the refine
        curves[e.layer, e.source, e.target] = EdgeCurve(
            e.layer, e.source, e.target, e.x, e.y, e.fitted,
            f"{e.fit.function}  r2={e.fit.r2:.6f} (second fit{'' if e.fit.accepted else ', forced'})")
    try:
        if curves:
            with atomic_path(run_dir / "edges.png") as tmp:
                plot_edges(list(curves.values()), tmp, title=f"{problem.name}: edges and their fits")
    except Exception as error:  # noqa: BLE001 - a figure is never worth losing the formula over
        log_failure(log, error, "the edge plot", "the formula and fits are written")
    # the formula with its status last: its presence means the symbolic result is complete
    write_text_atomic(run_dir / "formula.txt", "\n".join(lines + [f"# {result.status}: {result.message}"]) + "\n")
    log.info("wrote the formula to %s", run_dir / "formula.txt")
