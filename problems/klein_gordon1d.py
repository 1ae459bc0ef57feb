r"""1-D nonlinear Klein–Gordon equation with a manufactured solution, in space-time.

.. math::
    u_{tt} + \alpha u_{xx} + \beta u + \gamma u^3 = f(x, t), \quad x \in [0, 1],\ t \in [0, 1],

with f chosen so that :math:`u = x\cos(5\pi t) + (x t)^3` is the solution, and its values
as Dirichlet data at x = 0, 1 and initial data u, u_t at t = 0 (the benchmark of Wang,
Teng & Perdikaris 2021: alpha = -1, beta = 0, gamma = 1).
"""

import math

import torch

from kanpde import Dirichlet, Initial, Interval, Problem, SpaceTime

PI = math.pi


def exact(x, p):
    return x.x * torch.cos(5 * PI * x.t) + (x.x * x.t) ** 3


def source(x, p):
    u = exact(x, p)
    u_tt = -25 * PI**2 * x.x * torch.cos(5 * PI * x.t) + 6 * x.x**3 * x.t
    u_xx = 6 * x.x * x.t**3
    return u_tt + p.alpha * u_xx + p.beta * u + p.gamma * u**3


def residual(u, x, p):
    return u.d("t", "t") + p.alpha * u.d("x", "x") + p.beta * u.value + p.gamma * u.value**3 - source(x, p)


def problem(alpha: float = -1.0, beta: float = 0.0, gamma: float = 1.0) -> Problem:
    return Problem(
        name="klein_gordon1d",
        domain=SpaceTime(Interval(0.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet(value=exact),
            Initial(value=lambda x, p: x.x),
            Initial(value=0.0, derivative=1),
        ],
        params={"alpha": alpha, "beta": beta, "gamma": gamma},
        exact=exact,
    )
