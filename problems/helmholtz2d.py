r"""2-D Helmholtz equation with a manufactured solution.

.. math::
    \Delta u + k^2 u = q(x, y) \quad \text{on } [-1, 1]^2, \qquad u = 0 \text{ on the boundary},

    q = \left(k^2 - (a_1\pi)^2 - (a_2\pi)^2\right) \sin(a_1\pi x)\sin(a_2\pi y),

with exact solution :math:`u = \sin(a_1\pi x)\sin(a_2\pi y)` (the common PINN benchmark
uses :math:`a_1 = 1, a_2 = 4, k = 1`).
"""

import math

import torch

from kanpde import Box, Dirichlet, Problem

PI = math.pi


def exact(x, p):
    return torch.sin(p.a1 * PI * x.x) * torch.sin(p.a2 * PI * x.y)


def residual(u, x, p):
    source = (p.k**2 - (p.a1 * PI) ** 2 - (p.a2 * PI) ** 2) * exact(x, p)
    return u.laplacian() + p.k**2 * u.value - source


def problem(a1: float = 1.0, a2: float = 4.0, k: float = 1.0) -> Problem:
    return Problem(
        name="helmholtz2d",
        domain=Box([-1.0, -1.0], [1.0, 1.0]),
        residual=residual,
        conditions=[Dirichlet(value=0.0)],
        params={"a1": a1, "a2": a2, "k": k},
        exact=exact,
    )
