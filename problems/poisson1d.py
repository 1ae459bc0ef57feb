r"""1-D Poisson equation with a polynomial solution.

.. math::
    -u'' = 2 \quad \text{on } [0, 1], \qquad u(0) = u(1) = 0,

with exact solution :math:`u = x(1 - x)`.
"""

from kanpde import Dirichlet, Interval, Problem


def exact(x, p):
    return x.x * (1 - x.x)


def residual(u, x, p):
    return -u.d("x", "x") - 2.0


def problem() -> Problem:
    return Problem(
        name="poisson1d",
        domain=Interval(0.0, 1.0),
        residual=residual,
        conditions=[Dirichlet(value=0.0)],
        exact=exact,
    )
