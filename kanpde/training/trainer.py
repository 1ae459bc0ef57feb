"""The training loop: ``solve(problem, model, curriculum)`` -> TrainResult.

The loop runs the curriculum's stages in order. Losses are read back from the device
only every ``log_every`` steps (and at the end of each stage): that is where history is
recorded, callbacks are told, a non-finite or diverging loss is detected and a good copy
of the model is kept. On a non-finite loss the model goes back to that copy and training
stops with status "nan"; on a loss that grew by orders of magnitude it goes back to the
stage's best model and stops with status "diverged"; both with advice.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch
from torch import nn

from kanpde.errors import KanpdeError, user_code_error
from kanpde.geometry import SpaceTime
from kanpde.model import KAN, extend_grid, update_grid
from kanpde.model.checkpoint import take_shapes
from kanpde.problem import Problem
from kanpde.result import ROW_FIELDS, StageSummary, Status, TrainResult
from kanpde.training.callbacks import Callback
from kanpde.training.curriculum import Stage
from kanpde.training.losses import evaluate_residual, loss_terms, term_weights
from kanpde.training.objective import Objective
from kanpde.training.optim import StageOptimizer, make_optimizer
from kanpde.training.sampler import Batch, SamplerConfig, sample_batch
from kanpde.training.validation import Validation
from kanpde.training.weighting import PointWeighting, ResidualReduction

log = logging.getLogger(__name__)


# Divergence: a loss this many times the run's first loss, or this many times the stage's
# best while also above NOISE_FLOOR x the first (growth among rounding-level losses, e.g.
# Adam after L-BFGS at 1e-20, is noise, not divergence).
DIVERGE_ABOVE_START = 1e3
DIVERGE_ABOVE_BEST = 1e6
NOISE_FLOOR = 1e-6


class _NonFinite(Exception):
    pass


class _Diverged(Exception):
    pass


# a model kept to go back to: its state_dict and the values of an inverse problem's unknowns
Snapshot = tuple[dict, list[torch.Tensor]]


class _Run:
    """Mutable bookkeeping of one solve(): history, last good model copy, timing."""

    def __init__(self, model: nn.Module, callbacks: Sequence[Callback],
                 reduction: ResidualReduction | None = None, time_limit: float = 0.0,
                 unknowns: Sequence[torch.Tensor] = ()):
        self.model = model
        self.unknowns = list(unknowns)  # trained with the model: kept and restored with it
        self.time_limit = time_limit  # seconds of training (0: none)
        self.callbacks = callbacks
        self.reduction = reduction  # the residual term's point weights, or None: a plain mean
        self.history: list[dict] = []
        self.step = 0
        self.requests: dict = {}  # loss term -> the jet it needs (see losses.loss_terms)
        self.start = time.perf_counter()
        self.first_loss: float | None = None  # the run's first loss, the scale of divergence
        self.best_loss = math.inf
        self.fallback: tuple[Snapshot, int, float] | None = None  # the model before a stage's grid change
        self.points = 0  # the interior count the current batch was drawn for (SamplerConfig.interior)
        self.validation: Validation | None = None
        self.new_stage(loss=math.inf)

    def new_stage(self, loss: float, grid_changed: bool = False) -> None:
        """At a stage start: the current model is the good and the best one, until the stage
        logs better. grid_changed: the loss (inf) is not measured yet, and the model before
        the change stays the fallback, restored if the stage diverges before it logs a loss
        below the fallback's."""
        self.fallback = (self.good_state, self.good_step, self.good_loss) if grid_changed else None
        self.keep_good(loss)
        self.best_state, self.best_step, self.best_loss = self.good_state, self.step, loss

    def new_points(self) -> None:
        """Redrawn points: their loss is not comparable with the best loss on the old ones
        (RAD can move points onto a singularity, raising the loss 1e7-fold with nothing
        wrong), so the stage's best restarts from the current model, its loss unmeasured;
        divergence from the run's first loss is still checked."""
        self.best_state, self.best_step, self.best_loss = self.snapshot(), self.step, math.inf

    def snapshot(self) -> Snapshot:
        """The model as it is now, unknowns included, to go back to."""
        return copy.deepcopy(self.model.state_dict()), [u.detach().clone() for u in self.unknowns]

    def _load(self, snapshot: Snapshot) -> None:
        state, unknowns = snapshot
        _load_state(self.model, state)
        with torch.no_grad():
            for u, kept in zip(self.unknowns, unknowns):
                u.copy_(kept)

    def keep_good(self, loss: float, state: Snapshot | None = None) -> None:
        """Keep ``state`` (default: the model as it is now) as the last good model, after
        checking that ``loss`` has not diverged (raises _Diverged with the loss)."""
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = loss
        if self._diverged(loss):
            raise _Diverged(loss)
        self.good_state = state if state is not None else self.snapshot()
        self.good_step, self.good_loss = self.step, loss
        if loss <= self.best_loss:
            self.best_state, self.best_step, self.best_loss = self.good_state, self.step, loss

    def _diverged(self, loss: float) -> bool:
        first = self.first_loss
        if not math.isfinite(loss) or not first:
            return False
        return loss > DIVERGE_ABOVE_START * first or (
            0 < self.best_loss < math.inf and loss > DIVERGE_ABOVE_BEST * self.best_loss
            and loss > NOISE_FLOOR * first)

    def adopt(self, step: int) -> None:
        """The model was set back to that of ``step`` (the stage's validation choice): it is
        the good one now, its training loss unmeasured."""
        self.good_state, self.good_step, self.good_loss = self.snapshot(), step, math.inf

    def out_of_time(self) -> bool:
        return 0 < self.time_limit <= time.perf_counter() - self.start

    def restore_good(self) -> None:
        self._load(self.good_state)

    def restore_best(self) -> None:
        """The stage's best model, or the model before the stage's grid change when that
        one's loss is lower (best_step and best_loss then name it)."""
        if self.fallback is not None and self.fallback[2] < self.best_loss:
            self.best_state, self.best_step, self.best_loss = self.fallback
        self._load(self.best_state)

    def record(self, stage_index: int, stage: Stage, stage_step: int, loss: torch.Tensor,
               terms: Mapping[str, torch.Tensor], state: Snapshot) -> dict:
        """Read the loss back (one host sync), check it, log it; ``state`` is the model
        that produced ``loss`` (taken before the step), kept as the last good one."""
        value = float(loss)
        row = {"stage": stage_index, "step": self.step, "stage_step": stage_step,
               "grid": _grid(self.model), "optimizer": stage.optimizer, "lr": stage.lr,
               "loss": value, **{name: float(v.detach()) for name, v in terms.items()},
               "time": time.perf_counter() - self.start}
        if not math.isfinite(value):
            raise _NonFinite(row)
        try:
            self.keep_good(value, state)
        except _Diverged:
            raise _Diverged(row) from None
        self.history.append(row)
        for cb in self.callbacks:
            cb.on_log(row)
        return row


