"""The ``kanpde`` command: one Hydra run (or sweep) of the configured problem.

Exit codes (``Status.exit_code``): 0 ok; 2 bad input (nothing trained); 3 the loss became
NaN; 4 the loss diverged; 5 the symbolic stage failed (the trained run is written); 130
interrupted (Ctrl-C, SIGTERM); 1 an unexpected error inside kanpde. A sweep exits with the
largest code of its runs.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
from pathlib import Path
from typing import cast

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
from omegaconf import DictConfig, OmegaConf

from kanpde.analysis import evaluate, write_run, write_symbolic
from kanpde.analysis.metrics import StageErrors
from kanpde.analysis.report import mark_complete, mark_incomplete, write_json
from kanpde.app.build import Job, build, device_description
from kanpde.app.memory import keep_freed_memory
from kanpde.app.rundir import claim, register_resolvers, remove_stub
from kanpde.app.schema import register
from kanpde.app.signals import INTERRUPTS, Interrupts, exit_now
from kanpde.errors import KanpdeError, log_failure
from kanpde.files import shipped, write_text_atomic
from kanpde.model import KAN, count_parameters
from kanpde.model.checkpoint import write_checkpoint
from kanpde.reference.cache import reference_solution
from kanpde.result import Status, TrainResult
from kanpde.symbolic.formula import latex
from kanpde.symbolic.pipeline import extract_formula
from kanpde.training import Callback, LogStages, LogSteps, ProgressBar

log = logging.getLogger("kanpde")
CONFIG_DIR = str(shipped("configs"))
REFERENCE_CACHE = Path("outputs") / "references"  # beside the run directories
_exit = {"code": 0, "jobs": 0}  # the largest exit code of this process's runs, and how many started


def group_option(group: str, option: str) -> DictConfig:
    """One option file of a config group as written (configs/<group>/<option>.yaml)."""
    return cast(DictConfig, OmegaConf.load(Path(CONFIG_DIR) / group / f"{option}.yaml"))


class StopOnSignal(Callback):
    """Raises, at the next stage boundary or logged step, a signal's interrupt that Python
    dropped (see ``Interrupts.check``): a SIGTERM must stop training, even then."""

    def __init__(self, interrupts: Interrupts):
        self.interrupts = interrupts

    def on_stage_start(self, index, stage, grid):
        self.interrupts.check()

    def on_log(self, row):
        self.interrupts.check()


class SaveNetwork(Callback):
    """model.pt while training: every ``every`` steps (at the next logged one; 0: never
    mid-stage) and at each stage end, so that a run killed on the way (kill -9, a lost
    node) keeps the network it had; ``kanpde.load_run`` reads it. The run's end writes
    its final one over it."""

    def __init__(self, run_dir: Path, job: Job, every: int):
        self.path, self.job, self.every = run_dir / "model.pt", job, every
        self.step = self.saved = 0

    def on_log(self, row):
        self.step = row["step"]
        if self.every and self.step >= self.saved + self.every:
            self._save()

    def on_stage_end(self, summary):
        self._save()

    def _save(self) -> None:
        write_checkpoint(self.path, self.job.model, problem=self.job.problem.name,
                         unknowns=self.job.problem.recovered(), step=self.step)
        self.saved = self.step


class KeepRows(Callback):
    """The logged rows, so that a run interrupted outside the stage loop keeps its history."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_log(self, row):
        self.rows.append(row)


