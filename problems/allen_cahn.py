r"""1-D Allen–Cahn equation, periodic form (the standard PINN benchmark), in space-time.

.. math::
    u_t - D u_{xx} + 5u^3 - 5u = 0, \quad x \in [-1, 1],\ t \in [0, 1],

    u(x, 0) = x^2\cos(\pi x), \qquad u \text{ and } u_x \text{ periodic in } x,

with D = 1e-4. No closed form: the reference is Fourier pseudo-spectral with ETDRK4
(``kanpde.reference.spectral.allen_cahn``, 2048 modes, accurate to ~1e-9).
"""

import math

import torch

from kanpde import Initial, Interval, Periodic, Problem, SpaceTime
from kanpde.reference.spectral import allen_cahn


def residual(u, x, p):
    return u.d("t") - p.D * u.d("x", "x") + 5 * u.value**3 - 5 * u.value


def problem(D: float = 1e-4) -> Problem:
    return Problem(
        name="allen_cahn",
        domain=SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Periodic(axis="x", derivatives=1),
            Initial(value=lambda x, p: x.x**2 * torch.cos(math.pi * x.x)),
        ],
        params={"D": D},
        reference=lambda p: allen_cahn(D=p.D),
        symmetry=("x", "even"),  # u(-x, t) = u(x, t): PDE, initial and end values are invariant under x -> -x
    )
