r"""1-D steady advection–diffusion with an exponential boundary layer at x = 1.

.. math::
    -\varepsilon u'' + u' = 0 \quad \text{on } [0, 1],
    \qquad u(0) = e^{-1/\varepsilon}, \quad u(1) = 1,

with exact solution :math:`u = e^{(x - 1)/\varepsilon}`: a layer of width
:math:`\varepsilon` at the outflow end (the default is 0.1).
"""

import torch

from kanpde import Dirichlet, Interval, Problem


def exact(x, p):
    return torch.exp((x.x - 1) / p.eps)


def residual(u, x, p):
    return -p.eps * u.d("x", "x") + u.d("x")


def problem(eps: float = 0.1) -> Problem:
    return Problem(
        name="boundary_layer",
        domain=Interval(0.0, 1.0),
        residual=residual,
        conditions=[
            Dirichlet("x-", value=exact),  # exp(-1/eps)
            Dirichlet("x+", value=exact),  # 1
        ],
        params={"eps": eps},
        exact=exact,
    )
