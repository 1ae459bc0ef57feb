"""A sweep's table: every job of a multirun directory, what it varied, how it ended.

``summarize(sweep_dir)`` reads each job's ``config.yaml`` and ``metrics.json`` (a job
without metrics.json was killed or is still running: its ``incomplete.txt`` says so) and
writes, into the sweep directory:

- ``summary.csv``: one row per job: its directory, the config values that vary across
  the sweep, the seed, status, rel_l2, max_abs, residual_rms, seconds, device, message;
- ``summary.md``: the jobs grouped by the varied values, seeds together (count, how many
  ended ok, mean, standard deviation and best rel_l2, mean seconds), then every job that
  did not end ok with its message;
- ``summary_<key>.png``: rel_l2 against each varied value (one point per job, the group
  means joined), on a log scale.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from kanpde.analysis.plots import plot_sweep
from kanpde.analysis.report import INCOMPLETE
from kanpde.errors import KanpdeError
from kanpde.files import atomic_path, write_text_atomic

METRICS = ("rel_l2", "max_abs", "residual_rms")
IGNORED = ("progress",)  # config keys that do not change a result


@dataclass
class Job:
    """One job of the sweep: its directory, flattened config, metrics (empty if none)."""

    path: Path
    config: dict
    metrics: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.metrics.get("status", "incomplete")

    @property
    def message(self) -> str:
        if self.metrics:
            return str(self.metrics.get("message", ""))
        note = self.path / INCOMPLETE
        return note.read_text().strip() if note.is_file() else "no metrics.json"


def flatten(node, prefix: str = "") -> dict:
    """{"train.stages.0.lr": 0.01, "model.widths": [8, 8], ...}: every leaf of a nested
    dict/list config, a list of plain values counting as one leaf."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list) and any(isinstance(item, (dict, list)) for item in node):
        items = enumerate(node)  # type: ignore[assignment]
    else:
        return {prefix: node}
    out: dict = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def read_jobs(sweep_dir: Path) -> list[Job]:
    """Every job directory (one with a config.yaml) under ``sweep_dir``, in name order."""
    jobs = []
    for config_file in sorted(Path(sweep_dir).glob("*/config.yaml")):
        config = flatten(OmegaConf.to_container(OmegaConf.load(config_file), resolve=False))
        metrics_file = config_file.parent / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        jobs.append(Job(config_file.parent, config, metrics))
    return jobs


def varied_keys(jobs: list[Job]) -> list[str]:
    """Config keys whose values differ between jobs (the seed and display switches aside)."""
    keys = sorted({k for job in jobs for k in job.config})
    return [k for k in keys if k != "seed" and k not in IGNORED
            and len({repr(job.config.get(k)) for job in jobs}) > 1]


def summarize(sweep_dir: str | Path) -> dict:
    """Write summary.csv, summary.md and the plots into ``sweep_dir``; returns
    {"jobs": n, "groups": [...], "failed": [...], "files": [...]}."""
    sweep_dir = Path(sweep_dir)
    jobs = read_jobs(sweep_dir)
    if not jobs:
        raise KanpdeError(f"{sweep_dir} holds no job directories (subdirectories with a config.yaml): "
                          "give the directory of a sweep (kanpde -m ...), e.g. outputs/multirun/<id>")
    keys = varied_keys(jobs)
    _write_csv(sweep_dir / "summary.csv", jobs, keys)
    groups = _groups(jobs, keys)
    failed = [job for job in jobs if job.status != "ok"]
    write_text_atomic(sweep_dir / "summary.md", _markdown(sweep_dir, jobs, keys, groups, failed))
    files = [sweep_dir / "summary.csv", sweep_dir / "summary.md"] + _plots(sweep_dir, jobs, keys, groups)
    return {"jobs": len(jobs), "keys": keys, "groups": groups,
            "failed": [(job.path.name, job.status, job.message) for job in failed], "files": files}