def run(cfg: DictConfig, run_dir: Path, interrupts: Interrupts = INTERRUPTS) -> Status:
    """Build, train, evaluate and write the run directory (also after a failed stage);
    then the symbolic stage, if configured. Returns how the run ended."""
    run_dir = Path(run_dir)
    with claim(run_dir):
        try:
            job = build(cfg)
            # before training: a reference that cannot be computed stops the run with nothing lost
            reference = reference_solution(job.problem, REFERENCE_CACHE)
            errors = StageErrors(job.problem, job.model, reference, job.eval_points)
            interrupts.check()
            mark_incomplete(run_dir, "training")
            write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))  # load_run's recipe
            result = train(cfg, job, errors, interrupts, run_dir)  # KanpdeError: refused before the first step
        except (KanpdeError, KeyboardInterrupt):
            remove_stub(run_dir)  # nothing trained: no directory that looks like a run
            raise
        solution: dict = {}
        try:
            result.metrics = evaluate(job.problem, job.model, job.eval_points, reference=reference, solution=solution)
        except KeyboardInterrupt:
            log.warning("the final evaluation was interrupted; writing the run without its error metrics")
            result.status = Status.INTERRUPTED if result.ok else result.status
        except Exception as error:  # noqa: BLE001 - the trained model is worth more than its metrics: write it anyway
            log_failure(log, error, "the final evaluation", "writing the run without its error metrics")
        symbolic = job.symbolic is not None and result.ok
        with interrupts.deferred():
            record = write_trained(cfg, job, result, errors, run_dir, symbolic and not interrupts.received, solution)
        if not interrupts.received and symbolic:
            return symbolic_stage(job, reference, run_dir, record, interrupts)
        mark_complete(run_dir)
    return Status.INTERRUPTED if interrupts.received else result.status


def train(cfg: DictConfig, job: Job, errors: StageErrors, interrupts: Interrupts, run_dir: Path) -> TrainResult:
    rows = KeepRows()
    callbacks = [LogStages(), errors, rows, SaveNetwork(run_dir, job, cfg.train.checkpoint_every),
                 StopOnSignal(interrupts), ProgressBar() if cfg.progress else LogSteps()]
    try:
        return job.fit(callbacks)
    except KeyboardInterrupt:  # one that arrived outside the stage loop: keep the model as it is
        message = "interrupted outside the training steps; kept the model as it was"
        log.warning("training %s", message)
        return TrainResult(Status.INTERRUPTED, message, rows.rows, state=copy.deepcopy(job.model.state_dict()))


def write_trained(cfg: DictConfig, job: Job, result: TrainResult, errors: StageErrors, run_dir: Path,
                  symbolic_next: bool, solution: dict) -> dict:
    if errors.errors:
        result.metrics["stage_rel_l2"] = errors.errors
    for name, value in result.metrics.items():
        log.info("%s: %s", name, f"{value:.3e}" if isinstance(value, float) else value)
    device = next(job.model.parameters()).device
    extra = {"parameters": count_parameters(job.model), "device": device_description(device),
             "config": OmegaConf.to_yaml(cfg), **({"symbolic": "running"} if symbolic_next else {})}
    if symbolic_next:
        mark_incomplete(run_dir, "the symbolic stage")
    return write_run(run_dir, job.problem, job.model, result, extra=extra,
                     config=OmegaConf.to_yaml(cfg, resolve=True), solution=solution)


def symbolic_stage(job: Job, reference, run_dir: Path, record: dict, interrupts: Interrupts) -> Status:
    """Read a formula off the trained model, log it and write it into the run directory;
    metrics.json then says how the stage ended (``symbolic``: its status, or failed or
    interrupted with ``symbolic_message``)."""
    status = Status.OK
    try:
        model = cast(KAN, job.model)  # build_symbolic refused any other model (check_symbolic)
        symbolic = extract_formula(job.problem, model, job.symbolic, reference=reference, sampler=job.sampler,
                                   weights=job.weights, point_weighting=job.point_weighting, seed=job.seed,
                                   eval_points=job.eval_points, callbacks=[LogStages(), StopOnSignal(interrupts)])
        record["symbolic"] = symbolic.status
        for i, formula in enumerate(symbolic.formulas):
            name = f" {job.problem.components[i]}" if len(symbolic.formulas) > 1 else ""
            log.info("formula%s: %s", name, formula)
        log.info("symbolic: %s (%s)", symbolic.status, symbolic.message)
        for name in ("formula_rel_l2", "network_rel_l2"):
            if symbolic.metrics.get(name) is not None:
                log.info("%s: %.3e", name, symbolic.metrics[name])
        with interrupts.deferred():
            write_checkpoint(run_dir / "symbolic.pt", model, problem=job.problem.name,
                             unknowns=job.problem.recovered())
            write_symbolic(run_dir, job.problem, symbolic, latex=latex)
    except KeyboardInterrupt:
        status, record["symbolic"], record["symbolic_message"] = Status.INTERRUPTED, "interrupted", "interrupted"
        log.warning("the symbolic stage was interrupted; the trained run is written in %s", run_dir)
    except Exception as error:  # noqa: BLE001 - the trained run is written; a failed formula must not hide it
        message = str(log_failure(log, error, "the symbolic stage", f"the trained run is written in {run_dir}"))
        status, record["symbolic"], record["symbolic_message"] = Status.SYMBOLIC_FAILED, "failed", message
    with interrupts.deferred():
        write_json(run_dir / "metrics.json", record)
        mark_complete(run_dir)
    return Status.INTERRUPTED if interrupts.received else status


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> float:
    """One run; returns its rel_l2 (inf when it has none), the value a sweeper minimises."""
    _exit["jobs"] += 1
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        status = run(cfg, run_dir)
    except KanpdeError as error:
        log.error("%s", error)
        status = Status.INPUT_ERROR
    except KeyboardInterrupt:
        log.error("interrupted before training started; nothing was trained or written")
        status = Status.INTERRUPTED
    _exit["code"] = max(_exit["code"], status.exit_code)
    return objective(run_dir)


