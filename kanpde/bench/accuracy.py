"""``kanpde-bench accuracy``: the problem library solved by the KAN and by the MLP baseline.

Every case is one ``kanpde`` run in a fresh process (its own run directory under the
suite's output folder), with the same problem, points and curriculum for both models;
only ``model=`` differs. The record of a case is read back from the run's metrics.json:
relative L2 and max error against the exact or reference solution, wall time of the
whole command, trainable parameters, device.

Tiers: ``smoke`` (a few problems on small budgets: minutes on a CPU, run by the tests
with error thresholds) and ``full`` (every shipped problem with its default config, or
its ``configs/experiment/<problem>.yaml`` when there is one).

With ``equal_time`` the models after the first of a case train at most as long as the
first one did (``train.time_limit``: its training seconds), so that the table compares
errors at equal time; a run cut short says so in its status column ("time").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kanpde.app.main import group_option
from kanpde.files import shipped
from kanpde.problem import known_problems

EXPERIMENTS_DIR = shipped("configs") / "experiment"
MODELS = ("kan", "mlp")

# small budgets: 64 Adam steps then 10 L-BFGS steps on G = 5 and 10 (the MLP takes the
# same steps; grid sizes do not apply to it)
SMOKE_BUDGET = ("sampler.interior=512", "sampler.boundary=128", "eval_points=2000", "train.log_every=50",
                "train.stages=[{steps:64,optimizer:adam,lr:0.01,grid:5},"
                "{steps:10,optimizer:lbfgs,lr:1.0,grid:5},{steps:10,optimizer:lbfgs,lr:1.0,grid:10}]",
                "model.widths=[8]")


@dataclass(frozen=True)
class Case:
    problem: str
    overrides: tuple[str, ...] = ()


def tier_cases(tier: str) -> list[Case]:
    """The cases of a tier: smoke | full."""
    if tier == "smoke":
        return [Case(name, SMOKE_BUDGET) for name in ("poisson2d", "diffusion1d", "heat2d", "poisson_disk")]
    if tier == "full":
        return [Case(name, (f"+experiment={name}",) if (EXPERIMENTS_DIR / f"{name}.yaml").is_file() else ())
                for name in known_problems()]
    raise ValueError(f"unknown tier {tier!r}; accepted: smoke, full")


def mlp_widths() -> str:
    """The MLP's hidden widths from its config group (configs/model/mlp.yaml), e.g. "[30,30,30]"."""
    widths = group_option("model", "mlp").widths
    return "[" + ",".join(str(w) for w in widths) + "]"


def model_overrides(model: str, case: Case) -> list[str]:
    """model=mlp keeps the case's budget; the KAN's model settings do not apply: the MLP
    keeps its own widths (an experiment sizes the KAN) and has no product nodes."""
    if model == "kan":
        return list(case.overrides)
    return ["model=mlp", *[o for o in case.overrides if not o.startswith("model.")], "model.mult=[]",
            f"model.widths={mlp_widths()}"]


def run_case(case: Case, model: str, out_dir: Path, device: str, timeout: float,
             time_limit: float | None = None) -> dict:
    """One ``kanpde`` run (its training cut at ``time_limit`` seconds, when given); its
    record (with ``error`` set when it failed)."""
    run_dir = out_dir / f"{case.problem}-{model}"
    limit = [f"train.time_limit={time_limit:.1f}"] if time_limit else []
    command = [sys.executable, "-m", "kanpde", f"problem={case.problem}", *model_overrides(model, case), *limit,
               f"device={device}", "progress=false", f"hydra.run.dir={run_dir}"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"problem": case.problem, "model": model, "error": f"no result within {timeout:.0f} s"}
    wall = time.perf_counter() - start
    metrics_file = run_dir / "metrics.json"
    if done.returncode != 0 or not metrics_file.is_file():
        last = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
        return {"problem": case.problem, "model": model, "error": last, "wall_s": wall}
    metrics = json.loads(metrics_file.read_text())
    return {"problem": case.problem, "model": model, "rel_l2": metrics.get("rel_l2"),
            "max_abs": metrics.get("max_abs"), "wall_s": wall, "train_s": metrics.get("seconds"),
            "parameters": metrics.get("parameters"), "device": metrics.get("device"),
            "status": metrics.get("status"), "time_limit": time_limit,
            "time_limited": "time limit" in (metrics.get("message") or ""), "run_dir": str(run_dir)}


def run_suite(tier: str, out_dir: Path, device: str = "auto", models=MODELS, timeout: float = 3600.0,
              on_case=None, problems=None, equal_time: bool = False) -> list[dict]:
    """Every case of the tier (of ``problems`` only, when given) with every model, in
    order; on_case(record) after each. equal_time: the later models of a case train at
    most the first one's training seconds."""
    records = []
    for case in tier_cases(tier):
        if problems is not None and case.problem not in problems:
            continue
        limit = None
        for model in models:
            records.append(run_case(case, model, Path(out_dir), device, timeout, limit))
            if equal_time and limit is None:
                limit = records[-1].get("train_s")
            if on_case is not None:
                on_case(records[-1])
    return records


def table(records: list[dict]) -> str:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    head = (f"{'problem':<22} {'model':<5} {'rel. L2':>9} {'max err':>9} {'train s':>7} {'wall s':>7} "
            f"{'params':>7} {'status':<6}  device")
    lines = [head, "-" * len(head)]
    for r in records:
        status = "time" if r.get("time_limited") else (r.get("status") or "-")
        lines.append(f"{r['problem']:<22} {r['model']:<5} {fmt(r.get('rel_l2'), '9.2e')} "
                     f"{fmt(r.get('max_abs'), '9.2e')} {fmt(r.get('train_s'), '7.1f')} "
                     f"{fmt(r.get('wall_s'), '7.1f')} {fmt(r.get('parameters'), '7d')} {status:<6}  "
                     f"{r.get('device') or '-'}")
        if r.get("error"):
            lines.append(f"{'':<22} {r['model']}: {r['error']}")
    return "\n".join(lines)
