"""Sweeps that search: each run returns its rel_l2 to the sweeper (Optuna, the tune extra)."""

import json
import math
import subprocess
import sys

import pytest
import yaml

from kanpde.app.main import objective


def test_a_runs_objective_is_its_error_and_inf_when_it_has_none(tmp_path):
    assert objective(tmp_path) == math.inf  # killed before metrics.json
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "ok", "rel_l2": 2.5e-6}))
    assert objective(tmp_path) == 2.5e-6
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "nan", "rel_l2": 0.3}))
    assert objective(tmp_path) == math.inf  # a failed run ranks last, whatever it measured
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "ok"}))  # no exact or reference solution
    assert objective(tmp_path) == math.inf


def test_the_tune_sweeper_finds_the_lowest_error_among_its_trials(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the tune extra: pip install -e '.[tune]'")
    sweep = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "kanpde", "-m", "hydra/sweeper=tune", "hydra.sweeper.n_trials=4",
                           "progress=false", "eval_points=400", "sampler.interior=64", "sampler.boundary=16",
                           "train.stages=[{steps:6,optimizer:adam,lr:0.01,grid:3}]",
                           "train.stages.0.lr=choice(0.001,0.01,0.05)", f"hydra.sweep.dir={sweep}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    errors = {p.name: json.loads((p / "metrics.json").read_text())["rel_l2"] for p in sweep.glob("*/")
              if (p / "metrics.json").is_file()}
    assert len(errors) == 4
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == min(errors.values())
