"""Runs that cannot collide, be cut short or pass off a stub as a result.

Oracles: the files a run directory holds (metrics.json only when complete, incomplete.txt
otherwise), the exit code, and that the next run in the same place still works.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kanpde.analysis.report import INCOMPLETE
from kanpde.app.rundir import claim, remove_stub, run_id, safe_name
from kanpde.app.signals import Interrupts
from kanpde.errors import KanpdeError

SHORT = ["progress=false", "eval_points=200", "sampler.interior=32", "sampler.boundary=8",
         "train.stages=[{steps:3,optimizer:adam,lr:0.01}]"]


def kanpde(cwd, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "kanpde", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kwargs)


def run_dirs(cwd: Path) -> list[Path]:
    return sorted(p.parent for p in (cwd / "outputs").rglob(".hydra"))


def assert_complete(run: Path) -> dict:
    assert not (run / INCOMPLETE).exists(), (run / INCOMPLETE).read_text()
    for name in ("model.pt", "history.csv", "config.yaml"):
        assert (run / name).stat().st_size > 0, name
    return json.loads((run / "metrics.json").read_text())


def test_four_runs_started_together_get_four_complete_directories(tmp_path):
    """Same problem, same second, default run directory: no two share a directory."""
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda s: kanpde(tmp_path, *SHORT, f"seed={s}"), range(4)))
    assert [p.returncode for p in procs] == [0] * 4, [p.stderr[-500:] for p in procs]
    runs = run_dirs(tmp_path)
    assert len(runs) == 4 and {r.parent.name for r in runs} == {"poisson2d"}
    for run in runs:
        assert assert_complete(run)["status"] == "ok"
    seeds = sorted(int(re.search(r"^seed: (\d+)$", (r / "config.yaml").read_text(), re.M)[1]) for r in runs)
    assert seeds == [0, 1, 2, 3]


def test_two_runs_on_one_directory_refuse_the_second(tmp_path):
    run = tmp_path / "run"
    with claim(run):
        with pytest.raises(KanpdeError, match="in use by another kanpde run"):
            with claim(run):
                pass
    with claim(run):  # released with its holder
        pass


def test_run_ids_differ_between_processes_started_in_one_second():
    code = "from kanpde.app.rundir import run_id; print(run_id())"
    ids = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout for _ in range(4)}
    assert len(ids) == 4 and run_id() == run_id()  # and fixed within a process (a sweep's jobs share it)


def test_a_problem_name_never_leaves_outputs():
    assert "/" not in safe_name("../../etc/x") and not safe_name("..").startswith(".")


def test_a_stub_is_removed_but_never_a_directory_with_results(tmp_path):
    stub, kept = tmp_path / "outputs" / "p" / "a", tmp_path / "outputs" / "q" / "b"
    for run in (stub, kept):
        (run / ".hydra").mkdir(parents=True)
        (run / "main.log").write_text("log")
        (run / INCOMPLETE).write_text("not finished")
    (kept / "model.pt").write_bytes(b"weights")
    remove_stub(stub)
    remove_stub(kept)
    assert not stub.parent.exists() and (kept / "model.pt").exists()


def test_a_signal_inside_a_deferred_block_is_recorded_not_raised():
    interrupts = Interrupts()
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook,
              sys.excepthook)
    interrupts.install()
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs between bytecodes
            written = True
        assert written and interrupts.received == [signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):  # a dropped interrupt is raised at the next check
            interrupts.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
        sys.unraisablehook, sys.excepthook = before[2], before[3]


def test_kill_9_mid_training_leaves_a_marked_directory_and_the_next_run_works(tmp_path):
    args = [sys.executable, "-m", "kanpde", *SHORT[:-1], "train.log_every=1",
            "train.stages=[{steps:5,optimizer:adam,lr:0.001},{steps:100000,optimizer:adam,lr:0.001}]"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any("stage 2:" in (r / "main.log").read_text() for r in
                                             run_dirs(tmp_path) if (r / "main.log").exists()):
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=60)
    (killed,) = run_dirs(tmp_path)
    assert (killed / INCOMPLETE).exists() and not (killed / "metrics.json").exists()
    again = kanpde(tmp_path, *SHORT)
    assert again.returncode == 0, again.stderr
    (fresh,) = set(run_dirs(tmp_path)) - {killed}
    assert assert_complete(fresh)["status"] == "ok"


# a `kanpde` whose process dies (as by kill -9) at the n-th file it moves into place
DIE_AT_WRITE = textwrap.dedent("""
    import os, sys
    import kanpde.files
    n, calls, replace = int(os.environ["DIE_AT"]), [0], os.replace
    def dying_replace(src, dst):
        calls[0] += 1
        if calls[0] == n:
            os._exit(137)
        replace(src, dst)
    kanpde.files.os.replace = dying_replace
    from kanpde.app.cli import main
    sys.argv = ["kanpde", *sys.argv[1:]]
    main()
