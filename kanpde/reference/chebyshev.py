"""Chebyshev collocation for two-point boundary value problems on [lower, upper].

Points: the Chebyshev extreme points, in increasing order,
``x_j = lower + (upper - lower) (1 - cos(pi j / n)) / 2``, ``j = 0..n`` (``n + 1`` points).
Differentiation: the matrix ``D: (n+1, n+1)`` maps the values of a polynomial of degree
``<= n`` at the points to the values of its derivative (Trefethen, *Spectral Methods in
MATLAB*, ch. 6): ``D_ij = (c_i / c_j) (-1)^(i+j) / (x_i - x_j)`` for ``i != j``, with
``c_0 = c_n = 2`` and ``c_j = 1`` otherwise, and diagonal entries minus the off-diagonal
row sums (so constants are differentiated to exactly zero).

A linear problem ``a(x) u'' + b(x) u' + c(x) u = f(x)`` is collocated at the interior points;
the first and last rows are replaced by the boundary conditions
``alpha u + beta u' = value`` (Dirichlet: ``beta = 0``; Neumann: ``alpha = 0``; Robin: both).
A nonlinear problem ``F(x, u, u', u'') = 0`` is solved by Newton's method on the same
collocation. Results are polynomial interpolants, evaluated anywhere by the barycentric
formula (Berrut & Trefethen, SIAM Review 46, 2004).

ORDER = "spectral": for analytic solutions the error falls like ``rho^-n`` for some
``rho > 1``, faster than any power of ``n``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = "spectral"

Coefficient = Callable[[np.ndarray], np.ndarray] | float


def _check_grid(n: int, domain: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise KanpdeError(f"the polynomial degree n must be an int >= 2; got {n!r}")
    try:
        lower, upper = (float(end) for end in domain)
    except (TypeError, ValueError):  # not a pair of numbers
        lower = upper = np.nan
    if not (np.isfinite(lower) and np.isfinite(upper) and lower < upper):
        raise KanpdeError(f"domain must be finite (lower, upper) with lower < upper; got {domain!r}")
    return lower, upper


def chebyshev_points(n: int, domain: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """The ``n + 1`` Chebyshev extreme points on ``domain``, increasing: ``(n+1,)``.

    ``-cos(pi j / n)`` is computed as ``sin(pi (2 j - n) / (2 n))``, which is exactly
    antisymmetric about the centre (the cosine form is not, in floating point).
    """
    lower, upper = _check_grid(n, domain)
    reference = np.sin(np.pi * np.arange(-n, n + 1, 2) / (2 * n))
    points = (lower + upper) / 2 + (upper - lower) / 2 * reference  # keeps the symmetry
    points[[0, -1]] = lower, upper
    return points


def differentiation_matrix(n: int, domain: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """The Chebyshev differentiation matrix ``D: (n+1, n+1)`` on ``domain``.

    Differences of points use ``x_i - x_j = 2 sin((t_i + t_j) / 2) sin((t_i - t_j) / 2)``
    (``t_j = pi j / n`` on [-1, 1]) to avoid cancellation; the chain rule for the map from
    [-1, 1] scales by ``2 / (upper - lower)``.
    """
    lower, upper = _check_grid(n, domain)
    theta = np.pi * np.arange(n + 1) / n
    difference = 2 * np.sin((theta[:, None] + theta) / 2) * np.sin((theta[:, None] - theta) / 2)
    np.fill_diagonal(difference, 1.0)  # placeholder: the diagonal is set from row sums below
    scale = np.ones(n + 1)
    scale[[0, -1]] = 2.0
    sign = (-1.0) ** np.arange(n + 1)
    matrix = np.outer(scale * sign, sign / scale) / difference
    np.fill_diagonal(matrix, 0.0)
    np.fill_diagonal(matrix, -matrix.sum(axis=1))
    return matrix * (2 / (upper - lower))


def barycentric_interpolate(values: np.ndarray, x: np.ndarray,
                            domain: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """The interpolating polynomial of ``values: (n+1,)`` (given at
    ``chebyshev_points(n, domain)``) evaluated at ``x: (m,)`` inside ``domain``; ``(m,)``.

    Second barycentric form ``p(x) = sum_j w_j v_j / (x - x_j) / sum_j w_j / (x - x_j)``
    with ``w_j = (-1)^j``, halved at both ends (the weights for these points up to a common
    factor); points that coincide with a node take the node's value.
    """
    values = np.asarray(values, dtype=np.float64)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    nodes = chebyshev_points(len(values) - 1, domain)
    tolerance = 1e-12 * (nodes[-1] - nodes[0])
    if values.ndim != 1 or x.ndim != 1 or np.any(x < nodes[0] - tolerance) or np.any(x > nodes[-1] + tolerance):
        span = f" from {x.min():.6g} to {x.max():.6g}" if x.size else ""
        raise KanpdeError(f"need values (n+1,) and points (m,) inside {tuple(domain)}; "
                          f"got shapes {values.shape}, {x.shape}{span}")
    weights = (-1.0) ** np.arange(len(nodes))
    weights[[0, -1]] *= 0.5
    difference = x[:, None] - nodes
    on_node = difference == 0
    difference[on_node] = 1.0  # placeholder: those rows are overwritten with node values
    ratio = weights / difference
    result = ratio @ values / ratio.sum(axis=1)
    rows, columns = np.nonzero(on_node)
    result[rows] = values[columns]
    return result


@dataclass(frozen=True)
class BoundaryCondition:
    """``u_coefficient * u + du_coefficient * u' = value`` at one end of the interval."""

    u_coefficient: float
    du_coefficient: float
    value: float

    def __post_init__(self):
        numbers = (self.u_coefficient, self.du_coefficient, self.value)
        if not all(np.isfinite(number) for number in numbers):
            raise KanpdeError(f"boundary condition coefficients and value must be finite; got {numbers}")
        if self.u_coefficient == 0 and self.du_coefficient == 0:
            raise KanpdeError("a boundary condition needs a nonzero coefficient of u or of u'; got both 0 "
                              "(u_coefficient * u + du_coefficient * u' = value)")

    def row(self, derivative: np.ndarray, index: int) -> np.ndarray:
        """The collocation row ``alpha e_index + beta D[index]``: ``(n+1,)``."""
        row = self.du_coefficient * derivative[index]
        row[index] += self.u_coefficient
        return row


