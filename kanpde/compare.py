"""A network against the problem's exact or reference solution: where to compare, the
network's prediction there, and the relative L2 error. Used by analysis (the metrics of
a run) and by symbolic (the error of a formula), which stand side by side above training.
"""

from __future__ import annotations

import torch
from torch import nn

from kanpde.problem import Problem
from kanpde.reference.solution import GridSolution


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