def _load_state(model: nn.Module, state: dict) -> None:
    """load_state_dict, also across a grid change (``state`` of another grid size)."""
    take_shapes(model, state)
    model.load_state_dict(state)


def _grid(model: nn.Module) -> int | None:
    return model.grid_size if isinstance(model, KAN) else None


def solve(problem: Problem, model: nn.Module, curriculum: Sequence[Stage], *,
          sampler: SamplerConfig | None = None, weights: Mapping[str, float] | None = None,
          point_weighting: PointWeighting | None = None, seed: int = 0, log_every: int = 50,
          time_limit: float = 0.0, validation: int = 0, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``model`` in place so that ``problem``'s residual and conditions vanish.

    weights: loss term name -> weight; point_weighting: causal and attention weights of
    the residual's points (see training.weighting); time_limit: seconds of training after
    which the run ends with the step under way (status ok, the message says where it
    stopped; 0: no limit), e.g. to compare two models at equal time or to fit a job's
    allocation; validation: points of a fixed validation set on which every stage picks
    the model it ends with, among those of its logged steps and those before its redraws
    (0: each stage ends with its last model; see training.validation).
    """
    if time_limit < 0:
        raise KanpdeError(f"time_limit={time_limit}: give the seconds of training (> 0), or 0 for no limit")
    if validation < 0:
        raise KanpdeError(f"validation={validation}: give the validation set's points (> 0), or 0 for none")
    sampler = sampler or SamplerConfig()
    weights = term_weights(problem, weights)
    if any(stage.sparsify for stage in curriculum) and not isinstance(model, KAN):
        raise KanpdeError("a stage asks for sparsify, which acts on a KAN's edges; "
                          f"the model is a {type(model).__name__}")
    reduction = None
    if point_weighting is not None and point_weighting.active:
        time_bounds = problem.domain.t_bounds if isinstance(problem.domain, SpaceTime) else None
        reduction = ResidualReduction(point_weighting, time_bounds)
    generator = torch.Generator().manual_seed(seed)
    reference = next(model.parameters())
    dtype, device = reference.dtype, reference.device
    unknowns = problem.unknown_tensors(dtype, device)  # an inverse problem's parameters, trained too
    run = _Run(model, callbacks, reduction, time_limit, unknowns)
    batch = _preflight(problem, model, sampler, generator, seed, run.requests)  # kept unless a stage resamples
    run.points = sampler.interior
    run.validation = (Validation(problem, model, sampler, validation, seed, weights, run.requests, unknowns)
                      if validation else None)
    for cb in callbacks:
        cb.on_train_start(sum(s.steps for s in curriculum))
    stages: list[StageSummary] = []
    carried: dict = {}  # what the last stage's optimizer hands to the next one
    status, message = Status.OK, ""
    try:
        for index, stage in enumerate(curriculum):
            refits = {}
            if isinstance(model, KAN) and stage.grid and stage.grid != model.grid_size:
                refits = extend_grid(model, stage.grid)
            if isinstance(model, KAN) and stage.update_grid:
                update_grid(model, batch.interior)
            # a grid change keeps the function exactly only between nested grids (G -> 2G);
            # otherwise the model's loss is unknown until the stage's first step measures it
            grid_changed = bool(refits) or stage.update_grid
            run.new_stage(math.inf if grid_changed else run.good_loss, grid_changed)
            optimizer = make_optimizer(stage, model, unknowns)
            optimizer.adopt(carried, model, refits)
            for cb in callbacks:
                cb.on_stage_start(index, stage, _grid(model))
            summary, batch = _run_stage(problem, model, stage, index, optimizer, batch, sampler,
                                        generator, weights, log_every, run)
            stages.append(summary)
            for cb in callbacks:
                cb.on_stage_end(stages[-1])
            carried = optimizer.export(model)
            if run.out_of_time():
                break
    except _NonFinite as bad:
        run.restore_good()
        status, message = Status.NAN, _nan_message(bad.args[0], run, dtype)
    except _Diverged as bad:
        run.restore_best()
        row = bad.args[0]
        status = Status.DIVERGED
        message = (f"the loss diverged: {row['loss']:.3e} in stage {row['stage'] + 1} ({row['optimizer']}, "
                   f"lr {row['lr']:g}) by step {row['step']}, against {run.first_loss:.3e} at the start and "
                   f"{run.best_loss:.3e} at the stage's best; stopped there and kept the model of step "
                   f"{run.best_step} (loss {run.best_loss:.3e}). Lower the learning rate of that stage "
                   f"(train.stages.{row['stage']}.lr)")
    except KeyboardInterrupt:
        run.restore_good()
        status = Status.INTERRUPTED
        message = (f"interrupted at step {run.step}; kept the model of step {run.good_step} "
                   f"(loss {run.good_loss:.3e})")
    except Exception as error:  # the steps before it are worth keeping: stop as for a NaN, and say why
        run.restore_good()
        status = Status.FAILED
        message = (f"{user_code_error(error, f'training step {run.step + 1}')}; stopped there and kept the model "
                   f"of step {run.good_step} (loss {run.good_loss:.3e})")
        log.debug("training failed at step %d", run.step + 1, exc_info=True)  # the full traceback, for debugging
    if status is Status.OK and run.out_of_time():
        message = (f"stopped at the time limit of {time_limit:g} s in stage {len(stages)} of {len(curriculum)} "
                   f"(its step {stages[-1].steps} of {curriculum[len(stages) - 1].steps}), {run.step} steps in all")
    elif status is Status.OK:
        stalled = sum(s.stalled for s in stages)
        message = (f"{len(curriculum)} stages, {run.step} steps"
                   + (f" ({stalled} stages ended early: stalled or converged)" if stalled else ""))
    result = TrainResult(status, message, run.history, stages, time.perf_counter() - run.start,
                         state=copy.deepcopy(model.state_dict()))
    for cb in callbacks:
        cb.on_train_end(result)
    return result


def _preflight(problem: Problem, model: nn.Module, sampler: SamplerConfig, generator: torch.Generator,
               seed: int, requests: dict):
    """The first batch, after running the problem's code once on it: an exception in the
    residual or a condition, a residual of the wrong shape, or a loss term that is not
    finite on the initial network stops here, before training, naming the culprit."""
    reference = next(model.parameters())
    dtype, device = reference.dtype, reference.device
    what = f"the residual or a condition of problem {problem.name!r}"
    try:
        probe = problem.domain.sample_interior(8, "uniform", generator=torch.Generator().manual_seed(seed),
                                               dtype=dtype, device=device)
        r = evaluate_residual(problem, model, probe)  # bad residual shapes fail here
        if r.shape[1] != problem.equations:
            raise KanpdeError(f"problem {problem.name!r}: the residual returns {r.shape[1]} equations, the problem "
                              f"has {problem.equations} (components: {', '.join(problem.components)}); return one "
                              "equation per component, (N,) for one and (N, m) for m, or declare an "
                              f"overdetermined system with Problem(equations={r.shape[1]})")
        batch = sample_batch(problem, sampler, generator, dtype, device)
        terms = loss_terms(problem, model, batch, requests)
    except Exception as error:  # noqa: BLE001 - user code may raise anything: reported as its own error
        raise user_code_error(error, what) from None
    bad = {name: float(v.detach()) for name, v in terms.items() if not torch.isfinite(v)}
    if bad:
        raise KanpdeError(f"problem {problem.name!r}: the loss terms {bad} are not finite on the initial network, "
                          "before any training: the residual or condition values give NaN or inf there (a division "
                          "by zero, a log or square root of a negative number, an overflow?)")
    return batch


def _nan_message(row: dict, run: _Run, dtype: torch.dtype) -> str:
    """A non-finite loss after training started (the preflight saw finite terms): a step
    too large for the stage, or for float32."""
    bad = [name for name, value in row.items() if name not in ROW_FIELDS and not math.isfinite(value)]
    advice = "Lower the learning rate of that stage" + (", or use dtype=float64" if dtype != torch.float64
                                                          else f" (train.stages.{row['stage']}.lr)")
    return (f"loss became {row['loss']} in stage {row['stage'] + 1} ({row['optimizer']}, lr {row['lr']:g}) by "
            f"step {row['step']} (non-finite terms: {', '.join(bad) or 'loss'}); stopped there and kept the "
            f"model of step {run.good_step} (loss {run.good_loss:.3e}). {advice}")


def _redraw(problem, sampler, generator, batch, model, run: _Run, optimizer: StageOptimizer):
    """New interior points (RAD from ``model`` where the sampler is adaptive), like ``batch``
    in dtype and device; the optimizer and the run's best loss learn that the points changed,
    and the validation set scores the model the old points left."""
    if run.validation is not None:
        run.validation.check(run.step)
    batch = sample_batch(problem, sampler, generator, batch.interior.dtype, batch.interior.device, model,
                         run.requests)
    optimizer.new_points()
    run.new_points()
    return batch


def _run_stage(problem, model, stage: Stage, index: int, optimizer: StageOptimizer, batch: Batch, sampler,
               generator, weights, log_every: int, run: _Run) -> tuple[StageSummary, Batch]:
    start, first = time.perf_counter(), None
    # point weights change from step to step; an optimizer that needs one fixed objective
    # (curvature pairs, Jacobians) minimises the plain mean square residual, or holds the
    # weights of the stage start (see training.weighting)
    reduction = run.reduction
    if reduction is not None and not optimizer.fixed_objective:
        reduction.release()
    elif reduction is not None and (reduction.config.hold or not reduction.config.varies):
        reduction.hold()  # (fixed time-decay weights need no hold: they are one objective)
    else:
        reduction = None
    if run.validation is not None:  # the stage's first candidate: the model it starts from
        run.validation.new_stage()
        run.validation.check(run.step)
    if stage.points is not None:
        sampler = replace(sampler, interior=stage.points)
    if sampler.interior != run.points:  # the inherited points were drawn for another count
        batch = _redraw(problem, sampler, generator, batch, model, run, optimizer)
        run.points = sampler.interior
    objective = Objective(problem, model, batch, run.requests, weights, reduction, stage.sparsify, stage.entropy,
                          stage.loss)
    steps_run, finished = 0, False
    for stage_step in range(1, stage.steps + 1):
        if stage.resample_every and stage_step > 1 and (stage_step - 1) % stage.resample_every == 0:
            objective.batch = batch = _redraw(problem, sampler, generator, batch, model, run, optimizer)
        final = stage_step == stage.steps or run.out_of_time()  # out of time: this step ends the run
        log_now = final or stage_step % log_every == 0 or stage_step == 1
        # an optimizer that reads its loss every step: keep each step's model, to log the last one
        before = run.snapshot() if log_now or optimizer.reads_loss else None
        objective.new_step()
        loss = objective.plain(optimizer.step(objective))
        run.step += 1
        steps_run = stage_step
        if optimizer.reads_loss:
            value = float(loss)  # the loss of ``before``; the optimizer has synced on it anyway
            if not math.isfinite(value):
                log_now = True  # record() stops here and goes back to the last finite step
            else:
                try:
                    run.keep_good(value, before)
                except _Diverged:
                    log_now = True  # record() stops here and goes back to the stage's best model
                finished = optimizer.finished(value)
                log_now = log_now or finished
        if log_now:
            row = run.record(index, stage, stage_step, loss.detach(), objective.latest,
                             before)  # type: ignore[arg-type]  # kept: log_now (or reads_loss) holds
            first = row["loss"] if first is None else first
            if run.validation is not None:
                run.validation.check(run.step)
        if finished or final:
            break
    last = run.history[-1]["loss"] if stage.steps else run.good_loss
    kept = run.validation.keep_best(run.step) if run.validation is not None and steps_run else None
    if kept is not None and kept[1] != run.step:
        run.adopt(kept[1])
    summary = StageSummary(index, stage.optimizer, _grid(model), steps_run,
                           last if first is None else first, last, time.perf_counter() - start,
                           stalled=finished, validation=kept[0] if kept else None, kept_step=kept[1] if kept else None)
    return summary, batch