def _write_csv(path: Path, jobs: list[Job], keys: list[str]) -> None:
    header = ["job", *keys, "seed", "status", *METRICS, "seconds", "device", "message"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for job in jobs:
            writer.writerow([job.path.name, *(job.config.get(k) for k in keys), job.config.get("seed"), job.status,
                             *(job.metrics.get(m) for m in METRICS), job.metrics.get("seconds"),
                             job.metrics.get("device"), job.message])


def _groups(jobs: list[Job], keys: list[str]) -> list[dict]:
    """One record per combination of the varied values: the seeds' statistics."""
    by_values: dict[tuple, list[Job]] = {}
    for job in jobs:
        by_values.setdefault(tuple(repr(job.config.get(k)) for k in keys), []).append(job)
    groups = []
    for members in by_values.values():
        errors = [job.metrics["rel_l2"] for job in members
                  if job.status == "ok" and isinstance(job.metrics.get("rel_l2"), float)]
        seconds = [job.metrics["seconds"] for job in members if isinstance(job.metrics.get("seconds"), float)]
        groups.append({"values": {k: members[0].config.get(k) for k in keys}, "jobs": len(members),
                       "ok": sum(job.status == "ok" for job in members),
                       "mean": statistics.fmean(errors) if errors else math.nan,
                       "std": statistics.stdev(errors) if len(errors) > 1 else math.nan,
                       "best": min(errors) if errors else math.nan,
                       "seconds": statistics.fmean(seconds) if seconds else math.nan})
    return groups


def _markdown(sweep_dir: Path, jobs, keys, groups, failed) -> str:
    lines = [f"# Sweep {sweep_dir.name}: {len(jobs)} jobs, {len(jobs) - len(failed)} ok", "",
             f"Varied: {', '.join(keys) or 'nothing but the seed'}. rel_l2 over the jobs that ended ok.", "",
             "| " + " | ".join([*keys, "jobs", "ok", "rel_l2 mean", "std", "best", "seconds"]) + " |",
             "|" + " --- |" * (len(keys) + 6)]
    for g in groups:
        cells = [str(g["values"][k]) for k in keys] + [str(g["jobs"]), str(g["ok"])]
        cells += [_number(g[name]) for name in ("mean", "std", "best")] + [_number(g["seconds"], "{:.1f}")]
        lines.append("| " + " | ".join(cells) + " |")
    if failed:
        lines += ["", "Jobs that did not end ok:", "", "| job | status | message |", "| --- | --- | --- |"]
        lines += [f"| {job.path.name} | {job.status} | {job.message.replace('|', '/')} |" for job in failed]
    return "\n".join(lines) + "\n"


def _number(value: float, form: str = "{:.3e}") -> str:
    return "-" if value is None or math.isnan(value) else form.format(value)


def _plots(sweep_dir: Path, jobs: list[Job], keys: list[str], groups: list[dict]) -> list[Path]:
    """summary_<key>.png per varied key: rel_l2 of each ok job against the key's value."""
    paths = []
    for key in keys:
        numeric = all(isinstance(job.config.get(key), (int, float)) and not isinstance(job.config.get(key), bool)
                      for job in jobs)
        labels = sorted({repr(job.config.get(key)) for job in jobs})
        position = {label: float(i) for i, label in enumerate(labels)}
        x_of = (lambda v: float(v)) if numeric else (lambda v, position=position: position[repr(v)])
        points = [(x_of(job.config.get(key)), job.metrics["rel_l2"]) for job in jobs
                  if job.status == "ok" and isinstance(job.metrics.get("rel_l2"), float)]
        means: dict[float, list[float]] = {}
        for g in groups:
            if not math.isnan(g["mean"]):
                means.setdefault(x_of(g["values"][key]), []).append(g["mean"])
        path = sweep_dir / f"summary_{key}.png"
        with atomic_path(path) as tmp:
            plot_sweep(tmp, key, points, [(x, statistics.fmean(m)) for x, m in means.items()],
                       None if numeric else labels)
        paths.append(path)
    return paths
