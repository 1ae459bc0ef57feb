"""Method of lines for 1-D evolution equations: centred differences in x, a stiff ODE solver in t.

First order in time, ``u_t = F(t, x, u, u_x, u_xx)`` (heat, advection–diffusion, viscous
Burgers, Allen–Cahn, reaction–diffusion), or second order, ``u_tt = F(t, x, u, u_x, u_xx)``
(wave, Klein–Gordon), solved as the first-order system ``(u, v)_t = (v, F)``. On a uniform
grid x_0 < ... < x_{n-1} with step h,

    u_x ≈ (u_{i+1} - u_{i-1}) / (2h),    u_xx ≈ (u_{i+1} - 2 u_i + u_{i-1}) / h^2,

both O(h^2). Ends: Dirichlet ``u(x_0, t) = a(t)``, ``u(x_{n-1}, t) = b(t)`` (unknowns
x_1..x_{n-2}), or periodic with x spanning one period, ``u(x_{n-1}) = u(x_0)`` (unknowns
x_0..x_{n-2}). ``scipy.integrate.solve_ivp`` integrates the ODE system with an implicit
method (the diffusion terms are stiff, stiffness ~ 1/h^2) and a tridiagonal Jacobian
pattern. The default, Radau IIA (order 5, A-stable, so also safe for the undamped
oscillations of wave equations) at rtol 1e-10, atol 1e-12, kept the time error (against
the exact semi-discrete solution of heat and wave problems) near 1e-11, far below the
spatial error; BDF was about twice as fast, with 1e-10 to 1e-8 time errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = 2
METHODS = ("Radau", "BDF")  # implicit solve_ivp methods: they take a Jacobian or its sparsity pattern
PERIODIC = "periodic"

Rhs = Callable[[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
EndValue = float | Callable[[float], float]


@dataclass
class _Space:
    """The spatial grid and its boundary treatment. x: (n,); the m unknowns are x[unknown]."""

    x: np.ndarray
    h: float
    boundary: str | tuple[EndValue, EndValue]

    @property
    def periodic(self) -> bool:
        return isinstance(self.boundary, str)

    @property
    def unknown(self) -> slice:
        return slice(0, -1) if self.periodic else slice(1, -1)

    def full(self, t: float, u: np.ndarray) -> np.ndarray:
        """u on the whole grid: (m,) -> (n,), with the end values at time t."""
        if self.periodic:
            return np.concatenate([u, u[:1]])
        left, right = (value(t) if callable(value) else value for value in self.boundary)
        return np.concatenate([[left], u, [right]])

    def derivatives(self, t: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centred (u_x, u_xx) at the unknowns: (m,) each."""
        padded = np.concatenate([u[-1:], u, u[:1]]) if self.periodic else self.full(t, u)
        u_x = (padded[2:] - padded[:-2]) / (2.0 * self.h)
        u_xx = (padded[2:] - 2.0 * padded[1:-1] + padded[:-2]) / self.h**2
        return u_x, u_xx

    def stencil_pattern(self) -> sp.csr_matrix:
        """Which unknowns each unknown's differences read: tridiagonal (m, m), plus corners
        when periodic."""
        m = len(self.x[self.unknown])
        pattern = sp.diags([np.ones(m - 1), np.ones(m), np.ones(m - 1)], [-1, 0, 1], format="lil")
        if self.periodic:
            pattern[0, m - 1] = pattern[m - 1, 0] = 1.0
        return pattern.tocsr()


def _space(x, boundary) -> _Space:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or len(x) < 4:
        raise KanpdeError(f"x has shape {x.shape}; expected a 1-D grid with at least 4 points")
    steps = np.diff(x)
    if not (steps > 0).all() or not np.allclose(steps, steps.mean(), rtol=1e-9, atol=0):
        raise KanpdeError(f"x is not uniform and increasing (steps from {steps.min():.6g} to "
                          f"{steps.max():.6g}); centred differences need an np.linspace grid")
    if isinstance(boundary, str) and boundary == PERIODIC:
        return _Space(x, steps.mean(), PERIODIC)
    if not is_dirichlet_pair(boundary):
        raise KanpdeError(f"boundary {boundary!r} is not accepted; give 'periodic' or a Dirichlet pair "
                          "(left, right) of numbers or functions of t")
    return _Space(x, steps.mean(), tuple(boundary))


