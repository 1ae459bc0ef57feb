"""Model selection on a fixed validation set.

A stage that redraws its points every few steps (RAD above all) ends wherever the last
redraw left it: the training loss is measured on points that change, so it cannot say
which of the stage's models was best, and on hard problems the error then swings by
several times from one redraw to the next (periodic Allen-Cahn on G = 20: 1.2e-5 to
8.4e-5). A validation set is drawn once, evenly (the sampler's method, never adaptive)
and from its own generator, so the training's draws stay what they were; each model
checked in a stage (at every logged step and before every redraw) is scored by its loss
on it, and the stage ends with the lowest-scoring one.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch
from torch import nn

from kanpde.problem import Problem
from kanpde.training.losses import Requests, loss_terms, total_loss
from kanpde.training.sampler import SamplerConfig, sample_batch

log = logging.getLogger(__name__)

SEED_OFFSET = 7919  # the validation generator's seed is the run's plus this: another stream


class Validation:
    """points: the validation set's interior points (its condition points: the sampler's
    ``boundary`` count each). ``check(step)`` scores the model as it is now; ``keep_best()``
    at a stage's end loads the best-scoring model of the stage, and the inverse problem's
    estimates with it."""

    def __init__(self, problem: Problem, model: nn.Module, sampler: SamplerConfig, points: int, seed: int,
                 weights: Mapping[str, float], requests: Requests, unknowns: Sequence[torch.Tensor]):
        reference = next(model.parameters())
        config = replace(sampler, interior=points, adaptive="none")
        generator = torch.Generator().manual_seed(seed + SEED_OFFSET)
        self.batch = sample_batch(problem, config, generator, reference.dtype, reference.device)
        self.problem, self.model, self.weights, self.requests = problem, model, weights, requests
        self.unknowns = unknowns
        self.new_stage()

    def new_stage(self) -> None:
        self.best: tuple[float, int, dict, list[torch.Tensor]] | None = None  # score, step, model, unknowns
        self.checked_step: int | None = None
        self.latest = float("nan")  # the last checked model's score

    def score(self) -> float:
        """The loss (every term, by its weight; the residual a plain mean) on the validation set."""
        terms = loss_terms(self.problem, self.model, self.batch, self.requests)
        return float(total_loss(terms, self.weights).detach())

    def check(self, step: int) -> None:
        """Score the current model (the one after ``step`` steps of the run), once per step."""
        if step == self.checked_step:
            return
        self.checked_step = step
        self.latest = value = self.score()
        log.debug("validation loss %.3e at step %d", value, step)
        if value == value and (self.best is None or value < self.best[0]):  # a NaN never wins, not even first
            self.best = (value, step, copy.deepcopy(self.model.state_dict()),
                         [u.detach().clone() for u in self.unknowns])

    def keep_best(self, step: int) -> tuple[float, int] | None:
        """Load the stage's best model (checking the current one first, the model after
        ``step``); its score and step, or None when nothing scored finite."""
        self.check(step)
        if self.best is None:
            return None
        value, best_step, state, unknowns = self.best
        if best_step != step:
            last = self.latest
            self.model.load_state_dict(state)
            with torch.no_grad():
                for u, kept in zip(self.unknowns, unknowns):
                    u.copy_(kept)
            log.info("kept the model of step %d: validation loss %.3e (the last step's: %.3e)",
                     best_step, value, last)
        return value, best_step
