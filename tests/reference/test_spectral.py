"""Tests for kanpde.reference.spectral: exact solutions (advection, heat, KdV soliton),
ETDRK4's fourth order in time, and the self-consistency of the Allen-Cahn reference."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from kanpde.errors import KanpdeError
from kanpde.reference import spectral


def soliton(x, t, speed, x0):
    """Exact soliton of u_t + 6 u u_x + u_xxx = 0 on the line."""
    return speed / 2 / np.cosh(np.sqrt(speed) / 2 * (x - speed * t - x0)) ** 2


def zero(u_hat, k):
    """N = 0: a linear problem."""
    return np.zeros_like(u_hat)


@pytest.fixture(scope="module")
def allen_cahn_default():
    return spectral.allen_cahn()


def test_coefficients_match_their_limits_and_closed_forms():
    z = np.array([0.0, -0.5 + 0.5j, -40.0, 30j, 3.0])
    e, e2, q, f1, f2, f3 = spectral.etdrk4_coefficients(z)
    np.testing.assert_allclose([q[0], f1[0], f2[0], f3[0]], [1 / 2, 1 / 6, 1 / 6, 1 / 6], atol=1e-15)
    w, ew = z[1:], np.exp(z[1:])  # away from 0 the closed forms do not cancel much
    np.testing.assert_allclose(q[1:], (np.exp(w / 2) - 1) / w, rtol=1e-13)
    np.testing.assert_allclose(f1[1:], (-4 - w + ew * (4 - 3 * w + w**2)) / w**3, rtol=1e-13)
    np.testing.assert_allclose(f2[1:], (2 + w + ew * (w - 2)) / w**3, rtol=1e-13)
    np.testing.assert_allclose(f3[1:], (-4 - 3 * w - w**2 + ew * (4 - w)) / w**3, rtol=1e-13)
    np.testing.assert_allclose(e2**2, e, rtol=1e-15)


def test_advection_is_the_exact_shift():
    def initial(x):
        return np.exp(np.sin(np.pi * x))

    solution = spectral.advection(initial, speed=0.7, n=64, times=11)
    x, t = np.meshgrid(*solution.axes, indexing="ij")
    assert solution.values.shape == (65, 11)
    np.testing.assert_allclose(solution.values, initial(x - 0.7 * t), rtol=0, atol=1e-12)


def test_heat_decays_each_mode_exactly():
    D, n = 0.3, 32
    x = -1 + 2 * np.arange(n) / n
    u0 = np.sin(np.pi * x) + 0.5 * np.cos(3 * np.pi * x)
    u = spectral.etdrk4(u0, 2.0, lambda k: -D * k**2, zero, dt=0.1, save_times=[0.5, 1.0])
    for row, t in zip(u, [0.5, 1.0]):
        decay = np.exp(-D * np.pi**2 * t)  # of mode 1; mode 3 decays as decay**9
        exact = decay * np.sin(np.pi * x) + 0.5 * decay**9 * np.cos(3 * np.pi * x)
        np.testing.assert_allclose(row, exact, rtol=0, atol=1e-14)


def test_kdv_soliton_matches_the_exact_solution():
    # c = 4 moves from -2 to 2 on [-20, 20): its tails at the ends are ~e^-36, negligible
    solution = spectral.kdv(alpha=6.0, beta=1.0, initial=lambda x: soliton(x, 0.0, 4.0, -2.0),
                            left=-20.0, right=20.0, t_end=1.0, n=384, dt=5e-4, times=11)
    x, t = np.meshgrid(*solution.axes, indexing="ij")
    error = np.abs(solution.values - soliton(x, t, 4.0, -2.0)).max()
    assert error < 2e-9  # measured 6e-10: the time error (dt^4), spectral error ~1e-12


def test_time_order_is_four_on_allen_cahn():
    # n is fixed, so the spatial error cancels; these steps are in the asymptotic range
    steps = np.array([0.02, 0.01, 0.005, 0.0025])
    finest = spectral.allen_cahn(n=256, dt=5e-4, times=2).values[:, -1]
    errors = [np.abs(spectral.allen_cahn(n=256, dt=dt, times=2).values[:, -1] - finest).max()
              for dt in steps]
    order = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(order - spectral.ORDER) < 0.3, (order, errors)


def test_allen_cahn_agrees_with_an_independent_integrator():
    # DOP853 on the same semi-discretisation (Fourier modes |j| < n/2) isolates ETDRK4
    n, D = 256, 1e-4
    k = spectral.wavenumbers(n, 2.0)
    keep = np.arange(len(k)) < n // 2

    def rhs(t, u):
        return np.fft.irfft(keep * ((5 - D * k**2) * np.fft.rfft(u) - 5 * np.fft.rfft(u**3)), n)

    u0 = spectral.project_initial(lambda x: x**2 * np.cos(np.pi * x), -1.0, 2.0, n)
    other = solve_ivp(rhs, (0.0, 1.0), u0, method="DOP853", rtol=1e-13, atol=1e-13, t_eval=[0.5, 1.0])
    ours = spectral.allen_cahn(n=n, dt=1e-3, times=3).values[:-1, 1:]
    assert np.abs(ours - other.y).max() < 1e-10  # measured 2e-11, ETDRK4's dt^4 error


def test_allen_cahn_grid_layout(allen_cahn_default):
    x, t = allen_cahn_default.axes
    assert (x[0], x[-1], len(x), t[0], t[-1], len(t)) == (-1.0, 1.0, 2049, 0.0, 1.0, 101)
    np.testing.assert_array_equal(allen_cahn_default.values[-1], allen_cahn_default.values[0])
    np.testing.assert_array_equal(allen_cahn_default.values[:, 0], x**2 * np.cos(np.pi * x))
    assert np.abs(allen_cahn_default.values[:, -1]).max() < 1.0 + 1e-6  # stays in [-1, 1]


def test_allen_cahn_reference_is_self_consistent_to_1e_7(allen_cahn_default):
    # ACCEPTANCE: (n, dt) against (2n, dt/2) at the common grid points and save times
    finer = spectral.allen_cahn(n=4096, dt=1.25e-3)
    difference = np.abs(allen_cahn_default.values - finer.values[::2]).max()
    assert difference <= 1e-7, difference  # measured 1e-9 (at t = 0.01, where the kink is sharpest)


@pytest.mark.parametrize("call, message", [
    (lambda: spectral.etdrk4(np.zeros(7), 2.0, np.zeros_like, zero, 0.1, [1.0]), "even integer"),
    (lambda: spectral.etdrk4(np.zeros(2), 2.0, np.zeros_like, zero, 0.1, [1.0]), ">= 4"),
    (lambda: spectral.etdrk4(np.zeros((4, 4)), 2.0, np.zeros_like, zero, 0.1, [1.0]), "1-D"),
    (lambda: spectral.etdrk4(np.zeros(8), -1.0, np.zeros_like, zero, 0.1, [1.0]), "positive"),
    (lambda: spectral.etdrk4(np.zeros(8), 2.0, np.zeros_like, zero, 0.3, [1.0]), "does not divide"),
    (lambda: spectral.etdrk4(np.zeros(8), 2.0, np.zeros_like, zero, 0.0, [1.0]), "positive time step"),
    (lambda: spectral.etdrk4(np.zeros(8), 2.0, np.zeros_like, zero, 0.1, [1.0, 0.5]), "increasing"),
    (lambda: spectral.etdrk4(np.zeros(8), 2.0, lambda k: 1.0, zero, 0.1, [1.0]), "one value per"),
    (lambda: spectral.allen_cahn(n=64, dt=0.003), "does not divide"),
    (lambda: spectral.advection(np.sin, times=1), "integer >= 2"),
    (lambda: spectral.kdv(n=100, right=-1.0), "period length"),
])
def test_bad_input_says_what_is_accepted(call, message):
    with pytest.raises(KanpdeError, match=message):
        call()


def test_blow_up_is_reported():
    with np.errstate(all="ignore"), pytest.raises(KanpdeError, match="non-finite"):
        spectral.etdrk4(np.ones(8), 2.0, lambda k: 1e3 + 0 * k, zero, 1.0, [1.0])
