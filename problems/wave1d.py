r"""1-D wave equation with fixed ends, in space-time.

.. math::
    u_{tt} = c^2 u_{xx}, \quad x \in [0, 1],\ t \in [0, 1], \qquad u(0, t) = u(1, t) = 0,

    u(x, 0) = \sin(\pi x) + \tfrac12 \sin(4\pi x), \qquad u_t(x, 0) = 0,

with exact solution :math:`u = \sin(\pi x)\cos(c\pi t) + \tfrac12\sin(4\pi x)\cos(4c\pi t)`
(c = 2 is the usual benchmark).
"""

import math

import torch

from kanpde import Dirichlet, Initial, Interval, Problem, SpaceTime

PI = math.pi


def exact(x, p):
    return (torch.sin(PI * x.x) * torch.cos(p.c * PI * x.t)
            + 0.5 * torch.sin(4 * PI * x.x) * torch.cos(4 * p.c * PI * x.t))


def residual(u, x, p):
    return u.d("t", "t") - p.c**2 * u.d("x", "x")


def problem(c: float = 2.0) -> Problem:
    return Problem(
        name="wave1d",
        domain=SpaceTime(Interval(0.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet(value=0.0),
            Initial(value=lambda x, p: torch.sin(PI * x.x) + 0.5 * torch.sin(4 * PI * x.x)),
            Initial(value=0.0, derivative=1),
        ],
        params={"c": c},
        exact=exact,
    )
