"""Tests for kanpde.reference.method_of_lines: exact solutions, observed order in space."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from kanpde.errors import KanpdeError
from kanpde.reference.method_of_lines import ORDER, richardson, solve_first_order, solve_second_order

PI = np.pi
ORDER_TOLERANCE = 0.2


@dataclass
class Case:
    """An evolution problem with exact solution ``exact(x, t)`` on [x0, x1] x t_eval.

    velocity: u_t(x, t) for second-order problems (None: first order in time); periodic or
    Dirichlet ends taken from the exact solution.
    """

    rhs: Callable
    exact: Callable
    interval: tuple[float, float]
    t_eval: np.ndarray
    periodic: bool = False
    velocity: Callable | None = None
    cells: tuple[int, ...] = (16, 32, 64, 128)

    def solve(self, n: int):
        x = np.linspace(*self.interval, n + 1)
        if self.periodic:
            boundary = "periodic"
        else:
            boundary = tuple((lambda t, end=end: self.exact(end, t)) for end in self.interval)
        start = self.t_eval[0]
        u0 = self.exact(x, start)
        if self.velocity is None:
            return solve_first_order(self.rhs, x, self.t_eval, u0, boundary=boundary)
        return solve_second_order(self.rhs, x, self.t_eval, u0, self.velocity(x, start), boundary=boundary)


NU, SPEED = 0.05, 1.0  # advection-diffusion
BURGERS_NU, BURGERS_A, BURGERS_C = 0.1, 1.0, 0.5  # viscous Burgers front: width 2 nu / A
MASS = 2.0  # Klein-Gordon
OMEGA = np.sqrt(PI**2 + MASS**2)

CASES = {
    "heat": Case(lambda t, x, u, u_x, u_xx: u_xx,
                 lambda x, t: np.exp(-PI**2 * t) * np.sin(PI * x), (0.0, 1.0), np.linspace(0.0, 0.5, 11)),
    "heat_moving_ends": Case(lambda t, x, u, u_x, u_xx: u_xx,
                             lambda x, t: np.exp(-t) * np.cos(x), (0.0, 1.0), np.linspace(0.0, 0.5, 11)),
    "advection_diffusion_periodic": Case(
        lambda t, x, u, u_x, u_xx: NU * u_xx - SPEED * u_x,
        lambda x, t: np.exp(-NU * 4 * PI**2 * t) * np.sin(2 * PI * (x - SPEED * t)),
        (0.0, 1.0), np.linspace(0.0, 1.0, 11), periodic=True),
    "burgers_front": Case(
        lambda t, x, u, u_x, u_xx: BURGERS_NU * u_xx - u * u_x,
        lambda x, t: BURGERS_C - BURGERS_A * np.tanh(BURGERS_A * (x - BURGERS_C * t) / (2 * BURGERS_NU)),
        (-1.0, 1.0), np.linspace(0.0, 1.0, 11), cells=(32, 64, 128, 256)),
    "wave_standing": Case(lambda t, x, u, u_x, u_xx: u_xx,
                          lambda x, t: np.sin(PI * x) * np.cos(PI * t), (0.0, 1.0), np.linspace(0.0, 2.0, 21),
                          velocity=lambda x, t: -PI * np.sin(PI * x) * np.sin(PI * t)),
    "wave_travelling_periodic": Case(lambda t, x, u, u_x, u_xx: u_xx,
                                     lambda x, t: np.sin(2 * PI * (x - t)),
                                     (0.0, 1.0), np.linspace(0.0, 1.0, 11), periodic=True,
                                     velocity=lambda x, t: -2 * PI * np.cos(2 * PI * (x - t))),
    "klein_gordon": Case(lambda t, x, u, u_x, u_xx: u_xx - MASS**2 * u,
                         lambda x, t: np.sin(PI * x) * np.cos(OMEGA * t),
                         (0.0, 1.0), np.linspace(0.0, 2.0, 21),
                         velocity=lambda x, t: -OMEGA * np.sin(PI * x) * np.sin(OMEGA * t)),
}


def max_error(solution, exact) -> float:
    """Largest |u - exact| over all grid points and output times."""
    x, t = np.meshgrid(*solution.axes, indexing="ij")
    return float(np.abs(solution.values - exact(x, t)).max())


@pytest.mark.parametrize("name", list(CASES))
def test_observed_order_in_space(name):
    case = CASES[name]
    length = case.interval[1] - case.interval[0]
    errors = [max_error(case.solve(n), case.exact) for n in case.cells]
    order = np.polyfit(np.log([length / n for n in case.cells]), np.log(errors), 1)[0]
    assert abs(order - ORDER) < ORDER_TOLERANCE, f"observed order {order:.3f}, errors {errors}"


def test_grid_solution_layout():
    """Axes (x, t); the first column is u0, the ends are the boundary data at every time."""
    case = CASES["heat_moving_ends"]
    solution = case.solve(8)
    x, t_eval = solution.axes
    assert solution.values.shape == (9, 11)
    np.testing.assert_array_equal(t_eval, case.t_eval)
    np.testing.assert_allclose(solution.values[:, 0], case.exact(x, 0.0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(solution.values[0], case.exact(0.0, t_eval), rtol=0, atol=1e-14)
    np.testing.assert_allclose(solution.values[-1], case.exact(1.0, t_eval), rtol=0, atol=1e-14)


def test_periodic_end_repeats_start():
    solution = CASES["wave_travelling_periodic"].solve(8)
    np.testing.assert_array_equal(solution.values[-1], solution.values[0])


def test_bdf_agrees_with_radau():
    """The time error is far below the spatial one with either stiff method."""
    x, t_eval = np.linspace(0.0, 1.0, 33), np.linspace(0.0, 0.5, 6)
    heat = CASES["heat"]
    runs = [solve_first_order(heat.rhs, x, t_eval, heat.exact(x, 0.0), boundary=(0.0, 0.0), method=method)
            for method in ("Radau", "BDF")]
    np.testing.assert_allclose(runs[0].values, runs[1].values, rtol=0, atol=1e-8)


X = np.linspace(0.0, 1.0, 9)
T = np.linspace(0.0, 0.1, 3)


def heat(t, x, u, u_x, u_xx):
    return u_xx


@pytest.mark.parametrize("kwargs, message", [
    ({"x": X**2}, "not uniform"),
    ({"x": X[:3]}, "at least 4 points"),
    ({"t_eval": T[::-1]}, "strictly increasing"),
    ({"t_eval": T[:1]}, "at least 2 times"),
    ({"u0": np.zeros(5)}, "u0 has shape"),
    ({"boundary": "dirichlet"}, "boundary 'dirichlet' is not accepted"),
    ({"boundary": (0.0,)}, "Dirichlet pair"),
    ({"boundary": ("a", "b")}, "Dirichlet pair"),
    ({"rhs": lambda t, x, u, u_x, u_xx: 0.0}, "rhs returned shape"),
    ({"method": "RK45"}, "method 'RK45' is not accepted"),
    ({"x": X[[0, 1, 2, 4]]}, r"steps from 0.125 to 0.25"),
])
def test_bad_input_raises(kwargs, message):
    arguments = {"rhs": heat, "x": X, "t_eval": T, "u0": np.sin(PI * X), "boundary": (0.0, 0.0), **kwargs}
    with pytest.raises(KanpdeError, match=message):
        solve_first_order(arguments.pop("rhs"), arguments.pop("x"), arguments.pop("t_eval"),
                          arguments.pop("u0"), **arguments)


def test_bad_second_order_velocity_raises():
    with pytest.raises(KanpdeError, match=r"v0 has shape \(3,\); expected a number or the grid shape \(9,\)"):
        solve_second_order(heat, X, T, np.sin(PI * X), np.zeros(3), boundary=(0.0, 0.0))


def test_richardson_extrapolation_is_fourth_order_on_the_heat_equation():
    t = np.linspace(0.0, 0.2, 5)

    def solve(grid):
        return solve_first_order(lambda t, x, u, ux, uxx: uxx, grid, t, lambda x: np.sin(np.pi * x),
                                 boundary=(0.0, 0.0))

    def error(n):
        x = np.linspace(0.0, 1.0, n)
        exact = np.exp(-np.pi**2 * t)[None, :] * np.sin(np.pi * x)[:, None]
        return np.abs(richardson(solve, x).values - exact).max()

    errors = [error(n) for n in (9, 17, 33)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.7), orders  # 4, against 2 without the extrapolation
