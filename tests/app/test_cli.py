"""The `kanpde` command end to end (subprocesses into a temporary directory)."""

import csv
import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from kanpde import KAN, KANConfig, load_problem
from kanpde.analysis import evaluate
from kanpde.constraints import hard_dirichlet
from kanpde.model import extend_grid

SHORT = ["progress=false", "eval_points=400", "sampler.interior=64", "sampler.boundary=16",
         "train.log_every=2", "train.stages=[{steps:4,optimizer:adam,lr:0.01,grid:3},"
         "{steps:2,optimizer:lbfgs,lr:1.0,grid:6}]"]


def kanpde(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "kanpde", *args, f"hydra.run.dir={tmp_path}/run"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_short_run_writes_a_run_directory_that_reproduces_its_metrics(tmp_path):
    proc = kanpde(tmp_path, *SHORT, "model.widths=[3]", "model.order=3")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["problem"] == "poisson2d"
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 4, 5, 6]  # log_every=2 plus stage ends
    assert float(rows[-1]["loss"]) == pytest.approx(metrics["final_loss"])
    log = (run / "main.log").read_text()  # progress=false: a log line per logged step instead of the bar
    for r in rows:
        assert (f"step {r['step']} (stage {int(r['stage']) + 1}, step {r['stage_step']}): "
                f"loss {float(r['loss']):.3e} (residual {float(r['residual']):.3e}") in log
    # oracle: the checkpoint, loaded into a fresh model, gives the reported error
    problem = hard_dirichlet(load_problem("poisson2d"))  # as configs/problem/poisson2d.yaml says
    model = KAN([2, 3, 1], problem.domain.bounds, KANConfig(grid_size=3, order=3), dtype=torch.float64)
    extend_grid(model, 6)
    model.load_state_dict(torch.load(run / "model.pt")["state_dict"])
    assert evaluate(problem, model, n=400)["rel_l2"] == pytest.approx(metrics["rel_l2"], rel=1e-9)
    assert len(metrics["stage_rel_l2"]) == 2
    assert metrics["stage_rel_l2"][-1] == pytest.approx(metrics["rel_l2"], rel=1e-12)
    for name in ("config.yaml", "solution.png", "loss.png"):
        assert (run / name).stat().st_size > 0


def test_a_problem_without_exact_solution_is_measured_against_its_cached_reference(tmp_path):
    first = kanpde(tmp_path, *SHORT, "problem=kdv")
    assert first.returncode == 0, first.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "ETDRK4" in metrics["reference"] and 0 < metrics["rel_l2"] < 10
    # oracle: the reported error is the error at the reference's grid points
    problem = load_problem("kdv")
    reference = problem.reference(problem.params)
    assert metrics["eval_points"] == len(reference.points())
    (cached,) = (tmp_path / "outputs" / "references").glob("kdv-*.npz")
    again = kanpde(tmp_path, *SHORT, "problem=kdv")
    assert again.returncode == 0 and f"read from {cached.relative_to(tmp_path)}" in again.stdout
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["rel_l2"] == metrics["rel_l2"]


def test_a_marched_run_writes_every_windows_network_and_its_error_over_the_whole_time_range(tmp_path):
    proc = kanpde(tmp_path, *SHORT, "problem=diffusion1d", "problem.hard_initial=true", "train.windows=2",
                  "model.widths=[3]", "model.order=3")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["message"] == "2 windows of 2 stages, 12 steps"
    assert [s["window"] for s in metrics["stages"]] == [0, 0, 1, 1]
    assert "window 2 of 2 (t in [0.5, 1])" in (run / "main.log").read_text()
    # oracle: the checkpoint, loaded into freshly built windows, gives the reported error
    from kanpde.constraints import hard_initial
    from kanpde.training.marching import time_windows

    def make(window):
        window = hard_initial(hard_dirichlet(window))
        model = KAN([2, 3, 1], window.domain.bounds, KANConfig(grid_size=3, order=3), dtype=torch.float64)
        extend_grid(model, 6)
        return window, model

    problem = load_problem("diffusion1d")
    windows = time_windows(problem, 2, make)
    windows.load_state_dict(torch.load(run / "model.pt")["state_dict"])
    assert evaluate(problem, windows, n=400)["rel_l2"] == pytest.approx(metrics["rel_l2"], rel=1e-9)


