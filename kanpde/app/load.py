"""Load a finished (or stopped) run back: its problem, its network exactly as trained, its config.

``load_run(run_dir)`` rebuilds the job from the run's own ``config.yaml`` (the problem with
its hard constraints, the network as configured), then makes the network the trained one
from ``model.pt`` (grid sizes, knots, masks, closed-form edges: kanpde.model.checkpoint)
and puts an inverse problem's recovered parameters back. ``which="symbolic"`` loads the
network the symbolic stage left (``symbolic.pt``: pruned, its edges fixed to the formula's
functions) instead.

    run = kanpde.load_run("outputs/poisson2d/2026-12-08_10-00-00_ab12cd")
    u = run.predict(x)  # (N, d) -> (N, m)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from kanpde.app.build import build
from kanpde.app.schema import Config
from kanpde.compare import predict
from kanpde.errors import KanpdeError
from kanpde.model.checkpoint import read_checkpoint, restore
from kanpde.problem import Problem
from kanpde.symbolic.library import function_library, parse_extra

CHECKPOINTS = {"model": "model.pt", "symbolic": "symbolic.pt"}


@dataclass
class LoadedRun:
    """A run read back: the problem (hard constraints included: the solution is
    ``problem.solution(model, x)``), the trained network, the config, and metrics.json
    (empty when the run stopped before writing it)."""

    problem: Problem
    model: nn.Module
    config: DictConfig
    metrics: dict

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The solution at x: (N, d) -> (N, m), in the network's dtype and device."""
        first = next(self.model.parameters())
        return predict(self.problem, self.model, x.to(dtype=first.dtype, device=first.device))


def load_run(run_dir: str | Path, which: str = "model", device: str = "cpu") -> LoadedRun:
    """The run in ``run_dir`` with its network as trained (``which="model"``) or as the
    symbolic stage left it (``"symbolic"``), on ``device``."""
    run_dir = Path(run_dir)
    if which not in CHECKPOINTS:
        raise KanpdeError(f"unknown network {which!r} to load; accepted: {', '.join(CHECKPOINTS)}")
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise KanpdeError(f"{run_dir} is not a kanpde run directory: it has no config.yaml")
    checkpoint = run_dir / CHECKPOINTS[which]
    if which == "symbolic" and not checkpoint.is_file():
        raise KanpdeError(f"{run_dir} has no symbolic.pt: the run had no symbolic stage (symbolic=auto), or the "
                          "stage did not finish")
    cfg = cast(DictConfig, OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(config_file)))
    cfg.device, cfg.progress = device, False
    data = read_checkpoint(checkpoint)
    job = build(cfg)
    restore(job.model, data["state_dict"], data.get("architecture", {}), _functions(cfg.symbolic.extra))
    with torch.no_grad():  # an inverse problem's parameters, as recovered
        for name, value in data.get("unknowns", {}).items():
            job.problem.params.estimates[name].fill_(math.log(value))
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return LoadedRun(job.problem, job.model, cfg, metrics)


def _functions(extra) -> dict:
    """Every function a closed-form edge may use, by name: the library's and the config's own."""
    functions = {f.name: f for f in function_library()}
    for name, spec in cast(dict, OmegaConf.to_container(extra)).items():
        functions[str(name)] = parse_extra(str(name), spec, label="symbolic.extra")
    return functions
