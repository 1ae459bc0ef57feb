"""Bad input and badly timed signals, thrown at the `kanpde` command by the dozen.

Every case runs the real command in its own directory and must end with a clear message
(the words each case lists), a non-zero exit code that says why (2: bad input, 130:
interrupted), no traceback, and nothing lost or half-made: bad input leaves no run
directory at all, an interrupted run leaves a complete one. The cases run in parallel,
as one test, so the whole table costs what a few of them would cost one after another.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SHORT = ["progress=false", "eval_points=200", "sampler.interior=32", "sampler.boundary=8",
         "train.stages=[{steps:3,optimizer:adam,lr:0.01}]"]
LONG_TRAINING = "train.stages=[{steps:1000000,optimizer:adam,lr:0.001}]"
MARKER = "PWNED"  # a file that code smuggled into a config would create

PROBLEM = """
import torch
from kanpde import Box, Dirichlet, Problem
{head}
def problem({signature}):
    return Problem("user", Box([0, 0], [1, 1]), {residual}, [{condition}]{extra})
"""


def problem_file(residual="lambda u, x, p: -u.laplacian() - 1", condition="Dirichlet()", head="", extra="",
                 signature=""):
    return textwrap.dedent(PROBLEM.format(head=head, residual=residual, condition=condition, extra=extra,
                                          signature=signature))


@dataclass
class Case:
    args: list[str]
    words: list[str]  # all must appear in the output
    exit_code: int = 2
    source: str | None = None  # written to user.py, and problem=user.py added
    signal_after: str | None = None  # send signals once the output has this text ("" at launch)...
    delay: float = 0.0  # ...and this many seconds more
    signals: tuple[int, ...] = ()
    kept: bool | None = False  # True: one complete run directory with `status`; False: none; None: either
    status: str = "interrupted"
    env: dict[str, str] = field(default_factory=dict)


STAGE = "train.stages=[{{steps:3,optimizer:adam,lr:0.01,{}}}]"
CASES: dict[str, Case] = {
    # config keys and values
    "typo_key": Case(["+model.gird=5"], ["model.gird", "did you mean model.grid"]),
    "unknown_key": Case(["+foo=1"], ["unknown config key foo", "problem, model, train"]),
    "unknown_stage_key": Case(["+train.stages.0.foo=1"], ["train.stages.0.foo"]),
    "order_0": Case(["model.order=0"], ["model.order=0", "from 1 to 7"]),
    "order_below_pde": Case(["model.order=1"], ["model.order=1", "order 2", "model.order >= 2"]),
    "order_8": Case(["model.order=8"], ["model.order=8", "from 1 to 7"]),
    "log_every_0": Case(["train.log_every=0"], ["train.log_every=0", "positive integer"]),
    "log_every_negative": Case(["train.log_every=-5"], ["train.log_every=-5", "positive integer"]),
    "interior_0": Case(["sampler.interior=0"], ["sampler.interior=0", "positive integer"]),
    "interior_negative": Case(["sampler.interior=-3"], ["sampler.interior=-3", "positive integer"]),
    "boundary_0": Case(["sampler.boundary=0"], ["sampler.boundary=0", "positive integer"]),
    "eval_points_0": Case(["eval_points=0"], ["eval_points=0", "positive integer"]),
    "eval_points_negative": Case(["eval_points=-1"], ["eval_points=-1", "positive integer"]),
    "seed_huge": Case(["seed=99999999999999999999"], ["seed", "99999999999999999999"]),
    "seed_negative": Case(["seed=-1"], ["seed=-1", "[0, 2^63)"]),
    "seed_string": Case(["seed=abc"], ["seed", "abc"]),
    "grid_0": Case(["model.grid=0"], ["model.grid=0", "positive integer"]),
    "grid_eps": Case(["model.grid_eps=2"], ["model.grid_eps=2", "[0, 1]"]),
    "width_0": Case(["model.widths=[0]"], ["model.widths=0", "positive integers"]),
    "width_negative": Case(["model.widths=[4,-2]"], ["model.widths=-2", "positive integers"]),
    "dtype": Case(["dtype=float16"], ["dtype", "float16", "float32", "float64"]),
    "device_unknown": Case(["device=tpu"], ["device", "tpu", "cpu", "cuda"]),
    "device_cuda_missing": Case(["device=cuda"], ["cuda", "cpu"]),
    "model_kind": Case(["model.kind=transformer"], ["model.kind", "transformer", "kan", "mlp"]),
    "activation": Case(["model=mlp", "model.activation=nope"], ["activation", "nope", "tanh"]),
    "no_stages": Case(["train.stages=[]"], ["train.stages", "at least one stage"]),
    "optimizer": Case(["train.stages=[{steps:3,optimizer:sgdx,lr:0.1}]"], ["optimizer", "sgdx", "adam", "lbfgs"]),
    "lr_negative": Case([STAGE.format("lr:-1")], ["train.stages.0.lr=-1", "> 0"]),
    "lr_nan": Case([STAGE.format("lr:nan")], ["train.stages.0.lr=nan", "> 0"]),
    "steps_negative": Case([STAGE.format("steps:-4")], ["train.stages.0.steps=-4", ">= 0"]),
    "stage_grid_0": Case(["train.stages=[{steps:3,optimizer:adam,lr:0.01,grid:0}]"],
                         ["train.stages.0.grid=0", "positive integer"]),
    "resample_negative": Case(["train.stages=[{steps:3,optimizer:adam,lr:0.01,resample_every:-1}]"],
                              ["resample_every=-1"]),
    "weight_negative": Case(["+train.weights.residual=-1"], ["train.weights.residual=-1", ">= 0"]),
    "weight_unknown_term": Case(["+train.weights.nosuch=1"], ["nosuch", "residual"]),
    "decay": Case(["train.point_weights.decay=1"], ["train.point_weights.decay=1", "[0, 1)"]),
    "pool_0": Case(["sampler.pool=0"], ["sampler.pool=0", ">= 1"]),
    "validation_negative": Case(["train.validation=-5"], ["train.validation=-5", "validation set"]),
    "windows_zero": Case(["train.windows=0"], ["train.windows=0", "positive integer", "time windows"]),
    "windows_steady": Case(["train.windows=2"], ["train.windows=2", "poisson2d", "no time axis"]),
    "windows_symbolic": Case(["problem=diffusion1d", "train.windows=2", "symbolic=auto"],
                             ["train.windows=2", "symbolic=none"]),
    "sampler_method": Case(["sampler.method=random"], ["sampler", "sampling method", "random", "sobol"]),
    "too_much_memory_points": Case(["sampler.interior=100000000"], ["GiB", "sampler.interior=100000000"]),
    "too_much_memory_grid": Case(["train.stages=[{steps:3,optimizer:adam,lr:0.01,grid:100000}]"],
                                 ["GiB", "grid"]),
    "name_traversal": Case(["problem.name=../../../x"], ["problem.name", "no path"]),
    "name_hidden": Case(["problem.name=.hidden"], ["problem.name", "leading dot"]),
    "unknown_problem": Case(["problem=nope"], ["nope", "poisson2d", "helmholtz2d"]),
    "unknown_param": Case(["+problem.params.nosuch=1"], ["nosuch"]),
    "string_param": Case(["problem=helmholtz2d", "problem.params.k=abc"], ["k", "abc", "number"]),
    "progress_not_bool": Case(["progress=maybe"], ["progress", "maybe"]),
    "bad_override_syntax": Case(["model.widths=[3"], ["model.widths=[3"]),
    # the symbolic stage's options are checked before any training
    "symbolic_unknown_function": Case(["symbolic=auto", "symbolic.functions=[nosuch]"],
                                      ["symbolic.functions", "nosuch", "known"]),
    "symbolic_code_exec": Case(["symbolic=auto", f"+symbolic.extra.f=\"__import__('os').system('touch {MARKER}')\""],
                               ["symbolic.extra", "not allowed"]),
    "symbolic_attribute": Case(["symbolic=auto", "+symbolic.extra.f=x.__class__"], ["symbolic.extra", "attribute"]),
    "symbolic_samples": Case(["symbolic=auto", "symbolic.samples=2"], ["symbolic.samples=2", ">= 8"]),
    "symbolic_terms": Case(["symbolic=auto", "symbolic.terms=0"], ["symbolic.terms=0"]),
    "symbolic_prune": Case(["symbolic=auto", "symbolic.prune_threshold=2"], ["symbolic.prune_threshold=2"]),
    "symbolic_ansatz": Case(["symbolic=auto", "symbolic.ansatz=magic"], ["symbolic.ansatz", "magic", "separable"]),
    # user problem files: every error names the file and line, and what was expected
    "file_missing": Case(["problem=does/not/exist.py"], ["exist.py", "not"]),
    "file_syntax": Case([], ["user.py", "line 1", "SyntaxError"], source="def problem(:\n    pass\n"),
    "file_import": Case([], ["user.py", "nosuchmodule"], source="import nosuchmodule\n"),
    "file_no_factory": Case([], ["user.py", "must define a function problem(**params)"], source="x = 1\n"),
    "file_factory_raises": Case([], ["user.py", "ValueError", "boom"],
                                source="def problem():\n    raise ValueError('boom')\n"),
    "file_not_a_problem": Case([], ["user.py", "Problem", "int"], source="def problem():\n    return 3\n"),
    "residual_raises": Case([], ["user.py", "ZeroDivisionError", "residual"],
                            source=problem_file("lambda u, x, p: u.value / 0 if False else 1 / 0")),
    "residual_name_error": Case([], ["user.py", "NameError", "nothere"],
                                source=problem_file("lambda u, x, p: nothere")),
    "residual_wrong_shape": Case([], ["residual", "expected"],
                                 source=problem_file("lambda u, x, p: torch.ones(3, 3, 3)")),
    "residual_none": Case([], ["residual", "None"], source=problem_file("lambda u, x, p: None")),
    "residual_arguments": Case([], ["residual", "TypeError", "takes 1 positional argument"],
                               source=problem_file("lambda u: u.value")),
    "residual_nan": Case([], ["not finite", "residual"],
                         source=problem_file("lambda u, x, p: u.value * float('nan')")),
    "three_equations_one_component": Case(
        [], ["3 equations", "1"],
        source=problem_file("lambda u, x, p: torch.stack([u.value, u.value, u.value], -1)")),
    "missing_face": Case([], ["z-", "x-, x+, y-, y+"], source=problem_file(condition="Dirichlet(faces='z-')")),
    "condition_raises": Case([], ["user.py", "RuntimeError", "wall"], source=problem_file(
        condition="Dirichlet(value=wall)", head="def wall(x, p):\n    raise RuntimeError('wall')\n")),
    "condition_value_string": Case([], ["Dirichlet(value='one')", "a number or a function"],
                                   source=problem_file(condition="Dirichlet(value='one')")),
    "exact_wrong_shape": Case([], ["exact", "shape"], source=problem_file(
        extra=", exact=lambda x, p: torch.ones(len(x), 3)")),
    "exact_raises": Case([], ["user.py", "exact", "KeyError"], source=problem_file(
        extra=", exact=lambda x, p: {}['missing']")),
    "param_string_default": Case(["+problem.params.k=abc"], ["k", "abc", "number"], source=problem_file(
        "lambda u, x, p: -u.laplacian() - p.k", signature="k=1.0")),
    # training that goes wrong: its own exit code, and the run written with the good model
    "diverged": Case(["train.log_every=1", "train.stages=[{steps:3,optimizer:adam,lr:0.01},"
                      "{steps:300,optimizer:adam,lr:1000}]"], ["diverged", "train.stages.1.lr"], exit_code=4,
                     kept=True, status="diverged"),
    "nan": Case(["train.log_every=1", "train.stages=[{steps:3,optimizer:adam,lr:0.01},"
                 "{steps:30,optimizer:adam,lr:1e12}]"], ["loss became", "Lower the learning rate"], exit_code=3,
                kept=True, status="nan", source=problem_file(
                    "lambda u, x, p: -u.laplacian() - 1 + 0.0 * torch.sqrt(1.0 - u.value**2)")),
    "fails_mid_training": Case(["train.log_every=1", "train.stages=[{steps:30,optimizer:adam,lr:0.01}]"],
                               ["RuntimeError", "late", "user.py", "kept the model"], exit_code=1, kept=True,
                               status="failed", source=problem_file(
                                   "late", head="calls = [0]\ndef late(u, x, p):\n    calls[0] += 1\n"
                                   "    if calls[0] > 10:\n        raise RuntimeError('late')\n"
                                   "    return -u.laplacian() - 1\n")),
    # signals: exit 130, and either nothing written or a complete run that says interrupted
    "sigint_at_start": Case(SHORT, ["interrupted"], exit_code=130, signal_after="", delay=0.3,
                            signals=(signal.SIGINT,), kept=None),
    "sigterm_at_start": Case(SHORT, ["interrupted"], exit_code=130, signal_after="", delay=1.5,
                             signals=(signal.SIGTERM,), kept=None),
    "sigint_in_hydra_start": Case(SHORT, ["interrupted"], exit_code=130, signal_after="", delay=3.0,
                                  signals=(signal.SIGINT,), kept=None),
    "sigint_training": Case([LONG_TRAINING], ["interrupted", "kept the model"], exit_code=130,
                            signal_after="stage 1:", delay=0.5, signals=(signal.SIGINT,), kept=True),
    "sigterm_training": Case([LONG_TRAINING], ["interrupted", "kept the model"], exit_code=130,
                             signal_after="stage 1:", delay=1.0, signals=(signal.SIGTERM,), kept=True),
    "double_ctrl_c": Case([LONG_TRAINING], ["interrupted"], exit_code=130, signal_after="stage 1:", delay=0.5,
                          signals=(signal.SIGINT, signal.SIGINT), kept=True),
    "sigint_then_sigterm": Case([LONG_TRAINING], ["interrupted"], exit_code=130, signal_after="stage 1:",
                                delay=0.2, signals=(signal.SIGINT, signal.SIGTERM, signal.SIGINT), kept=True),
    "sigint_in_reference": Case(["problem=kdv", "progress=false", "train.stages=[{steps:3,optimizer:adam,lr:0.01}]"],
                                ["interrupted"], exit_code=130,
                                signal_after="computing the reference solution", delay=0.1,
                                signals=(signal.SIGINT,)),
}


# and at moments drawn at random (seeded, so a failure repeats), from Python's start-up
# into training (test_reliability kills a run at each of its final writes)
for i in range(8):
    moment = random.Random(i).uniform(0.2, 9.0)
    CASES[f"signal_at_{moment:.2f}s"] = Case(SHORT[:-1] + [LONG_TRAINING],
                                             ["interrupt"], exit_code=130, signal_after="", delay=moment,
                                             signals=((signal.SIGINT, signal.SIGTERM)[i % 2],), kept=None)


def run_case(name: str, case: Case, root: Path) -> str | None:
    """Run one case in root/name; the reason it fails, or None."""
    cwd = root / name
    cwd.mkdir()
    args = list(case.args)
    if case.source is not None:
        (cwd / "user.py").write_text(case.source)
        args = ["problem=user.py", *SHORT, *args]
    elif case.signal_after is None:
        args = [*SHORT, *args]
    env = {**os.environ, **case.env}
    proc = subprocess.Popen([sys.executable, "-m", "kanpde", *args], cwd=cwd, env=env, text=True,
                            stdout=open(cwd / "out.txt", "w"), stderr=subprocess.STDOUT)
    try:
        if case.signals:
            deadline = time.time() + 120
            while case.signal_after and case.signal_after not in (cwd / "out.txt").read_text():
                if proc.poll() is not None or time.time() > deadline:
                    return f"never printed {case.signal_after!r}"
                time.sleep(0.05)
            time.sleep(case.delay)
            for signum in case.signals:
                proc.send_signal(signum)
                time.sleep(0.05)
        code = proc.wait(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "hung"
    out = (cwd / "out.txt").read_text()
    problems = []
    if code != case.exit_code:
        problems.append(f"exit code {code}, expected {case.exit_code}")
    if "Traceback" in out:
        problems.append("a traceback")
    missing = [w for w in case.words if w.lower() not in out.lower()]
    if missing:
        problems.append(f"missing words {missing}")
    if (cwd / MARKER).exists():
        problems.append("code from the config ran")
    runs = [p.parent for p in (cwd / "outputs").rglob(".hydra")] if (cwd / "outputs").exists() else []
    if case.kept or (case.kept is None and runs):
        if len(runs) != 1:
            problems.append(f"{len(runs)} run directories, expected 1")
        else:
            (run,) = runs
            metrics = run / "metrics.json"
            if (run / "incomplete.txt").exists() or not metrics.exists():
                problems.append("the run directory is incomplete")
            elif case.kept and json.loads(metrics.read_text())["status"] != case.status:
                problems.append(f"metrics.json does not say {case.status}")
    elif case.kept is False and runs:
        problems.append(f"left a run directory {runs[0].relative_to(cwd)} with nothing trained")
    return "; ".join(problems) + f"\n--- output:\n{out[-1500:]}" if problems else None


def test_fuzz_table_is_large():
    assert len(CASES) >= 60


@pytest.mark.parametrize("names", [sorted(CASES)], ids=["all"])
def test_every_bad_input_and_signal_ends_cleanly(tmp_path, names):
    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        outcomes = dict(zip(names, pool.map(lambda n: run_case(n, CASES[n], tmp_path), names)))
    failures = {name: why for name, why in outcomes.items() if why}
    assert not failures, "\n\n".join(f"[{name}] {why}" for name, why in failures.items())
