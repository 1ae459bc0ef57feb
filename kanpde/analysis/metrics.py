"""Error metrics of a trained model against the problem's exact or reference solution."""

from __future__ import annotations

import logging

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
             reference: GridSolution | None = None) -> dict:
    """rel_l2 and max_abs against the exact solution on a grid of about n points, or, for a
    problem without one, against ``reference`` at its own grid points; and the RMS of the
    PDE residual on a sub-grid of about n_residual points."""
    first = next(model.parameters())
    x, exact, metrics = comparison_points(problem, n, reference, first.dtype, first.device)
    if exact is not None:
        pred = predict(problem, model, x)
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
