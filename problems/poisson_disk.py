r"""Poisson equation on the unit disk.

.. math::
    -\Delta u = 2\pi \sin(\pi r^2/2) + \pi^2 r^2 \cos(\pi r^2/2) \quad \text{for } r < 1,
    \qquad u = 0 \text{ on } r = 1,

with exact solution :math:`u = \cos(\pi r^2 / 2)`, r^2 = x^2 + y^2.
"""

import math

import torch

from kanpde import Dirichlet, Disk, Problem

PI = math.pi


def exact(x, p):
    return torch.cos(PI * (x.x**2 + x.y**2) / 2)


def residual(u, x, p):
    s = x.x**2 + x.y**2
    return -u.laplacian() - (2 * PI * torch.sin(PI * s / 2) + PI**2 * s * torch.cos(PI * s / 2))


def problem() -> Problem:
    return Problem(
        name="poisson_disk",
        domain=Disk((0.0, 0.0), 1.0),
        residual=residual,
        conditions=[Dirichlet(value=0.0)],
        exact=exact,
    )
