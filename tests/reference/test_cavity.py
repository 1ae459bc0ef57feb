"""Tests for kanpde.reference.cavity: observed order, Richardson's extrapolation, Ghia et
al.'s benchmark, continuity, boundary values, the Stokes limit's mirror symmetry, and bad input."""

import numpy as np
import pytest

from kanpde.errors import KanpdeError
from kanpde.reference.cavity import EXPANSION, ORDER, lid_driven_cavity

ORDER_TOLERANCE = 0.2
CELLS = (32, 64, 128)
GHIA_TOLERANCE = 1e-2
EXTRAPOLATED_ORDER = 2.5  # what is left after cancelling h^2 falls like h^3 (measured 2.9-3.3)
CORNER_RADIUS = 0.05

# Ghia, Ghia & Shin, "High-Re solutions for incompressible flow using the Navier-Stokes
# equations and a multigrid method", J. Comput. Phys. 48 (1982) 387-411, Re = 100:
# Table I, u along the vertical centreline x = 0.5; Table II, v along y = 0.5. Their
# points are nodes k / 128 of their 129 x 129 grid (walls, where the values are the
# boundary values, left out).
GHIA_Y = np.array([0.0547, 0.0625, 0.0703, 0.1016, 0.1719, 0.2813, 0.4531, 0.5000,
                   0.6172, 0.7344, 0.8516, 0.9531, 0.9609, 0.9688, 0.9766])
GHIA_U = np.array([-0.03717, -0.04192, -0.04775, -0.06434, -0.10150, -0.15662, -0.21090, -0.20581,
                   -0.13641, 0.00332, 0.23151, 0.68717, 0.73722, 0.78871, 0.84123])
GHIA_X = np.array([0.0625, 0.0703, 0.0781, 0.0938, 0.1563, 0.2266, 0.2344, 0.5000,
                   0.8047, 0.8594, 0.9063, 0.9453, 0.9531, 0.9609, 0.9688])
GHIA_V = np.array([0.09233, 0.10091, 0.10890, 0.12317, 0.16077, 0.17507, 0.17527, 0.05454,
                   -0.24533, -0.22445, -0.16914, -0.10313, -0.08864, -0.07391, -0.05906])


@pytest.fixture(scope="module")
def solutions():
    """Re = 100 on 16^2, 32^2, 64^2 and 128^2 cells: n -> GridSolution (about 5 s in all)."""
    return {n: lid_driven_cavity(100.0, n) for n in (16, *CELLS)}


