"""Tests for kanpde.problem and the shipped problems: every exact solution makes the PDE
residual and every condition vanish; perturbing it makes them not vanish."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import kanpde
from kanpde import Dirichlet, Initial, Interval, KanpdeError, Periodic, Problem
from kanpde.training.losses import evaluate_residual, loss_terms
from kanpde.training.sampler import SamplerConfig, sample_batch

ATOL = 1e-9  # float64 residual of an exact solution (second derivatives of O(50) terms)
F64, CPU = torch.float64, torch.device("cpu")
PROBLEMS = kanpde.known_problems()
WITH_EXACT = [name for name in PROBLEMS if kanpde.load_problem(name).exact is not None]
WITH_REFERENCE = [name for name in PROBLEMS if kanpde.load_problem(name).reference is not None]


def load(name):
    """A shipped problem, with an inverse problem's unknowns set to their true values (the
    exact solution solves the PDE with those)."""
    problem = kanpde.load_problem(name)
    for unknown in problem.unknowns:
        problem.params.estimates[unknown] = torch.tensor(math.log(dict(problem.params)[unknown]), dtype=F64)
    return problem


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class Exact(nn.Module):
    """The problem's exact solution (+ an optional bump(x: (N, d)) -> (N,)) as a module."""

    def __init__(self, problem, bump=None):
        super().__init__()
        self.problem, self.bump = problem, bump

    def forward(self, x):
        values = self.problem.exact_values(x)
        return values if self.bump is None else values + self.bump(x)[:, None]


def bump(x):
    """0.01 exp(first coordinate): non-zero everywhere, not harmonic, not periodic."""
    return 0.01 * torch.exp(x[:, 0])


def condition_residuals(problem, model, n=32, seed=1):
    """[(condition, points x (N, d), residual (N, k))] at freshly sampled points."""
    out = []
    for condition in problem.conditions:
        points = condition.sample(problem.domain, n, "uniform", gen(seed), F64, CPU)
        u = problem.field(points.x, model)
        out.append((condition, points.x, condition.residual(u, problem.coords(u.x), points, problem.params)))
    return out


def test_there_are_shipped_problems():
    assert {"diffusion1d", "helmholtz2d", "poisson2d"} <= set(PROBLEMS)


@pytest.mark.parametrize("name", PROBLEMS)
def test_every_problem_has_an_exact_solution_or_names_a_reference_solver(name):
    problem = load(name)
    assert (problem.exact is None) != (problem.reference is None)


@pytest.mark.parametrize("name", WITH_EXACT)
def test_exact_solution_has_zero_residual(name):
    problem = load(name)
    x = problem.domain.sample_interior(64, "uniform", generator=gen(), dtype=F64)
    r = evaluate_residual(problem, Exact(problem), x)
    assert r.shape[0] == len(x) and r.ndim == 2
    assert r.abs().max() <= ATOL


