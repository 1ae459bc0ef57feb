r"""1-D Allen–Cahn equation, periodic form (the standard PINN benchmark), in space-time.

.. math::
    u_t - D u_{xx} + 5u^3 - 5u = 0, \quad x \in [-1, 1],\ t \in [0, 1],

    u(x, 0) = x^2\cos(\pi x), \qquad u \text{ and } u_x \text{ periodic in } x,

with D = 1e-4. No closed form: the reference is Fourier pseudo-spectral with ETDRK4
(``kanpde.reference.spectral.allen_cahn``, 2048 modes, accurate to ~1e-9).

The initial value is not smooth where the period wraps: u_x(1, 0) = -2 but u_x(-1, 0) = 2,
so u0 = -1 + 2|s| + O(s^2), s the distance across x = +-1. Diffusion rounds that kink off
in a layer of width sqrt(D t) that a smooth periodic network cannot follow, and whose
residual draws the adaptive points. ``lift`` builds the layer into the ansatz,
u = 2 K(s, t) + net: K is |s| - s^2 / 2 (periodic and smooth but for the kink) carried by
the heat equation K_t = D K_ss in closed form (below), so that the residual sees no layer
and net only the smooth rest of u0. The heat flow starts LIFT_T0 early (a rounding of
width sqrt(2 D LIFT_T0) ~ 1.4e-4 at t = 0), which keeps every derivative finite.
"""

import math

import torch

from kanpde import Initial, Interval, Periodic, Problem, SpaceTime
from kanpde.reference.spectral import allen_cahn

LIFT_T0 = 1e-4


def kink_lift(x: torch.Tensor, D: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) (N, 1) each at x (N, 2) = (x, t): shift = 2 K(s, t), scale 1.
    K = E[f(s + sigma Z)] for f(s) = |s| - s^2 / 2, Z standard normal, sigma^2 = 2 D (t +
    LIFT_T0): the heat equation's solution from f (f's periodic images are e^(-1/(2
    sigma^2)) away, below rounding). Even in x, periodic to every order."""
    s = torch.where(x[:, 0] >= 0, x[:, 0] - 1, x[:, 0] + 1)  # across the wrap: [-1, 1), 0 at x = +-1
    sigma2 = 2 * D * (x[:, 1] + LIFT_T0)
    sigma = sigma2.sqrt()
    folded = s * torch.erf(s / (sigma * math.sqrt(2))) + sigma * math.sqrt(2 / math.pi) * torch.exp(
        -s**2 / (2 * sigma2))
    k = folded - (s**2 + sigma2) / 2  # E|s + sigma Z| - E(s + sigma Z)^2 / 2
    return (2 * k).unsqueeze(1), torch.ones_like(k).unsqueeze(1)


def residual(u, x, p):
    return u.d("t") - p.D * u.d("x", "x") + 5 * u.value**3 - 5 * u.value


def problem(D: float = 1e-4, lift: bool = False) -> Problem:
    return Problem(
        name="allen_cahn",
        domain=SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0),
        residual=residual,
        conditions=[
            Periodic(axis="x", derivatives=1),
            Initial(value=lambda x, p: x.x**2 * torch.cos(math.pi * x.x)),
        ],
        params={"D": D, "lift": lift},
        transform=(lambda x: kink_lift(x, D)) if lift else None,
        reference=lambda p: allen_cahn(D=p.D),
        symmetry=("x", "even"),  # u(-x, t) = u(x, t): PDE, initial and end values are invariant under x -> -x
    )