""")


def test_a_death_at_any_file_write_leaves_a_complete_or_a_marked_directory(tmp_path):
    """At every atomic write of a run (the marker, the checkpoint, history, config, plots,
    metrics): the directory is complete, or says it is not; the next run works."""
    def die_at(n):
        cwd = tmp_path / str(n)
        cwd.mkdir()
        proc = subprocess.run([sys.executable, "-c", DIE_AT_WRITE, *SHORT], cwd=cwd, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "DIE_AT": str(n)})
        return cwd, proc.returncode
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(die_at, range(1, 9)))
    assert [code for _, code in outcomes].count(137) >= 6  # the run moves at least 6 files into place
    for cwd, code in outcomes:
        (run,) = run_dirs(cwd)
        assert not list(run.glob(".*.tmp*")) or code == 137  # a temporary file only where the process died
        if code == 137:
            assert (run / INCOMPLETE).exists() or (run / "metrics.json").exists(), sorted(os.listdir(run))
            if not (run / INCOMPLETE).exists():
                assert_complete(run)
        else:
            assert code == 0 and assert_complete(run)["status"] == "ok"
    cwd = outcomes[3][0]
    assert kanpde(cwd, *SHORT).returncode == 0 and len(run_dirs(cwd)) == 2


def compose(overrides=()):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from kanpde.app.main import CONFIG_DIR
    from kanpde.app.schema import register

    register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return hydra_compose(config_name="config", overrides=[*SHORT, *overrides])


@pytest.fixture
def interrupts():
    """An installed Interrupts, with the test process's handlers restored afterwards."""
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook,
              sys.excepthook)
    handler = Interrupts()
    handler.install()
    yield handler
    signal.signal(signal.SIGINT, before[0])
    signal.signal(signal.SIGTERM, before[1])
    sys.unraisablehook, sys.excepthook = before[2], before[3]


def test_a_signals_interrupt_printed_by_code_that_cannot_raise_it_prints_nothing(interrupts, capsys):
    """A Cython function that cannot raise (scipy's Sobol set-up) prints the exception it
    caught through sys.excepthook: the KeyboardInterrupt of a received signal is passed
    over (check() raises it again); any other exception, or one with no signal, is printed."""
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt("signal 15"), None)
    assert "KeyboardInterrupt" in capsys.readouterr().err  # no signal received: printed
    interrupts.received.append(signal.SIGTERM)
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt("signal 15"), None)
    sys.excepthook(ValueError, ValueError("a real error"), None)
    err = capsys.readouterr().err
    assert "KeyboardInterrupt" not in err and "ValueError: a real error" in err
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()


def test_an_interrupt_in_the_final_evaluation_still_writes_the_trained_run(tmp_path, monkeypatch, interrupts):
    from kanpde.app import main

    def interrupted_evaluation(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        raise AssertionError("the signal should have interrupted this")

    monkeypatch.setattr(main, "evaluate", interrupted_evaluation)
    status = main.run(compose(), tmp_path / "run", interrupts)
    assert status == "interrupted" and status.exit_code == 130
    metrics = assert_complete(tmp_path / "run")
    assert metrics["status"] == "interrupted" and "rel_l2" not in metrics


def test_a_signal_while_the_run_is_written_waits_for_the_writing(tmp_path, monkeypatch, interrupts):
    """SIGTERM, then a second Ctrl-C, while history.csv is written: every file is written
    whole, metrics.json says how training ended, and the run reports interrupted."""
    from kanpde.analysis import report
    from kanpde.app import main

    real = report.write_history

    def write_history_under_signals(history, path):
        for signum in (signal.SIGTERM, signal.SIGINT):
            os.kill(os.getpid(), signum)
            time.sleep(0.01)
        real(history, path)

    monkeypatch.setattr(report, "write_history", write_history_under_signals)
    status = main.run(compose(), tmp_path / "run", interrupts)
    assert status == "interrupted" and interrupts.received == [signal.SIGTERM, signal.SIGINT]
    metrics = assert_complete(tmp_path / "run")
    assert metrics["status"] == "ok" and metrics["rel_l2"] > 0  # training itself had finished


def test_an_interrupt_lost_in_a_destructor_still_stops_training(tmp_path, monkeypatch, interrupts):
    """Python drops an exception raised in __del__; the recorded signal must stop the run
    at its next logged step all the same."""
    from kanpde.app import main

    class Dropper:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)

    class DropOnStageStart(main.Callback):  # in place of LogStages
        def on_stage_start(self, index, stage, grid):
            Dropper()  # collected at once: the KeyboardInterrupt raised in __del__ is dropped

    monkeypatch.setattr(main, "LogStages", DropOnStageStart)
    cfg = compose(["train.log_every=1", "train.stages=[{steps:2000,optimizer:adam,lr:0.001}]"])
    assert main.run(cfg, tmp_path / "run", interrupts) == "interrupted"
    metrics = assert_complete(tmp_path / "run")
    assert metrics["status"] == "interrupted" and len(open(tmp_path / "run" / "history.csv").readlines()) < 100