@pytest.mark.parametrize("name", WITH_EXACT)
def test_exact_solution_satisfies_every_condition(name):
    problem = load(name)
    assert problem.conditions, f"{name} has no conditions"
    for condition, x, r in condition_residuals(problem, Exact(problem)):
        pairs = isinstance(condition, Periodic)  # x holds both faces, one residual per pair
        assert r.shape[0] == (len(x) // 2 if pairs else len(x)) and len(x) > 0
        assert r.abs().max() <= ATOL, condition.label


@pytest.mark.parametrize("name", WITH_EXACT)
def test_exact_solution_has_zero_loss_terms(name):
    """The training loss sees the same thing: every term of loss_terms is ~0."""
    problem = load(name)
    batch = sample_batch(problem, SamplerConfig("sobol", interior=64, boundary=32), gen(), F64, CPU)
    terms = loss_terms(problem, Exact(problem), batch)
    assert set(terms) == {"residual", *(c.label for c in problem.conditions)}
    for label, value in terms.items():
        assert value <= ATOL**2, label


@pytest.mark.parametrize("name", WITH_EXACT)
def test_perturbed_solution_has_nonzero_residual(name):
    problem = load(name)
    x = problem.domain.sample_interior(64, "uniform", generator=gen(), dtype=F64)
    r = evaluate_residual(problem, Exact(problem, bump), x)
    assert r.abs().max() > 1e-3  # the bump is >= 0.01 / e in size; its residual is of its size


# residual of exact + bump = L[bump] for these linear problems, L as in each problem's docstring
BUMP_RESIDUAL = {
    "poisson2d": lambda b, p: -b,  # -lap(b) = -b
    "helmholtz2d": lambda b, p: (1 + p.k**2) * b,  # lap(b) + k^2 b
    "diffusion1d": lambda b, p: -p.D * b,  # b_t - D b_xx
    "poisson1d": lambda b, p: -b,  # -b''
    "boundary_layer": lambda b, p: (1 - p.eps) * b,  # -eps b'' + b'
}


@pytest.mark.parametrize("name", sorted(BUMP_RESIDUAL))
def test_perturbed_solution_residual_is_the_operator_on_the_bump(name):
    problem = load(name)
    x = problem.domain.sample_interior(64, "uniform", generator=gen(), dtype=F64)
    r = evaluate_residual(problem, Exact(problem, bump), x)
    expected = BUMP_RESIDUAL[name](bump(x), problem.params)
    torch.testing.assert_close(r[:, 0], expected, atol=ATOL, rtol=0)


VALUE_CONDITIONS = [(name, i) for name in WITH_EXACT
                    for i, c in enumerate(kanpde.load_problem(name).conditions)
                    if isinstance(c, Dirichlet) or (isinstance(c, Initial) and c.derivative == 0)]


@pytest.mark.parametrize("name, index", VALUE_CONDITIONS)
def test_perturbed_solution_misses_value_conditions_by_the_bump(name, index):
    problem = load(name)
    _, x, r = condition_residuals(problem, Exact(problem, bump))[index]
    torch.testing.assert_close(r[:, 0], bump(x), atol=ATOL, rtol=0)


# -- reference solutions -----------------------------------------------------------------------

@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_reference_solution_meets_the_problems_initial_and_boundary_conditions(name):
    """The reference solves the problem as declared: at t0 it has the problem's initial
    values, on its ends the Dirichlet values or (periodic) equal values."""
    problem = load(name)
    reference = problem.reference(problem.params)
    x, t = reference.axes
    values = torch.as_tensor(reference.values)  # (len(x), len(t))
    at = lambda columns: problem.coords(torch.stack(columns, dim=1))  # noqa: E731
    for condition in problem.conditions:
        if isinstance(condition, Initial) and condition.derivative == 0:
            grid = at([torch.as_tensor(x), torch.full((len(x),), t[0], dtype=F64)])
            expected = condition.value(grid, problem.params)
            torch.testing.assert_close(values[:, 0], expected, atol=1e-8, rtol=0)
        elif isinstance(condition, Periodic):
            torch.testing.assert_close(values[0], values[-1], atol=1e-8, rtol=0)
        elif isinstance(condition, Dirichlet):
            assert_dirichlet_values(problem, reference, condition)


def assert_dirichlet_values(problem, reference, condition):
    """The reference takes the condition's values on each of its faces (masked nodes aside)."""
    mesh = np.meshgrid(*reference.axes, indexing="ij")
    column = problem.components.index(condition.component) if condition.component else 0
    grid = reference.values if reference.components == 1 else reference.values[..., column]
    for face in condition.faces or problem.domain.default_faces():
        axis, side = problem.domain.face_axis(face)
        index = [slice(None)] * len(reference.axes)
        index[axis] = 0 if side < 0 else -1
        on_face = grid[tuple(index)]
        known = np.isfinite(on_face)
        points = torch.as_tensor(np.stack([m[tuple(index)][known] for m in mesh], axis=1))
        value = condition.value
        expected = (value(problem.coords(points), problem.params) if callable(value)
                    else torch.full((len(points),), float(value), dtype=F64))
        torch.testing.assert_close(torch.as_tensor(on_face[known]), expected.to(F64), atol=1e-8, rtol=0)


# -- parameters ------------------------------------------------------------------------------

def test_helmholtz_params_are_passed_through():
    problem = kanpde.load_problem("helmholtz2d", {"a1": 2.0})
    assert problem.params == {"a1": 2.0, "a2": 4.0, "k": 1.0} and problem.params.a1 == 2.0
    x = problem.domain.sample_interior(64, "uniform", generator=gen(), dtype=F64)
    expected = torch.sin(2 * math.pi * x[:, 0]) * torch.sin(4 * math.pi * x[:, 1])
    torch.testing.assert_close(problem.exact_values(x)[:, 0], expected, atol=1e-14, rtol=0)
    assert evaluate_residual(problem, Exact(problem), x).abs().max() <= ATOL
    for condition, _, r in condition_residuals(problem, Exact(problem)):
        assert r.abs().max() <= ATOL, condition.label
    # the default (a1 = 1) solution does not solve the a1 = 2 problem
    default = kanpde.load_problem("helmholtz2d")
    assert evaluate_residual(problem, Exact(default), x).abs().max() > 1.0


def test_cavity_taper_weights_the_residual_next_to_the_lid_ends_only():
    """taper = 0.2: the residual times (r / 0.2)^2 within r < 0.2 of a lid end, unchanged
    farther away (a smooth field that is no solution: every equation is non-zero)."""
    x = torch.tensor([[0.05, 1.0], [0.9, 0.9], [0.5, 0.5], [0.0, 0.5]], dtype=F64)
    weights = torch.tensor([(0.05 / 0.2) ** 2, 0.02 / 0.2**2, 1.0, 1.0], dtype=F64)  # r^2 = 0.0025, 0.02
    torch.manual_seed(0)
    model = nn.Linear(2, 3, dtype=F64)
    plain = evaluate_residual(kanpde.load_problem("cavity"), model, x)
    tapered = evaluate_residual(kanpde.load_problem("cavity", {"taper": 0.2}), model, x)
    torch.testing.assert_close(tapered, plain * weights[:, None], atol=1e-15, rtol=1e-12)
    assert plain.abs().min() > 0


@pytest.mark.parametrize("name", [n for n in WITH_REFERENCE if kanpde.load_problem(n).symmetry is not None])
def test_a_declared_symmetry_holds_for_the_reference_solution(name):
    """symmetry = (x, parity): the reference grid is its own mirror image in x and its
    values are parity times their mirror images (u(-x, t) = -u(x, t) for Burgers)."""
    problem = load(name)
    coordinate, parity = problem.symmetry
    axis = problem.domain.axis(coordinate)
    reference = problem.reference(problem.params)
    nodes = reference.axes[axis]
    lower, upper = (float(b) for b in problem.domain.bounds[axis])
    np.testing.assert_allclose(lower + upper - nodes[::-1], nodes, rtol=0, atol=1e-12)
    mirrored = np.flip(reference.values, axis=axis)
    sign = -1.0 if parity == "odd" else 1.0
    scale = np.abs(reference.values).max()
    assert np.abs(mirrored - sign * reference.values).max() <= 1e-9 * scale
    assert np.abs(mirrored + sign * reference.values).max() > 1e-2 * scale  # not the other parity


def test_hard_symmetry_refuses_a_problem_without_one_and_constraints_that_break_it():
    from kanpde.constraints import hard_initial, hard_symmetry

    with pytest.raises(KanpdeError, match="declares no symmetry"):
        hard_symmetry(kanpde.load_problem("poisson2d"))
    burgers = kanpde.load_problem("burgers1d")
    assert hard_symmetry(hard_initial(burgers)) == (0, "odd")  # -sin(pi x) is odd, the factor t even
    broken = Problem(name="broken", domain=burgers.domain, residual=burgers.residual,
                     conditions=[Initial(value=lambda x, p: torch.cos(math.pi * x.x))], symmetry=("x", "odd"))
    with pytest.raises(KanpdeError, match="shift is not odd in 'x'"):
        hard_symmetry(hard_initial(broken))


def test_cavity_lift_meets_every_wall_and_is_the_stokes_corner_flow_at_the_lid_ends():
    """lift: any network gives u = 1 on the lid, u = v = 0 on the other walls; at the lid
    ends the lift alone solves the Stokes equations (Delta u / Re = grad p, div u = 0),
    whose terms there are of size 1e3 (p ~ 1/r)."""
    problem = kanpde.load_problem("cavity", {"lift": True})
    assert [c.label for c in problem.conditions] == ["pressure_gauge"]
    s = torch.linspace(0.01, 0.99, 9, dtype=F64)
    one, zero = torch.ones_like(s), torch.zeros_like(s)
    torch.manual_seed(0)
    model = nn.Linear(2, 3, dtype=F64)
    for points, u in [((s, one), 1.0), ((zero, s), 0.0), ((one, s), 0.0), ((s, zero), 0.0)]:
        velocity = problem.solution(model, torch.stack(points, dim=1))[:, :2]
        torch.testing.assert_close(velocity, torch.tensor([u, 0.0], dtype=F64).expand_as(velocity), atol=1e-15,
                                   rtol=0)
    theta = torch.linspace(0.1, 1.4, 5, dtype=F64)
    r = 3e-3
    for corner, side in [(0.0, 1.0), (1.0, -1.0)]:
        x = torch.stack([corner + side * r * torch.cos(theta), 1 - r * torch.sin(theta)], dim=1).requires_grad_(True)
        shift, _ = problem.transform(x)

        def grad(f, x=x):
            return torch.autograd.grad(f.sum(), x, create_graph=True)[0]

        gu, gv, gp = grad(shift[:, 0]), grad(shift[:, 1]), grad(shift[:, 2])
        laplacian = [grad(g[:, 0])[:, 0] + grad(g[:, 1])[:, 1] for g in (gu, gv)]
        assert gp.abs().max() > 1e3
        for i in range(2):
            assert (laplacian[i] / 100.0 - gp[:, i]).abs().max() <= 1e-6 * gp.abs().max()
        assert (gu[:, 0] + gv[:, 1]).abs().max() <= 1e-6 * gu.abs().max()
    # the lid ends themselves (on evaluation grids): finite, with the taper's zero weight
    ends = torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=F64)
    tapered = kanpde.load_problem("cavity", {"lift": True, "taper": 0.05})
    assert torch.equal(evaluate_residual(tapered, model, ends), torch.zeros(2, 3, dtype=F64))


