"""The training loop: ``solve(problem, model, curriculum)`` -> TrainResult.

The loop runs the curriculum's stages in order. Losses are read back from the device
only every ``log_every`` steps (and at the end of each stage): that is where history is
recorded, callbacks are told, a non-finite loss is detected and a good copy of the model
is kept. On a non-finite loss the model goes back to that copy and training stops with
status "nan" and advice.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from kanpde.errors import KanpdeError
from kanpde.geometry import SpaceTime
from kanpde.model import KAN, extend_grid, update_grid
from kanpde.problem import Problem
from kanpde.result import StageSummary, TrainResult
from kanpde.training.callbacks import Callback
from kanpde.training.curriculum import Stage
from kanpde.training.losses import SPARSITY, evaluate_residual, loss_terms, sparsity, term_weights, total_loss
from kanpde.training.optim import RescaledLBFGS, adam_state_by_name, load_adam_state, make_optimizer
from kanpde.training.sampler import SamplerConfig, sample_batch
from kanpde.training.weighting import PointWeighting, ResidualReduction


ROUNDING_LEVEL = 1e-20  # an L-BFGS stage ends once its loss is this fraction of its first,
ROUNDING_FLOOR = 100.0  # or this many times the dtype's eps^2 (residuals of O(1) terms at rounding)


class _NonFinite(Exception):
    pass


class _Run:
    """Mutable bookkeeping of one solve(): history, last good model copy, timing."""

    def __init__(self, model: nn.Module, callbacks: Sequence[Callback],
                 reduction: ResidualReduction | None = None):
        self.model = model
        self.callbacks = callbacks
        self.reduction = reduction  # the residual term's point weights, or None: a plain mean
        self.history: list[dict] = []
        self.step = 0
        self.requests: dict = {}  # loss term -> the jet it needs (see losses.loss_terms)
        self.start = time.perf_counter()
        self.keep_good(loss=math.inf)

    def keep_good(self, loss: float, state: dict | None = None) -> None:
        """Keep ``state`` (default: the model's current one) as the last good model."""
        self.good_state = state if state is not None else copy.deepcopy(self.model.state_dict())
        self.good_step, self.good_loss = self.step, loss

    def restore_good(self) -> None:
        self.model.load_state_dict(self.good_state)

    def record(self, stage_index: int, stage: Stage, stage_step: int, loss: torch.Tensor,
               terms: Mapping[str, torch.Tensor], state: dict) -> dict:
        """Read the loss back (one host sync), check it, log it; ``state`` is the model
        that produced ``loss`` (taken before the step), kept as the last good one."""
        row = {"stage": stage_index, "step": self.step, "stage_step": stage_step,
               "grid": _grid(self.model), "optimizer": stage.optimizer, "lr": stage.lr,
               "loss": float(loss), **{name: float(v.detach()) for name, v in terms.items()},
               "time": time.perf_counter() - self.start}
        if not math.isfinite(row["loss"]):
            raise _NonFinite(row)
        self.history.append(row)
        self.keep_good(row["loss"], state)
        for cb in self.callbacks:
            cb.on_log(row)
        return row


def _grid(model: nn.Module) -> int | None:
    return model.grid_size if isinstance(model, KAN) else None


def solve(problem: Problem, model: nn.Module, curriculum: Sequence[Stage], *,
          sampler: SamplerConfig | None = None, weights: Mapping[str, float] | None = None,
          point_weighting: PointWeighting | None = None, seed: int = 0, log_every: int = 50,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``model`` in place so that ``problem``'s residual and conditions vanish.

    weights: loss term name -> weight; point_weighting: causal and attention weights of
    the residual's points (see training.weighting).
    """
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
    probe = problem.domain.sample_interior(8, "uniform", generator=torch.Generator().manual_seed(seed),
                                           dtype=dtype, device=device)
    evaluate_residual(problem, model, probe)  # bad residual shapes fail here, before training

    run = _Run(model, callbacks, reduction)
    for cb in callbacks:
        cb.on_train_start(sum(s.steps for s in curriculum))
    stages: list[StageSummary] = []
    adam_state: dict[str, dict] = {}
    batch = sample_batch(problem, sampler, generator, dtype, device)  # kept unless a stage resamples
    unknowns = problem.unknown_tensors(dtype, device)  # an inverse problem's parameters, trained too
    status, message = "ok", ""
    try:
        for index, stage in enumerate(curriculum):
            refits = {}
            if isinstance(model, KAN) and stage.grid and stage.grid != model.grid_size:
                refits = extend_grid(model, stage.grid)
            if isinstance(model, KAN) and stage.update_grid:
                update_grid(model, batch.interior)
            run.keep_good(run.good_loss)
            optimizer = make_optimizer(stage, model, unknowns)
            load_adam_state(optimizer, model, adam_state, refits)
            for cb in callbacks:
                cb.on_stage_start(index, stage, _grid(model))
            summary, batch = _run_stage(problem, model, stage, index, optimizer, batch, sampler,
                                        generator, weights, log_every, run)
            stages.append(summary)
            for cb in callbacks:
                cb.on_stage_end(stages[-1])
            adam_state = adam_state_by_name(optimizer, model)
    except _NonFinite as bad:
        row = bad.args[0]
        run.restore_good()
        status = "nan"
        message = (f"loss became {row['loss']} in stage {row['stage'] + 1} ({row['optimizer']}, "
                   f"lr {row['lr']:g}) by step {row['step']}; stopped there and kept the model "
                   f"of step {run.good_step} (loss {run.good_loss:.3e}). Lower the learning rate "
                   "of that stage, or use dtype=float64")
    except KeyboardInterrupt:
        run.restore_good()
        status = "interrupted"
        message = (f"interrupted at step {run.step}; kept the model of step {run.good_step} "
                   f"(loss {run.good_loss:.3e})")
    if status == "ok":
        stalled = sum(s.stalled for s in stages)
        message = (f"{len(curriculum)} stages, {run.step} steps"
                   + (f" ({stalled} L-BFGS stages ended early, stalled)" if stalled else ""))
    result = TrainResult(status, message, run.history, stages, time.perf_counter() - run.start,
                         state=copy.deepcopy(model.state_dict()))
    for cb in callbacks:
        cb.on_train_end(result)
    return result


def _run_stage(problem, model, stage, index, optimizer, batch, sampler, generator, weights,
               log_every, run: _Run) -> StageSummary:
    start, first = time.perf_counter(), None
    latest: dict[str, torch.Tensor] = {}

    lbfgs = isinstance(optimizer, RescaledLBFGS)
    # point weights change from step to step; L-BFGS's curvature pairs need one fixed
    # objective, so its stages minimise the plain mean square residual
    reduction = None if lbfgs else run.reduction
    weights = {**weights, SPARSITY: stage.sparsify}

    def objective() -> torch.Tensor:
        terms = loss_terms(problem, model, batch, run.requests, reduction)
        if stage.sparsify:
            terms[SPARSITY] = sparsity(model, batch.interior, stage.entropy)
        if not latest:  # keep the terms of the step's first evaluation, the logged one
            latest.update(terms)
        return total_loss(terms, weights)

    previous, slow_steps, steps_run, start_loss, converged = math.inf, 0, 0, None, False
    floor = ROUNDING_FLOOR * torch.finfo(batch.interior.dtype).eps ** 2
    for stage_step in range(1, stage.steps + 1):
        if stage.resample_every and stage_step > 1 and (stage_step - 1) % stage.resample_every == 0:
            batch = sample_batch(problem, sampler, generator, batch.interior.dtype, batch.interior.device,
                                 model, run.requests)
        log_now = stage_step % log_every == 0 or stage_step in (1, stage.steps)
        # L-BFGS reads its loss every step anyway: keep each step's model, to log the last one
        before = copy.deepcopy(model.state_dict()) if log_now or lbfgs else None
        latest.clear()
        if reduction is not None:
            reduction.new_step()
        if lbfgs:
            loss = optimizer.step(objective)
        else:
            optimizer.zero_grad(set_to_none=True)
            loss = objective()
            loss.backward()
            optimizer.step()
        run.step += 1
        steps_run = stage_step
        if lbfgs:
            value = float(loss)  # the loss of ``before``; L-BFGS has synced on it anyway
            if not math.isfinite(value):
                log_now = True  # record() stops here and goes back to the last finite step
            else:
                run.keep_good(value, before)
                start_loss = value if start_loss is None else start_loss
                converged = value <= max(ROUNDING_LEVEL * start_loss, floor)  # further steps only risk NaN
            if stage.stall_rtol:
                slow_steps = slow_steps + 1 if previous - value < stage.stall_rtol * abs(previous) else 0
                previous = value
            log_now = log_now or slow_steps >= 2 or converged
        if log_now:
            row = run.record(index, stage, stage_step, loss.detach(), latest, before)
            first = row["loss"] if first is None else first
        if slow_steps >= 2 or converged:
            break
    last = run.history[-1]["loss"] if stage.steps else run.good_loss
    summary = StageSummary(index, stage.optimizer, _grid(model), steps_run,
                           last if first is None else first, last, time.perf_counter() - start,
                           stalled=steps_run < stage.steps)
    return summary, batch