def increasing(values, name: str, expected: str) -> np.ndarray:
    """``values`` as a float array, checked to be 1-D, strictly increasing, >= 2 entries."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2 or not (np.diff(values) > 0).all():
        raise KanpdeError(f"{name} of shape {values.shape} is not accepted; expected a strictly "
                          f"increasing 1-D {expected}")
    return values


def output_times(t_eval) -> np.ndarray:
    return increasing(t_eval, "t_eval", "array of at least 2 times, the first the initial time")


def is_dirichlet_pair(boundary) -> bool:
    """(left, right), each a number or a function of t."""
    is_pair = isinstance(boundary, tuple | list) and len(boundary) == 2
    return is_pair and all(callable(end) or isinstance(end, Real) for end in boundary)


def _initial(name: str, value, space: _Space) -> np.ndarray:
    """An initial field on the unknowns, (m,), from a number, an (n,) array or a callable
    value(x: (n,)) -> (n,) or a number."""
    full = np.asarray(value(space.x) if callable(value) else value, dtype=np.float64)
    if full.ndim > 0 and full.shape != space.x.shape:
        raise KanpdeError(f"{name} has shape {full.shape}; expected a number or the grid "
                          f"shape {space.x.shape}")
    return np.broadcast_to(full, space.x.shape)[space.unknown].copy()


def _checked_rhs(rhs: Rhs, space: _Space, t0: float, u0: np.ndarray) -> Rhs:
    """rhs after one trial call at t0, so a wrong shape is reported as bad input."""
    x = space.x[space.unknown]
    trial = np.asarray(rhs(t0, x, u0, *space.derivatives(t0, u0)))
    if trial.shape != u0.shape:
        raise KanpdeError(f"rhs returned shape {trial.shape}; it must return one value per grid point "
                          f"it is given, shape {u0.shape}")
    return rhs


def integrate(fun, y0, t_eval, method, rtol, atol, **jacobian) -> np.ndarray:
    """solve_ivp over t_eval; the states at t_eval: (len(y0), len(t_eval)). jacobian:
    solve_ivp's ``jac`` (dense, analytic) or ``jac_sparsity`` (finite differences)."""
    if method not in METHODS:
        raise KanpdeError(f"method {method!r} is not accepted; use one of {', '.join(METHODS)}")
    if not (rtol > 0 and atol > 0):
        raise KanpdeError(f"need rtol > 0 and atol > 0; got rtol={rtol!r}, atol={atol!r}")
    result = solve_ivp(fun, (t_eval[0], t_eval[-1]), y0, method=method, t_eval=t_eval,
                       rtol=rtol, atol=atol, **jacobian)
    if not result.success:
        reached = f", last output time reached {result.t[-1]:g}" if len(result.t) else ""
        raise KanpdeError(f"solve_ivp ({method}, rtol {rtol:g}, atol {atol:g}) failed on "
                          f"[{t_eval[0]:g}, {t_eval[-1]:g}]{reached}: {result.message.rstrip('.')}; "
                          "accepted: a problem whose solution stays finite over t_eval (check rhs, u0 "
                          "and the boundary values)")
    log.debug("solve_ivp %s: %d right-hand side calls, %d Jacobians, %d LU factorisations",
              method, result.nfev, result.njev, result.nlu)
    return result.y


def _grid_solution(space: _Space, t_eval, states, how: str) -> GridSolution:
    """Unknowns (m, len(t_eval)) -> GridSolution on (x, t) with the end values filled in."""
    values = np.stack([space.full(t, u) for t, u in zip(t_eval, states.T)], axis=1)
    ends = PERIODIC if space.periodic else "Dirichlet"
    return GridSolution((space.x, t_eval), values,
                        f"method of lines, centred differences order 2, {len(space.x)} points "
                        f"(h = {space.h:.3g}), {ends} ends; {how}")


