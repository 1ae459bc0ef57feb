"""Error metrics of a trained model against the problem's exact or reference solution."""

from __future__ import annotations

import logging

import torch
from torch import nn

from kanpde.problem import Problem
from kanpde.reference.solution import GridSolution
from kanpde.training.callbacks import Callback
from kanpde.training.losses import evaluate_residual

log = logging.getLogger("kanpde")


def evaluation_points(problem: Problem, n: int = 10_000, dtype=torch.float64, device=None) -> torch.Tensor:
    """A regular grid of about n points in the domain: (M, d)."""
    return problem.domain.sample_interior(n, "grid", dtype=dtype, device=device)


def predict(problem: Problem, model: nn.Module, x: torch.Tensor, chunk: int = 65_536) -> torch.Tensor:
    """The solution at x: (M, d) -> (M, m), in chunks, without building a graph."""
    with torch.no_grad():
        return torch.cat([problem.solution(model, part) for part in x.split(chunk)])


def relative_l2(pred: torch.Tensor, ref: torch.Tensor) -> float:
    return float(torch.linalg.norm(pred - ref) / torch.linalg.norm(ref).clamp_min(1e-300))


def comparison_points(problem: Problem, n: int, reference: GridSolution | None, dtype, device):
    """Where the error is measured and the true solution there: (x (M, d), values (M, m)
    or None when there is neither an exact solution nor a reference, a metrics dict
    naming them): a grid of about n points with the exact solution, else the reference's
    own grid points."""
    x = evaluation_points(problem, n, dtype, device)
    metrics: dict = {"eval_points": len(x)}
    exact = problem.exact_values(x)
    if exact is None and reference is not None:
        x = torch.as_tensor(reference.points(), dtype=dtype, device=device)
        exact = torch.as_tensor(reference.flat_values(), dtype=dtype, device=device).reshape(len(x), -1)
        metrics.update(eval_points=len(x), reference=reference.method)
    return x, exact, metrics


class StageErrors(Callback):
    """Measures and logs the relative L2 error at the end of every stage (the error
    history of a curriculum: ``errors``, one per stage)."""

    def __init__(self, problem: Problem, model: nn.Module, reference: GridSolution | None = None,
                 n: int = 10_000):
        self.problem, self.model = problem, model
        first = next(model.parameters())
        self.x, self.exact, _ = comparison_points(problem, n, reference, first.dtype, first.device)
        self.errors: list[float] = []

    def on_stage_end(self, summary) -> None:
        if self.exact is None:
            return
        self.errors.append(relative_l2(predict(self.problem, self.model, self.x), self.exact))
        log.info("stage %d: rel_l2 %.3e", summary.index + 1, self.errors[-1])


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
