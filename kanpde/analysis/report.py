"""Write a run directory: metrics.json, history.csv, model.pt and the plots."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from kanpde.analysis.plots import plot_history, plot_solution
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
