"""Chebyshev collocation in space with Radau in time, against exact solutions (heat with
moving ends, a manufactured nonlinear problem), and the refinement study of the
Allen–Cahn Dirichlet reference built on it."""

import numpy as np
import pytest

import kanpde
from kanpde.errors import KanpdeError
from kanpde.reference import chebyshev_time
from kanpde.reference.chebyshev_time import ORDER, collocation_states, solve_first_order

# heat u_t = u_xx on [-1, 2] with u = exp(-K^2 t) sin(K x + PHASE): both ends move with t
K, PHASE = 1.3, 0.4
X = np.linspace(-1.0, 2.0, 61)  # output grid: not the collocation points
T = np.linspace(0.0, 0.5, 6)


def heat_exact(x, t):
    return np.exp(-K**2 * t) * np.sin(K * x + PHASE)


def heat(t, x, u, ux, uxx):
    return uxx


def heat_partials(t, x, u, ux, uxx):
    return 0.0, 0.0, 1.0


def heat_error(n: int) -> float:
    solution = solve_first_order(heat, n, X, T, lambda x: heat_exact(x, 0.0),
                                 boundary=(lambda t: heat_exact(-1.0, t), lambda t: heat_exact(2.0, t)),
                                 partials=heat_partials)
    return np.abs(solution.values - heat_exact(X[:, None], T)).max()


# viscous Burgers with a source, u_t = NU u_xx - u u_x + f, on [0, 1] with the manufactured
# solution u = exp(-t / 2) cos(2 x) + x / 3 (f makes it exact; F_u = -u_x, F_ux = -u)
NU = 0.05


def burgers_exact(x, t):
    return np.exp(-t / 2) * np.cos(2 * x) + x / 3


def burgers(t, x, u, ux, uxx):
    exact = burgers_exact(x, t)
    exact_t = -np.exp(-t / 2) * np.cos(2 * x) / 2
    exact_x = -2 * np.exp(-t / 2) * np.sin(2 * x) + 1 / 3
    exact_xx = -4 * np.exp(-t / 2) * np.cos(2 * x)
    source = exact_t - NU * exact_xx + exact * exact_x
    return NU * uxx - u * ux + source


def burgers_partials(t, x, u, ux, uxx):
    return -ux, -u, NU


def solve_burgers(n, partials=burgers_partials, method="Radau"):
    return solve_first_order(burgers, n, np.linspace(0.0, 1.0, 41), T, lambda x: burgers_exact(x, 0.0),
                             boundary=(lambda t: burgers_exact(0.0, t), lambda t: burgers_exact(1.0, t)),
                             partials=partials, method=method)


def test_order_is_declared():
    assert ORDER == "spectral"


def test_heat_with_moving_ends_converges_spectrally():
    errors = {n: heat_error(n) for n in (4, 6, 8, 12, 20)}
    assert errors[4] / errors[8] > 1e3, errors
    assert errors[6] / errors[12] > 1e5, errors  # doubling n gains ever more: not a fixed 2^p
    assert errors[20] < 1e-10, errors  # at the time tolerance (rtol 1e-12)


def test_manufactured_nonlinear_solution_converges_spectrally_to_1e_10():
    errors = {}
    for n in (4, 8, 16):
        solution = solve_burgers(n)
        errors[n] = np.abs(solution.values - burgers_exact(solution.axes[0][:, None], solution.axes[1])).max()
    assert errors[4] / errors[8] > 1e4, errors  # measured 1.2e-3, 2.8e-8, 6e-14
    assert errors[16] < 1e-10, errors


def test_finite_difference_jacobian_and_bdf_give_the_same_solution():
    analytic = solve_burgers(16)
    np.testing.assert_allclose(solve_burgers(16, partials=None).values, analytic.values, rtol=0, atol=1e-11)
    np.testing.assert_allclose(solve_burgers(16, method="BDF").values, analytic.values, rtol=0, atol=1e-9)
    assert "analytic dense Jacobian" in analytic.method and "17 points" in analytic.method


def test_analytic_jacobian_matches_differences_of_the_rhs():
    """A wrong Jacobian would only slow Radau down (the solution tests would still pass),
    so it is checked directly: against central differences of the collocated rhs."""
    space = chebyshev_time._Collocation(12, (0.0, 1.0), (1.0, lambda t: 0.5 + t))
    u, t = np.cos(3 * space.inner) + 0.2, 0.3
    jac = chebyshev_time._jacobian(burgers_partials, space, t, u)(t, u)

    def velocity(v):
        return burgers(t, space.inner, v, *space.derivatives(t, v))

    step = 1e-6
    columns = [(velocity(u + step * e) - velocity(u - step * e)) / (2 * step) for e in np.eye(len(u))]
    np.testing.assert_allclose(jac, np.stack(columns, axis=1), rtol=0, atol=1e-7 * np.abs(jac).max())


