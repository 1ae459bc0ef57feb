"""Stage optimizers: one interface, so that the stage loop knows no optimizer's internals.

A stage optimizer is made by :func:`make_optimizer` from the stage's ``optimizer`` name
and offers:

- ``step(objective)``: one optimizer step on an :class:`~kanpde.training.objective.Objective`
  (call it for the loss; its ``residuals`` and ``jacobian`` for least-squares methods);
  returns the loss at the start of the step (0-d tensor, the loss of the parameters the
  step started from);
- ``reads_loss``: True when every step reads its loss on the host anyway (the closure
  methods), so the stage loop may check every step at no cost;
- ``fixed_objective``: True when the objective must not change during the stage (point
  weights frozen): curvature pairs and Jacobians belong to one objective;
- ``new_points()``: told that the objective's points were redrawn;
- ``finished(loss)``: told each step's loss (when ``reads_loss``), says whether the stage
  is done (stalled, or converged to rounding level);
- ``export(model)`` / ``adopt(saved, model, refits)``: the state carried to the next
  stage's optimizer across a grid extension, keyed by parameter name (``refits``: name ->
  map of a tensor of the old shape onto the new, see model.grid.extend_grid);
- ``state_dict()`` / ``load_state_dict(state)``: tensors and numbers only, to checkpoint.

A new method is one class here and its name in ``curriculum.OPTIMIZERS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kanpde.training.curriculum import Stage
from kanpde.training.gauss_newton import METHODS as LEAST_SQUARES
from kanpde.training.gauss_newton import GaussNewton
from kanpde.training.objective import Objective
from kanpde.training.quasi_newton import METHODS as QUASI_NEWTON
from kanpde.training.quasi_newton import QuasiNewton

ROUNDING_LEVEL = 1e-20  # a closure stage ends once its loss is this fraction of its first,
ROUNDING_FLOOR = 100.0  # or this many times the dtype's eps^2 (residuals of O(1) terms at rounding)
Refits = Mapping[str, Callable[[torch.Tensor], torch.Tensor]]


class StageOptimizer:
    """The defaults of the interface (see the module docstring): no host reads, a
    changing objective allowed, never finished early, nothing carried."""

    reads_loss = False
    fixed_objective = False

    def step(self, objective: Objective) -> torch.Tensor:
        raise NotImplementedError

    def finished(self, loss: float) -> bool:
        return False

    def new_points(self) -> None:
        return None

    def export(self, model: nn.Module) -> dict[str, Any]:
        return {}

    def adopt(self, saved: Mapping[str, Any], model: nn.Module, refits: Refits) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


class Adam(StageOptimizer):
    """torch's Adam; its moments carry over a grid extension (refitted like the
    coefficients they belong to)."""

    def __init__(self, params, lr: float):
        self.torch = torch.optim.Adam(params, lr=lr)

    def step(self, objective: Objective) -> torch.Tensor:
        self.torch.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        self.torch.step()
        return loss.detach()

    def export(self, model: nn.Module) -> dict[str, Any]:
        """Per-parameter state keyed by parameter name (survives parameter replacement)."""
        state = self.torch.state
        return {name: state[p] for name, p in model.named_parameters() if p in state}

    def adopt(self, saved: Mapping[str, Any], model: nn.Module, refits: Refits) -> None:
        """The old moments for the new parameters; reshaped ones go through their refit."""
        for name, p in model.named_parameters():
            if name not in saved or "exp_avg" not in saved[name]:
                continue
            state = dict(saved[name])
            if name in refits:
                state["exp_avg"] = refits[name](state["exp_avg"])
                state["exp_avg_sq"] = refits[name](state["exp_avg_sq"]).clamp_min(0.0)
            if state["exp_avg"].shape == p.shape:
                self.torch.state[p] = state

    def state_dict(self) -> dict[str, Any]:
        return self.torch.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.torch.load_state_dict(dict(state))


class _StopRule:
    """A closure stage ends once two steps in a row each lowered the loss by less than
    ``stall_rtol`` of it (stalled; 0: never), or the loss is at rounding level: below
    ROUNDING_LEVEL x the stage's first, or ROUNDING_FLOOR x eps^2 (further steps only
    risk NaN)."""

    def __init__(self, stall_rtol: float, dtype: torch.dtype):
        self.stall_rtol = stall_rtol
        self.floor = ROUNDING_FLOOR * torch.finfo(dtype).eps ** 2
        self.first: float | None = None
        self.previous = math.inf
        self.slow_steps = 0

    def __call__(self, loss: float) -> bool:
        self.first = loss if self.first is None else self.first
        if self.stall_rtol:
            slow = self.previous - loss < self.stall_rtol * abs(self.previous)
            self.slow_steps = self.slow_steps + 1 if slow else 0
            self.previous = loss
        return self.slow_steps >= 2 or loss <= max(ROUNDING_LEVEL * self.first, self.floor)


class ClosureOptimizer(StageOptimizer):
    """Optimizers that run several iterations a step on a fixed objective and read the
    loss every iteration (L-BFGS, the dense quasi-Newton and least-squares methods)."""

    reads_loss = True
    fixed_objective = True

    def __init__(self, stage: Stage, params: Sequence[torch.Tensor]):
        self.stop = _StopRule(stage.stall_rtol, params[0].dtype)
        self.restart_on_new_points = stage.resample_restart

    def finished(self, loss: float) -> bool:
        return self.stop(loss)

    def new_points(self) -> None:
        if self.restart_on_new_points:
            self.forget()

    def forget(self) -> None:
        """Drop the curvature learnt so far."""
        return None


class RescaledLBFGS(ClosureOptimizer):
    """torch's L-BFGS with strong-Wolfe line search, run on ``loss / reference``.

    torch's L-BFGS only stores a curvature pair when y.s > 1e-10 (hard-coded), so on a
    small loss it stops learning curvature and stalls. Dividing the loss by a reference
    value keeps y.s in range; each time the loss has fallen 10x below the reference, or a
    whole step did not lower it (a failed line search leaves torch's L-BFGS stuck on the
    same direction), the reference is reset and the memory restarted. A step is up to ``max_iter``
    iterations. A log loss (negative, and its y.s scale-free) is not rescaled.
    """

    def __init__(self, stage: Stage, params, max_iter: int = 20, history_size: int = 50):
        self.params = list(params)
        super().__init__(stage, self.params)
        self.options: dict[str, Any] = dict(lr=stage.lr, max_iter=max_iter, history_size=history_size,
                                            line_search_fn="strong_wolfe", tolerance_grad=1e-20,
                                            tolerance_change=1e-20)
        self.reference: float | None = None
        self.last: float | None = None
        self.stalled = False

    def _restart(self) -> None:
        self.reference = None  # the first loss evaluated after the restart
        self.lbfgs = torch.optim.LBFGS(self.params, **self.options)

    def forget(self) -> None:
        self.last = None  # the next step restarts the memory

    def step(self, objective: Objective) -> torch.Tensor:
        rescale = objective.loss != "log"
        if (self.last is None or self.reference is None or self.stalled
                or (rescale and self.last < 0.1 * self.reference)):
            self._restart()

        def closure():
            self.lbfgs.zero_grad(set_to_none=True)
            loss = objective()
            if self.reference is None:
                self.reference = max(float(loss.detach()), 1e-300) if rescale else 1.0
            scaled = loss / self.reference
            scaled.backward()
            return scaled

        scaled = self.lbfgs.step(closure)
        loss = scaled.detach() * self.reference
        previous, self.last = self.last, float(loss)  # L-BFGS syncs on every iteration anyway
        self.stalled = previous is not None and self.last >= previous
        return loss

    def state_dict(self) -> dict[str, Any]:
        lbfgs = self.lbfgs.state_dict() if hasattr(self, "lbfgs") else None
        return {"reference": self.reference, "last": self.last, "stalled": self.stalled, "lbfgs": lbfgs}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.reference, self.last, self.stalled = state["reference"], state["last"], state["stalled"]
        if state["lbfgs"] is not None:
            self.lbfgs = torch.optim.LBFGS(self.params, **self.options)
            self.lbfgs.load_state_dict(state["lbfgs"])


class _Delegate(ClosureOptimizer):
    """A closure optimizer whose work is done by ``self.method`` (QuasiNewton or
    GaussNewton, each usable on its own outside a stage)."""

    method: QuasiNewton | GaussNewton

    def step(self, objective: Objective) -> torch.Tensor:
        return self.method.step(objective)

    def state_dict(self) -> dict[str, Any]:
        return self.method.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.method.load_state_dict(dict(state))


class DenseQuasiNewton(_Delegate):
    """ssbroyden, ssbfgs or bfgs (kanpde.training.quasi_newton). The inverse Hessian
    carries over to the next stage when it is of the same kind on the same parameters
    (no grid change): the curvature learnt stays valid."""

    method: QuasiNewton

    def __init__(self, stage: Stage, params):
        params = list(params)
        super().__init__(stage, params)
        self.method = QuasiNewton(params, method=stage.optimizer, lr=stage.lr)

    def forget(self) -> None:
        self.method.restart()

    def export(self, model: nn.Module) -> dict[str, Any]:
        return {"inverse_hessian": self.method.H, "fresh": self.method.fresh}

    def adopt(self, saved: Mapping[str, Any], model: nn.Module, refits: Refits) -> None:
        H = saved.get("inverse_hessian")
        if not refits and H is not None and H.shape == self.method.H.shape:
            self.method.H, self.method.fresh = H, saved["fresh"]


class LeastSquares(_Delegate):
    """lm (Levenberg-Marquardt) or gn (Gauss-Newton) on the residual vector
    (kanpde.training.gauss_newton); the stage's lr is lm's first damping, relative to the
    largest diagonal entry of J^T J. The damping reached carries over to the next stage."""

    method: GaussNewton

    def __init__(self, stage: Stage, params):
        params = list(params)
        super().__init__(stage, params)
        self.method = GaussNewton(params, method=stage.optimizer, damping=stage.lr)

    def export(self, model: nn.Module) -> dict[str, Any]:
        return {"damping": self.method.damping}

    def adopt(self, saved: Mapping[str, Any], model: nn.Module, refits: Refits) -> None:
        if "damping" in saved:
            self.method.damping = saved["damping"]


def make_optimizer(stage: Stage, model: nn.Module, extra: Sequence[torch.Tensor] = ()) -> StageOptimizer:
    """The stage's optimizer over the model's parameters and ``extra`` (an inverse
    problem's unknowns): Adam, RescaledLBFGS (a step = up to 20 iterations, as in pykan),
    a dense quasi-Newton method (20 iterations a step) or a least-squares one (a step =
    one damped Gauss-Newton step)."""
    params = list(model.parameters()) + list(extra)
    if stage.optimizer == "adam":
        return Adam(params, stage.lr)
    if stage.optimizer in QUASI_NEWTON:
        return DenseQuasiNewton(stage, params)
    if stage.optimizer in LEAST_SQUARES:
        return LeastSquares(stage, params)
    return RescaledLBFGS(stage, params)
