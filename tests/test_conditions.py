"""Tests for kanpde.conditions: residuals vanish on functions that satisfy a condition and
equal the analytic mismatch on functions that do not."""

import math

import pytest
import torch

from kanpde import (
    Box,
    Coords,
    Dirichlet,
    Disk,
    Initial,
    Interval,
    KanpdeError,
    Neumann,
    Periodic,
    PointData,
    Problem,
    Robin,
    SpaceTime,
)

ATOL = 1e-12
F64, CPU = torch.float64, torch.device("cpu")
PI = math.pi


def unit_square():
    return Box([0.0, 0.0], [1.0, 1.0])


def rod():
    return SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0)


def make(domain, condition, components=("u",)):
    return Problem("test", domain, residual=lambda u, x, p: u.value, conditions=[condition],
                   components=components)


def residual_of(problem, fn, n=24, seed=0):
    """Sample the problem's only condition, evaluate fn(x: Coords) -> (N,) or (N, m) there.

    Returns (residual (N, k), points as Coords without grad)."""
    (condition,) = problem.conditions
    points = condition.sample(problem.domain, n, "uniform", torch.Generator().manual_seed(seed), F64, CPU)
    u = problem.field(points.x, lambda z: fn(problem.coords(z)).reshape(len(z), -1))
    r = condition.residual(u, problem.coords(u.x), points, problem.params)
    return r, problem.coords(points.x.detach())


def close(actual, expected):
    torch.testing.assert_close(actual, expected.expand_as(actual).to(actual), atol=ATOL, rtol=0)


# -- value conditions ---------------------------------------------------------------------------

DIRICHLET = [
    # (id, domain, condition, u, expected residual (N,))
    ("const_x-", unit_square, Dirichlet("x-"), lambda x: x.x * x.y, lambda x: 0 * x.x),
    ("const_x-_miss", unit_square, Dirichlet("x-"), lambda x: x.x * x.y + x.y, lambda x: x.y),
    ("callable_all", unit_square, Dirichlet(value=lambda x, p: x.x + 2 * x.y),
     lambda x: x.x + 2 * x.y, lambda x: 0 * x.x),
    ("callable_all_miss", unit_square, Dirichlet(value=lambda x, p: x.x + 2 * x.y),
     lambda x: x.x + 2 * x.y + 0.5, lambda x: 0.5 + 0 * x.x),
    ("disk", Disk(), Dirichlet(value=1.0), lambda x: x.x**2 + x.y**2, lambda x: 0 * x.x),
    ("rod_lateral", rod, Dirichlet(), lambda x: torch.exp(-x.t) * torch.sin(PI * x.x), lambda x: 0 * x.x),
    ("rod_final_time", rod, Dirichlet("t1", value=2.0), lambda x: x.t * x.x, lambda x: x.x - 2.0),
]


@pytest.mark.parametrize("domain, condition, u, expected", [c[1:] for c in DIRICHLET], ids=[c[0] for c in DIRICHLET])
def test_dirichlet_residual(domain, condition, u, expected):
    domain = domain() if callable(domain) else domain
    r, x = residual_of(make(domain, condition), u)
    assert r.shape == (len(x), 1)
    close(r[:, 0], expected(x))


def test_dirichlet_on_a_selected_component():
    problem = make(unit_square(), Dirichlet("y+", component="v", value=lambda x, p: 3 * x.x),
                   components=("u", "v"))
    r, x = residual_of(problem, lambda x: torch.stack([x.x + 100.0, 3 * x.x * x.y], dim=1))
    close(r[:, 0], 0 * x.x)  # v = 3 x y = 3 x on y = 1; u's offset of 100 is ignored
    r, x = residual_of(problem, lambda x: torch.stack([3 * x.x, x.x], dim=1))
    close(r[:, 0], -2 * x.x)


# -- derivative conditions -------------------------------------------------------------------

# u = x^2 + y on [0, 1]^2: outward du/dn per face
NEUMANN_SQUARE = {"x-": lambda x: -2 * x.x, "x+": lambda x: 2 + 0 * x.x,
                  "y-": lambda x: -1 + 0 * x.x, "y+": lambda x: 1 + 0 * x.x}


@pytest.mark.parametrize("face", list(NEUMANN_SQUARE))
def test_neumann_on_box_faces(face):
    u = lambda x: x.x**2 + x.y  # noqa: E731
    dudn = NEUMANN_SQUARE[face]
    r, x = residual_of(make(unit_square(), Neumann(face)), u)
    close(r[:, 0], dudn(x))  # value 0: the residual is du/dn itself
    r, x = residual_of(make(unit_square(), Neumann(face, value=lambda x, p: dudn(x))), u)
    close(r[:, 0], 0 * x.x)