def test_allen_cahn_lift_solves_the_linearised_equation_and_takes_the_initial_values_kink():
    """lift: the shift L solves L_t = D L_xx - 10 L (u = -1 + L linearised; terms of size
    1 in the layer at t ~ 0), is periodic and even in x, u0 - L(., 0) has no kink at
    x = +-1 (the slopes of u0 there, -2 and 2, become equal), and L is smooth across x = 0."""
    problem = kanpde.load_problem("allen_cahn", {"lift": True})
    D = problem.params.D
    x = torch.cat([torch.tensor([-1.0, -0.9999, 1.0 - 3e-4, 1.0, 0.0, -0.5, 0.3]), torch.linspace(-1, 1, 9)])
    t = torch.tensor([0.0, 1e-4, 1e-3, 0.5, 1.0]).repeat_interleave(len(x))
    points = torch.stack([x.repeat(5), t], dim=1).to(F64).requires_grad_(True)
    shift, scale = problem.transform(points)
    assert torch.equal(scale, torch.ones_like(scale))
    first = torch.autograd.grad(shift.sum(), points, create_graph=True)[0]
    second = torch.autograd.grad(first[:, 0].sum(), points)[0][:, 0]
    assert (D * second).abs().max() > 0.5
    assert (first[:, 1] - D * second + 10 * shift[:, 0]).abs().max() <= 1e-12 * (D * second).abs().max()
    ends = torch.tensor([[-1.0, 0.3], [1.0, 0.3], [-0.4, 0.7], [0.4, 0.7]], dtype=F64)
    values = problem.transform(ends)[0][:, 0]
    assert values[0] == values[1] and values[2] == values[3]
    initial = problem.conditions[1]
    h = 1e-3  # slopes of u0 - L(., 0) at 1.5 h from the wrap on either side: O(h), where u0's are -2 and 2
    x0 = torch.tensor([[1.0 - 2 * h, 0.0], [1.0 - h, 0.0], [-1.0 + h, 0.0], [-1.0 + 2 * h, 0.0]], dtype=F64)
    rest = initial.value(problem.coords(x0), problem.params).reshape(-1) - problem.transform(x0)[0][:, 0]
    left, right = (rest[1] - rest[0]) / h, (rest[3] - rest[2]) / h
    assert max(abs(left), abs(right)) < 10 * 1.5 * h
    across_zero = torch.tensor([[-h, 0.0], [0.0, 0.0], [h, 0.0]], dtype=F64)
    k = problem.transform(across_zero)[0][:, 0]
    assert abs(k[0] - k[1]) < 1e-5 and abs(k[2] - k[1]) < 1e-5