def dirichlet(value: float) -> BoundaryCondition:
    """``u = value``."""
    return BoundaryCondition(1.0, 0.0, value)


def neumann(value: float) -> BoundaryCondition:
    """``u' = value``."""
    return BoundaryCondition(0.0, 1.0, value)


def robin(u_coefficient: float, du_coefficient: float, value: float) -> BoundaryCondition:
    """``u_coefficient * u + du_coefficient * u' = value``."""
    return BoundaryCondition(u_coefficient, du_coefficient, value)


def _evaluate(coefficient: Coefficient, x: np.ndarray, name: str) -> np.ndarray:
    """A coefficient given as a constant or as a vectorised callable, at ``x: (n+1,)``."""
    values = coefficient(x) if callable(coefficient) else coefficient
    values = np.asarray(values, dtype=np.float64)
    if values.ndim > 1 or values.size not in (1, x.size) or not np.all(np.isfinite(values)):
        raise KanpdeError(f"coefficient {name} must be a finite constant or return finite values of "
                          f"shape {x.shape}; got shape {values.shape}"
                          + ("" if np.all(np.isfinite(values)) else " with non-finite values"))
    return np.broadcast_to(values, x.shape)


def _solve_collocation(operator: np.ndarray, rhs: np.ndarray, derivative: np.ndarray,
                       left: BoundaryCondition, right: BoundaryCondition,
                       boundary_rhs: tuple[float, float]) -> np.ndarray:
    """Solve ``operator u = rhs`` with the first and last rows replaced by the boundary
    conditions' rows and right-hand sides ``boundary_rhs``; all arrays ``(n+1, ...)``.
    KanpdeError when that matrix is exactly singular (no unique solution)."""
    operator, rhs = operator.copy(), rhs.copy()
    operator[0], rhs[0] = left.row(derivative, 0), boundary_rhs[0]
    operator[-1], rhs[-1] = right.row(derivative, -1), boundary_rhs[1]
    try:
        return np.linalg.solve(operator, rhs)
    except np.linalg.LinAlgError:
        raise KanpdeError(f"the collocation matrix (n={len(rhs) - 1}) is singular: the problem with these "
                          f"boundary conditions ({left}, {right}) has no unique solution; accepted: a "
                          "boundary value problem whose solution is unique (e.g. not u'' = f with "
                          "Neumann conditions at both ends)") from None