NEUMANN_OTHER = [
    # (id, domain, condition, u, expected residual)
    ("disk_radial", Disk((1.0, -2.0), 0.5), Neumann(value=1.0),
     lambda x: (x.x - 1) ** 2 + (x.y + 2) ** 2, lambda x: 0 * x.x),  # du/dn = 2 r = 1
    ("disk_radial_miss", Disk(), Neumann(), lambda x: x.x**2 + x.y**2, lambda x: 2 + 0 * x.x),
    ("rod_x+", rod, Neumann("x+"), lambda x: x.x**2 * x.t, lambda x: 2 * x.t),
    ("rod_x-", rod, Neumann("x-"), lambda x: x.x**2 * x.t, lambda x: 2 * x.t),  # -(2 * -1 * t)
    ("rod_lateral_t_ignored", rod, Neumann(), lambda x: x.t**3, lambda x: 0 * x.x),
]


@pytest.mark.parametrize("domain, condition, u, expected", [c[1:] for c in NEUMANN_OTHER],
                         ids=[c[0] for c in NEUMANN_OTHER])
def test_neumann_other_domains(domain, condition, u, expected):
    domain = domain() if callable(domain) else domain
    r, x = residual_of(make(domain, condition), u)
    close(r[:, 0], expected(x))


ROBIN = [
    # (id, condition, expected residual) for u = x^2 + y on [0, 1]^2
    ("x+", Robin("x+", alpha=2.0, beta=3.0), lambda x: 2 * (1 + x.y) + 3 * 2),
    ("y-", Robin("y-", alpha=0.5, beta=-1.0), lambda x: 0.5 * x.x**2 + 1),
    ("x+_value", Robin("x+", alpha=2.0, beta=3.0, value=lambda x, p: 8 + 2 * x.y), lambda x: 0 * x.x),
    ("dirichlet_limit", Robin("y+", alpha=1.0, beta=0.0, value=lambda x, p: x.x**2 + 1), lambda x: 0 * x.x),
]


@pytest.mark.parametrize("condition, expected", [c[1:] for c in ROBIN], ids=[c[0] for c in ROBIN])
def test_robin(condition, expected):
    r, x = residual_of(make(unit_square(), condition), lambda x: x.x**2 + x.y)
    close(r[:, 0], expected(x))


# -- periodic --------------------------------------------------------------------------------

PERIODIC = [
    # (id, domain, condition, u, expected residual columns (value, d/daxis, ...))
    ("sin_interval", Interval(0.0, 1.0), Periodic(), lambda x: torch.sin(2 * PI * x.x), [0.0, 0.0]),
    ("x_interval", Interval(0.0, 1.0), Periodic(), lambda x: x.x, [-1.0, 0.0]),
    ("x_interval_value_only", Interval(0.0, 1.0), Periodic(derivatives=0), lambda x: x.x, [-1.0]),
    ("x2_second_derivative", Interval(0.0, 1.0), Periodic(derivatives=2), lambda x: x.x**2, [-1.0, -2.0, 0.0]),
    ("box_y", Box([0.0, 0.0], [1.0, 2.0]), Periodic(axis="y"), lambda x: torch.sin(PI * x.y) * x.x, [0.0, 0.0]),
    ("rod_x", rod, Periodic(), lambda x: torch.cos(PI * x.x) * x.t, [0.0, 0.0]),
]


@pytest.mark.parametrize("domain, condition, u, expected", [c[1:] for c in PERIODIC], ids=[c[0] for c in PERIODIC])
def test_periodic(domain, condition, u, expected):
    domain = domain() if callable(domain) else domain
    r, x = residual_of(make(domain, condition), u, n=12)
    assert len(x) == 24 and r.shape == (12, len(expected))
    close(r, torch.tensor(expected, dtype=F64)[None, :])


def test_periodic_points_are_paired_images():
    domain = Box([0.0, -1.0], [1.0, 2.0])
    points = Periodic(axis="y").sample(domain, 10, "uniform", torch.Generator().manual_seed(0), F64, CPU)
    lower, upper = points.x[:10], points.x[10:]
    assert torch.all(lower[:, 1] == -1.0) and torch.all(upper[:, 1] == 2.0)
    assert torch.equal(lower[:, 0], upper[:, 0])


# -- initial ---------------------------------------------------------------------------------

INITIAL = [
    # (id, domain, condition, u, expected residual)
    ("value", rod, Initial(value=lambda x, p: torch.sin(PI * x.x)),
     lambda x: torch.exp(-x.t) * torch.sin(PI * x.x), lambda x: 0 * x.x),
    ("value_miss", rod, Initial(), lambda x: torch.exp(-x.t) * torch.sin(PI * x.x), lambda x: torch.sin(PI * x.x)),
    ("velocity", rod, Initial(value=lambda x, p: -torch.sin(PI * x.x), derivative=1),
     lambda x: torch.exp(-x.t) * torch.sin(PI * x.x), lambda x: 0 * x.x),
    ("velocity_miss", rod, Initial(derivative=1),
     lambda x: torch.exp(-x.t) * torch.sin(PI * x.x), lambda x: -torch.sin(PI * x.x)),
    ("shifted_t0", lambda: SpaceTime(Box([0.0, 0.0], [1.0, 1.0]), 0.5, 2.0), Initial(value=0.25),
     lambda x: x.t**2 + x.x * x.y, lambda x: x.x * x.y),
    ("shifted_t0_velocity", lambda: SpaceTime(Box([0.0, 0.0], [1.0, 1.0]), 0.5, 2.0),
     Initial(value=1.0, derivative=1), lambda x: x.t**2 + x.x * x.y, lambda x: 0 * x.x),
]


