r"""1-D viscous Burgers equation (the classic PINN benchmark), in space-time.

.. math::
    u_t + u u_x - \nu u_{xx} = 0, \quad x \in [-1, 1],\ t \in [0, 1],

    u(x, 0) = -\sin(\pi x), \qquad u(\pm 1, t) = 0,

with nu = 0.01/pi: a shock forms at x = 0 near t = 0.5 (max |u_x| = 152.0 at t = 0.51).
The reference is the Cole–Hopf solution by Gauss–Hermite quadrature
(``kanpde.reference.burgers``, accurate to ~1e-14) on a 256 x 101 grid.
"""

import math

import torch

from kanpde import Dirichlet, Initial, Interval, Problem, SpaceTime
from kanpde.reference.burgers import burgers_reference


def residual(u, x, p):
    return u.d("t") + u.value * u.d("x") - p.nu * u.d("x", "x")


def problem(nu: float = 0.01 / math.pi) -> Problem:
    return Problem(
        name="burgers1d",
        domain=SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet(value=0.0),
            Initial(value=lambda x, p: -torch.sin(math.pi * x.x)),
        ],
        params={"nu": nu},
        reference=lambda p: burgers_reference(nu=p.nu, nx=256, nt=101),
        symmetry=("x", "odd"),  # u(-x, t) = -u(x, t): PDE, initial and end values are invariant under x, u -> -x, -u
    )
