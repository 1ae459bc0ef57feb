"""Runs loaded back (kanpde.load_run) and evaluated on new points (`kanpde predict`)."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import kanpde
from kanpde.errors import KanpdeError
from kanpde.model.checkpoint import FORMAT, read_checkpoint
from kanpde.symbolic.formula import network_formula

SMALL = ["progress=false", "eval_points=400", "sampler.interior=64", "sampler.boundary=16"]
EXTENDED = ["train.stages=[{steps:4,optimizer:adam,lr:0.01,grid:3},{steps:2,optimizer:lbfgs,lr:1.0,grid:6}]",
            "model.widths=[3]", "model.order=3"]


def kanpde_cli(tmp_path, *args, run="run"):
    return subprocess.run([sys.executable, "-m", "kanpde", *args, f"hydra.run.dir={tmp_path}/{run}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def predicts_its_own_solution(run_dir) -> kanpde.LoadedRun:
    """The loaded network's values at the run's evaluation points (solution.npz) are the
    values the run itself computed there, to the last bit."""
    loaded = kanpde.load_run(run_dir)
    with np.load(run_dir / "solution.npz") as solution:
        values = loaded.predict(torch.as_tensor(solution["points"])).numpy()
        assert np.array_equal(values, solution["prediction"])
        if "truth" in solution:
            assert np.array_equal(solution["error"], solution["prediction"] - solution["truth"])
    return loaded


@pytest.fixture(scope="module")
def extended_run(tmp_path_factory):
    """A poisson2d run trained on G = 3, then G = 6: its directory."""
    tmp_path = tmp_path_factory.mktemp("extended")
    proc = kanpde_cli(tmp_path, *SMALL, *EXTENDED)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "run"


def test_a_run_after_a_grid_extension_loads_and_predicts_its_solution_bit_for_bit(extended_run):
    loaded = predicts_its_own_solution(extended_run)
    assert loaded.model.grid_size == 6 != loaded.config.model.grid  # built on the config's G, loaded on G = 6
    assert loaded.metrics["status"] == "ok" and loaded.problem.name == "poisson2d"


def test_a_symbolic_run_loads_its_product_network_and_its_closed_form_network(tmp_path):
    """symbolic=auto: u = c X(x) Y(y) + e, a product node and frozen identity edges; after the
    stage, X and Y fixed to closed forms. The loaded symbolic network reads off the very
    formula the run wrote (its constants to the last digit)."""
    proc = kanpde_cli(tmp_path, *SMALL, "symbolic=auto", "symbolic.samples=50", "symbolic.retrain=[]",
                      "symbolic.refine=[{steps:2,optimizer:lbfgs,lr:1.0}]",
                      "train.stages=[{steps:20,optimizer:adam,lr:0.01,grid:3},{steps:3,optimizer:lm,lr:0.001,grid:6}]")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    trained = predicts_its_own_solution(run)
    assert trained.model.mult == (1,) and trained.model.layers[1].fixed is not None
    symbolic = kanpde.load_run(run, "symbolic")
    names = [e.function.name for e in symbolic.model.layers[0].fixed.edges]
    assert names == ["sin", "sin"]
    record = json.loads((run / "symbolic.json").read_text())
    assert [str(f) for f in network_formula(symbolic.model, ("x", "y"))] == record["unsnapped"]


def test_a_marched_run_and_an_inverse_run_load_with_their_windows_and_parameters(tmp_path):
    proc = kanpde_cli(tmp_path, *SMALL, *EXTENDED, "problem=diffusion1d", "problem.hard_initial=true",
                      "train.windows=2")
    assert proc.returncode == 0, proc.stderr
    assert len(predicts_its_own_solution(tmp_path / "run").model) == 2
    proc = kanpde_cli(tmp_path, *SMALL, *EXTENDED, "problem=heat_inverse", run="inverse")
    assert proc.returncode == 0, proc.stderr
    loaded = predicts_its_own_solution(tmp_path / "inverse")
    assert loaded.problem.recovered()["D"] == loaded.metrics["D_recovered"] != 0.1  # trained away from the guess


def test_predict_writes_values_and_derivatives_on_given_points(tmp_path, extended_run):
    run = extended_run
    rng = np.random.default_rng(0)
    points = rng.uniform(0.1, 0.9, size=(50, 2))
    rows = (f"{float(y)!r},{float(x)!r}" for x, y in points)
    (tmp_path / "pts.csv").write_text("y,x\n" + "\n".join(rows))  # the columns in the other order
    out = tmp_path / "pred.npz"
    proc = subprocess.run([sys.executable, "-m", "kanpde", "predict", str(run), "--points", str(tmp_path / "pts.csv"),
                           "--derivatives", "x,yy", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 50 points (u, u_x, u_yy)" in proc.stdout
    loaded = kanpde.load_run(run)
    with np.load(out) as data:
        assert np.array_equal(data["points"], points)
        assert np.array_equal(data["u"], loaded.predict(torch.as_tensor(points))[:, 0].numpy())
        h = 1e-4  # oracle: central differences of the loaded network, error O(h^2)

        def u(dx, dy):
            return loaded.predict(torch.as_tensor(points + [dx, dy]))[:, 0].numpy()

        u_x = (u(h, 0) - u(-h, 0)) / (2 * h)
        u_yy = (u(0, h) - 2 * u(0, 0) + u(0, -h)) / h**2
        assert np.abs(data["u_x"] - u_x).max() < 1e-6 * max(1.0, np.abs(u_x).max())
        assert np.abs(data["u_yy"] - u_yy).max() < 1e-4 * max(1.0, np.abs(u_yy).max())
    bad = subprocess.run([sys.executable, "-m", "kanpde", "predict", str(run), "--derivatives", "z"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown coordinate 'z'; the coordinates are x, y" in bad.stderr
    assert "Traceback" not in bad.stderr
    (tmp_path / "bad.csv").write_text("x,y\n0.5,zz\n")
    bad = subprocess.run([sys.executable, "-m", "kanpde", "predict", str(run), "--points", str(tmp_path / "bad.csv")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "cannot read" in bad.stderr and "comma-separated numbers" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_foreign_and_older_checkpoints_are_refused_with_what_they_are(tmp_path):
    older = tmp_path / "older.pt"
    torch.save({"state_dict": {}, "problem": "poisson2d"}, older)
    with pytest.raises(KanpdeError, match="older kanpde, without a format version"):
        read_checkpoint(older)
    newer = tmp_path / "newer.pt"
    torch.save({"format": FORMAT, "version": 99, "state_dict": {}}, newer)
    with pytest.raises(KanpdeError, match="format version 99; this kanpde reads version 1"):
        read_checkpoint(newer)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(KanpdeError, match="is not a checkpoint kanpde can read"):
        read_checkpoint(text)
    with pytest.raises(KanpdeError, match="not a kanpde run directory: it has no config.yaml"):
        kanpde.load_run(tmp_path)


def test_a_killed_run_keeps_its_last_checkpoint_which_is_the_network_of_that_step(tmp_path):
    """kill -9 mid-stage: model.pt holds the network of the last checkpointed step S, and
    load_run reads it (no metrics). Oracle: the same run stopped by its config after S
    steps ends with that very network, to the last bit."""
    args = [*SMALL, "model.widths=[3]", "model.order=3", "train.log_every=5", "train.checkpoint_every=10"]
    proc = subprocess.Popen([sys.executable, "-m", "kanpde", *args, "train.stages=[{steps:100000,optimizer:adam,"
                             "lr:0.001,grid:3}]", f"hydra.run.dir={tmp_path}/killed"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log, deadline = tmp_path / "killed" / "main.log", time.time() + 120
    while time.time() < deadline and not (log.exists() and "(stage 1, step 25)" in log.read_text()):
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=60)
    killed = kanpde.load_run(tmp_path / "killed")
    steps = read_checkpoint(tmp_path / "killed" / "model.pt")["step"]
    assert killed.metrics == {} and steps >= 20 and steps % 10 == 0
    proc = kanpde_cli(tmp_path, *args, f"train.stages=[{{steps:{steps},optimizer:adam,lr:0.001,grid:3}}]",
                      run="stopped")
    assert proc.returncode == 0, proc.stderr
    stopped = kanpde.load_run(tmp_path / "stopped")
    assert all(torch.equal(value, stopped.model.state_dict()[name])
               for name, value in killed.model.state_dict().items())