@pytest.mark.parametrize("domain, condition, u, expected", [c[1:] for c in INITIAL], ids=[c[0] for c in INITIAL])
def test_initial(domain, condition, u, expected):
    domain = domain()
    r, x = residual_of(make(domain, condition), u)
    assert torch.all(x.t == domain.t_bounds[0])
    close(r[:, 0], expected(x))


# -- point data ------------------------------------------------------------------------------

DATA_X = torch.tensor([[0.1, 0.2], [0.5, 0.5], [0.9, 0.3], [0.0, 1.0]], dtype=F64)


def test_point_data_residual_at_its_own_points():
    f = lambda x: torch.exp(x.x) * x.y  # noqa: E731
    target = f(Coords(DATA_X, ("x", "y")))
    r, x = residual_of(make(unit_square(), PointData(x=DATA_X, values=target)), f)
    assert torch.equal(x.tensor, DATA_X)
    close(r[:, 0], 0 * x.x)
    r, x = residual_of(make(unit_square(), PointData(x=DATA_X, values=target[:, None] + 1.0)), f)
    close(r[:, 0], -1 + 0 * x.x)


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("domain, condition, missing, faces", [
    (unit_square, Dirichlet("z+"), "z+", "x-, x+, y-, y+"),
    (unit_square, Neumann(["x-", "t0"]), "t0", "x-, x+, y-, y+"),
    (rod, Robin("y-"), "y-", "x-, x+, t0, t1"),
    (Disk, Dirichlet("x+"), "x+", "boundary"),
], ids=["dirichlet_box", "neumann_box", "robin_rod", "dirichlet_disk"])
def test_condition_on_missing_face_names_face_and_lists_faces(domain, condition, missing, faces):
    with pytest.raises(KanpdeError) as info:
        make(domain(), condition)
    assert repr(missing) in str(info.value) and faces in str(info.value)


@pytest.mark.parametrize("domain", [unit_square, lambda: Interval(0.0, 1.0), Disk])
@pytest.mark.parametrize("derivative", [0, 1])
def test_initial_needs_space_time(domain, derivative):
    with pytest.raises(KanpdeError, match="SpaceTime"):
        make(domain(), Initial(derivative=derivative))


@pytest.mark.parametrize("condition", [Dirichlet(component="w"), Neumann("x+", component="w"),
                                       Periodic(component="w"), PointData(x=DATA_X, values=DATA_X[:, 0],
                                                                          component="w")],
                         ids=["dirichlet", "neumann", "periodic", "data"])
def test_unknown_component_lists_components(condition):
    with pytest.raises(KanpdeError, match=r"'w'.*u, v"):
        make(unit_square(), condition, components=("u", "v"))


def test_periodic_unknown_axis_lists_coordinates():
    with pytest.raises(KanpdeError, match=r"'z'.*x, y"):
        make(unit_square(), Periodic(axis="z"))


@pytest.mark.parametrize("x, values", [
    (torch.zeros(4, 3, dtype=F64), torch.zeros(4, dtype=F64)),  # wrong dimension
    (torch.zeros(4, 2, dtype=F64), torch.zeros(3, dtype=F64)),  # wrong count
    (torch.zeros(4, dtype=F64), torch.zeros(4, dtype=F64)),  # not (M, d)
    (torch.zeros(4, 2, dtype=F64), None),  # no values
    (None, torch.zeros(4, dtype=F64)),  # no points
], ids=["dim", "count", "ndim", "no_values", "no_x"])
def test_point_data_with_wrong_shapes_raises(x, values):
    with pytest.raises(KanpdeError, match="PointData needs|x must be"):
        make(unit_square(), PointData(x=x, values=values))


def test_duplicate_condition_labels_raise():
    with pytest.raises(KanpdeError, match="share a name"):
        Problem("test", unit_square(), residual=lambda u, x, p: u.value,
                conditions=[Dirichlet("x-"), Dirichlet("x-")])


def test_value_condition_without_component_on_multi_component_problem_raises_kanpde_error():
    with pytest.raises(KanpdeError, match=r"u, v"):
        problem = make(unit_square(), Dirichlet(), components=("u", "v"))
        residual_of(problem, lambda x: torch.stack([x.x, x.y], dim=1), n=8)
