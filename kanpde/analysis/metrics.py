"""Error metrics of a trained model against the problem's exact solution."""

from __future__ import annotations

import torch
from torch import nn

from kanpde.problem import Problem
from kanpde.training.losses import evaluate_residual


def evaluation_points(problem: Problem, n: int = 10_000, dtype=torch.float64, device=None) -> torch.Tensor:
    """A regular grid of about n points in the domain: (M, d)."""
    return problem.domain.sample_interior(n, "grid", dtype=dtype, device=device)


def predict(problem: Problem, model: nn.Module, x: torch.Tensor, chunk: int = 65_536) -> torch.Tensor:
    """The solution at x: (M, d) -> (M, m), in chunks, without building a graph."""
    with torch.no_grad():
        return torch.cat([problem.solution(model, part) for part in x.split(chunk)])


def relative_l2(pred: torch.Tensor, ref: torch.Tensor) -> float:
    return float(torch.linalg.norm(pred - ref) / torch.linalg.norm(ref).clamp_min(1e-300))


def evaluate(problem: Problem, model: nn.Module, n: int = 10_000, n_residual: int = 4096) -> dict:
    """rel_l2 and max_abs against the exact solution (when there is one) on a grid of about
    n points, and the RMS of the PDE residual on a sub-grid of about n_residual points."""
    reference = next(model.parameters())
    x = evaluation_points(problem, n, reference.dtype, reference.device)
    metrics: dict = {"eval_points": len(x)}
    exact = problem.exact_values(x)
    if exact is not None:
        pred = predict(problem, model, x)
        metrics["rel_l2"] = relative_l2(pred, exact)
        metrics["max_abs"] = float((pred - exact).abs().max())
        if len(problem.components) > 1:
            for i, name in enumerate(problem.components):
                metrics[f"rel_l2_{name}"] = relative_l2(pred[:, i], exact[:, i])
    xr = evaluation_points(problem, n_residual, reference.dtype, reference.device)
    residual = evaluate_residual(problem, model, xr).detach()
    metrics["residual_rms"] = float(residual.square().mean().sqrt())
    return metrics
