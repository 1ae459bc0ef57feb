"""Method of lines with Chebyshev collocation in space, a stiff ODE solver in time.

First order in time, ``u_t = F(t, x, u, u_x, u_xx)`` on ``[a, b]`` with Dirichlet ends
``u(a, t) = left(t)``, ``u(b, t) = right(t)`` (heat, reaction-diffusion, Allen-Cahn,
viscous Burgers with fixed ends). The unknowns are u at the ``n - 1`` interior Chebyshev
points (:func:`~kanpde.reference.chebyshev.chebyshev_points`, ``n + 1`` points in all); at
each time the end values are put in and ``u_x = D u``, ``u_xx = D^2 u`` are taken with the
Chebyshev differentiation matrix ``D: (n+1, n+1)``. For analytic solutions the spatial
error falls like ``rho^-n`` (spectral), against ``h^2`` for centred differences
(``kanpde.reference.method_of_lines``).

Time: the eigenvalues of ``D^2`` on the interior points are real, negative and reach
about ``0.047 n^4 (2 / (b - a))^2`` in size, so explicit methods are out. ``solve_ivp``
integrates the ODE system with Radau IIA (order 5, L-stable) and the dense Jacobian of the
collocation system, ``diag(F_u) + diag(F_ux) D_I + diag(F_uxx) D^2_I`` (``_I``: interior
rows and columns), from the partial derivatives of F the caller supplies; without them
solve_ivp estimates it by finite differences (``n - 1`` extra rhs calls per Jacobian). On
Allen-Cahn (513 points) Radau at rtol 1e-12 was 6e-14 from rtol 1e-13; BDF at rtol 1e-12
was twice as fast but 1e-11 off Radau. The results are polynomial interpolants in x,
evaluated on any output grid by the barycentric formula
(:func:`~kanpde.reference.chebyshev.barycentric_interpolate`), so the output grid need
not contain the collocation points.

ORDER = "spectral" in space; the time error follows rtol (check it by tightening rtol).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from numbers import Real

import numpy as np

from kanpde.errors import KanpdeError
from kanpde.reference.chebyshev import barycentric_interpolate, chebyshev_points, differentiation_matrix
from kanpde.reference.method_of_lines import increasing, integrate, is_dirichlet_pair, output_times
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = "spectral"

Rhs = Callable[[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Partials = Callable[[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple]
EndValue = float | Callable[[float], float]


class _Collocation:
    """The Chebyshev points on ``domain`` and the differentiation matrices; the unknowns are
    the interior values ``u: (n-1,)``, the ends come from ``boundary`` at time t."""

    def __init__(self, n: int, domain: tuple[float, float], boundary: tuple[EndValue, EndValue]):
        self.x = chebyshev_points(n, domain)  # (n+1,); checks n and domain
        self.first = differentiation_matrix(n, domain)  # (n+1, n+1)
        self.second = self.first @ self.first
        self.boundary = boundary

    @property
    def inner(self) -> np.ndarray:
        return self.x[1:-1]

    def full(self, t: float, u: np.ndarray) -> np.ndarray:
        """u on all points: (n-1,) -> (n+1,), with the end values at time t."""
        left, right = (float(end(t)) if callable(end) else float(end) for end in self.boundary)
        return np.concatenate([[left], u, [right]])

    def derivatives(self, t: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u_x, u_xx) at the interior points: (n-1,) each."""
        full = self.full(t, u)
        return (self.first @ full)[1:-1], (self.second @ full)[1:-1]

    def jacobian(self, partial_u, partial_ux, partial_uxx) -> np.ndarray:
        """d(F at the interior points) / d(interior u), from the partials (n-1,) each:
        ``diag(F_u) + diag(F_ux) D_I + diag(F_uxx) D^2_I``: (n-1, n-1)."""
        matrix = partial_ux[:, None] * self.first[1:-1, 1:-1] + partial_uxx[:, None] * self.second[1:-1, 1:-1]
        matrix[np.diag_indices_from(matrix)] += partial_u
        return matrix


def _check_boundary(boundary) -> tuple[EndValue, EndValue]:
    if not is_dirichlet_pair(boundary):
        raise KanpdeError(f"boundary {boundary!r} is not accepted; give a Dirichlet pair (left, right) "
                          "of numbers or functions of t")
    return boundary[0], boundary[1]


