"""Tests for kanpde.operators: derivatives of a Field against analytic derivatives (float64)."""

import pytest
import torch

from kanpde.errors import KanpdeError
from kanpde.operators import Coords, Field

ATOL = 1e-10  # float64 autograd vs closed form, values of order 10
NAMES = ("x", "y", "t")
SPACE = ("x", "y")


def points(n=16, seed=0):
    """(n, 3) float64 points, x, y in [-1, 1], t in [0.5, 1.5], requiring grad."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 3, generator=g, dtype=torch.float64)
    lo = torch.tensor([-1.0, -1.0, 0.5], dtype=torch.float64)
    return (lo + 2 * u * torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64)).requires_grad_(True)


def split(x):
    return x[:, 0], x[:, 1], x[:, 2]


def scalar_field(fn, x):
    return Field(x, fn(*split(x))[:, None], NAMES, ("u",), SPACE)


# functions of (x, y, t) and their closed-form partial derivatives
F1 = lambda x, y, t: torch.sin(2 * x) * torch.exp(y) * t**2  # noqa: E731
F2 = lambda x, y, t: x**3 * y**2 + torch.cos(t * y)  # noqa: E731
F3 = lambda x, y, t: x**2 * t  # noqa: E731  (independent of y)

S, C, E = torch.sin, torch.cos, torch.exp
DERIVATIVES = [
    # (id, function, axes, analytic derivative)
    ("f1_x", F1, ("x",), lambda x, y, t: 2 * C(2 * x) * E(y) * t**2),
    ("f1_y", F1, ("y",), lambda x, y, t: S(2 * x) * E(y) * t**2),
    ("f1_t", F1, ("t",), lambda x, y, t: 2 * S(2 * x) * E(y) * t),
    ("f1_xx", F1, ("x", "x"), lambda x, y, t: -4 * S(2 * x) * E(y) * t**2),
    ("f1_xy", F1, ("x", "y"), lambda x, y, t: 2 * C(2 * x) * E(y) * t**2),
    ("f1_yx", F1, ("y", "x"), lambda x, y, t: 2 * C(2 * x) * E(y) * t**2),
    ("f1_tt", F1, ("t", "t"), lambda x, y, t: 2 * S(2 * x) * E(y)),
    ("f1_xxx", F1, ("x", "x", "x"), lambda x, y, t: -8 * C(2 * x) * E(y) * t**2),
    ("f1_xyt", F1, ("x", "y", "t"), lambda x, y, t: 4 * C(2 * x) * E(y) * t),
    ("f1_tyx", F1, ("t", "y", "x"), lambda x, y, t: 4 * C(2 * x) * E(y) * t),
    ("f1_ttt", F1, ("t", "t", "t"), lambda x, y, t: 0 * x),
    ("f2_yy", F2, ("y", "y"), lambda x, y, t: 2 * x**3 - t**2 * C(t * y)),
    ("f2_yt", F2, ("y", "t"), lambda x, y, t: -S(t * y) - t * y * C(t * y)),
    ("f2_xxy", F2, ("x", "x", "y"), lambda x, y, t: 12 * x * y),
    ("f2_yyy", F2, ("y", "y", "y"), lambda x, y, t: t**3 * S(t * y)),
    ("f3_y", F3, ("y",), lambda x, y, t: 0 * x),
    ("f3_yy", F3, ("y", "y"), lambda x, y, t: 0 * x),
    ("f3_xy", F3, ("x", "y"), lambda x, y, t: 0 * x),
    ("f3_xt", F3, ("x", "t"), lambda x, y, t: 2 * x),
    ("f3_xxt", F3, ("x", "x", "t"), lambda x, y, t: 2 + 0 * x),
]


def close(actual, expected, atol=ATOL):
    torch.testing.assert_close(actual, expected.expand_as(actual), atol=atol, rtol=0)


@pytest.mark.parametrize("fn, axes, analytic", [d[1:] for d in DERIVATIVES], ids=[d[0] for d in DERIVATIVES])
def test_partial_derivative_matches_closed_form(fn, axes, analytic):
    x = points()
    u = scalar_field(fn, x)
    close(u.d(*axes), analytic(*split(x.detach())))


def test_many_derivatives_of_one_field_in_any_order_share_a_correct_cache():
    """Asking in forward and reverse order on the same Field gives the closed forms both times."""
    for order in (DERIVATIVES, DERIVATIVES[::-1]):
        x = points(seed=1)
        fields = {fn: scalar_field(fn, x) for fn in (F1, F2, F3)}
        for _, fn, axes, analytic in order:
            close(fields[fn].d(*axes), analytic(*split(x.detach())))


def test_d_without_axes_is_the_value():
    x = points()
    close(scalar_field(F1, x).d(), F1(*split(x.detach())))


def test_grad_defaults_to_space_axes_and_accepts_explicit_axes():
    x = points()
    u = scalar_field(F1, x)
    xs, ys, ts = split(x.detach())
    dx, dy, dt = 2 * C(2 * xs) * E(ys) * ts**2, S(2 * xs) * E(ys) * ts**2, 2 * S(2 * xs) * E(ys) * ts
    close(u.grad(), torch.stack([dx, dy], dim=1))  # time excluded: space = (x, y)
    close(u.grad(["t", "x"]), torch.stack([dt, dx], dim=1))
    # without `space`, every coordinate is spatial
    close(Field(x, F1(*split(x))[:, None], NAMES).grad(), torch.stack([dx, dy, dt], dim=1))


def test_laplacian_sums_space_second_derivatives():
    x = points()
    u = scalar_field(F1, x)
    xs, ys, ts = split(x.detach())
    base = S(2 * xs) * E(ys)
    close(u.laplacian(), (-4 + 1) * base * ts**2)  # u_xx + u_yy, no u_tt
    close(u.laplacian(["x", "y", "t"]), (-4 + 1) * base * ts**2 + 2 * base)


def vector_field(x):
    xs, ys, ts = split(x)
    values = torch.stack([xs**2 * ys, S(ys) * ts], dim=1)  # (N, 2): u, v
    return Field(x, values, NAMES, ("u", "v"), SPACE)


def test_div_of_a_vector_field():
    x = points()
    w = vector_field(x)
    xs, ys, ts = split(x.detach())
    expected = 2 * xs * ys + C(ys) * ts  # du/dx + dv/dy
    close(w.div(), expected)
    close(w.div(components=["v", "u"], axes=["y", "x"]), expected)
    close(w.div(components=["u"], axes=["t"]), 0 * xs)


def test_div_with_mismatched_components_and_axes_raises():
    with pytest.raises(KanpdeError, match="as many components as axes"):
        vector_field(points()).div(components=["u"])


def test_component_selection_by_name_and_index():
    x = points()
    w = vector_field(x)
    xs, ys, ts = split(x.detach())
    close(w.value, torch.stack([xs**2 * ys, S(ys) * ts], dim=1))
    close(w["u"].value, xs**2 * ys)
    close(w[1].value, S(ys) * ts)
    for v in (w["v"], w[1]):
        close(v.d("y"), C(ys) * ts)
        close(v.d("y", "t"), C(ys))
        close(v.d("x"), 0 * xs)  # v does not depend on x
    close(w[0].d("x", "y"), 2 * xs)
    close(w["u"].grad(), torch.stack([2 * xs * ys, xs**2], dim=1))


def test_field_of_constants_has_zero_derivatives():
    x = points()
    u = Field(x, torch.full((len(x), 1), 3.0, dtype=torch.float64), NAMES)
    for axes in (("x",), ("y", "t"), ("t", "t", "x")):
        close(u.d(*axes), torch.zeros(len(x), dtype=torch.float64), atol=0)


@pytest.mark.parametrize("power", [3, 4])
def test_loss_from_laplacian_backpropagates_to_a_parameter(power):
    """u = a x^p: L = mean((u_xx)^2) = a^2 p^2 (p-1)^2 mean(x^(2p-4)); dL/da = 2 L / a."""
    a = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)[:, None].requires_grad_(True)
    u = Field(x, a * x**power, ("x",))
    loss = u.laplacian().square().mean()
    (grad,) = torch.autograd.grad(loss, a)
    xs = x.detach()[:, 0]
    coef = (power * (power - 1)) ** 2 * (xs ** (2 * power - 4)).mean()
    torch.testing.assert_close(loss.detach(), a.detach() ** 2 * coef, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(grad, 2 * a.detach() * coef, atol=1e-12, rtol=1e-12)


def test_unknown_coordinate_lists_coordinates():
    u = scalar_field(F1, points())
    with pytest.raises(KanpdeError, match=r"'z'.*x, y, t"):
        u.d("z")
    with pytest.raises(KanpdeError, match=r"'z'.*x, y, t"):
        u.grad(["x", "z"])


def test_derivative_of_multi_component_field_needs_a_component():
    w = vector_field(points())
    with pytest.raises(KanpdeError, match=r"components u, v"):
        w.d("x")
    with pytest.raises(KanpdeError, match=r"components u, v"):
        w.laplacian()


@pytest.mark.parametrize("component", ["w", 2, -1])
def test_unknown_component_lists_components(component):
    with pytest.raises(KanpdeError, match=r"unknown solution component.*u, v"):
        vector_field(points())[component]


def test_coords_access_by_name():
    x = points().detach()
    c = Coords(x, NAMES)
    assert torch.equal(c.x, x[:, 0]) and torch.equal(c.y, x[:, 1])
    assert torch.equal(c["t"], x[:, 2]) and torch.equal(c.t, x[:, 2])
    assert c.tensor is x and c.names == NAMES and len(c) == len(x)


def test_coords_unknown_name_lists_coordinates():
    c = Coords(points().detach(), NAMES)
    with pytest.raises(KanpdeError, match=r"'z'.*x, y, t"):
        _ = c.z
    with pytest.raises(KanpdeError, match=r"'s'.*x, y, t"):
        _ = c["s"]
    with pytest.raises(AttributeError):  # private names are plain attribute errors
        _ = c._private
