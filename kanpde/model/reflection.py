"""A mirror symmetry built into a network: an ansatz that is odd or even in one input.

With the reflection R: x_a -> 2 c - x_a about the middle c of input a's bounds, the
network f becomes

    u(x) = (f(x) + parity f(R x)) / 2,      parity = -1 (odd in x_a) or +1 (even),

so u(R x) = parity u(x) exactly, whatever f's parameters. The network evaluates f once
on the points and their mirror images stacked, ``[x; R x]`` (2N, d); a derivative along
x_a of the mirrored half changes sign (the chain rule through R), so jet channel c of the
mirror half is multiplied by parity (-1)^(number of a's among the channel's axes).
"""

from __future__ import annotations

import torch
from torch import Tensor

from kanpde.errors import KanpdeError
from kanpde.jet import Jet, JetRequest, PointCache

PARITIES = {"odd": -1, "even": 1}


class Reflection:
    """u(x) = (f(x) + parity f(R x)) / 2 for R the mirror image in input ``axis``."""

    def __init__(self, input_bounds, axis: int, parity: str):
        bounds = torch.as_tensor(input_bounds, dtype=torch.float64)
        if parity not in PARITIES:
            raise KanpdeError(f"unknown parity {parity!r}; accepted: {', '.join(PARITIES)}")
        if not 0 <= axis < len(bounds):
            raise KanpdeError(f"the mirror axis {axis} is not an input index (0..{len(bounds) - 1})")
        self.axis, self.parity, self.name = axis, PARITIES[parity], parity
        self.center = float(bounds[axis].sum() / 2)
        self._stacked = PointCache(4)

    def points(self, x: Tensor) -> Tensor:
        """[x; R x]: (2N, d). Kept for the last few point sets that do not require grad,
        so that the network's own point caches see one tensor per batch."""
        if x.requires_grad:
            return self._stack(x)
        return self._stacked.get(x, None, lambda: self._stack(x))

    def _stack(self, x: Tensor) -> Tensor:
        mirrored = torch.cat([x[:, :self.axis], 2 * self.center - x[:, self.axis:self.axis + 1],
                              x[:, self.axis + 1:]], dim=1)
        return torch.cat([x, mirrored])

    def combine(self, values: Tensor) -> Tensor:
        """f on [x; R x]: (2N, m) -> u(x): (N, m)."""
        n = len(values) // 2
        return (values[:n] + self.parity * values[n:]) / 2

    def combine_jet(self, jet: Jet) -> Jet:
        """f's jet on [x; R x] (C, 2N, m) -> u's jet at x (C, N, m)."""
        n = jet.data.shape[1] // 2
        signs = self.channel_signs(jet.request).to(jet.data)[:, None, None]  # (C, 1, 1)
        return jet.with_data((jet.data[:, :n] + signs * jet.data[:, n:]) / 2)

    def channel_signs(self, request: JetRequest) -> Tensor:
        """parity (-1)^k per channel, k its derivatives along the mirror axis: (C,)."""
        axes = [(), *((a,) for a in request.tangents), *request.second, *request.third]
        signs = [self.parity * (-1) ** sum(a == self.axis for a in channel) for channel in axes]
        if request.laplacian:  # a sum of second derivatives: each has an even count of the axis
            signs.append(self.parity)
        return torch.tensor(signs, dtype=torch.float64)