def solve_linear_bvp(a: Coefficient, b: Coefficient, c: Coefficient, f: Coefficient,
                     left: BoundaryCondition, right: BoundaryCondition, n: int,
                     domain: tuple[float, float] = (-1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``a(x) u'' + b(x) u' + c(x) u = f(x)`` on ``domain`` with ``left`` at the lower
    and ``right`` at the upper end. Coefficients: constants or vectorised callables.

    Returns the points ``x: (n+1,)`` (:func:`chebyshev_points`) and the solution there
    ``u: (n+1,)``. A problem without a unique solution (e.g. ``u'' = f`` with two Neumann
    conditions) gives a singular system: KanpdeError when it is exactly singular, otherwise
    meaningless values.
    """
    x = chebyshev_points(n, domain)
    derivative = differentiation_matrix(n, domain)
    operator = (_evaluate(a, x, "a")[:, None] * (derivative @ derivative)
                + _evaluate(b, x, "b")[:, None] * derivative + np.diag(_evaluate(c, x, "c")))
    u = _solve_collocation(operator, _evaluate(f, x, "f"), derivative, left, right,
                           (left.value, right.value))
    return x, u


def solve_nonlinear_bvp(residual: Callable, jacobian: Callable, left: BoundaryCondition,
                        right: BoundaryCondition, n: int, domain: tuple[float, float] = (-1.0, 1.0),
                        initial: Coefficient = 0.0, tolerance: float = 1e-12,
                        max_iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``F(x, u, u', u'') = 0`` by Newton's method on the Chebyshev collocation.

    ``residual(x, u, du, d2u)`` returns ``F: (n+1,)``; ``jacobian(x, u, du, d2u)`` returns
    its partial derivatives ``(F_u, F_du, F_d2u)``, each ``(n+1,)`` (or a constant). Each
    step solves ``(F_u + F_du D + F_d2u D^2) delta = -F`` with the boundary rows asking the
    corrected ``u + delta`` to satisfy the conditions exactly. ``initial``: the starting
    guess (constant or callable of x). Stops when the step ``max|delta|`` is at most
    ``tolerance * max(1, max|u|)``, or once it is below the square root of that and has
    not halved: Newton would have squared it, so it is rounding noise (``D^2`` amplifies
    rounding by ~``n^4``, and for large ``n`` the noise floor lies above ``tolerance``).

    Returns ``x: (n+1,)`` and ``u: (n+1,)``; raises KanpdeError if Newton does not converge.
    """
    if not (tolerance > 0 and max_iterations >= 1):
        raise KanpdeError(f"need tolerance > 0 and max_iterations >= 1; got tolerance={tolerance}, "
                          f"max_iterations={max_iterations!r}")
    x = chebyshev_points(n, domain)
    derivative = differentiation_matrix(n, domain)
    second = derivative @ derivative
    u = _evaluate(initial, x, "initial").copy()
    previous_step = np.inf
    for iteration in range(1, max_iterations + 1):
        du, d2u = derivative @ u, second @ u
        partial_u, partial_du, partial_d2u = (_evaluate(p, x, "jacobian") for p in jacobian(x, u, du, d2u))
        operator = np.diag(partial_u) + partial_du[:, None] * derivative + partial_d2u[:, None] * second
        boundary_defects = tuple(condition.value - condition.row(derivative, index) @ u
                                 for condition, index in ((left, 0), (right, -1)))
        delta = _solve_collocation(operator, -_evaluate(residual(x, u, du, d2u), x, "residual"),
                                   derivative, left, right, boundary_defects)
        u = u + delta
        step, scale = np.max(np.abs(delta)), max(1.0, np.max(np.abs(u)))
        stalled = step <= np.sqrt(tolerance) * scale and step > previous_step / 2
        if step <= tolerance * scale or stalled:
            log.debug("Newton stopped after %d iterations (n=%d, last step %.2e)", iteration, n, step)
            return x, u
        previous_step = step
    raise KanpdeError(f"Newton did not converge in {max_iterations} iterations (n={n}, last step "
                      f"{step:.2e}, tolerance {tolerance:g}); try a better initial guess, a larger n "
                      "or a larger max_iterations")


def chebyshev_grid_solution(values: np.ndarray, x: np.ndarray, domain: tuple[float, float],
                            method: str) -> GridSolution:
    """Wrap a collocation solution ``values: (n+1,)`` as a :class:`GridSolution` on the
    output grid ``x: (m,)`` (increasing, inside ``domain``), by barycentric interpolation."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or np.any(np.diff(x) <= 0):
        raise KanpdeError(f"the output grid must be a strictly increasing 1-D array; got shape {x.shape}"
                          + (" that is not increasing" if x.ndim == 1 else ""))
    return GridSolution((x,), barycentric_interpolate(values, x, domain), method)