def test_with_params_matches_load_with_params():
    x = kanpde.load_problem("diffusion1d").domain.sample_interior(32, "uniform", generator=gen(), dtype=F64)
    a = kanpde.load_problem("diffusion1d", {"D": 0.5})
    b = kanpde.load_problem("diffusion1d").with_params(D=0.5)
    assert a.params == b.params == {"D": 0.5}
    assert evaluate_residual(b, Exact(b), x).abs().max() <= ATOL
    torch.testing.assert_close(evaluate_residual(a, Exact(a, bump), x), evaluate_residual(b, Exact(b, bump), x),
                               atol=0, rtol=0)
    with pytest.raises(KanpdeError, match=r"\['nu'\].*D"):
        b.with_params(nu=1.0)


def test_unknown_problem_lists_known_problems():
    with pytest.raises(KanpdeError) as info:
        kanpde.load_problem("nope")
    message = str(info.value)
    assert "'nope'" in message and all(name in message for name in PROBLEMS)


def test_missing_problem_file_raises(tmp_path):
    with pytest.raises(KanpdeError, match="does not exist"):
        kanpde.load_problem(str(tmp_path / "absent.py"))


@pytest.mark.parametrize("name, params, unknown, accepted", [
    ("helmholtz2d", {"a3": 1.0}, "['a3']", "a1, a2, k"),
    ("diffusion1d", {"nu": 1.0, "D": 2.0}, "['nu']", "D"),
    ("poisson2d", {"k": 1.0}, "['k']", "(none)"),
])
def test_unknown_params_list_accepted_params(name, params, unknown, accepted):
    with pytest.raises(KanpdeError) as info:
        kanpde.load_problem(name, params)
    message = str(info.value)
    assert unknown in message and message.endswith(accepted)


