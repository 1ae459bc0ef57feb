r"""1-D Allen–Cahn equation with fixed ends, in space-time.

.. math::
    u_t - D u_{xx} + 5u^3 - 5u = 0, \quad x \in [-1, 1],\ t \in [0, 1],

    u(x, 0) = x^2\cos(\pi x), \qquad u(\pm 1, t) = -1,

with D = 1e-3 (the interfaces are ~0.03 wide). No closed form: the reference is the
method of lines (``kanpde.reference.method_of_lines``) on 2049 and 4097 points, combined
by Richardson extrapolation (the two extrapolations from 1025/2049 and 2049/4097 points
differ by about 3e-6, and the error falls 16x per halving).
"""

import math

import numpy as np
import torch

from kanpde import Dirichlet, Initial, Interval, Problem, SpaceTime
from kanpde.reference.method_of_lines import richardson, solve_first_order


def residual(u, x, p):
    return u.d("t") - p.D * u.d("x", "x") + 5 * u.value**3 - 5 * u.value


def reference(p):
    def solve(grid):
        return solve_first_order(lambda t, x, u, ux, uxx: p.D * uxx + 5 * (u - u**3), grid,
                                 np.linspace(0.0, 1.0, 101), lambda x: x**2 * np.cos(np.pi * x),
                                 boundary=(-1.0, -1.0))

    return richardson(solve, np.linspace(-1.0, 1.0, 2049))


def problem(D: float = 1e-3) -> Problem:
    return Problem(
        name="allen_cahn_dirichlet",
        domain=SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet(value=-1.0),
            Initial(value=lambda x, p: x.x**2 * torch.cos(math.pi * x.x)),
        ],
        params={"D": D},
        reference=reference,
    )
