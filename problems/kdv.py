r"""Korteweg–de Vries equation, periodic (Zabusky & Kruskal's experiment), in space-time.

.. math::
    u_t + \alpha\, u u_x + \beta\, u_{xxx} = 0, \quad x \in [0, 2],\ t \in [0, 1],

    u(x, 0) = \cos(\pi x), \qquad u, u_x, u_{xx} \text{ periodic in } x,

with alpha = 1, beta = 0.022^2: the cosine steepens and breaks into solitons. No closed
form: the reference is Fourier pseudo-spectral with ETDRK4 (``kanpde.reference.spectral.kdv``).
"""

import math

import torch

from kanpde import Initial, Interval, Periodic, Problem, SpaceTime
from kanpde.reference.spectral import kdv


def residual(u, x, p):
    return u.d("t") + p.alpha * u.value * u.d("x") + p.beta * u.d("x", "x", "x")


def problem(alpha: float = 1.0, beta: float = 0.022**2) -> Problem:
    return Problem(
        name="kdv",
        domain=SpaceTime(Interval(0.0, 2.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Periodic(axis="x", derivatives=2),
            Initial(value=lambda x, p: torch.cos(math.pi * x.x)),
        ],
        params={"alpha": alpha, "beta": beta},
        reference=lambda p: kdv(alpha=p.alpha, beta=p.beta),
    )
