"""Write a run directory: metrics.json, history.csv, model.pt and the plots."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict
from pathlib import Path

import sympy
import torch
from torch import nn

from kanpde.analysis.plots import EdgeCurve, plot_edges, plot_history, plot_solution
from kanpde.problem import Problem
from kanpde.result import TrainResult

log = logging.getLogger("kanpde")


def write_history(history: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def write_run(run_dir: Path, problem: Problem, model: nn.Module, result: TrainResult,
              extra: dict | None = None) -> None:
    """Everything a run has, written even when training stopped early; plots last, since
    they are the least essential and the likeliest to fail."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"problem": problem.name, "params": dict(problem.params), "status": result.status,
              "message": result.message, "seconds": result.seconds, "final_loss": result.final_loss,
              **result.metrics, "stages": [asdict(s) for s in result.stages], **(extra or {})}
    (run_dir / "metrics.json").write_text(json.dumps(record, indent=2, default=str))
    write_history(result.history, run_dir / "history.csv")
    torch.save({"state_dict": result.state, "problem": problem.name, **(extra or {})}, run_dir / "model.pt")
    try:
        plot_solution(problem, model, run_dir / "solution.png")
        plot_history(result.history, run_dir / "loss.png")
    except Exception:  # a figure is never worth losing the run over
        log.exception("plotting failed; the metrics, history and checkpoint are written")
    log.info("wrote %s", run_dir)


def write_symbolic(run_dir: Path, problem: Problem, result) -> None:
    """formula.txt, formula.tex, symbolic.json (per-edge fits, errors, verification) and
    edges.png (each edge's learned curve and its fit) of a symbolic result
    (kanpde.symbolic.pipeline.SymbolicResult)."""
    run_dir = Path(run_dir)
    names = problem.components
    lines = [f"{name} = {formula}" for name, formula in zip(names, result.formulas)]
    (run_dir / "formula.txt").write_text("\n".join(lines + [f"# {result.status}: {result.message}"]) + "\n")
    tex = [f"{name} = {sympy.latex(formula)}" for name, formula in zip(names, result.formulas)]
    (run_dir / "formula.tex").write_text("\n".join(tex) + "\n")
    (run_dir / "symbolic.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    curves = {(e.layer, e.source, e.target): EdgeCurve(e.layer, e.source, e.target, e.x, e.y, e.fitted,
                                                       f"{e.fit.function}  r2={e.fit.r2:.6f}")
              for e in result.edges}
    for e in result.refits:  # edges left numeric by the first fits: their curve after the refine
        curves[e.layer, e.source, e.target] = EdgeCurve(
            e.layer, e.source, e.target, e.x, e.y, e.fitted,
            f"{e.fit.function}  r2={e.fit.r2:.6f} (second fit{'' if e.fit.accepted else ', forced'})")
    curves = list(curves.values())
    try:
        if curves:
            plot_edges(curves, run_dir / "edges.png", title=f"{problem.name}: edges and their fits")
    except Exception:  # a figure is never worth losing the formula over
        log.exception("the edge plot failed; the formula and fits are written")
    log.info("wrote the formula to %s", run_dir / "formula.txt")
