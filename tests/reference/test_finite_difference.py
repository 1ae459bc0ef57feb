"""Tests for kanpde.reference.finite_difference: manufactured exact solutions, observed order."""

import numpy as np
import pytest

from kanpde.errors import KanpdeError
from kanpde.reference.finite_difference import ORDER, solve_elliptic

PI = np.pi
ORDER_TOLERANCE = 0.2


def max_error(solution, exact) -> float:
    """Largest |u - exact| over the grid points of the closed domain (NaN outside is skipped)."""
    mesh = np.meshgrid(*solution.axes, indexing="ij")
    return float(np.nanmax(np.abs(solution.values - exact(*mesh))))


def assert_second_order(cells, length, solve, exact):
    """Fit the slope of log(max error) against log(h = length / n) over solve(n), n in cells."""
    errors = [max_error(solve(n), exact) for n in cells]
    order = np.polyfit(np.log([length / n for n in cells]), np.log(errors), 1)[0]
    assert abs(order - ORDER) < ORDER_TOLERANCE, f"observed order {order:.3f}, errors {errors}"


# u = sin(pi x) sin(4 pi y) + e^x y: -Δu = 17 pi^2 sin(pi x) sin(4 pi y) - e^x y
def poisson_exact(x, y):
    return np.sin(PI * x) * np.sin(4 * PI * y) + np.exp(x) * y


def poisson_source(x, y):
    return 17 * PI**2 * np.sin(PI * x) * np.sin(4 * PI * y) - np.exp(x) * y


def test_box_poisson_second_order():
    def solve(n):
        axis = np.linspace(0.0, 1.0, n + 1)
        return solve_elliptic((axis, axis), poisson_source, poisson_exact)

    assert_second_order([16, 32, 64, 128], 1.0, solve, poisson_exact)


K = 5.0  # wavenumber away from the Dirichlet eigenvalues of the box


def helmholtz_exact(x, y):
    return np.sin(3 * PI * x + 0.5) * np.cos(2 * PI * y)


def test_box_helmholtz_second_order_with_unequal_steps():
    """Δu + K^2 u = q on [0, 1] x [0, 2] (hy = 2 hx): c = -K^2, f = -q = (13 pi^2 - K^2) u."""
    def solve(n):
        axes = (np.linspace(0.0, 1.0, n + 1), np.linspace(0.0, 2.0, n + 1))
        return solve_elliptic(axes, (13 * PI**2 - K**2) * helmholtz_exact(*np.meshgrid(*axes, indexing="ij")),
                              helmholtz_exact, c=-K**2)

    assert_second_order([16, 32, 64, 128], 1.0, solve, helmholtz_exact)


def test_box_poisson_3d_second_order():
    """u = sin(pi x) sin(pi y) sin(pi z) + x y z, -Δu = 3 pi^2 sin sin sin: the n-D path."""
    exact = lambda x, y, z: np.sin(PI * x) * np.sin(PI * y) * np.sin(PI * z) + x * y * z  # noqa: E731
    source = lambda x, y, z: 3 * PI**2 * np.sin(PI * x) * np.sin(PI * y) * np.sin(PI * z)  # noqa: E731
    assert_second_order([6, 12, 24], 1.0, lambda n: solve_elliptic((np.linspace(0.0, 1.0, n + 1),) * 3,
                                                                   source, exact), exact)


# L-shape [-1, 1]^2 minus (0, 1] x (0, 1]; u = sin(pi x) cos(pi y / 2) + x y is smooth there
def l_shape_exact(x, y):
    return np.sin(PI * x) * np.cos(PI * y / 2) + x * y


def l_shape_source(x, y):
    return 1.25 * PI**2 * np.sin(PI * x) * np.cos(PI * y / 2)


def l_shape_grid(n):
    axis = np.linspace(-1.0, 1.0, n + 1)  # n even: x = 0 and y = 0 are grid lines
    x, y = np.meshgrid(axis, axis, indexing="ij")
    return (axis, axis), ~((x > 0) & (y > 0))


def test_l_shape_indicator_second_order():
    def solve(n):
        axes, inside = l_shape_grid(n)
        return solve_elliptic(axes, l_shape_source, l_shape_exact, inside=inside)

    assert_second_order([16, 32, 64, 128], 2.0, solve, l_shape_exact)


def test_l_shape_level_set_equals_indicator():
    """With grid-aligned edges the Shortley–Weller path reduces to the standard stencil."""
    axes, inside = l_shape_grid(32)
    by_indicator = solve_elliptic(axes, l_shape_source, l_shape_exact, inside=inside)
    by_level_set = solve_elliptic(axes, l_shape_source, l_shape_exact, phi=lambda x, y: np.minimum(x, y))
    np.testing.assert_array_equal(np.isnan(by_level_set.values), ~inside)
    np.testing.assert_allclose(by_level_set.values, by_indicator.values, rtol=0, atol=1e-12)


# Disk off the grid's symmetry, so its boundary cuts grid lines at irregular distances
CENTER, RADIUS = (0.1, -0.05), 0.83


def disk_exact(x, y):
    return np.exp(x) * np.sin(2 * y) + x * x


def disk_source(x, y):
    return 3 * np.exp(x) * np.sin(2 * y) - 2


