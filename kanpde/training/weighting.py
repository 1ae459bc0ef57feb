"""Weights of the residual's points within the residual term.

Three switchable schemes. The first is fixed by each point's time:

- **time decay**: weight ``exp(-time_decay * tau)``, ``tau = (t - t0) / (t1 - t0)``,
  scaled to mean 1 over the time range. An error made at time s grows like
  ``exp(lambda (t - s))`` where the dynamics are unstable at rate lambda (Allen-Cahn's
  u = 0: lambda = 5), so early residuals cost up to ``exp(lambda)`` times more final
  error than late ones; a decay near lambda weights them by that cost. Fixed weights keep
  one objective, so they act in every stage.

The other two are refreshed once per optimizer step from that step's first
residual (detached). They act in Adam stages. The other optimizers (L-BFGS, quasi-Newton,
least squares) need one fixed objective for their curvature pairs or Jacobians, and a
step-to-step reweighting lets them lower the weighted loss by neglecting late times: their
stages minimise the plain mean, or with ``hold``, the weights refreshed once at the stage
start and held through the stage (updated between stages):

- **causal** weighting in time (Wang, Sankaran & Perdikaris 2024): the time range is cut
  into ``bins`` slabs with mean square residuals L_1..L_M; slab k is weighted by
  ``exp(-causal * (L_1 + ... + L_{k-1}))``, so later times count only once the earlier
  ones are resolved (information flows forward in time, as in the PDE).
- residual-based **attention** (Anagnostopoulos et al. 2024): each point carries a weight
  ``lambda_i <- decay * lambda_i + attention * |r_i| / max |r|`` that multiplies its
  residual; points that stay hard to fit gain weight (bounded by attention / (1 - decay)).
  The weights follow the points: they start again at 1 when the points are redrawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kanpde.errors import KanpdeError


@dataclass
class PointWeighting:
    """causal: epsilon of causal weighting (0: off); bins: its number of time slabs;
    attention: the attention step size eta (0: off); decay: its memory gamma; hold: in
    stages of optimizers other than Adam, use the causal and attention weights of the stage
    start, held (else those stages minimise the plain mean, or the time-decay weights
    only); time_decay: the rate of the fixed weights exp(-time_decay * tau) (0: off)."""

    causal: float = 0.0
    bins: int = 32
    attention: float = 0.0
    decay: float = 0.999
    hold: bool = False
    time_decay: float = 0.0

    def __post_init__(self):
        if min(self.causal, self.attention, self.time_decay) < 0 or self.bins < 1 or not 0 <= self.decay < 1:
            raise KanpdeError(f"point weighting needs causal >= 0, bins >= 1, attention >= 0, time_decay >= 0 "
                              f"and 0 <= decay < 1; got {self}")

    @property
    def active(self) -> bool:
        return self.varies or self.time_decay > 0

    @property
    def varies(self) -> bool:
        """Whether the weights change during a stage (causal, attention)."""
        return self.causal > 0 or self.attention > 0


class ResidualReduction:
    """Turns the per-point squared residuals into the residual term (a scalar)."""

    def __init__(self, config: PointWeighting, time_bounds: tuple[float, float] | None):
        if (config.causal > 0 or config.time_decay > 0) and time_bounds is None:
            raise KanpdeError("causal and time-decay weighting need a time axis: the problem's domain must be "
                              "a SpaceTime; set causal and time_decay to 0 for a steady problem")
        self.config = config
        self.time_bounds = time_bounds
        self.fresh = False  # weights already refreshed in this step
        self.holding = False  # weights refreshed once, then held until release()
        self._points: torch.Tensor | None = None  # the points the weights below belong to
        self._attention = torch.ones(0)  # (N,), set with the points
        self._slabs = torch.zeros(0, dtype=torch.long)  # (N,) slab index of each point (causal only)
        self._fixed = torch.ones(0)  # (N,) time-decay weights of the points
        self.causal_weights = torch.ones(0)  # (bins,), refreshed every step (causal only)

    def new_step(self) -> None:
        if not self.holding:
            self.fresh = False

    def hold(self) -> None:
        """Refresh the weights at the next evaluation, then keep them (a stage start)."""
        self.holding, self.fresh = True, False

    def release(self) -> None:
        self.holding, self.fresh = False, False

    def __call__(self, squares: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """squares: (N,) mean square over the equations at each point; x: (N, d)."""
        return (self.point_weights(squares, x) * squares).mean()

    def point_weights(self, squares: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The weights w (N,), detached, that make the term mean(w * squares), refreshed
        first when this step has not yet done so."""
        if self._points is not x:  # new points: the weights start again
            self._points, self.fresh = x, False
            self._attention = torch.ones_like(squares.detach())
            self._fixed = self._time_decay(x) if self.config.time_decay > 0 else torch.ones_like(self._attention)
            if self.config.causal > 0:
                self._slabs = self._slab_index(x)
        if not self.fresh:
            self._refresh(squares.detach())
            self.fresh = True
        weights = self._attention.square() * self._fixed
        if self.config.causal <= 0:
            return weights
        # mean over bins of c_k x (mean over slab k): point i of slab k counts N c_k / (bins n_k)
        counts = torch.bincount(self._slabs, minlength=self.config.bins).clamp(min=1).to(weights.dtype)
        return weights * (len(weights) / self.config.bins) * (self.causal_weights / counts)[self._slabs]

    def _time_decay(self, x: torch.Tensor) -> torch.Tensor:
        """exp(-rate tau) (N,), divided by its mean over tau in [0, 1]: (1 - exp(-rate)) / rate."""
        t0, t1 = self.time_bounds  # type: ignore[misc]  # not None when time_decay > 0 (checked in __init__)
        rate = self.config.time_decay
        tau = (x[:, -1].detach() - t0) / (t1 - t0)
        return torch.exp(-rate * tau) * (rate / -math.expm1(-rate))

    def _slab_index(self, x: torch.Tensor) -> torch.Tensor:
        t0, t1 = self.time_bounds  # type: ignore[misc]  # not None when causal > 0 (checked in __init__)
        position = (x[:, -1].detach() - t0) / (t1 - t0) * self.config.bins
        return position.long().clamp(0, self.config.bins - 1)

    def _slab_means(self, values: torch.Tensor) -> torch.Tensor:
        """Mean of values (N,) over each slab's points: (bins,); 0 for an empty slab."""
        bins = self.config.bins
        sums = torch.zeros(bins, dtype=values.dtype, device=values.device).index_add(0, self._slabs, values)
        counts = torch.bincount(self._slabs, minlength=bins).clamp(min=1).to(values.dtype)
        return sums / counts

    def _refresh(self, squares: torch.Tensor) -> None:
        c = self.config
        if c.attention > 0:
            size = squares.sqrt()
            self._attention = c.decay * self._attention + c.attention * size / size.max().clamp(min=1e-300)
        if c.causal > 0:
            means = self._slab_means(squares)  # the residual itself: attention does not rescale eps
            before = torch.cumsum(means, 0) - means  # L_1 + ... + L_{k-1}
            self.causal_weights = torch.exp(-c.causal * before)
