r"""Steady incompressible Navier–Stokes: the lid-driven cavity (Ghia, Ghia & Shin 1982).

.. math::
    (\mathbf{u}\cdot\nabla)\mathbf{u} + \nabla p - \tfrac{1}{Re}\Delta\mathbf{u} = 0, \quad
    \nabla\cdot\mathbf{u} = 0, \quad (x, y) \in [0, 1]^2,

    \mathbf{u} = (1, 0) \text{ on the lid } y = 1, \qquad \mathbf{u} = 0 \text{ on the other walls},
    \qquad p(0.5, 0) = 0,

with unknowns u, v, p; the pressure is fixed by its value at the middle of the bottom wall.
No closed form: the reference is second-order finite differences on staggered grids of
192^2 and 384^2 cells, solved by Newton (``kanpde.reference.cavity``), Richardson-
extrapolated to the 193 x 193 nodes of the coarser one (about 80 s and 2 GB once; then
read from the cache). At the lid's two ends u jumps from 1 to 0 and p is unbounded
(p ~ 1/r): the error is measured at the grid nodes farther than 0.05 from them, where the
reference is accurate to about 1.2e-5 (u), 1.5e-5 (v) and 4e-5 (p) relative L2 (estimated
from its difference with the extrapolation from 256^2 and 512^2 cells, 6.6e-6, 8.4e-6 and
2.5e-5; a single 128^2 grid is off by 2.7e-3, 4.0e-3 and 7.3e-3).

``taper`` > 0 weights the residual by (r / taper)^2 within that distance r of a lid end
(the same solution; the loss is no longer dominated by the points next to the singularity).
"""

import torch

from kanpde import Box, Dirichlet, PointData, Problem
from kanpde.reference.cavity import lid_driven_cavity


def residual(u, x, p):
    vx, vy, pressure = u["u"], u["v"], u["p"]
    momentum_x = vx.value * vx.d("x") + vy.value * vx.d("y") + pressure.d("x") - vx.laplacian() / p.re
    momentum_y = vx.value * vy.d("x") + vy.value * vy.d("y") + pressure.d("y") - vy.laplacian() / p.re
    equations = torch.stack([momentum_x, momentum_y, vx.d("x") + vy.d("y")], dim=1)  # (N, 3)
    if p.taper <= 0:
        return equations
    # (r / taper)^2 within taper of the nearer lid end: there the true residual terms grow
    # like 1 / r^2 (p ~ 1 / r), which no smooth ansatz follows; the weight keeps those few
    # points from dominating the loss (the PDE is still asked everywhere: the weight is > 0)
    r = torch.minimum(torch.hypot(x.x, x.y - 1), torch.hypot(x.x - 1, x.y - 1))
    return equations * (r / p.taper).clamp(max=1.0).square()[:, None]


def problem(re: float = 100.0, taper: float = 0.0) -> Problem:
    return Problem(
        name="cavity",
        domain=Box([0.0, 0.0], [1.0, 1.0], names=["x", "y"]),
        residual=residual,
        components=("u", "v", "p"),
        conditions=[
            Dirichlet("y+", value=1.0, component="u", name="lid"),
            Dirichlet(["x-", "x+", "y-"], value=0.0, component="u", name="walls_u"),
            Dirichlet(value=0.0, component="v", name="walls_v"),
            PointData(x=torch.tensor([[0.5, 0.0]]), values=torch.tensor([0.0]), component="p",
                      name="pressure_gauge"),
        ],
        params={"re": re, "taper": taper},
        reference=lambda p: lid_driven_cavity(re=p.re, n=192, levels=2, corner_radius=0.05),
    )
