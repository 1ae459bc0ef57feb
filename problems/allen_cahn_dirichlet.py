r"""1-D Allen–Cahn equation with fixed ends, in space-time.

.. math::
    u_t - D u_{xx} + 5u^3 - 5u = 0, \quad x \in [-1, 1],\ t \in [0, 1],

    u(x, 0) = x^2\cos(\pi x), \qquad u(\pm 1, t) = -1,

with D = 1e-3 (the interfaces are ~0.03 wide). No closed form: the reference is Chebyshev
collocation in x on 513 points with Radau in t (rtol 1e-12, analytic dense Jacobian;
``kanpde.reference.chebyshev_time``), interpolated to x = linspace(-1, 1, 2049) at 101
times. Relative L2 differences on that grid from 769 points at rtol 1e-13: 7e-5, 5e-6,
4e-7, 3e-8, 2e-9, 1.5e-10 and 8e-13 for 193, 257, 321, 385, 449, 513 and 641 points
(~14x per 64 points); rtol 1e-12 against 1e-13 at 513 points: 6e-14. The earlier
reference, Richardson-extrapolated centred differences on 2049/4097 points, is 6e-10
from it (1.4e-8 at most).
"""

import math

import numpy as np
import torch

from kanpde import Dirichlet, Initial, Interval, Problem, SpaceTime
from kanpde.reference.chebyshev_time import solve_first_order


def residual(u, x, p):
    return u.d("t") - p.D * u.d("x", "x") + 5 * u.value**3 - 5 * u.value


def reference(p, n: int = 512, rtol: float = 1e-12):
    """Chebyshev degree n (n + 1 points; 512 from the study above, made for D = 1e-3: the
    interfaces narrow like sqrt(D)) and Radau's rtol (atol = rtol / 10)."""
    return solve_first_order(lambda t, x, u, ux, uxx: p.D * uxx + 5 * (u - u**3), n,
                             np.linspace(-1.0, 1.0, 2049), np.linspace(0.0, 1.0, 101),
                             lambda x: x**2 * np.cos(np.pi * x), boundary=(-1.0, -1.0),
                             partials=lambda t, x, u, ux, uxx: (5 - 15 * u**2, 0.0, p.D),
                             rtol=rtol, atol=rtol / 10)


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
        symmetry=("x", "even"),  # u(-x, t) = u(x, t): PDE, initial and end values are invariant under x -> -x
    )