def test_layout_ends_and_collocation_states():
    """The output grid is the one given; its ends hold the boundary values exactly; the
    collocation states are the values at the Chebyshev points, in increasing x."""
    left = lambda t: heat_exact(-1.0, t)  # noqa: E731
    solution = solve_first_order(heat, 16, X, T, lambda x: heat_exact(x, 0.0), boundary=(left, 0.5),
                                 partials=heat_partials)
    assert solution.values.shape == (len(X), len(T))
    np.testing.assert_array_equal(solution.axes[0], X)
    np.testing.assert_array_equal(solution.axes[1], T)
    np.testing.assert_array_equal(solution.values[0], left(T))
    np.testing.assert_array_equal(solution.values[-1], 0.5)
    nodes, states = collocation_states(heat, 16, (-1.0, 2.0), T, lambda x: heat_exact(x, 0.0),
                                       boundary=(left, 0.5))
    assert nodes.shape == (17,) and np.all(np.diff(nodes) > 0) and states.shape == (17, len(T))
    middle = np.searchsorted(X, nodes[8])  # x = 0.5, a Chebyshev point and an output point
    np.testing.assert_allclose(solution.values[middle], states[8], rtol=0, atol=1e-14)


@pytest.mark.parametrize("change, message", [
    ({"n": 1}, r"polynomial degree n must be an int >= 2; got 1"),
    ({"n": 8.0}, r"int >= 2; got 8.0"),
    ({"x": X[::-1]}, "strictly increasing 1-D output grid"),
    ({"x": X[:1]}, "at least 2 points"),
    ({"t_eval": T[::-1]}, "t_eval of shape .* strictly increasing"),
    ({"u0": np.zeros(61)}, "u0 of type ndarray is not accepted"),
    ({"u0": lambda x: np.zeros(3)}, r"u0 returned shape \(3,\)"),
    ({"u0": lambda x: np.full_like(x, np.nan)}, "u0 returned non-finite values"),
    ({"boundary": (0.0,)}, "Dirichlet pair"),
    ({"boundary": "periodic"}, "boundary 'periodic' is not accepted"),
    ({"rhs": lambda t, x, u, ux, uxx: 0.0}, r"rhs returned shape \(\)"),
    ({"partials": lambda t, x, u, ux, uxx: 1.0}, "three partial derivatives"),
    ({"partials": lambda t, x, u, ux, uxx: (np.zeros(2), 0.0, 1.0)}, r"partials returned shape \(2,\)"),
    ({"method": "RK45"}, "method 'RK45' is not accepted"),
    ({"rtol": 0.0}, "need rtol > 0 and atol > 0"),
])
def test_bad_input_raises(change, message):
    arguments = {"rhs": heat, "n": 8, "x": X, "t_eval": T, "u0": lambda x: heat_exact(x, 0.0),
                 "boundary": (0.0, 0.0), **change}
    with pytest.raises(KanpdeError, match=message):
        solve_first_order(arguments.pop("rhs"), arguments.pop("n"), arguments.pop("x"), arguments.pop("t_eval"),
                          arguments.pop("u0"), **arguments)


def test_a_blow_up_is_reported():
    with pytest.raises(KanpdeError, match="solve_ivp .* failed"):
        solve_first_order(lambda t, x, u, ux, uxx: uxx + u**3, 8, X, np.linspace(0.0, 10.0, 3), 5.0,
                          boundary=(5.0, 5.0), partials=lambda t, x, u, ux, uxx: (3 * u**2, 0.0, 1.0),
                          rtol=1e-6, atol=1e-6)  # tight tolerances take seconds to give up


# -- the Allen–Cahn Dirichlet reference ----------------------------------------------------


def allen_cahn(n: int, rtol: float = 1e-12) -> np.ndarray:
    problem = kanpde.load_problem("allen_cahn_dirichlet")
    return problem.reference(problem.params, n=n, rtol=rtol).values  # (2049, 101)


def relative_l2(values, reference) -> float:
    return float(np.linalg.norm(values - reference) / np.linalg.norm(reference))


def test_allen_cahn_reference_converges_geometrically_toward_1e_8():
    """Fast stand-in for the slow refinement test: at 257, 321 and 385 points the
    differences fall by more than 8x per 64 points (measured: ~14x), which extrapolated to
    the reference's 513 points leaves far less than 1e-8; and the time error at the
    reference's rtol (against 10x looser) is far below it."""
    finest = allen_cahn(384)
    coarse, middle = (relative_l2(allen_cahn(n), finest) for n in (256, 320))
    assert middle < 1e-6 and coarse / middle > 8, (coarse, middle)
    assert middle / (coarse / middle) ** 3 < 1e-8, (coarse, middle)
    assert relative_l2(allen_cahn(384, rtol=1e-11), finest) < 1e-10  # measured 8e-13 at 513 points


@pytest.mark.slow
def test_allen_cahn_reference_agrees_with_1_5x_points_and_10x_tighter_time_tolerance():
    """The shipped reference (513 points, rtol 1e-12) against 769 points at rtol 1e-13, on
    the 2049 x 101 output grid (measured: 1.5e-10)."""
    difference = relative_l2(allen_cahn(512), allen_cahn(768, rtol=1e-13))
    assert difference <= 1e-8, difference