USER_PROBLEM = '''
import torch
from kanpde import Dirichlet, Interval, Problem


def exact(x, p):
    return torch.exp(p.c * x.x)


def problem(c: float = 1.0) -> Problem:
    return Problem(
        name="growth",
        domain=Interval(0.0, 1.0),
        residual=lambda u, x, p: u.d("x") - p.c * u.value,
        conditions=[Dirichlet("x-", value=1.0)],
        params={"c": c},
        exact=exact,
    )
'''


def test_problem_file_outside_the_repository_loads(tmp_path):
    path = tmp_path / "growth.py"
    path.write_text(USER_PROBLEM)
    problem = kanpde.load_problem(str(path), {"c": 0.7})
    assert problem.name == "growth" and problem.params == {"c": 0.7}
    x = problem.domain.sample_interior(32, "uniform", generator=gen(), dtype=F64)
    assert evaluate_residual(problem, Exact(problem), x).abs().max() <= ATOL
    r = evaluate_residual(problem, Exact(problem, bump), x)  # (0.01 e^x)' - 0.7 * 0.01 e^x
    torch.testing.assert_close(r[:, 0], 0.3 * bump(x), atol=ATOL, rtol=0)


@pytest.mark.parametrize("source, message", [
    ("X = 1\n", "must define a function problem"),
    ("def problem():\n    return 3\n", "returned int, not a Problem"),
], ids=["no_factory", "not_a_problem"])
def test_bad_problem_file_raises(tmp_path, source, message):
    path = tmp_path / "bad.py"
    path.write_text(source)
    with pytest.raises(KanpdeError, match=message):
        kanpde.load_problem(str(path))


def test_problem_file_with_var_keyword_factory_accepts_params(tmp_path):
    path = tmp_path / "star.py"
    path.write_text("from kanpde import Interval, Problem\n"
                    "def problem(**params):\n"
                    "    return Problem('star', Interval(0.0, 1.0), lambda u, x, p: u.value, params=params)\n")
    assert kanpde.load_problem(str(path), {"nu": 2.0}).params == {"nu": 2.0}


# -- residual shape checks -------------------------------------------------------------------

def toy(residual):
    return Problem("toy", Interval(0.0, 1.0), residual=residual)


N = 8
X = torch.linspace(0.0, 1.0, N, dtype=F64)[:, None]
IDENTITY = nn.Identity()  # u(x) = x as a (N, 1) field


@pytest.mark.parametrize("residual, shown", [
    (lambda u, x, p: u.value[:, None, None].expand(N, 2, 2), f"({N}, 2, 2)"),
    (lambda u, x, p: 1.0, "float"),
    (lambda u, x, p: u.value[:-1], f"({N - 1},)"),
    (lambda u, x, p: u.value.sum(), "()"),
], ids=["rank3", "python_float", "short", "scalar_tensor"])
def test_wrong_residual_shape_raises_with_expected_shape(residual, shown):
    with pytest.raises(KanpdeError) as info:
        evaluate_residual(toy(residual), IDENTITY, X)
    message = str(info.value)
    assert f"({N},) or ({N}, k)" in message and shown in message


@pytest.mark.parametrize("residual, expected", [
    (lambda u, x, p: u.d("x") - 1.0, torch.zeros(N, 1, dtype=F64)),
    (lambda u, x, p: torch.stack([u.value, u.d("x")], dim=1), torch.stack([X[:, 0], torch.ones(N, dtype=F64)], 1)),
], ids=["vector", "two_equations"])
def test_accepted_residual_shapes(residual, expected):
    torch.testing.assert_close(evaluate_residual(toy(residual), IDENTITY, X), expected, atol=1e-15, rtol=0)