def solve_first_order(rhs: Rhs, x, t_eval, u0, *, boundary, method: str = "Radau",
                      rtol: float = 1e-10, atol: float = 1e-12) -> GridSolution:
    """Solve u_t = rhs(t, x, u, u_x, u_xx) for t in [t_eval[0], t_eval[-1]].

    rhs: vectorised over the unknowns, x, u, u_x, u_xx: (m,) -> (m,). x: uniform grid (n,)
    including both ends. t_eval: increasing output times (T,), t_eval[0] the initial time.
    u0: number, (n,) array or callable u0(x) -> (n,); end values give way to the boundary.
    boundary: 'periodic' (x spans one period) or (left, right), numbers or functions of t.
    Returns u on axes (x, t_eval): values (n, T).
    """
    space, t_eval = _space(x, boundary), output_times(t_eval)
    u_start = _initial("u0", u0, space)
    rhs = _checked_rhs(rhs, space, t_eval[0], u_start)
    inner = space.x[space.unknown]

    def velocity(t, u):
        return rhs(t, inner, u, *space.derivatives(t, u))

    states = integrate(velocity, u_start, t_eval, method, rtol, atol, jac_sparsity=space.stencil_pattern())
    return _grid_solution(space, t_eval, states, f"solve_ivp {method}, rtol {rtol:g}, atol {atol:g}")


def solve_second_order(rhs: Rhs, x, t_eval, u0, v0, *, boundary, method: str = "Radau",
                       rtol: float = 1e-10, atol: float = 1e-12) -> GridSolution:
    """Solve u_tt = rhs(t, x, u, u_x, u_xx) with u = u0 and u_t = v0 at t_eval[0].

    As :func:`solve_first_order`; v0 like u0. The state is
    y = (u, v): (2m,), with y_t = (v, rhs); Dirichlet ends hold u only (v follows from them).
    Returns u on axes (x, t_eval): values (n, T).
    """
    space, t_eval = _space(x, boundary), output_times(t_eval)
    u_start, v_start = _initial("u0", u0, space), _initial("v0", v0, space)
    rhs = _checked_rhs(rhs, space, t_eval[0], u_start)
    inner, m = space.x[space.unknown], len(u_start)

    def velocity(t, y):
        u, v = y[:m], y[m:]
        return np.concatenate([v, rhs(t, inner, u, *space.derivatives(t, u))])

    # d(u_t)/dv = I; d(v_t)/du reads the stencil; rhs does not see v
    pattern = sp.bmat([[None, sp.identity(m)], [space.stencil_pattern(), None]], format="csr")
    states = integrate(velocity, np.concatenate([u_start, v_start]), t_eval, method, rtol, atol,
                       jac_sparsity=pattern)
    return _grid_solution(space, t_eval, states[:m], f"as (u, u_t) system, solve_ivp {method}, "
                          f"rtol {rtol:g}, atol {atol:g}")


def richardson(solve: Callable[[np.ndarray], GridSolution], x) -> GridSolution:
    """Richardson extrapolation in h of a second-order solver: (4 u_{h/2} - u_h) / 3 on x.

    solve(grid) -> GridSolution on (grid, t) for a uniform grid; x: uniform (n,). Solves on
    x and on x with every interval halved; the O(h^2) error terms cancel, leaving O(h^4)
    for smooth solutions (at about 5x the cost of the finer solve alone).
    """
    x = np.asarray(x, dtype=np.float64)
    fine_x = np.linspace(x[0], x[-1], 2 * len(x) - 1)
    coarse, fine = solve(x), solve(fine_x)
    values = (4.0 * fine.values[::2] - coarse.values) / 3.0
    return GridSolution(coarse.axes, values, f"Richardson extrapolation of ({coarse.method}) "
                        f"with {len(fine_x)} points: order 4")
