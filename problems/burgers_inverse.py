r"""Inverse problem: recover the viscosity of Burgers' equation from observations.

.. math::
    u_t + u u_x - \nu u_{xx} = 0, \quad x \in [-1, 1],\ t \in [0, 1],
    \qquad u(x, 0) = -\sin(\pi x), \qquad u(\pm 1, t) = 0.

nu is unknown to the solver (initial guess 0.05): it sees 2000 noise-free observations of
u at random points (seed 0), computed by Cole–Hopf quadrature with the true
nu = 0.01/pi, and trains log nu together with the network (Raissi et al. 2019's setting).
"""

import math

import numpy as np
import torch

from kanpde import Dirichlet, Initial, Interval, PointData, Problem, SpaceTime
from kanpde.reference.burgers import burgers_reference, cole_hopf


def residual(u, x, p):
    return u.d("t") + u.value * u.d("x") - p.nu * u.d("x", "x")


def problem(nu: float = 0.01 / math.pi, guess: float = 0.05, observations: int = 2000) -> Problem:
    domain = SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0)
    points = domain.sample_interior(observations, "uniform", generator=torch.Generator().manual_seed(0),
                                    dtype=torch.float64)  # (M, 2): x, t
    values = cole_hopf(points[:, 0].numpy(), points[:, 1].numpy(), nu)
    return Problem(
        name="burgers_inverse",
        domain=domain,
        residual=residual,
        conditions=[
            Dirichlet(value=0.0),
            Initial(value=lambda x, p: -torch.sin(math.pi * x.x)),
            PointData(x=points, values=torch.as_tensor(np.asarray(values))),
        ],
        params={"nu": nu},
        unknowns={"nu": guess},
        reference=lambda p: burgers_reference(nu=nu, nx=256, nt=101),
        symmetry=("x", "odd"),  # u(-x, t) = -u(x, t): PDE, initial and end values are invariant under x, u -> -x, -u
    )
