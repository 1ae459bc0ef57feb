r"""1-D Allen–Cahn equation, periodic form (the standard PINN benchmark), in space-time.

.. math::
    u_t - D u_{xx} + 5u^3 - 5u = 0, \quad x \in [-1, 1],\ t \in [0, 1],

    u(x, 0) = x^2\cos(\pi x), \qquad u \text{ and } u_x \text{ periodic in } x,

with D = 1e-4. No closed form: the reference is Fourier pseudo-spectral with ETDRK4
(``kanpde.reference.spectral.allen_cahn``, 2048 modes, accurate to ~1e-9).

The initial value is not smooth where the period wraps: u_x(1, 0) = -2 but u_x(-1, 0) = 2,
so u0 = -1 + 2|s| + O(s^2), s the signed distance across x = +-1. There u sits at the
stable state -1, where u = -1 + v linearises to v_t = D v_ss - 10 v: the kink decays as
e^(-10 t) while diffusion rounds it off in a layer of width sqrt(2 D t). No smooth periodic
network follows that layer, and fitting the kink at t = 0 leaves ripples of 1e-6 at
x = 0 too (the periodic features cos(pi x), sin(pi x) do not tell sin(pi x) = 0 at x = 0
from the one at x = +-1), where u ~ 0 is unstable and they grow as e^(5 t). ``lift``
builds the layer into the ansatz, u = L + net with L = 2 e^(-10 t) K(s, t), K the heat flow
of |s| - s^2 / 2 (periodic and smooth but for the kink) in closed form, so that
L_t = D L_xx - 10 L: net is left the smooth rest, u0 - L(., 0) with no kink, and what
the reaction adds to L. The heat flow starts LIFT_T0 early (a rounding of width
sqrt(2 D LIFT_T0) ~ 1.4e-4 at t = 0), which keeps every derivative finite.
"""

import math

import torch

from kanpde import Initial, Interval, Periodic, Problem, SpaceTime
from kanpde.reference.spectral import allen_cahn

LIFT_T0 = 1e-4
KINK_DECAY = 10.0  # the reaction's rate at u = -1: d(5u^3 - 5u)/du = 15 u^2 - 5


def kink_lift(x: torch.Tensor, D: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) (N, 1) each at x (N, 2) = (x, t): shift = L = 2 e^(-10 t) K(s, t),
    scale 1. K = E[f(s + sigma Z)] for f(s) = |s| - s^2 / 2, Z standard normal, sigma^2 =
    2 D (t + LIFT_T0): the heat equation's solution from f (f's periodic images are
    e^(-1/(2 sigma^2)) away, below rounding). Even in x, periodic to every order."""
    s = torch.where(x[:, 0] >= 0, x[:, 0] - 1, x[:, 0] + 1)  # across the wrap: [-1, 1), 0 at x = +-1
    sigma2 = 2 * D * (x[:, 1] + LIFT_T0)
    sigma = sigma2.sqrt()
    folded = s * torch.erf(s / (sigma * math.sqrt(2))) + sigma * math.sqrt(2 / math.pi) * torch.exp(
        -s**2 / (2 * sigma2))  # E|s + sigma Z|
    k = folded - (s**2 + sigma2) / 2
    lift = 2 * torch.exp(-KINK_DECAY * x[:, 1]) * k
    return lift.unsqueeze(1), torch.ones_like(lift).unsqueeze(1)



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
