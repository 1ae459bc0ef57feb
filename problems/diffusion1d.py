r"""1-D diffusion with a source, in space-time.

.. math::
    u_t = D u_{xx} + (D\pi^2 - 1)\, e^{-t}\sin(\pi x), \quad x \in [-1, 1],\ t \in [0, 1],

    u(\pm 1, t) = 0, \qquad u(x, 0) = \sin(\pi x),

with exact solution :math:`u = e^{-t}\sin(\pi x)` (D = 1 is the usual benchmark).
"""

import math

import torch

from kanpde import Dirichlet, Initial, Interval, Problem, SpaceTime

PI = math.pi


def exact(x, p):
    return torch.exp(-x.t) * torch.sin(PI * x.x)


def residual(u, x, p):
    source = (p.D * PI**2 - 1.0) * exact(x, p)
    return u.d("t") - p.D * u.d("x", "x") - source


def problem(D: float = 1.0) -> Problem:
    return Problem(
        name="diffusion1d",
        domain=SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet(value=0.0),
            Initial(value=lambda x, p: torch.sin(PI * x.x)),
        ],
        params={"D": D},
        exact=exact,
    )
