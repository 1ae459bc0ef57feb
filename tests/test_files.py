"""Atomic writes, and run directories written in an order that cannot pass off a part as whole."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from kanpde import KAN, KANConfig, load_problem
from kanpde.analysis.report import INCOMPLETE, mark_complete, mark_incomplete, write_run
from kanpde.files import atomic_path, write_text_atomic
from kanpde.reference.cache import reference_solution
from kanpde.result import Status, TrainResult


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the ne")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_a_block_that_writes_nothing_leaves_the_target_alone(tmp_path):
    with atomic_path(tmp_path / "plot.png"):
        pass
    assert not list(tmp_path.iterdir())


def test_metrics_json_is_the_last_file_a_run_writes(tmp_path, monkeypatch):
    """The plots fail (the likeliest to): the run is still written; a write that fails
    before metrics.json leaves no metrics.json, and the marker says so."""
    problem = load_problem("poisson1d")
    model = KAN([1, 2, 1], problem.domain.bounds, KANConfig(grid_size=3), dtype=torch.float64)
    result = TrainResult(Status.OK, "done", [{"step": 1, "loss": 1.0}], state=model.state_dict())
    mark_incomplete(tmp_path / "a", "training")
    record = write_run(tmp_path / "a", problem, model, result)
    mark_complete(tmp_path / "a")
    assert json.loads((tmp_path / "a" / "metrics.json").read_text()) == json.loads(json.dumps(record, default=str))
    assert not (tmp_path / "a" / INCOMPLETE).exists()

    written = []
    real_replace = __import__("os").replace

    def replace_then_fail_on_metrics(src, dst):
        written.append(str(dst).rsplit("/", 1)[-1])
        if str(dst).endswith("metrics.json"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr("kanpde.files.os.replace", replace_then_fail_on_metrics)
    mark_incomplete(tmp_path / "b", "training")
    with pytest.raises(OSError, match="disk full"):
        write_run(tmp_path / "b", problem, model, result)
    assert written[-1] == "metrics.json" and {"model.pt", "history.csv"} <= set(written)
    assert (tmp_path / "b" / INCOMPLETE).exists() and not (tmp_path / "b" / "metrics.json").exists()


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated zip", b"not a zip at all"])
def test_a_damaged_cached_reference_is_computed_again(tmp_path, damage, caplog):
    problem = load_problem("burgers1d")
    first = reference_solution(problem, tmp_path)
    (cached,) = tmp_path.glob("burgers1d-*.npz")
    cached.write_bytes(damage)
    again = reference_solution(problem, tmp_path)
    assert "unreadable" in caplog.text and np.array_equal(again.values, first.values)
    assert cached.stat().st_size > 1000 and reference_solution(problem, tmp_path) is not None


SLOW_REFERENCE = '''
import sys, time
import numpy as np
from kanpde import Dirichlet, Interval, Problem
from kanpde.reference.cache import reference_solution
from kanpde.reference.solution import GridSolution

def slow(p):
    with open(sys.argv[2], "a") as log:  # one line per computation
        log.write("computed\\n")
    time.sleep(1.0)
    x = np.linspace(0.0, 1.0, 11)
    return GridSolution((x,), x * (1 - x), "slow")

problem = Problem("slow", Interval(0.0, 1.0), lambda u, x, p: u.d("x", "x") + 2, [Dirichlet(value=0.0)],
                  reference=slow)
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))  # the four jobs ask at once
solution = reference_solution(problem, sys.argv[1])
assert np.allclose(solution.values, solution.axes[0] * (1 - solution.axes[0]))
print("ok")
'''


def test_four_jobs_that_need_one_uncached_reference_compute_it_once_and_all_read_it(tmp_path):
    script, computed = tmp_path / "job.py", tmp_path / "computed.txt"
    script.write_text(SLOW_REFERENCE)
    start = time.time() + 8.0  # after every process has imported torch
    jobs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), str(computed), str(start)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [job.communicate(timeout=120) for job in jobs]
    assert all(job.returncode == 0 and out == "ok\n" for job, (out, _) in zip(jobs, outputs)), outputs
    assert computed.read_text() == "computed\n"
    assert len(list((tmp_path / "cache").glob("slow-*.npz"))) == 1