def disk_phi(x, y):
    return np.hypot(x - CENTER[0], y - CENTER[1]) - RADIUS


def test_disk_shortley_weller_second_order():
    """Max error over the grid points inside the disk (boundary points excluded: none lie on it)."""
    def solve(n):
        axis = np.linspace(-1.0, 1.0, n + 1)
        return solve_elliptic((axis, axis), disk_source, disk_exact, phi=disk_phi)

    assert_second_order([16, 32, 64, 128], 2.0, solve, disk_exact)


def test_disk_mask_and_points():
    axis = np.linspace(-1.0, 1.0, 41)
    solution = solve_elliptic((axis, axis), disk_source, disk_exact, phi=disk_phi)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    np.testing.assert_array_equal(np.isfinite(solution.values), disk_phi(x, y) <= 0)
    assert len(solution.points()) == int((disk_phi(x, y) <= 0).sum())
    assert "Shortley" in solution.method


def test_box_faces_carry_boundary_values():
    axis = np.linspace(0.0, 1.0, 9)
    solution = solve_elliptic((axis, axis), poisson_source, poisson_exact)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    face = np.ones_like(x, dtype=bool)
    face[1:-1, 1:-1] = False
    np.testing.assert_array_equal(solution.values[face], poisson_exact(x, y)[face])


AXIS = np.linspace(0.0, 1.0, 9)


@pytest.mark.parametrize("kwargs, message", [
    ({"f": np.zeros((8, 9))}, r"f has shape \(8, 9\); expected a scalar or shape \(9, 9\)"),
    ({"c": np.zeros(3)}, "c has shape"),
    ({"inside": np.zeros((9, 9), dtype=bool)}, r"no interior grid points \(0 points of the 9x9 grid"),
    ({"inside": np.ones((9, 8), dtype=bool)}, "inside has shape"),
    ({"inside": np.ones((9, 9))}, "boolean"),
    ({"phi": lambda x, y: np.ones_like(x)}, "no interior grid points"),
    ({"phi": lambda x, y: -np.ones_like(x), "inside": np.ones((9, 9), dtype=bool)}, "got both phi and inside"),
    ({"axes": (AXIS, AXIS**2)}, r"axes\[1\] is not uniform and increasing \(steps from 0.015625 to 0.234375\)"),
    ({"axes": (AXIS, AXIS[:2])}, r"axes\[1\] has shape \(2,\); each axis must be 1-D with at least 3 points"),
    ({"axes": ()}, "axes is empty"),
])
def test_bad_input_raises(kwargs, message):
    arguments = {"axes": (AXIS, AXIS), "f": 1.0, "g": 0.0, **kwargs}
    axes, f, g = arguments.pop("axes"), arguments.pop("f"), arguments.pop("g")
    with pytest.raises(KanpdeError, match=message):
        solve_elliptic(axes, f, g, **arguments)


def test_singular_operator_raises():
    """One unknown at h = 1/2 in 1-D: the row is 2/h^2 + c = 0 for c = -8."""
    with pytest.raises(KanpdeError, match="singular on this grid at c = -8"):
        solve_elliptic((np.linspace(0.0, 1.0, 3),), 1.0, 0.0, c=-8.0)


RESONANCE = 2 * PI**2  # the lowest Dirichlet eigenvalue of -Δ on the unit square, mode sin(pi x) sin(pi y)


@pytest.mark.parametrize("n", [16, 64])
def test_resonant_helmholtz_raises(n):
    """-Δu - k^2 u = 1 with k^2 = 2 pi^2: no solution exists; the grid's nearest eigenvalue is
    2 pi^2 - pi^4 h^2 / 6 + ..., so LU alone would return that mode scaled by ~6 / (pi^4 h^2)."""
    axis = np.linspace(0.0, 1.0, n + 1)
    with pytest.raises(KanpdeError, match=r"nearly singular at c = -19.73921 \(a resonance\): k\^2 = -c "
                                          r"lies within .* of 19\.\d+, an eigenvalue of the discrete Laplacian"):
        solve_elliptic((axis, axis), 1.0, 0.0, c=-RESONANCE)


def test_near_resonant_helmholtz_second_order():
    """k^2 = 2 pi^2 - 1, one unit below the resonance: still solved, still second order."""
    c = -(RESONANCE - 1.0)

    def solve(n):
        axis = np.linspace(0.0, 1.0, n + 1)
        return solve_elliptic((axis, axis), lambda x, y: poisson_source(x, y) + c * poisson_exact(x, y),
                              poisson_exact, c=c)

    assert_second_order([16, 32, 64, 128], 1.0, solve, poisson_exact)


def test_one_dimensional_exact_for_quadratics():
    """The 3-point difference is exact for u = x^2 (-u'' = -2) with the crossing inside a cell."""
    axis = np.linspace(0.0, 1.0, 11)
    solution = solve_elliptic((axis,), -2.0, lambda x: x**2, phi=lambda x: x - 0.83)
    inside = axis <= 0.83
    np.testing.assert_allclose(solution.values[inside], axis[inside] ** 2, rtol=0, atol=1e-13)
    assert np.isnan(solution.values[~inside]).all()
