"""Figures of a run: solution / exact / pointwise error, loss curves, and a KAN's edge
functions with their symbolic fits (matplotlib, Agg)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from kanpde.compare import evaluation_points, predict
from kanpde.errors import KanpdeError
from kanpde.problem import Problem

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


# -- a KAN's edges -------------------------------------------------------------------------

EDGE_COLUMNS = 8  # panels per row before a layer wraps onto another row
EDGE_PANEL = (2.4, 1.8)  # inches (width, height) of one edge panel
EDGE_HEADER = 0.6  # inches above the panels for the title and the legend
EDGE_DPI = 100
LEARNED_COLOR, FIT_COLOR = "#1f77b4", "#d62728"


@dataclass(frozen=True)
class EdgeCurve:
    """One edge source -> target of layer ``layer``, sampled over its input range.

    x, y: (S,) inputs and the learned edge function; fit: (S,) the symbolic fit at x, or
    None (edge kept numeric); label: shown in the panel, e.g. "sin  r2=0.999998".
    """

    layer: int
    source: int
    target: int
    x: Tensor | np.ndarray
    y: Tensor | np.ndarray
    fit: Tensor | np.ndarray | None
    label: str


def edge_layout(curves: Sequence[EdgeCurve]) -> tuple[dict[tuple[int, int, int], tuple[int, int]], int, int]:
    """Panel (row, column) of each edge (layer, source, target), and the grid's (rows, columns).

    Layers in increasing order, each starting a new row; a layer's edges in (source, target)
    order fill rows of up to EDGE_COLUMNS panels.
    """
    layers: dict[int, list[tuple[int, int, int]]] = {}
    for c in curves:
        layers.setdefault(c.layer, []).append((c.layer, c.source, c.target))
    where, row = {}, 0
    for layer in sorted(layers):
        for i, key in enumerate(sorted(layers[layer])):
            where[key] = (row + i // EDGE_COLUMNS, i % EDGE_COLUMNS)
        row += math.ceil(len(layers[layer]) / EDGE_COLUMNS)
    columns = max(min(len(edges), EDGE_COLUMNS) for edges in layers.values())
    return where, row, columns


def _numpy(values: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu()
    return np.asarray(values, dtype=float).reshape(-1)


def plot_edges(curves: Sequence[EdgeCurve], path: Path, title: str = "") -> Path:
    """The network as a grid of small panels, one (or, wrapped, more) row per layer, one panel
    per edge: the learned function solid, its symbolic fit dashed, the label inside.

    The image is (rows * EDGE_PANEL[1] + EDGE_HEADER) x columns * EDGE_PANEL[0] inches at
    EDGE_DPI, rows and columns as in ``edge_layout``.
    """
    if not curves:
        raise KanpdeError("plot_edges got no edges; pass one EdgeCurve per edge to draw")
    where, rows, columns = edge_layout(curves)
    if len(where) != len(curves):
        raise KanpdeError("plot_edges got two curves for the same edge (layer, source, target); pass one each")
    width, height = columns * EDGE_PANEL[0], rows * EDGE_PANEL[1] + EDGE_HEADER
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=0.45 / width, right=1 - 0.1 / width, bottom=0.3 / height,
                        top=1 - EDGE_HEADER / height, wspace=0.35, hspace=0.55)
    for ax in axes.flat:
        ax.set_axis_off()
    for c in curves:
        row, column = where[(c.layer, c.source, c.target)]
        _draw_edge(axes[row, column], c)
        if column == 0:  # every row, wrapped ones too, says which layer it shows
            axes[row, 0].set_ylabel(f"layer {c.layer}", fontsize=8)
    handles = [plt.Line2D([], [], color=LEARNED_COLOR, lw=1.5, label="learned"),
               plt.Line2D([], [], color=FIT_COLOR, lw=1.5, ls="--", label="symbolic fit")]
    fig.legend(handles=handles, loc="upper right", bbox_to_anchor=(1 - 0.1 / width, 1 - 0.2 / height),
               ncol=2, fontsize=8, frameon=False, borderaxespad=0)  # under the title line
    if title:
        fig.suptitle(title, x=0.02, y=1 - 0.08 / height, ha="left", va="top", fontsize=10)
    fig.savefig(path, dpi=EDGE_DPI)
    plt.close(fig)
    return path


def _draw_edge(ax, curve: EdgeCurve) -> None:
    x, y = _numpy(curve.x), _numpy(curve.y)
    order = np.argsort(x)
    ax.set_axis_on()
    ax.plot(x[order], y[order], color=LEARNED_COLOR, lw=1.5)
    if curve.fit is not None:
        ax.plot(x[order], _numpy(curve.fit)[order], color=FIT_COLOR, lw=1.5, ls="--")
    ax.set_title(f"{curve.source} \u2192 {curve.target}", fontsize=8, pad=2)
    ax.text(0.03, 0.95, curve.label, transform=ax.transAxes, fontsize=6.5, va="top", ha="left",
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
    ax.tick_params(labelsize=6, length=2, pad=1)


def plot_sweep(path: Path, key: str, jobs: Sequence[tuple[float, float]], means: Sequence[tuple[float, float]],
               ticks: Sequence[str] | None = None) -> Path:
    """rel. L2 error (log scale) against a swept value: one marker per job (x, error),
    the groups' means (x, mean) joined; ``ticks``: labels of x = 0, 1, ... for values that
    are not numbers."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if jobs:
        ax.plot(*zip(*jobs), "o", alpha=0.6, label="jobs")
    if means:
        ax.plot(*zip(*sorted(means)), "-", label="mean")
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks, rotation=20)
    ax.set_yscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel("rel. L2 error")
    if jobs or means:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
