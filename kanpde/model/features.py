"""Periodic input features: an exactly periodic ansatz along chosen inputs.

Each periodic input x_a with bounds [lo, hi] is replaced by the two columns
``cos(w (x_a - lo)), sin(w (x_a - lo))`` with ``w = 2 pi / (hi - lo)``; every function of
them, and each of its derivatives, takes the same values at lo and hi. The other inputs
pass through unchanged. A network behind these features needs no periodic condition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.jet import Jet


class PeriodicFeatures(nn.Module):
    """(N, d) -> (N, d + p) for p periodic inputs, in input order (cos, sin in place of x_a)."""

    def __init__(self, input_bounds, periodic: Sequence[int]):
        super().__init__()
        bounds = [tuple(float(v) for v in row) for row in torch.as_tensor(input_bounds, dtype=torch.float64).tolist()]
        bad = [a for a in periodic if not 0 <= a < len(bounds)]
        if bad or len(set(periodic)) != len(periodic):
            raise KanpdeError(f"periodic inputs {list(periodic)} must be distinct indices of the "
                              f"{len(bounds)} inputs (0..{len(bounds) - 1})")
        self.periodic = tuple(sorted(periodic))
        self.input_bounds = bounds
        self.lower = {a: bounds[a][0] for a in self.periodic}
        self.frequency = {a: 2.0 * math.pi / (bounds[a][1] - bounds[a][0]) for a in self.periodic}

    @property
    def out_bounds(self) -> list[tuple[float, ...]]:
        """Bounds of the feature columns: (d + p) rows of (lower, upper)."""
        out: list[tuple[float, ...]] = []
        for a, row in enumerate(self.input_bounds):
            out += [(-1.0, 1.0), (-1.0, 1.0)] if a in self.frequency else [row]
        return out

    def forward(self, x: Tensor) -> Tensor:
        columns = []
        for a in range(x.shape[1]):
            if a in self.frequency:
                phase = self.frequency[a] * (x[:, a:a + 1] - self.lower[a])
                columns += [phase.cos(), phase.sin()]
            else:
                columns.append(x[:, a:a + 1])
        return torch.cat(columns, dim=1)

    def jet(self, h: Jet) -> Jet:
        """The features' jet from the inputs' jet (channels (C, N, d) -> (C, N, d + p))."""
        columns = []
        for a in range(h.value.shape[1]):
            column = h.with_data(h.data[..., a:a + 1])
            if a in self.frequency:
                w = self.frequency[a]
                phase = w * (column.value - self.lower[a])
                cos, sin = phase.cos(), phase.sin()
                columns += [column.compose(cos, -w * sin, -w * w * cos, w**3 * sin),
                            column.compose(sin, w * cos, -w * w * sin, -(w**3) * cos)]
            else:
                columns.append(column.data)
        return h.with_data(torch.cat(columns, dim=-1))
