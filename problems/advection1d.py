r"""1-D linear advection with periodic boundary, in space-time.

.. math::
    u_t + c\, u_x = 0, \quad x \in [0, 2\pi],\ t \in [0, 1], \qquad
    u(0, t) = u(2\pi, t), \qquad u(x, 0) = \sin x,

with exact solution :math:`u = \sin(x - c t)`. Large speeds (c = 30-50) are the known
failure case of plain PINNs.
"""

import math

import torch

from kanpde import Initial, Interval, Periodic, Problem, SpaceTime


def exact(x, p):
    return torch.sin(x.x - p.c * x.t)


def residual(u, x, p):
    return u.d("t") + p.c * u.d("x")


def problem(c: float = 1.0) -> Problem:
    return Problem(
        name="advection1d",
        domain=SpaceTime(Interval(0.0, 2.0 * math.pi), 0.0, 1.0),
        residual=residual,
        conditions=[
            Periodic(axis="x", derivatives=0),
            Initial(value=lambda x, p: torch.sin(x.x)),
        ],
        params={"c": c},
        exact=exact,
    )
