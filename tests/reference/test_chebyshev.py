"""Chebyshev collocation against exact solutions: polynomial exactness of D, spectral
convergence, every boundary-condition kind, barycentric interpolation and Newton."""

import numpy as np
import pytest
from numpy.polynomial import Chebyshev
from scipy.optimize import brentq

from kanpde.errors import KanpdeError
from kanpde.reference.chebyshev import (
    ORDER,
    BoundaryCondition,
    barycentric_interpolate,
    chebyshev_grid_solution,
    chebyshev_points,
    differentiation_matrix,
    dirichlet,
    neumann,
    robin,
    solve_linear_bvp,
    solve_nonlinear_bvp,
)

# a smooth non-polynomial solution of a variable-coefficient problem on [0, 2]:
# (1 + x^2 / 4) u'' + cos(x) u' - 2 u = f with u = exp(sin x)
DOMAIN = (0.0, 2.0)


def exact(x):
    return np.exp(np.sin(x))


def exact_dx(x):
    return np.cos(x) * exact(x)


def exact_dxx(x):
    return (np.cos(x) ** 2 - np.sin(x)) * exact(x)


def a(x):
    return 1 + x**2 / 4


def forcing(x):
    return a(x) * exact_dxx(x) + np.cos(x) * exact_dx(x) - 2 * exact(x)


def boundary_layer_error(n: int, eps: float = 0.1) -> float:
    """Max error of eps u'' + u' = 0, u(-1) = 0, u(1) = 1 (layer at x = -1)."""
    x, u = solve_linear_bvp(eps, 1.0, 0.0, 0.0, dirichlet(0.0), dirichlet(1.0), n)
    solution = -np.expm1(-(x + 1) / eps) / -np.expm1(-2 / eps)
    return np.max(np.abs(u - solution))


def test_order_is_declared():
    assert ORDER == "spectral"


def test_points_are_increasing_symmetric_and_end_at_the_domain():
    x = chebyshev_points(17, (-2.0, 3.0))
    assert x[0] == -2.0 and x[-1] == 3.0 and np.all(np.diff(x) > 0)
    np.testing.assert_array_equal(chebyshev_points(16), -chebyshev_points(16)[::-1])


@pytest.mark.parametrize("n, domain", [(8, (-1.0, 1.0)), (32, (0.0, 3.0)), (64, (-5.0, -4.5))])
def test_differentiation_matrix_is_exact_on_polynomials_up_to_degree_n(n, domain):
    x = chebyshev_points(n, domain)
    matrix = differentiation_matrix(n, domain)
    for degree in range(n + 1):
        polynomial = Chebyshev.basis(degree, domain=list(domain))
        derivative = polynomial.deriv()(x)
        error = np.max(np.abs(matrix @ polynomial(x) - derivative))
        assert error <= 1e-12 * max(1.0, np.max(np.abs(derivative))), degree


def test_boundary_layer_converges_spectrally():
    errors = {n: boundary_layer_error(n) for n in (8, 16, 32, 48)}
    assert errors[16] / errors[32] > 1e3
    # faster than any power: the gain from doubling n grows instead of staying 2^p
    assert errors[16] / errors[32] > 100 * (errors[8] / errors[16])
    assert errors[32] < 1e-12 and errors[48] < 1e-12


@pytest.mark.parametrize("left, right", [
    (dirichlet(exact(0.0)), dirichlet(exact(2.0))),
    (neumann(exact_dx(0.0)), dirichlet(exact(2.0))),
    (dirichlet(exact(0.0)), neumann(exact_dx(2.0))),
    (robin(2.0, -1.0, 2 * exact(0.0) - exact_dx(0.0)), robin(1.0, 3.0, exact(2.0) + 3 * exact_dx(2.0))),
    (neumann(exact_dx(0.0)), robin(0.5, 1.0, 0.5 * exact(2.0) + exact_dx(2.0))),
], ids=["dirichlet-dirichlet", "neumann-dirichlet", "dirichlet-neumann", "robin-robin", "neumann-robin"])
def test_each_boundary_condition_kind_matches_the_exact_solution(left, right):
    x, u = solve_linear_bvp(a, np.cos, -2.0, forcing, left, right, 32, DOMAIN)
    assert np.max(np.abs(u - exact(x))) < 1e-11