def _richardson(coarse: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """(4 f_h/2 - f_h) / 3 at the coarse grid's nodes: (n+1, n+1, 3) from (n+1, ...) and (2n+1, ...)."""
    return (4 * fine[::2, ::2] - coarse) / 3


def _far_from_lid_ends(n: int) -> np.ndarray:
    """The nodes of the n-grid at least CORNER_RADIUS from both ends of the lid: (n+1, n+1)."""
    axis = np.linspace(0.0, 1.0, n + 1)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    return np.minimum(np.hypot(x, y - 1), np.hypot(x - 1, y - 1)) >= CORNER_RADIUS


def _observed_orders(values: list[np.ndarray]) -> np.ndarray:
    """log2 of successive ratios of the relative L2 differences (u, v) between values on
    the same nodes (coarsest grid first, each (n+1, n+1, 3)), over the nodes far from the
    lid's ends: (len(values) - 2, 2)."""
    far = _far_from_lid_ends(len(values[0]) - 1)
    differences = np.array([[np.linalg.norm((fine - coarse)[..., k][far]) / np.linalg.norm(fine[..., k][far])
                             for k in (0, 1)] for coarse, fine in zip(values, values[1:])])
    return np.log2(differences[:-1] / differences[1:])


def _extrapolated_orders(solutions: dict, cells: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Observed orders (u, v) of the plain solutions and of the two-grid extrapolations, at
    the nodes of the coarsest of ``cells`` (n, 2n, 4n, 8n)."""
    base = cells[0]
    plain = [solutions[n].values[:: n // base, :: n // base] for n in cells]
    extrapolated = [_richardson(solutions[n].values[:: n // base, :: n // base],
                                solutions[2 * n].values[:: n // base, :: n // base]) for n in cells[:-1]]
    return _observed_orders(plain), _observed_orders(extrapolated)


def test_order_is_declared():
    assert ORDER == 2


@pytest.mark.parametrize("component, line", [(0, "x = 0.5"), (1, "y = 0.5")])
def test_centreline_self_convergence_is_second_order(solutions, component, line):
    """u on x = 0.5 (v on y = 0.5) at the 33 nodes k / 32 common to all three grids:
    observed order log2(max|f_h - f_h/2| / max|f_h/2 - f_h/4|).

    The lid's ends are singular (u jumps from 1 to 0, p ~ 1/r): next to them the error
    falls only like h^1.2 and the maximum over the whole grid shows that order, not 2.
    The centrelines stay at distance >= 0.5 from those corners, where the pollution is of
    higher order, so the second order of the scheme is what they show.
    """
    profiles = []
    for n in CELLS:
        values = solutions[n].values[..., component]  # (n+1, n+1)
        profiles.append(values[n // 2, :: n // 32] if component == 0 else values[:: n // 32, n // 2])
    coarse, middle, fine = profiles
    order = np.log2(np.abs(middle - coarse).max() / np.abs(fine - middle).max())
    assert abs(order - ORDER) < ORDER_TOLERANCE, f"observed order {order:.3f} along {line}"


@pytest.mark.parametrize("levels", [2, 3])
def test_levels_give_richardsons_extrapolation(solutions, levels):
    """levels L: the Richardson table over 16, ..., 16 * 2^(L-1) cells at the 17^2 nodes,
    cancelling h^2 and then h^3; the corner nodes are left out as for one grid."""
    table = [solutions[16 * 2**k].values[:: 2**k, :: 2**k] for k in range(levels)]
    for order in EXPANSION[:levels - 1]:
        table = [fine + (fine - coarse) / (2**order - 1) for coarse, fine in zip(table, table[1:])]
    extrapolated = lid_driven_cavity(100.0, 16, levels=levels, corner_radius=CORNER_RADIUS)
    far = _far_from_lid_ends(16)
    np.testing.assert_allclose(extrapolated.values[far], table[0][far], rtol=0, atol=1e-12)
    assert np.isnan(extrapolated.values[~far]).all() and (~far).sum() == 2
    assert f"Richardson-extrapolated from {', '.join(str(16 * 2**k) for k in range(levels))}" in extrapolated.method


def test_extrapolation_raises_the_order_away_from_the_lid_ends(solutions):
    """Richardson's two-grid values R(h) = (4 f_h/2 - f_h) / 3 on 16/32, 32/64 and 64/128
    cells at the 17^2 nodes k / 16 (those within 0.05 of the lid's ends left out): their
    relative L2 differences shrink like h^3.3 (u) and h^3.05 (v), the plain solutions' like
    h^1.9. Were h^2 not the leading error term, or the grids' nodes misaligned, R would
    converge no faster than the solutions themselves."""
    plain, extrapolated = _extrapolated_orders(solutions, [16, 32, 64, 128])
    assert np.all(extrapolated > EXTRAPOLATED_ORDER), f"extrapolated orders (u, v) {extrapolated}"
    assert np.all(plain < ORDER + ORDER_TOLERANCE), f"plain orders (u, v) {plain}"


@pytest.mark.slow
def test_extrapolation_order_on_finer_grids(solutions):
    """As above on 32 ... 256 cells at the 33^2 nodes k / 32 (about 15 s more): measured
    orders 2.9 (u) and 4.0 (v) for R, 2.0 for the plain solutions."""
    finer = {**solutions, 256: lid_driven_cavity(100.0, 256)}
    plain, extrapolated = _extrapolated_orders(finer, [32, 64, 128, 256])
    assert np.all(extrapolated > EXTRAPOLATED_ORDER), f"extrapolated orders (u, v) {extrapolated}"
    assert np.all(np.abs(plain - ORDER) < ORDER_TOLERANCE), f"plain orders (u, v) {plain}"


def test_agrees_with_ghia_ghia_shin_at_re_100(solutions):
    """On 128^2 cells the Ghia points are nodes of our grid. Ours carries an error of at
    most 7e-4 on these lines (|f_128 - f_64| / 3); the largest difference, 9e-3 near the
    minimum of v, grows slightly from 64^2 (7e-3) to 128^2 cells, so it is mostly the
    error of their 129^2-point solution."""
    values = solutions[128].values
    u = values[64, np.rint(GHIA_Y * 128).astype(int), 0]
    v = values[np.rint(GHIA_X * 128).astype(int), 64, 1]
    assert np.abs(u - GHIA_U).max() < GHIA_TOLERANCE, np.round(u - GHIA_U, 4)
    assert np.abs(v - GHIA_V).max() < GHIA_TOLERANCE, np.round(v - GHIA_V, 4)
    # and the solution is not trivially close: the profiles span 1.0 (u) and 0.42 (v)
    assert np.ptp(u) > 0.8 and np.ptp(v) > 0.4


def test_nodal_velocity_is_divergence_free(solutions):
    """The centred divergence at interior nodes is the mean of the four adjacent cells' MAC
    divergences, each zero up to the Newton tolerance; velocity gradients are O(1 / h)."""
    solution = solutions[64]
    u, v = solution.values[..., 0], solution.values[..., 1]
    h = 1.0 / 64
    divergence = (u[2:, 1:-1] - u[:-2, 1:-1]) / (2 * h) + (v[1:-1, 2:] - v[1:-1, :-2]) / (2 * h)
    gradient = np.abs(u[2:, 1:-1] - u[:-2, 1:-1]).max() / (2 * h)
    assert gradient > 1.0
    assert np.abs(divergence).max() < 1e-9 * gradient


def test_boundary_values_and_pressure_normalisation(solutions):
    values = solutions[32].values  # (33, 33, 3)
    u, v, p = values[..., 0], values[..., 1], values[..., 2]
    np.testing.assert_array_equal(u[:, -1], 1.0)  # the lid, its two end points included
    for wall in (u[0, :-1], u[-1, :-1], u[:, 0], v[0], v[-1], v[:, 0], v[:, -1]):
        np.testing.assert_array_equal(wall, 0.0)
    assert p[16, 0] == 0.0 and np.isfinite(values).all()


def test_stokes_limit_is_mirror_symmetric():
    """For re -> 0 the flow is symmetric about x = 0.5: u(x, y) = u(1 - x, y),
    v(x, y) = -v(1 - x, y), p(x, y) = -p(1 - x, y); at re = 100 it is not."""
    stokes = lid_driven_cavity(1e-6, 16).values
    mirror = stokes[::-1] * np.array([1.0, -1.0, -1.0])
    scale = np.abs(stokes).max(axis=(0, 1))  # per component; p ~ 1 / re
    assert np.all(np.abs(stokes - mirror).max(axis=(0, 1)) < 1e-6 * scale)
    inertial = lid_driven_cavity(100.0, 16).values[..., 0]
    assert np.abs(inertial - inertial[::-1]).max() > 0.05


def test_corner_radius_leaves_the_lid_ends_out():
    solution = lid_driven_cavity(100.0, 16, corner_radius=0.1)
    x, y = np.meshgrid(*solution.axes, indexing="ij")
    near = np.minimum(np.hypot(x, y - 1), np.hypot(x - 1, y - 1)) < 0.1
    assert near.sum() == 2 * 4  # (0, 1), (h, 1), (0, 1 - h), (h, 1 - h) at each end, h = 1/16
    np.testing.assert_array_equal(np.isnan(solution.values).any(axis=-1), near)
    assert len(solution.points()) == 17 * 17 - 8 and solution.flat_values().shape == (17 * 17 - 8, 3)
    np.testing.assert_array_equal(solution.values[~near], lid_driven_cavity(100.0, 16).values[~near])


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 2}, "even number of cells n >= 4"),
    ({"n": 15}, "even number of cells"),
    ({"n": 16.0}, "even number of cells"),
    ({"re": 0.0}, "re must be finite and > 0"),
    ({"re": -100.0}, "re must be finite and > 0"),
    ({"re": float("nan")}, "re must be finite and > 0"),
    ({"corner_radius": 0.7}, "corner_radius"),
    ({"levels": 0}, "levels must be an integer from 1 to 3"),
    ({"levels": 4}, "levels must be an integer from 1 to 3"),
    ({"levels": 2.0}, "levels must be an integer"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(KanpdeError, match=message):
        lid_driven_cavity(**{"re": 100.0, "n": 16, **kwargs})


def test_newton_that_does_not_converge_raises():
    with pytest.raises(KanpdeError, match="did not converge in 2 iterations"):
        lid_driven_cavity(100.0, 16, max_iterations=2)