BAD_FILES = {
    "missing_face": ("Dirichlet(faces='z-')", "lambda u, x, p: -u.laplacian()", ["z-", "x-, x+, y-, y+"]),
    "wrong_shape": ("Dirichlet()", "lambda u, x, p: torch.stack([u.value] * 4).reshape(-1, 2, 2)",
                    ["residual", "expected", ",)"]),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_problem_file_ends_with_a_paragraph_not_a_traceback(tmp_path, case):
    condition, residual, words = BAD_FILES[case]
    path = tmp_path / f"{case}.py"
    path.write_text(textwrap.dedent(f"""
        import torch
        from kanpde import Box, Dirichlet, Problem
        def problem():
            return Problem("bad", Box([0, 0], [1, 1]), {residual}, [{condition}])
    """))
    proc = kanpde(tmp_path, f"problem={path}", *SHORT)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert all(w in proc.stderr + proc.stdout for w in words), proc.stderr


@pytest.mark.parametrize("args,words", [
    (["problem=nope"], ["nope", "poisson2d", "helmholtz2d", "diffusion1d"]),
    (["seed=abc"], ["seed", "abc", "Integer"]),
])
def test_bad_override_ends_with_a_paragraph_not_a_traceback(tmp_path, args, words):
    proc = kanpde(tmp_path, *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert all(w in proc.stderr for w in words), proc.stderr


def test_sigterm_mid_training_still_writes_the_run(tmp_path):
    """SIGTERM once stage 2 has started (so stage 1's rows exist): exit 130, and the run
    directory is complete, with the model kept and stage 1's history."""
    args = [sys.executable, "-m", "kanpde", *SHORT[:-1], "train.log_every=1",
            "train.stages=[{steps:5,optimizer:adam,lr:0.001},{steps:100000,optimizer:adam,lr:0.001}]",
            f"hydra.run.dir={tmp_path}/run"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run, log = tmp_path / "run", tmp_path / "run" / "main.log"
    deadline = time.time() + 120
    while time.time() < deadline and "stage 2:" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and "kept the model" in metrics["message"]
    assert not (run / "incomplete.txt").exists()
    steps = [int(r["step"]) for r in csv.DictReader(open(run / "history.csv"))]
    assert steps[:5] == [1, 2, 3, 4, 5]


def test_symbolic_run_writes_the_verified_formula_and_an_approximation_says_so(tmp_path):
    """poisson1d: x (1 - x), verified, in formula.txt, formula.tex and symbolic.json. With a
    library of {0, abs} only, the edge is forced: the run says approximate, with its error,
    and keeps the partial formula and the second fit."""
    proc = kanpde(tmp_path, "problem=poisson1d", "symbolic=auto", "progress=false", "eval_points=400")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    assert (run / "formula.txt").read_text().splitlines()[0] == "u = x*(1 - x)"
    assert "verified" in (run / "formula.txt").read_text() and (run / "formula.tex").read_text().startswith("u = ")
    record = json.loads((run / "symbolic.json").read_text())
    assert record["status"] == "verified" and record["edges"][0]["function"] == "x^2"
    assert all(check["exact_zero"] for check in record["verification"]["checks"])
    assert (run / "edges.png").stat().st_size > 1000

    (tmp_path / "abs").mkdir()
    proc = kanpde(tmp_path / "abs", "problem=poisson1d", "symbolic=auto", "progress=false", "eval_points=400",
                  "symbolic.functions=[0,abs]")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "abs" / "run" / "symbolic.json").read_text())
    assert record["status"] == "approximate" and record["edges_forced"] == 1
    assert f"{record['formula_rel_l2']:.3e}" in (tmp_path / "abs" / "run" / "formula.txt").read_text()
    assert record["refits"][0]["function"] == "abs" and not record["refits"][0]["accepted"]
    assert "phi_0_0_0" in record["partial_formula"][0]
