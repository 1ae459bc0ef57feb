r"""Inverse problem: recover the diffusivity of 1-D heat flow from observations.

.. math::
    u_t = D u_{xx}, \quad x \in [-1, 1],\ t \in [0, 1], \qquad u(\pm 1, t) = 0,
    \qquad u(x, 0) = \sin(\pi x),

whose solution is :math:`u = e^{-D\pi^2 t}\sin(\pi x)`. D is unknown to the solver
(initial guess 0.1): it sees 500 noise-free observations of u at random points (seed 0)
made with the true D = 0.5, and trains log D together with the network.
"""

import math

import torch

from kanpde import Coords, Dirichlet, Initial, Interval, PointData, Problem, SpaceTime


def problem(D: float = 0.5, guess: float = 0.1, observations: int = 500) -> Problem:
    def exact(x, p):
        return torch.exp(-D * math.pi**2 * x.t) * torch.sin(math.pi * x.x)

    def residual(u, x, p):
        return u.d("t") - p.D * u.d("x", "x")

    domain = SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0)
    points = domain.sample_interior(observations, "uniform", generator=torch.Generator().manual_seed(0),
                                    dtype=torch.float64)
    values = exact(Coords(points, domain.names), None)
    return Problem(
        name="heat_inverse",
        domain=domain,
        residual=residual,
        conditions=[
            Dirichlet(value=0.0),
            Initial(value=lambda x, p: torch.sin(math.pi * x.x)),
            PointData(x=points, values=values),
        ],
        params={"D": D},
        unknowns={"D": guess},
        exact=exact,
    )
