"""What every reference solver returns: a solution tabulated on a tensor-product grid.

Reference solvers are plain numpy/scipy code (float64, CPU): they know nothing of torch,
networks or training. A problem compares its trained model with a reference at the
reference's own grid points, so no interpolation error enters the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from kanpde.errors import KanpdeError


@dataclass
class GridSolution:
    """u on the grid ``axes[0] x axes[1] x ...``.

    axes: one increasing 1-D float64 array per coordinate, in the problem's coordinate
    order (e.g. ``(x, t)``); values: shape ``(len(axes[0]), ..., len(axes[-1]))`` for one
    component, with a trailing ``m`` for m components; NaN marks grid points outside the
    domain (masked domains). method: how it was computed (e.g. "ETDRK4, 512 modes,
    dt 1e-4"), for reports.
    """

    axes: tuple[np.ndarray, ...]
    values: np.ndarray
    method: str

    def __post_init__(self):
        self.axes = tuple(np.asarray(a, dtype=np.float64) for a in self.axes)
        self.values = np.asarray(self.values, dtype=np.float64)
        shape = tuple(len(a) for a in self.axes)
        if self.values.shape[:len(shape)] != shape or self.values.ndim > len(shape) + 1:
            raise KanpdeError(f"values of shape {self.values.shape} do not match axes of lengths {shape}; "
                              f"expected shape {shape}, or {shape + ('m',)} for m components")

    @property
    def components(self) -> int:
        return 1 if self.values.ndim == len(self.axes) else self.values.shape[-1]

    def _inside(self) -> np.ndarray:
        """Flat mask of the grid points inside the domain: (M_all,)."""
        flat = self.values.reshape(int(np.prod([len(a) for a in self.axes])), -1)
        return np.isfinite(flat).all(axis=1)

    def points(self) -> np.ndarray:
        """The grid points inside the domain, (M, d), in C order of the grid."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.reshape(-1) for m in mesh], axis=1)[self._inside()]

    def flat_values(self) -> np.ndarray:
        """Values at :meth:`points`: (M,) for one component, (M, m) for m."""
        flat = self.values.reshape(-1) if self.components == 1 else self.values.reshape(-1, self.components)
        return flat[self._inside()]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Cubic interpolation at arbitrary points x: (N, d) -> (N,) or (N, m). Adds an
        interpolation error of order h^4; prefer :meth:`points` for error metrics."""
        method = "cubic" if min(len(a) for a in self.axes) >= 4 else "linear"
        interpolate = RegularGridInterpolator(self.axes, self.values, method=method)
        return interpolate(np.asarray(x, dtype=np.float64))

    def save(self, path: str | Path) -> None:
        arrays = {f"axis{i}": a for i, a in enumerate(self.axes)}
        np.savez_compressed(path, values=self.values, method=np.array(self.method),
                            **arrays)  # type: ignore[arg-type]  # numpy's stub: a key could be allow_pickle

    @staticmethod
    def load(path: str | Path) -> GridSolution:
        with np.load(path) as data:
            axes = tuple(data[f"axis{i}"] for i in range(len(data.files) - 2))
            return GridSolution(axes, data["values"], str(data["method"]))
