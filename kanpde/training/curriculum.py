"""The training curriculum as data: a list of stages run in order.

*When* the grid is extended or adapted is decided here; *how* lives in kanpde.model.grid.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanpde.errors import KanpdeError

# dense quasi-Newton: ssbroyden, ssbfgs, bfgs; least squares: lm (Levenberg-Marquardt), gn (Gauss-Newton)
OPTIMIZERS = ("adam", "lbfgs", "ssbroyden", "ssbfgs", "bfgs", "lm", "gn")
LOSSES = ("mse", "sqrt", "log")  # what a stage's optimizer minimises: the loss, its square root, its log


@dataclass
class Stage:
    """One stage of the curriculum.

    steps: optimizer steps (lbfgs and the dense quasi-Newton methods: up to 20 iterations
    a step; lm, gn: one Gauss-Newton step). lr: Adam's learning rate, the first step
    length of the line-search methods, lm's first damping (relative to J^T J). grid:
    extend the KAN grid to this size at the start (None: keep). update_grid: adapt the
    knots to the interior points at the start. resample_every: draw new points every N
    steps (0: keep the stage's points). resample_restart: L-BFGS and the quasi-Newton
    methods forget their curvature when the points are redrawn (else they keep it).
    stall_rtol: a stage of any optimizer but Adam ends once two steps in a row each
    lowered the loss by less than this fraction (it has stalled, and further steps only
    cost time); 0: run all steps. sparsify: weight of the sparsity regulariser (L1 +
    ``entropy`` x entropy of the KAN's edge scales, see training.losses.sparsity) added to
    the loss; 0: off. loss: what the optimizer minimises, the loss itself (mse), its
    square root (sqrt) or its log (log); lm and gn minimise the sum of squares (mse) by
    construction. points: the stage's interior (residual) points (None: the sampler's
    count); a stage whose count differs from the points it inherits draws a new set at its
    start (RAD where the sampler is adaptive), e.g. more points for a finer grid.
    """

    steps: int
    optimizer: str = "adam"
    lr: float = 1e-3
    grid: int | None = None
    update_grid: bool = False
    resample_every: int = 0
    resample_restart: bool = False
    stall_rtol: float = 1e-8
    sparsify: float = 0.0
    entropy: float = 2.0
    loss: str = "mse"
    points: int | None = None

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise KanpdeError(f"unknown optimizer {self.optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
        if min(self.steps, self.resample_every, self.stall_rtol, self.sparsify, self.entropy) < 0 or self.lr <= 0:
            raise KanpdeError(f"stage {self}: steps, resample_every, stall_rtol, sparsify and entropy "
                              "must be >= 0 and lr > 0")
        if self.points is not None and self.points < 1:
            raise KanpdeError(f"stage {self}: points must be a positive integer, or None for the sampler's count")
        if self.loss not in LOSSES:
            raise KanpdeError(f"unknown stage loss {self.loss!r}; accepted: {', '.join(LOSSES)}")
        if self.loss != "mse" and self.optimizer in ("lm", "gn"):
            raise KanpdeError(f"a {self.optimizer} stage minimises the sum of squares itself; its loss must "
                              f"be mse, not {self.loss!r}")
        if self.sparsify and self.optimizer in ("lm", "gn"):
            raise KanpdeError(f"a {self.optimizer} stage minimises a sum of squares; the sparsity regulariser "
                              "is not one: set the stage's sparsify to 0, or use adam or lbfgs")
        if self.grid is not None and self.grid < 1:
            raise KanpdeError(f"stage grid size must be a positive integer; got {self.grid}")


def grid_schedule(grids, adam_steps: int = 300, lbfgs_steps: int = 30, lr: float = 1e-2,
                  update_grid: bool = False) -> list[Stage]:
    """Adam warm-up on the first grid, then L-BFGS on each grid in turn (a step is up to
    20 iterations; knots adapted to the points at each L-BFGS stage start when update_grid)."""
    stages = [Stage(adam_steps, "adam", lr, grid=grids[0])]
    return stages + [Stage(lbfgs_steps, "lbfgs", 1.0, grid=g, update_grid=update_grid) for g in grids]
