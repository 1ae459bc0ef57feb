"""Reference solutions computed by kanpde itself (numpy/scipy, float64, no downloads).

Solvers, each with its declared order (``ORDER``) and a convergence test:
``finite_difference`` (elliptic, boxes and masked domains, order 2), ``method_of_lines``
(1-D evolution, order 2 in space; Richardson extrapolation to order 4), ``spectral``
(periodic 1-D, Fourier + ETDRK4, order 4 in time), ``chebyshev`` (non-periodic 1-D
boundary value problems, spectral), ``chebyshev_time`` (1-D evolution with Dirichlet
ends: Chebyshev collocation in space, spectral, Radau in time), ``burgers`` (Cole–Hopf by
Gauss–Hermite quadrature).
"""

from kanpde.reference.solution import GridSolution

__all__ = ["GridSolution"]
