"""Error metrics of a trained model against the problem's exact or reference solution."""

from __future__ import annotations

import logging

import numpy as np
from torch import nn

from kanpde.compare import comparison_points, evaluation_points, predict, relative_l2
from kanpde.problem import Problem
from kanpde.reference.solution import GridSolution
from kanpde.training.callbacks import Callback
from kanpde.training.losses import evaluate_residual
from kanpde.training.marching import TimeWindows

log = logging.getLogger("kanpde")


class StageErrors(Callback):
    """Measures and logs the relative L2 error at the end of every stage (the error
    history of a curriculum: ``errors``, one per stage). Of a marched solution
    (``TimeWindows``), on the time range trained so far only."""

    def __init__(self, problem: Problem, model: nn.Module, reference: GridSolution | None = None,
                 n: int = 10_000):
        self.problem, self.model = problem, model
        first = next(model.parameters())
        self.x, self.exact, _ = comparison_points(problem, n, reference, first.dtype, first.device)
        self.errors: list[float] = []

    def on_stage_end(self, summary) -> None:
        if self.exact is None:
            return
        x, exact, where = self.x, self.exact, ""
        if isinstance(self.model, TimeWindows):  # the windows trained so far only
            trained = x[:, -1] <= self.model.reach
            x, exact, where = x[trained], exact[trained], f" (t <= {self.model.reach:g})"
        self.errors.append(relative_l2(predict(self.problem, self.model, x), exact))
        log.info("stage %d: rel_l2 %.3e%s", summary.index + 1, self.errors[-1], where)


def evaluate(problem: Problem, model: nn.Module, n: int = 10_000, n_residual: int = 4096,
             reference: GridSolution | None = None, solution: dict | None = None) -> dict:
    """rel_l2 and max_abs against the exact solution on a grid of about n points, or, for a
    problem without one, against ``reference`` at its own grid points; and the RMS of the
    PDE residual on a sub-grid of about n_residual points. ``solution``, a dict, receives
    the arrays behind them (numpy): points (M, d), prediction (M, m), and where there is a
    truth, truth and error = prediction - truth; with coordinates and components (names)."""
    first = next(model.parameters())
    x, exact, metrics = comparison_points(problem, n, reference, first.dtype, first.device)
    pred = predict(problem, model, x) if exact is not None or solution is not None else None
    if solution is not None and pred is not None:
        solution.update(points=x.cpu().numpy(), prediction=pred.cpu().numpy(),
                        coordinates=np.array(problem.domain.names), components=np.array(problem.components))
        if exact is not None:
            solution.update(truth=exact.cpu().numpy(), error=(pred - exact).cpu().numpy())
    if exact is not None and pred is not None:
        metrics["rel_l2"] = relative_l2(pred, exact)
        metrics["max_abs"] = float((pred - exact).abs().max())
        if len(problem.components) > 1:
            for i, name in enumerate(problem.components):
                metrics[f"rel_l2_{name}"] = relative_l2(pred[:, i], exact[:, i])
    for name, value in problem.recovered().items():  # an inverse problem's parameters
        truth = dict(problem.params)[name]
        metrics[f"{name}_recovered"] = value
        metrics[f"{name}_rel_error"] = abs(value - truth) / abs(truth)
    xr = evaluation_points(problem, n_residual, first.dtype, first.device)
    residual = evaluate_residual(problem, model, xr).detach()
    metrics["residual_rms"] = float(residual.square().mean().sqrt())
    return metrics
