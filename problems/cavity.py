r"""Steady incompressible Navier–Stokes: the lid-driven cavity (Ghia, Ghia & Shin 1982).

.. math::
    (\mathbf{u}\cdot\nabla)\mathbf{u} + \nabla p - \tfrac{1}{Re}\Delta\mathbf{u} = 0, \quad
    \nabla\cdot\mathbf{u} = 0, \quad (x, y) \in [0, 1]^2,

    \mathbf{u} = (1, 0) \text{ on the lid } y = 1, \qquad \mathbf{u} = 0 \text{ on the other walls},
    \qquad p(0.5, 0) = 0,

with unknowns u, v, p; the pressure is fixed by its value at the middle of the bottom wall.
No closed form: the reference is second-order finite differences on staggered grids of
224^2 and 448^2 cells, solved by Newton (``kanpde.reference.cavity``), Richardson-
extrapolated to the 225 x 225 nodes of the coarser one (about 2 min and 3 GB once; then
read from the cache). At the lid's two ends u jumps from 1 to 0 and p is unbounded
(p ~ 1/r): the error is measured at the grid nodes farther than 0.05 from them. There the
reference differs from the three-level extrapolation over 128^2, 256^2 and 512^2 cells by
5.0e-6 (u), 7.5e-6 (v) and 5.3e-5 (p) relative L2 at the nodes k / 32 (the 192^2 / 384^2
pair: 7.9e-6, 1.2e-5, 7.9e-5; a single 128^2 grid is off by 2.7e-3, 4.0e-3 and 7.3e-3).

``taper`` > 0 weights the residual by (r / taper)^2 within that distance r of a lid end
(the same solution; the loss is no longer dominated by the points next to the singularity).

``lift`` builds the walls' velocities into the ansatz with the singularity itself:
(u, v, p) = lift + (D net_u, D net_v, net_p), D = 16 x (1 - x) y (1 - y). Next to each lid
end the lift is the Stokes flow in a corner with one wall sliding (Taylor's scraper:
stream function r f(theta), velocity a function of theta alone, p ~ 1/r), blended out
by r = 0.5; elsewhere it is 1 on the lid and 0 on the walls. The network then adds a
field that vanishes on the walls, and no smooth function has to bridge the jump of u.
"""

import math

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


# Taylor's scraper: Stokes flow in the quarter plane 0 < theta < pi/2 whose wall theta = 0
# slides along itself at unit speed away from the corner, the other wall at rest:
# f(0) = f(pi/2) = f'(pi/2) = 0, f'(0) = 1 for f = A sin + C theta sin + D theta cos
_D = 4 / (4 - math.pi**2)
_C, _A = math.pi / 2 * _D, -math.pi**2 / 4 * _D


def _scraper(along: torch.Tensor, across: torch.Tensor):
    """Velocity (along the sliding wall, along the fixed one) and pressure x Re of the
    corner flow at local coordinates (N,) each: u_r = f', u_theta = -f, p = -(f' + f''')/r."""
    along = _off_corner(along, across)
    r = torch.hypot(along, across)
    theta = torch.atan2(across, along)
    s, c = torch.sin(theta), torch.cos(theta)
    f = _A * s + _C * theta * s + _D * theta * c
    df = _A * c + _C * (s + theta * c) + _D * (c - theta * s)
    return df * c + f * s, df * s - f * c, 4 * (math.pi * s + 2 * c) / ((4 - math.pi**2) * r)


def _off_corner(along: torch.Tensor, across: torch.Tensor) -> torch.Tensor:
    """``along``, moved to 1 at the corner point itself (where the angle and p are
    undefined): finite values and derivatives there, for evaluation grids that include it."""
    return torch.where(torch.hypot(along, across) < 1e-12, torch.ones_like(along), along)


def _fade(dx: torch.Tensor, dy: torch.Tensor, radius: float = 0.5) -> torch.Tensor:
    """1 - t^4 (35 - 84 t + 70 t^2 - 20 t^3), t = r / radius (0 from t = 1 on): 1 at the
    corner, where its first four derivatives vanish (the lift is the corner flow there up to
    O(r^4)); three continuous derivatives at t = 1. (N,)"""
    r2 = dx.square() + dy.square()
    positive = r2 > 0  # r = 0: sqrt's derivative is undefined, the fade's is 0
    t = (torch.where(positive, r2, torch.ones_like(r2)).sqrt() * positive / radius).clamp(max=1.0)
    return 1 - t**4 * (35 - 84 * t + 70 * t**2 - 20 * t**3)


def corner_lift(x: torch.Tensor, re: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) (N, 3) each: the lift, and the factors that multiply the network."""
    X, Y = x[:, 0], x[:, 1]
    u_left, v_left, p_left = _scraper(X, 1 - Y)  # the lid slides away from its left end
    u_right, v_right, p_right = _scraper(1 - X, 1 - Y)  # and toward its right end: the flow reversed
    left, right = _fade(X, 1 - Y), _fade(1 - X, 1 - Y)
    # 1 on the lid, 0 on the walls (a jump at the lid ends, where the blend above is 1)
    rest = (1 - torch.atan2(1 - Y, _off_corner(X, 1 - Y)) / (math.pi / 2)) \
        * (1 - torch.atan2(1 - Y, _off_corner(1 - X, 1 - Y)) / (math.pi / 2)) * Y
    shift = torch.stack([left * u_left + right * u_right + (1 - left - right) * rest,
                         right * v_right - left * v_left, (left * p_left - right * p_right) / re], dim=1)
    walls = 16 * X * (1 - X) * Y * (1 - Y)
    return shift, torch.stack([walls, walls, torch.ones_like(walls)], dim=1)


def problem(re: float = 100.0, taper: float = 0.0, lift: bool = False) -> Problem:
    walls = [
        Dirichlet("y+", value=1.0, component="u", name="lid"),
        Dirichlet(["x-", "x+", "y-"], value=0.0, component="u", name="walls_u"),
        Dirichlet(value=0.0, component="v", name="walls_v"),
    ]
    return Problem(
        name="cavity",
        domain=Box([0.0, 0.0], [1.0, 1.0], names=["x", "y"]),
        residual=residual,
        components=("u", "v", "p"),
        conditions=[
            *([] if lift else walls),
            PointData(x=torch.tensor([[0.5, 0.0]]), values=torch.tensor([0.0]), component="p",
                      name="pressure_gauge"),
        ],
        params={"re": re, "taper": taper, "lift": lift},
        transform=(lambda x: corner_lift(x, re)) if lift else None,
        reference=lambda p: lid_driven_cavity(re=p.re, n=224, levels=2, corner_radius=0.05),
    )
