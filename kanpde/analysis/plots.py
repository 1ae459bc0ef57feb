"""Figures of a run: solution / exact / pointwise error, and loss curves (matplotlib, Agg)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from kanpde.analysis.metrics import evaluation_points, predict  # noqa: E402
from kanpde.problem import Problem  # noqa: E402

log = logging.getLogger("kanpde")


def plot_solution(problem: Problem, model: nn.Module, path: Path, n: int = 20_000) -> Path | None:
    """Prediction, exact solution and |error| per component; 1-D and 2-D domains only."""
    dim = problem.domain.dim
    if dim > 2:
        log.info("no solution plot for a %d-D domain", dim)
        return None
    reference = next(model.parameters())
    x = evaluation_points(problem, n, reference.dtype, reference.device)
    pred = predict(problem, model, x).cpu()
    exact = problem.exact_values(x)
    exact = exact.cpu() if exact is not None else None
    x = x.cpu()
    rows = len(problem.components)
    cols = 1 if exact is None else 3
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    names = problem.domain.names
    for i, comp in enumerate(problem.components):
        panels = [(f"{comp} (KAN)", pred[:, i])]
        if exact is not None:
            panels += [(f"{comp} exact", exact[:, i]), (f"|error| of {comp}", (pred[:, i] - exact[:, i]).abs())]
        for ax, (title, values) in zip(axes[i], panels):
            _draw(ax, x, values, names, title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _draw(ax, x: torch.Tensor, values: torch.Tensor, names, title: str) -> None:
    if x.shape[1] == 1:
        order = torch.argsort(x[:, 0])
        ax.plot(x[order, 0], values[order])
        ax.set_xlabel(names[0])
    else:
        image = ax.tripcolor(x[:, 0], x[:, 1], values, shading="gouraud", cmap="viridis")
        ax.figure.colorbar(image, ax=ax)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_aspect("auto")
    ax.set_title(title)


def plot_history(history: list[dict], path: Path) -> Path | None:
    """Total loss and each term against the step, log scale; dotted lines at new stages."""
    if not history:
        return None
    terms = [k for k in history[0] if k not in ("stage", "step", "stage_step", "grid", "optimizer", "lr", "time")]
    steps = [row["step"] for row in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in terms:
        ax.semilogy(steps, [row[name] for row in history], label=name, lw=2 if name == "loss" else 1)
    for prev, row in zip(history, history[1:]):
        if row["stage"] != prev["stage"]:
            ax.axvline(prev["step"], color="grey", ls=":", lw=1)
            ax.text(prev["step"], ax.get_ylim()[1], f" G={row['grid']}" if row["grid"] else "",
                    va="top", fontsize=8, color="grey")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