def objective(run_dir: Path) -> float:
    """The run's relative L2 error from its metrics.json; inf for a run that did not end ok
    or has no error (no exact or reference solution), so that a sweeper ranks it last."""
    try:
        record = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return math.inf
    value = record.get("rel_l2")
    return float(value) if record.get("status") == "ok" and isinstance(value, (int, float)) else math.inf


def expand_problem_path(argv: list[str]) -> list[str]:
    """``problem=path/to/my_pde.py`` -> the ``file`` problem config pointing at that file."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "problem" and (value.endswith(".py") or "/" in value):
            path = Path(value).expanduser().resolve()
            out += ["problem=file", f"problem.source={path}", f"problem.name={path.stem}"]
        else:
            out.append(arg)
    return out


def command() -> None:
    """The command, once kanpde.app.cli has installed the signal handlers."""
    try:  # a signal may come at any moment, the set-up too
        keep_freed_memory()
        if sys.argv[1:2] == ["predict"]:  # a subcommand, not a Hydra run
            from kanpde.app.predict import command as predict
            sys.exit(predict(sys.argv[2:]))
        register()
        register_resolvers()
        sys.argv = expand_problem_path(sys.argv)
        check_overrides(sys.argv[1:])
        _hydra_main()
    except KanpdeError as error:
        sys.stderr.write(f"kanpde: {error}\n")
        sys.exit(Status.INPUT_ERROR.exit_code)
    except KeyboardInterrupt:  # during the set-up or Hydra's own start-up
        sys.stderr.write("kanpde: interrupted before the run started; nothing was written\n")
        exit_now(Status.INTERRUPTED.exit_code)
    except SystemExit as stop:
        # Hydra exits with 1 once it has printed why it cannot compose the config (an
        # unknown problem, a value of the wrong type): bad input, if no run had started
        if stop.code == 1 and not _exit["jobs"]:
            sys.exit(Status.INPUT_ERROR.exit_code)
        raise
    if _exit["code"] == Status.INTERRUPTED.exit_code:
        exit_now(_exit["code"])  # not sys.exit: see exit_now
    sys.exit(_exit["code"])


def check_overrides(args: list[str]) -> None:
    """Each ``key=value`` argument must parse as a Hydra override; Hydra's own message for
    one that does not ("no viable alternative at input '[3'") does not say which."""
    parser = OverridesParser.create()
    for arg in args:
        if "=" in arg and not arg.startswith("-"):
            try:
                parser.parse_overrides([arg])
            except OverrideParseException as error:
                raise KanpdeError(f"cannot read the override {arg!r}: {error.message.splitlines()[0]}; write "
                                  "key=value, with lists as [a,b], mappings as {k:v} and quotes around values "
                                  "with spaces or special characters "
                                  "(https://hydra.cc/docs/advanced/override_grammar/basic/)") from None
