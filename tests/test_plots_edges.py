"""Tests for kanpde.analysis.plots.plot_edges: the PNG has the pixel size of the panel grid
laid out (one row per layer, wrapped at EDGE_COLUMNS), and fits are drawn only where given."""

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from kanpde import KanpdeError
from kanpde.analysis import plots
from kanpde.analysis.plots import EdgeCurve, edge_layout, plot_edges

S = 64
X = torch.linspace(-1.0, 1.0, S, dtype=torch.float64)
FIT_RGB = np.array(matplotlib.colors.to_rgb(plots.FIT_COLOR))


def edge(layer, source, target, fit=True):
    y = torch.sin(3 * X + source - target)
    return EdgeCurve(layer, source, target, X, y, y + 0.05 if fit else None,
                     "sin  r2=0.999998" if fit else "numeric")


def network(widths, fit=True):
    """One curve per edge of a KAN with these widths, e.g. [2, 3, 1]: 6 + 3 edges."""
    return [edge(layer, i, j, fit) for layer, (n_in, n_out) in enumerate(zip(widths, widths[1:]))
            for i in range(n_in) for j in range(n_out)]


def expected_pixels(rows, columns):
    """(height, width) of the image: rows x columns panels under the header, at EDGE_DPI."""
    w, h = plots.EDGE_PANEL
    return (round((rows * h + plots.EDGE_HEADER) * plots.EDGE_DPI), round(columns * w * plots.EDGE_DPI))


def fit_pixels(image):
    """Number of pixels below the header (the legend holds one fit sample) in the fit colour."""
    below = image[round(plots.EDGE_HEADER * plots.EDGE_DPI):, :, :3]
    return int((np.abs(below - FIT_RGB).max(axis=2) < 0.05).sum())


@pytest.mark.parametrize("widths, rows, columns", [
    ([1, 1], 1, 1),  # one edge
    ([2, 3, 1], 2, 6),  # 6 edges, then 3
    ([2, 5, 1], 3, 8),  # 10 edges wrap onto 2 rows, then 5
    ([8, 8], 8, 8),  # 64 edges: 8 full rows
    ([2, 8, 8, 1], 2 + 8 + 1, 8),  # 16 edges -> 2 rows, 64 -> 8, 8 -> 1
], ids=["one_edge", "two_layers", "wrapped", "64_edges", "three_layers"])
def test_image_size_is_the_panel_grid(tmp_path, widths, rows, columns):
    curves = network(widths)
    assert edge_layout(curves)[1:] == (rows, columns)
    path = plot_edges(curves, tmp_path / "edges.png", title=f"KAN {widths}")
    assert path == tmp_path / "edges.png" and path.stat().st_size > 1000
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == expected_pixels(rows, columns)


def test_image_grows_with_the_number_of_layers(tmp_path):
    heights = [matplotlib.image.imread(plot_edges(network(w), tmp_path / f"{i}.png")).shape[0]
               for i, w in enumerate([[2, 2], [2, 2, 2], [2, 2, 2, 2]])]
    step = round(plots.EDGE_PANEL[1] * plots.EDGE_DPI)
    assert heights[1] - heights[0] == step and heights[2] - heights[1] == step


def test_layout_puts_each_layer_on_its_own_rows_in_edge_order():
    where, rows, columns = edge_layout(network([2, 5, 1]))
    assert (rows, columns) == (3, 8)
    assert where[(0, 0, 0)] == (0, 0) and where[(0, 1, 2)] == (0, 7) and where[(0, 1, 3)] == (1, 0)
    assert where[(1, 0, 0)] == (2, 0) and where[(1, 4, 0)] == (2, 4)


def test_fit_is_drawn_only_where_there_is_one(tmp_path):
    """A numeric edge (fit None) draws without error and without the dashed fit colour."""
    with_fit = matplotlib.image.imread(plot_edges(network([2, 2]), tmp_path / "fit.png"))
    numeric = matplotlib.image.imread(plot_edges(network([2, 2], fit=False), tmp_path / "numeric.png"))
    mixed = [edge(0, 0, 0, fit=False), edge(0, 0, 1), edge(1, 0, 0, fit=False)]
    mixed_image = matplotlib.image.imread(plot_edges(mixed, tmp_path / "mixed.png"))
    assert numeric.shape == with_fit.shape
    assert fit_pixels(numeric) == 0 and fit_pixels(with_fit) > 100
    assert 0 < fit_pixels(mixed_image) < fit_pixels(with_fit)


def test_numpy_inputs_and_unsorted_x(tmp_path):
    x = np.random.default_rng(0).uniform(-2, 2, S)  # unsorted: drawn in order of x
    curve = EdgeCurve(0, 0, 0, x, np.exp(x), np.exp(x), "exp  r2=1")
    image = matplotlib.image.imread(plot_edges([curve], tmp_path / "np.png"))
    assert image.shape[:2] == expected_pixels(1, 1)


def test_no_curves_or_duplicate_edges_raise(tmp_path):
    with pytest.raises(KanpdeError, match="no edges"):
        plot_edges([], tmp_path / "none.png")
    with pytest.raises(KanpdeError, match="same edge"):
        plot_edges([edge(0, 0, 0), edge(0, 0, 0)], tmp_path / "dup.png")
    assert not (tmp_path / "none.png").exists() and not (tmp_path / "dup.png").exists()


def test_figures_are_closed(tmp_path):
    before = len(plt.get_fignums())
    plot_edges(network([2, 3, 1]), tmp_path / "e.png")
    assert len(plt.get_fignums()) == before