def _as_field(values, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A number or an array of ``shape`` (what ``name`` returned), as a finite array of ``shape``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim > 0 and values.shape != shape:
        raise KanpdeError(f"{name} returned shape {values.shape}; it must return a number or one value "
                          f"per point it is given, shape {shape}")
    if not np.all(np.isfinite(values)):
        raise KanpdeError(f"{name} returned non-finite values at the initial time; accepted: finite values")
    return np.broadcast_to(values, shape).copy()


def _initial(u0, space: _Collocation) -> np.ndarray:
    """u0 at the interior points, (n-1,), from a number or a callable u0(x: (k,)) -> (k,)."""
    if not (callable(u0) or isinstance(u0, Real)):
        raise KanpdeError(f"u0 of type {type(u0).__name__} is not accepted; give a number or a function "
                          "u0(x) -> values (the collocation points are not the output grid)")
    return _as_field(u0(space.inner) if callable(u0) else u0, space.inner.shape, "u0")


def _jacobian(partials: Partials, space: _Collocation, t0: float, u0: np.ndarray) -> Callable:
    """The dense Jacobian jac(t, u) -> (n-1, n-1) that solve_ivp calls, from ``partials``
    after one trial call at t0 (a wrong return is reported as bad input, not deep in scipy)."""
    inner = space.inner

    def fields(t, u):
        values = partials(t, inner, u, *space.derivatives(t, u))
        if not (isinstance(values, tuple | list) and len(values) == 3):
            raise KanpdeError("partials must return the three partial derivatives (F_u, F_ux, F_uxx) of rhs, "
                              f"each a number or one value per point; got {type(values).__name__}")
        return values

    for value in fields(t0, u0):
        _as_field(value, inner.shape, "partials")

    def jac(t, u):
        return space.jacobian(*(np.broadcast_to(np.asarray(f, dtype=np.float64), inner.shape)
                                for f in fields(t, u)))

    return jac


def collocation_states(rhs: Rhs, n: int, domain: tuple[float, float], t_eval, u0, *, boundary,
                       partials: Partials | None = None, method: str = "Radau",
                       rtol: float = 1e-12, atol: float = 1e-13) -> tuple[np.ndarray, np.ndarray]:
    """Solve u_t = rhs(t, x, u, u_x, u_xx) at the ``n + 1`` Chebyshev points of ``domain``.

    As :func:`solve_first_order`; returns the points ``x: (n+1,)`` and u there at t_eval,
    ``(n+1, T)`` (end rows: the boundary values).
    """
    t_eval = output_times(t_eval)
    space = _Collocation(n, domain, _check_boundary(boundary))
    u_start = _initial(u0, space)
    inner = space.inner
    trial = np.shape(rhs(t_eval[0], inner, u_start, *space.derivatives(t_eval[0], u_start)))
    if trial != inner.shape:
        raise KanpdeError(f"rhs returned shape {trial}; it must return one value per point it is given, "
                          f"shape {inner.shape}")

    def velocity(t, u):
        return rhs(t, inner, u, *space.derivatives(t, u))

    jac = None if partials is None else _jacobian(partials, space, t_eval[0], u_start)
    states = integrate(velocity, u_start, t_eval, method, rtol, atol, jac=jac)
    values = np.stack([space.full(t, u) for t, u in zip(t_eval, states.T)], axis=1)
    return space.x, values


def solve_first_order(rhs: Rhs, n: int, x, t_eval, u0, *, boundary, partials: Partials | None = None,
                      method: str = "Radau", rtol: float = 1e-12, atol: float = 1e-13) -> GridSolution:
    """Solve u_t = rhs(t, x, u, u_x, u_xx) for t in [t_eval[0], t_eval[-1]] by Chebyshev
    collocation on ``n + 1`` points, and return it on the output grid ``x``.

    rhs: vectorised over the interior points, x, u, u_x, u_xx: (n-1,) -> (n-1,). n: the
    polynomial degree (int >= 2). x: the output grid (m,), strictly increasing; its ends
    are the ends of the domain. t_eval: increasing output times (T,), t_eval[0] the initial
    time. u0: number or callable u0(x) -> values (it is evaluated at the Chebyshev points;
    the end values give way to the boundary). boundary: (left, right), numbers or functions
    of t. partials: ``partials(t, x, u, u_x, u_xx) -> (F_u, F_ux, F_uxx)``, each a number
    or (n-1,), for the analytic Jacobian (recommended: the finite-difference one costs
    n - 1 rhs calls each time). method, rtol, atol: for solve_ivp.
    Returns u on axes (x, t_eval): values (m, T).
    """
    x = increasing(x, "x", "output grid of at least 2 points, its ends the ends of the domain")
    domain = (float(x[0]), float(x[-1]))
    _, values = collocation_states(rhs, n, domain, t_eval, u0, boundary=boundary, partials=partials,
                                   method=method, rtol=rtol, atol=atol)
    output = np.stack([barycentric_interpolate(column, x, domain) for column in values.T], axis=1)
    jacobian = "analytic" if partials is not None else "finite-difference"
    return GridSolution((x, t_eval), output,
                        f"method of lines, Chebyshev collocation, {n + 1} points, Dirichlet ends; "
                        f"solve_ivp {method}, rtol {rtol:g}, atol {atol:g}, {jacobian} dense Jacobian; "
                        f"barycentric interpolation to {len(x)} points")
