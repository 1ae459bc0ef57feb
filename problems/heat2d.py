r"""2-D heat equation on the unit square, in space-time.

.. math::
    u_t = D\,\Delta u, \quad (x, y) \in [0, 1]^2,\ t \in [0, 1], \qquad u = 0 \text{ on the boundary},

    u(x, y, 0) = \sin(\pi x)\sin(\pi y),

with exact solution :math:`u = e^{-2\pi^2 D t}\sin(\pi x)\sin(\pi y)`.
"""

import math

import torch

from kanpde import Box, Dirichlet, Initial, Problem, SpaceTime

PI = math.pi


def exact(x, p):
    return torch.exp(-2 * PI**2 * p.D * x.t) * torch.sin(PI * x.x) * torch.sin(PI * x.y)


def residual(u, x, p):
    return u.d("t") - p.D * u.laplacian()


def problem(D: float = 0.1) -> Problem:
    return Problem(
        name="heat2d",
        domain=SpaceTime(Box([0.0, 0.0], [1.0, 1.0], names=["x", "y"]), 0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet(value=0.0),
            Initial(value=lambda x, p: torch.sin(PI * x.x) * torch.sin(PI * x.y)),
        ],
        params={"D": D},
        exact=exact,
    )
