"""The Cole–Hopf Burgers reference against independent oracles: adaptive quadrature of the
same integrals, the published maximum slope (Basdevant et al. 1986), and the symmetries."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize_scalar
from scipy.special import roots_hermite

from kanpde.errors import KanpdeError
from kanpde.reference.burgers import (
    CLASSIC_NU,
    ORDER,
    burgers_reference,
    cole_hopf,
    cole_hopf_dx,
    default_nodes,
    hermite_rule,
)

# (x, t): spread over the domain, plus points at and next to the shock at x = 0 late on
CHECK_POINTS = [
    (-0.9, 0.05), (-0.5, 0.3), (0.25, 0.5), (0.7, 0.8), (-0.2, 0.99), (0.95, 1.0),
    (1e-3, 0.51), (-5e-3, 0.8), (2e-3, 0.95), (-1e-2, 1.0), (3e-2, 1.0), (5e-4, 1.0),
]


def quad_cole_hopf(x: float, t: float, nu: float) -> float:
    """u(x, t) from the Cole–Hopf integrals in eta by adaptive quadrature (QUADPACK).

    The log integrand ``phi(eta) = -cos(pi (x - eta)) / (2 pi nu) - eta^2 / (4 nu t)`` is
    shifted by its maximum (no overflow) and the integrals are split at its local maxima;
    beyond ``|eta| = L`` the integrand is below exp(-60) of its peak (``phi <= 1/(2 pi nu) -
    eta^2 / (4 nu t)`` there, while the peak is at least ``phi(0) >= -1/(2 pi nu)``).
    """
    half_width = np.sqrt(4 * nu * t * (1 / (np.pi * nu) + 60))

    def log_integrand(eta):
        return -np.cos(np.pi * (x - eta)) / (2 * np.pi * nu) - eta**2 / (4 * nu * t)

    eta = np.linspace(-half_width, half_width, 200_001)
    phi = log_integrand(eta)
    interior = np.flatnonzero((phi[1:-1] > phi[:-2]) & (phi[1:-1] >= phi[2:])) + 1
    peak = phi.max()

    def integrate(weight, tolerance):
        value, _ = quad(lambda e: weight(e) * np.exp(log_integrand(e) - peak), -half_width, half_width,
                        points=eta[interior], epsabs=tolerance, epsrel=1e-12, limit=500)
        return value

    denominator = integrate(lambda e: 1.0, 0.0)
    # absolute tolerance for the signed numerator: relative to the (positive) denominator
    return -integrate(lambda e: np.sin(np.pi * (x - e)), 1e-13 * denominator) / denominator


def test_order_is_declared():
    assert ORDER == "spectral"


def test_log_weights_match_scipy_where_representable():
    for nodes in (20, 143, 300):
        z, log_w = hermite_rule(nodes)
        z_ref, w_ref = roots_hermite(nodes)
        np.testing.assert_array_equal(z, z_ref)
        np.testing.assert_allclose(np.exp(log_w), w_ref, rtol=1e-11)
    z, log_w = hermite_rule(600)  # here scipy's outer weights underflow to zero
    assert np.all(np.isfinite(log_w))
    assert np.exp(log_w).sum() == pytest.approx(np.sqrt(np.pi), rel=1e-13)
    assert np.exp(log_w) @ z**2 == pytest.approx(np.sqrt(np.pi) / 2, rel=1e-12)


def test_acceptance_matches_adaptive_quadrature_to_1e6():
    x, t = np.array(CHECK_POINTS).T
    ours = cole_hopf(x, t, CLASSIC_NU)
    oracle = np.array([quad_cole_hopf(xi, ti, CLASSIC_NU) for xi, ti in CHECK_POINTS])
    assert np.max(np.abs(ours - oracle)) <= 1e-6
    assert np.max(np.abs(ours - oracle)) <= 1e-12  # what is actually reached: ~1e-14


@pytest.mark.parametrize("nu", [CLASSIC_NU, 0.001 / np.pi])
def test_node_count_is_converged(nu):
    x, t = np.meshgrid(np.linspace(-1, 1, 201), np.linspace(0, 1, 21), indexing="ij")
    nodes = default_nodes(nu, 1.0)
    difference = np.abs(cole_hopf(x, t, nu, nodes) - cole_hopf(x, t, nu, 2 * nodes))
    assert difference.max() < 1e-12


def test_maximum_slope_at_origin_matches_basdevant():
    """max_t |u_x(0, t)| = 152.00516 at t = 1.6037 / pi (Basdevant et al. 1986)."""
    nodes = default_nodes(CLASSIC_NU, 1.0)
    result = minimize_scalar(lambda t: cole_hopf_dx(0.0, t, CLASSIC_NU, nodes), bounds=(0.4, 0.6),
                             method="bounded", options={"xatol": 1e-10})
    assert -result.fun == pytest.approx(152.00516, rel=1e-7)
    assert result.x == pytest.approx(1.6037 / np.pi, abs=1e-5)


def test_slope_matches_centred_difference():
    x = np.array([-0.5, -1e-3, 0.0, 2e-3, 0.6])
    t = np.array([0.3, 0.51, 0.8, 1.0, 0.9])
    h = 1e-6
    centred = (cole_hopf(x + h, t) - cole_hopf(x - h, t)) / (2 * h)
    np.testing.assert_allclose(cole_hopf_dx(x, t), centred, rtol=1e-6, atol=1e-6)


def test_satisfies_the_pde():
    """u_t + u u_x - nu u_xx = 0 by centred differences in t and of u_x in x, including
    points in the steep front (terms ~20 that cancel); the residual is compared with the
    largest term. Reached: ~1e-10 away from the front, ~2e-6 relative in it (the
    differences' truncation error)."""
    x = np.array([-0.5, 0.4, 0.05, -0.01, 0.002])
    t = np.array([0.3, 0.6, 0.9, 0.51, 0.8])
    h = 1e-5
    u_t = (cole_hopf(x, t + h) - cole_hopf(x, t - h)) / (2 * h)
    advection = cole_hopf(x, t) * cole_hopf_dx(x, t)
    diffusion = CLASSIC_NU * (cole_hopf_dx(x + h, t) - cole_hopf_dx(x - h, t)) / (2 * h)
    largest = np.max(np.abs([u_t, advection, diffusion]), axis=0)
    assert np.all(np.abs(u_t + advection - diffusion) <= 1e-5 * np.maximum(1.0, largest))


def test_symmetry_boundaries_and_initial_condition():
    t = np.linspace(0, 1, 51)
    assert np.max(np.abs(cole_hopf(0.0, t))) < 1e-14
    assert np.max(np.abs(cole_hopf(np.array([[-1.0], [1.0]]), t))) < 1e-14
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(cole_hopf(x, 0.0), -np.sin(np.pi * x), atol=1e-15)
    np.testing.assert_allclose(cole_hopf(-x, 0.7), -cole_hopf(x, 0.7), atol=1e-14)


def test_reference_grid_solution():
    solution = burgers_reference(nx=256, nt=100)
    x, t = solution.axes
    assert solution.values.shape == (256, 100)
    assert x[0] == -1 and x[-1] == 1 and t[0] == 0 and t[-1] == 1
    np.testing.assert_allclose(solution.values[:, 0], -np.sin(np.pi * x), atol=1e-15)
    assert np.max(np.abs(solution.values[[0, -1], :])) < 1e-14
    column = 37
    np.testing.assert_allclose(solution.values[:, column], cole_hopf(x, t[column]), atol=1e-15)
    assert "Cole–Hopf" in solution.method


@pytest.mark.parametrize("call, message", [
    (lambda: cole_hopf(0.1, -0.5), "t must be"),
    (lambda: cole_hopf(0.1, 0.5, nu=0.0), "nu must be"),
    (lambda: cole_hopf(0.1, 0.5, nodes=1), "node count"),
    (lambda: burgers_reference(nu=-1.0), "nu must be"),
    (lambda: burgers_reference(nx=1), "nx >= 2"),
    (lambda: burgers_reference(t_final=0.0), "t_final"),
    (lambda: burgers_reference(nx=2.5), r"integer nx >= 2 .* got nx=2.5"),
    (lambda: cole_hopf(np.zeros(2), np.array([0.5, np.nan])), r"1 of 2 outside, e.g. t = nan"),
])
def test_bad_input_is_rejected(call, message):
    with pytest.raises(KanpdeError, match=message):
        call()
