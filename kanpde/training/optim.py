"""Optimizers for a stage, and carrying Adam's moments across a grid extension."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kanpde.training.curriculum import Stage
from kanpde.training.quasi_newton import METHODS as QUASI_NEWTON
from kanpde.training.quasi_newton import QuasiNewton


class RescaledLBFGS:
    """torch's L-BFGS with strong-Wolfe line search, run on ``loss / reference``.

    torch's L-BFGS only stores a curvature pair when y.s > 1e-10 (hard-coded), so on a
    small loss it stops learning curvature and stalls. Dividing the loss by a reference
    value keeps y.s in range; each time the loss has fallen 10x below the reference, or a
    whole step did not lower it (a failed line search leaves torch's L-BFGS stuck on the
    same direction), the reference is reset and the memory restarted. A step is up to ``max_iter``
    iterations. ``step(objective)`` takes a function returning the unscaled loss (no
    backward) and returns the unscaled loss at the start of the step.
    """

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, history_size: int = 50):
        self.params = list(params)
        self.options: dict[str, Any] = dict(lr=lr, max_iter=max_iter, history_size=history_size,
                                            line_search_fn="strong_wolfe", tolerance_grad=1e-20,
                                            tolerance_change=1e-20)
        self.reference: float | None = None
        self.last: float | None = None
        self.stalled = False

    def _restart(self) -> None:
        self.reference = None  # the first loss evaluated after the restart
        self.lbfgs = torch.optim.LBFGS(self.params, **self.options)

    def step(self, objective: Callable[[], torch.Tensor]) -> torch.Tensor:
        if self.last is None or self.reference is None or self.stalled or self.last < 0.1 * self.reference:
            self._restart()

        def closure():
            self.lbfgs.zero_grad(set_to_none=True)
            loss = objective()
            if self.reference is None:
                self.reference = max(float(loss.detach()), 1e-300)
            scaled = loss / self.reference
            scaled.backward()
            return scaled

        scaled = self.lbfgs.step(closure)
        loss = scaled.detach() * self.reference
        previous, self.last = self.last, float(loss)  # L-BFGS syncs on every iteration anyway
        self.stalled = previous is not None and self.last >= previous
        return loss


def make_optimizer(stage: Stage, model: nn.Module, extra: Sequence[torch.Tensor] = ()):
    """torch Adam, RescaledLBFGS (a step = up to 20 iterations, as in pykan) or a dense
    QuasiNewton (ssbroyden, ssbfgs, bfgs; also 20 iterations a step), over the model's
    parameters and ``extra`` (an inverse problem's unknowns)."""
    params = list(model.parameters()) + list(extra)
    if stage.optimizer == "adam":
        return torch.optim.Adam(params, lr=stage.lr)
    if stage.optimizer in QUASI_NEWTON:
        return QuasiNewton(params, method=stage.optimizer, lr=stage.lr)
    return RescaledLBFGS(params, lr=stage.lr)


def adam_state_by_name(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, dict]:
    """Adam's per-parameter state keyed by parameter name (survives parameter replacement)."""
    if not isinstance(optimizer, torch.optim.Adam):
        return {}
    return {name: optimizer.state[p] for name, p in model.named_parameters() if p in optimizer.state}


def load_adam_state(optimizer: torch.optim.Optimizer, model: nn.Module, saved: Mapping[str, dict],
                    refits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]) -> None:
    """Give the new Adam the old moments; reshaped parameters go through their refit map."""
    if not isinstance(optimizer, torch.optim.Adam):
        return
    for name, p in model.named_parameters():
        if name not in saved:
            continue
        state = dict(saved[name])
        if name in refits:
            state["exp_avg"] = refits[name](state["exp_avg"])
            state["exp_avg_sq"] = refits[name](state["exp_avg_sq"]).clamp_min(0.0)
        if state["exp_avg"].shape == p.shape:
            optimizer.state[p] = state
