r"""2-D Poisson equation (the problem of pykan's PDE tutorial).

.. math::
    -\Delta u = 2\pi^2 \sin(\pi x)\sin(\pi y) \quad \text{on } [-1, 1]^2,
    \qquad u = 0 \text{ on the boundary},

with exact solution :math:`u = \sin(\pi x)\sin(\pi y)`.
"""

import math

import torch

from kanpde import Box, Dirichlet, Problem

PI = math.pi


def exact(x, p):
    return torch.sin(PI * x.x) * torch.sin(PI * x.y)


def residual(u, x, p):
    return -u.laplacian() - 2 * PI**2 * exact(x, p)


def problem() -> Problem:
    return Problem(
        name="poisson2d",
        domain=Box([-1.0, -1.0], [1.0, 1.0]),
        residual=residual,
        conditions=[Dirichlet(value=0.0)],
        exact=exact,
    )
