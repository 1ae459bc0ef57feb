"""Sweeps through submitit: the SLURM and local launcher presets (the cluster extra)."""

import csv
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from kanpde.app.main import CONFIG_DIR
from kanpde.app.schema import register

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the cluster extra: pip install -e '.[cluster]'")


def launcher(*overrides):
    register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra.launcher


def test_the_slurm_preset_asks_one_gpu_per_job_a_signal_before_the_limit_and_requeues():
    slurm = launcher("hydra/launcher=slurm")
    assert slurm._target_.endswith("SlurmLauncher")
    assert (slurm.gpus_per_task, slurm.tasks_per_node, slurm.nodes) == (1, 1, 1)
    assert (slurm.signal_delay_s, slurm.max_num_timeout) == (120, 3)
    assert slurm.partition is None and slurm.account is None  # the user's to name
    mine = launcher("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.account=lab",
                    "hydra.launcher.timeout_min=30")
    assert (mine.partition, mine.account, mine.timeout_min, mine.gpus_per_task) == ("gpu", "lab", 30, 1)


def test_a_local_sweep_runs_each_job_through_submitit_and_summarizes(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "kanpde", "-m", "hydra/launcher=local", "progress=false",
                           "eval_points=400", "sampler.interior=64", "sampler.boundary=16",
                           "train.stages=[{steps:4,optimizer:adam,lr:0.01,grid:3}]", "seed=0,1,2",
                           f"hydra.sweep.dir={sweep}"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Submitit 'local' sweep output dir" in proc.stdout + proc.stderr
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 3  # each job ran as a submitit job
    summary = subprocess.run([sys.executable, "-m", "kanpde.bench", "summarize", str(sweep)], capture_output=True,
                             text=True, timeout=300)
    assert summary.returncode == 0, summary.stderr
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert sorted(r["seed"] for r in rows) == ["0", "1", "2"] and all(r["status"] == "ok" for r in rows)
