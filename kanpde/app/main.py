"""The ``kanpde`` command: one Hydra run (or sweep) of the configured problem."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from kanpde.analysis import evaluate, write_run, write_symbolic
from kanpde.analysis.metrics import StageErrors
from kanpde.app.build import build, device_description
from kanpde.app.memory import keep_freed_memory
from kanpde.app.schema import register
from kanpde.errors import KanpdeError
from kanpde.model import count_parameters
from kanpde.reference.cache import reference_solution
from kanpde.result import TrainResult
from kanpde.symbolic.pipeline import extract_formula
from kanpde.training import LogStages, ProgressBar, solve

log = logging.getLogger("kanpde")
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")
REFERENCE_CACHE = Path("outputs") / "references"  # beside the run directories


def run(cfg: DictConfig, run_dir: Path) -> TrainResult:
    """Build, train, evaluate and write the run directory (also after a failed stage)."""
    job = build(cfg)
    # before training: a reference that cannot be computed stops the run with nothing lost
    reference = reference_solution(job.problem, REFERENCE_CACHE)
    errors = StageErrors(job.problem, job.model, reference, job.eval_points)
    callbacks = [LogStages(), errors, *([ProgressBar()] if cfg.progress else [])]
    result = solve(job.problem, job.model, job.curriculum, sampler=job.sampler, weights=job.weights,
                   point_weighting=job.point_weighting, seed=job.seed, log_every=job.log_every,
                   callbacks=callbacks)
    try:
        result.metrics = evaluate(job.problem, job.model, job.eval_points, reference=reference)
    except Exception:  # the trained model is worth more than its metrics: write it anyway
        log.exception("evaluation failed; writing the run without its error metrics")
    if errors.errors:
        result.metrics["stage_rel_l2"] = errors.errors
    for name, value in result.metrics.items():
        log.info("%s: %s", name, f"{value:.3e}" if isinstance(value, float) else value)
    device = next(job.model.parameters()).device
    extra = {"parameters": count_parameters(job.model), "device": device_description(device),
             "config": OmegaConf.to_yaml(cfg)}
    write_run(run_dir, job.problem, job.model, result, extra=extra)
    (Path(run_dir) / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if job.symbolic is not None and result.ok:
        try:
            symbolic_stage(job, reference, run_dir)
        except KanpdeError as error:
            log.error("symbolic stage: %s", error)
        except Exception:  # the trained run is written; a failed formula must not hide it
            log.exception("the symbolic stage failed; the trained run is written in %s", run_dir)
    return result


def symbolic_stage(job, reference, run_dir: Path) -> None:
    """Read a formula off the trained model, log it and write it into the run directory."""
    symbolic = extract_formula(job.problem, job.model, job.symbolic, reference=reference, sampler=job.sampler,
                               seed=job.seed, eval_points=job.eval_points, callbacks=[LogStages()])
    for i, formula in enumerate(symbolic.formulas):
        log.info("formula%s: %s", f" {job.problem.components[i]}" if len(symbolic.formulas) > 1 else "", formula)
    log.info("symbolic: %s (%s)", symbolic.status, symbolic.message)
    for name in ("formula_rel_l2", "network_rel_l2"):
        if symbolic.metrics.get(name) is not None:
            log.info("%s: %.3e", name, symbolic.metrics[name])
    write_symbolic(run_dir, job.problem, symbolic)


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    try:
        result = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except KanpdeError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    return result.metrics.get("rel_l2")


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


def _stop_gracefully(signum, frame):
    """SIGTERM (a cluster's time limit, `kill`) stops training like Ctrl-C: the run keeps
    its last good model and still writes its directory."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_gracefully)
    keep_freed_memory()
    register()
    sys.argv = expand_problem_path(sys.argv)
    _hydra_main()
