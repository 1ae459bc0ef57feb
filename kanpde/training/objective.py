"""What a stage minimises, in the three forms its optimizers ask for.

- ``objective()``: the scalar loss, sum over terms of weight x mean square (plus the
  sparsity regulariser of a sparsifying stage), or its square root or log (the stage's
  ``loss``: ``plain(value)`` gives the loss back from it);
- ``objective.residuals()``: the vector r (M,) whose sum of squares is that loss (each
  term's residual scaled by sqrt(weight / its count)), for least-squares methods;
- ``objective.jacobian(params)``: r and its Jacobian J (M, n) with respect to ``params``
  (see training.jacobian).

``batch`` may be replaced between steps (resampling); ``latest`` keeps the terms of the
first evaluation since ``new_step()``: the logged ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from kanpde.errors import KanpdeError
from kanpde.problem import Problem
from kanpde.training.jacobian import residual_jacobian
from kanpde.training.losses import (
    RESIDUAL,
    SPARSITY,
    Requests,
    loss_terms,
    sparsity,
    term_residuals,
    total_loss,
)
from kanpde.training.sampler import Batch
from kanpde.training.weighting import ResidualReduction


class Objective:
    def __init__(self, problem: Problem, model: nn.Module, batch: Batch, requests: Requests,
                 weights: Mapping[str, float], reduction: ResidualReduction | None = None,
                 sparsify: float = 0.0, entropy: float = 2.0, loss: str = "mse"):
        self.problem, self.model = problem, model
        self.batch = batch
        self.requests = requests
        self.weights = {**weights, SPARSITY: sparsify}
        self.reduction = reduction
        self.sparsify, self.entropy = sparsify, entropy
        self.loss = loss
        self.latest: dict[str, torch.Tensor] = {}

    @property
    def batch(self) -> Batch:
        return self._batch

    @batch.setter
    def batch(self, batch: Batch) -> None:
        self._batch = batch
        self.fast_terms: set[str] | None = None  # the terms whose fast Jacobian rows hold here (unchecked)

    def new_step(self) -> None:
        self.latest.clear()
        if self.reduction is not None:
            self.reduction.new_step()

    def _keep(self, terms: Mapping[str, torch.Tensor]) -> None:
        if not self.latest:
            self.latest.update(terms)

    def __call__(self) -> torch.Tensor:
        terms = loss_terms(self.problem, self.model, self.batch, self.requests, self.reduction)
        if self.sparsify:
            terms[SPARSITY] = sparsity(self.model, self.batch.interior, self.entropy)  # type: ignore[arg-type]
        self._keep(terms)
        total = total_loss(terms, self.weights)
        return total.sqrt() if self.loss == "sqrt" else total.log() if self.loss == "log" else total

    def plain(self, value: torch.Tensor) -> torch.Tensor:
        """The loss from a value of ``objective()``."""
        return value.square() if self.loss == "sqrt" else value.exp() if self.loss == "log" else value

    def residual_blocks(self) -> dict[str, torch.Tensor]:
        """Each term's residual (N_t, k_t) times sqrt(weight / (N_t k_t)) (and the PDE
        residual's rows times the square roots of held point weights): their squares sum
        to the loss."""
        if self.sparsify:
            raise KanpdeError("a least-squares stage (lm, gn) minimises a sum of squares; the sparsity "
                              "regulariser is not one: set the stage's sparsify to 0, or use adam or lbfgs")
        blocks = term_residuals(self.problem, self.model, self.batch, self.requests)
        if self.reduction is not None:  # held for the stage (see training.weighting)
            r = blocks[RESIDUAL]
            weights = self.reduction.point_weights(r.detach().square().mean(dim=1), self.batch.interior)
            blocks[RESIDUAL] = r * weights.sqrt()[:, None]
        self._keep({name: r.square().mean() for name, r in blocks.items()})
        return {name: r * (self.weights[name] / r.numel()) ** 0.5 for name, r in blocks.items()}

    def residuals(self) -> torch.Tensor:
        """(M,): the residual blocks flattened in term order (rows of a block in point order)."""
        return torch.cat([r.reshape(-1) for r in self.residual_blocks().values()])

    def point_offsets(self) -> dict[str, int]:
        """Where each term's points start in ``batch.points()`` (the joint jet's order)."""
        sizes = [(RESIDUAL, len(self.batch.interior))]
        sizes += [(c.label, len(p.x)) for c, p in zip(self.problem.conditions, self.batch.conditions)]
        offsets, start = {}, 0
        for name, size in sizes:
            offsets[name] = start
            start += size
        return offsets

    def jacobian(self, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """r (M,) and dr/dparams (M, n), columns in the order of ``params`` flattened."""
        return residual_jacobian(self, params)