def test_barycentric_interpolation_and_grid_solution():
    x, u = solve_linear_bvp(a, np.cos, -2.0, forcing, dirichlet(exact(0.0)), dirichlet(exact(2.0)), 32, DOMAIN)
    np.testing.assert_array_equal(barycentric_interpolate(u, x, DOMAIN), u)
    output = np.linspace(*DOMAIN, 201)
    solution = chebyshev_grid_solution(u, output, DOMAIN, "Chebyshev collocation, n=32")
    assert solution.values.shape == (201,)
    np.testing.assert_array_equal(solution.axes[0], output)
    assert np.max(np.abs(solution.values - exact(output))) < 1e-11
    # interpolation alone: a smooth function from its values at 41 points
    nodes = chebyshev_points(40, (-1.0, 2.0))
    points = np.random.default_rng(0).uniform(-1.0, 2.0, 500)
    interpolated = barycentric_interpolate(np.sin(3 * nodes) * np.exp(nodes), points, (-1.0, 2.0))
    np.testing.assert_allclose(interpolated, np.sin(3 * points) * np.exp(points), atol=1e-13)


def test_newton_solves_steady_viscous_burgers():
    """nu u'' - u u' = 0, u(+-1) = -+tanh(1 / (2 nu)): exactly u = -tanh(x / (2 nu))."""
    nu = 0.2
    x, u = solve_nonlinear_bvp(
        residual=lambda x, u, du, d2u: nu * d2u - u * du,
        jacobian=lambda x, u, du, d2u: (-du, -u, nu),
        left=dirichlet(np.tanh(1 / (2 * nu))), right=dirichlet(-np.tanh(1 / (2 * nu))),
        n=48, initial=lambda x: -x)
    assert np.max(np.abs(u + np.tanh(x / (2 * nu)))) < 1e-11


def test_newton_solves_bratu_with_a_symmetry_condition():
    """u'' + e^u = 0, u(0) = 0, u'(1/2) = 0 (half of u(0) = u(1) = 0, lower branch):
    u = -2 ln(cosh((x - 1/2) theta / 2) / cosh(theta / 4)), theta = sqrt(2) cosh(theta / 4)."""
    theta = brentq(lambda s: s - np.sqrt(2) * np.cosh(s / 4), 0.0, 4.0, xtol=1e-15)
    x, u = solve_nonlinear_bvp(
        residual=lambda x, u, du, d2u: d2u + np.exp(u),
        jacobian=lambda x, u, du, d2u: (np.exp(u), 0.0, 1.0),
        left=dirichlet(0.0), right=neumann(0.0), n=24, domain=(0.0, 0.5))
    solution = -2 * np.log(np.cosh((x - 0.5) * theta / 2) / np.cosh(theta / 4))
    assert np.max(np.abs(u - solution)) < 1e-13


def test_newton_that_does_not_converge_raises():
    with pytest.raises(KanpdeError, match=r"did not converge in 1 iterations \(n=16, last step"):
        solve_nonlinear_bvp(lambda x, u, du, d2u: d2u + np.exp(u), lambda x, u, du, d2u: (np.exp(u), 0.0, 1.0),
                            dirichlet(0.0), dirichlet(0.0), n=16, max_iterations=1)


@pytest.mark.parametrize("call, message", [
    (lambda: chebyshev_points(1), "n must be an int >= 2"),
    (lambda: differentiation_matrix(8, (1.0, 0.0)), "lower < upper"),
    (lambda: BoundaryCondition(0.0, 0.0, 1.0), "nonzero coefficient"),
    (lambda: robin(1.0, np.nan, 0.0), "finite"),
    (lambda: solve_linear_bvp(lambda x: x[:3], 0.0, 0.0, 0.0, dirichlet(0), dirichlet(0), 8), "coefficient a"),
    (lambda: solve_nonlinear_bvp(None, None, dirichlet(0), dirichlet(0), 8, tolerance=0.0), "tolerance > 0"),
    (lambda: barycentric_interpolate(np.ones(9), np.array([1.5])), "inside"),
    (lambda: chebyshev_grid_solution(np.ones(9), np.array([0.5, 0.0]), (-1.0, 1.0), "m"), "increasing"),
    (lambda: chebyshev_points(8, (0.0, 1.0, 2.0)), r"lower < upper; got \(0.0, 1.0, 2.0\)"),
    (lambda: barycentric_interpolate(np.ones(9), np.array([0.0, 1.5])), "got shapes .* from 0 to 1.5"),
    (lambda: solve_linear_bvp(0.0, 0.0, 0.0, 1.0, dirichlet(0), dirichlet(0), 8), "singular.*no unique"),
])
def test_bad_input_is_rejected(call, message):
    with pytest.raises(KanpdeError, match=message):
        call()
