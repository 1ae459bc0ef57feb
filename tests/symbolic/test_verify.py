"""Tests for kanpde.symbolic.verify: a closed-form candidate substituted into the problem's
own residual and conditions. Oracles: the shipped exact solutions (exact zero), kanpde's
numeric autograd residual on the same points (a wrong formula's residual, an arbitrary
formula's nonlinear residual), and hand-derived values."""

import json
import math

import numpy as np
import pytest
import sympy
import torch
from torch import nn

import kanpde
from kanpde import Box, Dirichlet, KanpdeError, Neumann, Problem, Robin
from kanpde.symbolic.sym import Sym, SymbolicCoords, exact_number
from kanpde.symbolic.verify import coordinate_symbols, exact_formula, residual_expression, verify_formula
from kanpde.training.losses import evaluate_residual

F64, CPU = torch.float64, torch.device("cpu")
x, y, t = sympy.symbols("x y t")  # plain symbols: the verifier matches them by name
pi, sin, cos, exp = sympy.pi, sympy.sin, sympy.cos, sympy.exp

EXACT = {  # the docstring solutions of the shipped problems, at their default parameters
    "poisson2d": sin(pi * x) * sin(pi * y),
    "diffusion1d": exp(-t) * sin(pi * x),
    "heat2d": exp(-2 * pi**2 * t / 10) * sin(pi * x) * sin(pi * y),
    "helmholtz2d": sin(pi * x) * sin(4 * pi * y),
    "wave1d": sin(pi * x) * cos(2 * pi * t) + sin(4 * pi * x) * cos(8 * pi * t) / 2,
    "klein_gordon1d": x * cos(5 * pi * t) + (x * t) ** 3,
    "advection1d": sin(x - t),
    "poisson_disk": cos(pi * (x**2 + y**2) / 2),
}


class Formula(nn.Module):
    """A sympy formula (dict for several components) evaluated in torch: x (N, d) -> (N, m)."""

    def __init__(self, problem, formula):
        super().__init__()
        parts = [formula[c] for c in problem.components] if isinstance(formula, dict) else [formula]
        symbols = sympy.symbols(problem.domain.names)
        self.fns = [sympy.lambdify(symbols, f, modules=[{"sin": torch.sin, "cos": torch.cos, "exp": torch.exp},
                                                          "math"]) for f in parts]

    def forward(self, z):
        columns = z.unbind(dim=1)
        return torch.stack([fn(*columns) + 0 * z[:, 0] for fn in self.fns], dim=1)


def interior(problem, points, seed=0):
    """The points verify_formula puts the residual on (documented: uniform, seeded ``seed``)."""
    return problem.domain.sample_interior(points, "uniform", generator=torch.Generator().manual_seed(seed), dtype=F64)


def torch_condition_max(problem, model, index, points, seed=0):
    """max |condition residual| through kanpde's numeric path, at verify_formula's points."""
    condition = problem.conditions[index]
    sample = condition.sample(problem.domain, points, "uniform", torch.Generator().manual_seed(seed + 1 + index),
                              F64, CPU)
    u = problem.field(sample.x, model)
    return condition.residual(u, problem.coords(u.x), sample, problem.params).detach().abs().max().item()


def lambdified(problem, expr):
    return sympy.lambdify(list(coordinate_symbols(problem).values()), expr, "numpy")


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_solutions_verify_exactly(name):
    problem = kanpde.load_problem(name)
    z = interior(problem, 64)
    # the formula written here is the problem's own exact solution (else the test proves nothing)
    assert np.allclose(Formula(problem, EXACT[name])(z)[:, 0], problem.exact_values(z)[:, 0], atol=1e-12)
    result = verify_formula(problem, EXACT[name], points=512)
    assert [c.name for c in result.checks] == ["residual", *(c.label for c in problem.conditions)]
    for check in result.checks:
        assert check.exact_zero is True and check.expression == "0", (check.name, check.expression)
        assert check.max_abs < 1e-10, check.name
    assert result.exact and result.max_abs < 1e-10


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_formula_is_the_problems_exact_solution(name):
    problem = kanpde.load_problem(name)
    hand = EXACT[name].subs({s: sympy.Symbol(s.name, real=True) for s in EXACT[name].free_symbols})
    assert sympy.simplify(exact_formula(problem) - hand) == 0


def test_bounds_at_zero_substitute_an_exact_zero():
    # u = x (1 - x) on [0, 1]: at x = 0.0 the face value must be the integer 0 (a sympy
    # Float 0.0 is not == 0 and would be reported as not exactly zero)
    problem = Problem(name="p1", domain=kanpde.Interval(0.0, 1.0), residual=lambda u, z, p: -u.d("x", "x") - 2.0,
                      conditions=[Dirichlet(value=0.0)], exact=lambda z, p: z.x * (1 - z.x))
    result = verify_formula(problem, exact_formula(problem), points=64)
    assert [(c.expression, c.exact_zero) for c in result.checks] == [("0", True), ("0", True)]
    with pytest.raises(KanpdeError, match="no exact solution"):
        exact_formula(kanpde.load_problem("burgers1d"))


def test_wrong_amplitude_residual_matches_the_numeric_residual():
    problem = kanpde.load_problem("poisson2d")
    formula = 1.001 * sin(pi * x) * sin(pi * y)
    result = verify_formula(problem, formula, points=1024)
    residual, boundary = result.checks
    assert residual.exact_zero is False and boundary.exact_zero is True  # sin(+-pi) = 0 still holds
    numeric = evaluate_residual(problem, Formula(problem, formula), interior(problem, 1024)).detach().abs().max()
    assert residual.max_abs == pytest.approx(numeric.item(), rel=1e-9)
    # by hand: -lap(1.001 s) - 2 pi^2 s = 0.002 pi^2 s, s = sin(pi x) sin(pi y) <= 1
    assert 0.9 * 0.002 * math.pi**2 < residual.max_abs <= 0.002 * math.pi**2 * (1 + 1e-9)
    at = {"x": 0.3, "y": 0.6}
    assert float(sympy.sympify(residual.expression).subs(at)) == pytest.approx(
        0.002 * math.pi**2 * math.sin(0.3 * math.pi) * math.sin(0.6 * math.pi), rel=1e-9)


def test_wrong_wavenumber_fails_the_boundary_by_the_numeric_amount():
    problem = kanpde.load_problem("poisson2d")
    formula = sin(3.1416 * x) * sin(pi * y)
    result = verify_formula(problem, formula, points=1024)
    model = Formula(problem, formula)
    residual, boundary = result.checks
    assert residual.exact_zero is False and boundary.exact_zero is False
    numeric = evaluate_residual(problem, model, interior(problem, 1024)).detach().abs().max()
    assert residual.max_abs == pytest.approx(numeric.item(), rel=1e-9)
    assert boundary.max_abs == pytest.approx(torch_condition_max(problem, model, 0, 1024), rel=1e-9)
    assert boundary.max_abs == pytest.approx(abs(math.sin(3.1416)), rel=1e-3)  # at |y| = 1/2 on x = +-1
    assert "y+: 0" in boundary.expression and "x+:" in boundary.expression


def test_wave_with_wrong_initial_data_fails_only_there():
    problem = kanpde.load_problem("wave1d")
    formula = 1.01 * sin(pi * x) * cos(2 * pi * t)  # solves the PDE, wrong initial value
    result = verify_formula(problem, formula, points=512)
    verdict = {c.name: c.exact_zero for c in result.checks}
    assert verdict == {"residual": True, "dirichlet[boundary]": True, "initial": False, "initial_d1t": True}
    initial = result.checks[2]
    assert initial.max_abs == pytest.approx(torch_condition_max(problem, Formula(problem, formula), 1, 512), rel=1e-9)


def test_periodic_condition_pairs_the_faces():
    problem = kanpde.load_problem("advection1d")
    formula = sin(x - t) + x * t / 10  # not periodic in x: u(0) - u(2 pi) = -2 pi t / 10
    check = verify_formula(problem, formula, points=256).checks[1]
    assert check.name == "periodic[x]" and check.exact_zero is False
    assert sympy.simplify(sympy.sympify(check.expression, locals={"t": sympy.Symbol("t", real=True)})
                          + 2 * pi * sympy.Symbol("t", real=True) / 10) == 0
    model = Formula(problem, formula)
    sample = problem.conditions[0].sample(problem.domain, 256, "uniform", torch.Generator().manual_seed(1), F64, CPU)
    u = problem.field(sample.x, model)
    numeric = problem.conditions[0].residual(u, problem.coords(u.x), sample, problem.params).abs().max()
    assert check.max_abs == pytest.approx(numeric.item(), rel=1e-9)


@pytest.mark.parametrize("name", ["burgers1d", "allen_cahn"])
def test_nonlinear_residual_equals_the_autograd_residual(name):
    problem = kanpde.load_problem(name)
    formula = exp(-t) * sin(pi * x) * x**2 + x * t / 3 + cos(2 * x + t)
    (expr,) = residual_expression(problem, formula)
    z = interior(problem, 200, seed=3)
    symbolic = lambdified(problem, expr)(*z.numpy().T)
    numeric = evaluate_residual(problem, Formula(problem, formula), z)[:, 0].detach().numpy()
    assert np.abs(numeric).max() > 0.1  # not a trivial comparison
    assert np.abs(symbolic - numeric).max() < 1e-10


def test_multi_component_residual_is_one_check_per_equation():
    problem = kanpde.load_problem("cavity")
    formula = {"u": x * y**2, "v": sin(x * y), "p": x + y}
    z = interior(problem, 100)
    numeric = evaluate_residual(problem, Formula(problem, formula), z).detach().numpy()  # (N, 3)
    symbolic = np.stack([np.broadcast_to(lambdified(problem, e)(*z.numpy().T), (100,))
                         for e in residual_expression(problem, formula)], axis=1)
    assert np.abs(symbolic - numeric).max() < 1e-12
    result = verify_formula(problem, formula, points=256)
    names = [c.name for c in result.checks]
    assert names == ["residual[0]", "residual[1]", "residual[2]", "lid", "walls_u", "walls_v", "pressure_gauge"]
    gauge = result.checks[-1]  # p(0.5, 0) = 0.5 against the datum 0: numbers only
    assert gauge.exact_zero is None and gauge.max_abs == pytest.approx(0.5)
    numeric = evaluate_residual(problem, Formula(problem, formula), interior(problem, 256)).detach().numpy()
    assert result.checks[2].max_abs == pytest.approx(np.abs(numeric[:, 2]).max(), rel=1e-12)  # div u


def test_neumann_and_robin_use_the_outward_normal():
    # u = x^2 y on [0, 1]^2: du/dn = -du/dx = 0 on x-, du/dn = du/dy = x^2 on y+
    problem = Problem(
        name="neumann_demo", domain=Box([0.0, 0.0], [1.0, 1.0]),
        residual=lambda u, z, p: u.laplacian() - 2 * z.y,
        conditions=[Neumann("x-", value=0.0), Neumann("y+", value=lambda z, p: z.x**2, name="flux"),
                    Robin("x+", alpha=2.0, beta=0.5, value=lambda z, p: 2 * z.y + 0.5 * 2 * z.y),
                    Dirichlet("y-", value=0.0)])
    result = verify_formula(problem, x**2 * y, points=256)
    assert all(c.exact_zero for c in result.checks) and result.max_abs < 1e-12
    wrong = verify_formula(problem, x**2 * y + 0.1 * y, points=256)  # du/dn on y+ is off by 0.1
    verdict = {c.name: c.exact_zero for c in wrong.checks}
    assert verdict == {"residual": True, "neumann[x-]": True, "flux": False, "robin[x+]": False, "dirichlet[y-]": True}
    model = Formula(problem, x**2 * y + 0.1 * y)
    for index, check in enumerate(wrong.checks[1:]):
        assert check.max_abs == pytest.approx(torch_condition_max(problem, model, index, 256), rel=1e-9, abs=1e-14)


def test_disk_boundary_is_checked_along_the_circle():
    problem = kanpde.load_problem("poisson_disk")
    check = verify_formula(problem, cos(pi * (x**2 + y**2) / 2) + x * y, points=256).checks[1]
    assert check.exact_zero is False and "theta" in check.expression  # x y = sin(2 theta)/2 on r = 1
    assert check.max_abs == pytest.approx(0.5, rel=1e-3)
    model = Formula(problem, cos(pi * (x**2 + y**2) / 2) + x * y)
    assert check.max_abs == pytest.approx(torch_condition_max(problem, model, 0, 256), rel=1e-9)


def test_inverse_problem_uses_the_true_parameters_and_reports_data_numerically():
    problem = kanpde.load_problem("heat_inverse")  # D = 0.5, estimates start at 0.1
    result = verify_formula(problem, exp(-pi**2 * t / 2) * sin(pi * x), points=256)
    data = result.checks[-1]
    assert data.name == "data" and data.exact_zero is None and data.max_abs < 1e-12
    assert result.exact and all(c.exact_zero for c in result.checks[:-1])


def test_float_constants_in_the_formula_are_kept_unless_asked():
    problem = kanpde.load_problem("poisson2d")
    formula = sin(math.pi * x) * sin(pi * y)
    plain = verify_formula(problem, formula, points=256)
    assert plain.checks[0].exact_zero is False and plain.max_abs < 1e-12  # Float pi: zero only numerically
    assert verify_formula(problem, formula, points=256, exact_constants=True).exact


def test_exact_number_reads_back_the_constants_of_problem_code():
    assert exact_number(2 * math.pi**2) == 2 * pi**2
    assert exact_number(1.0 * math.pi**2 - 1.0) == pi**2 - 1  # diffusion1d's source factor
    assert exact_number(1.0 - 17 * math.pi**2) == 1 - 17 * pi**2  # helmholtz2d's
    assert exact_number(0.01 / math.pi) == 1 / (100 * pi)  # burgers1d's nu
    assert exact_number(0.022**2) == sympy.Rational(121, 250000)
    assert exact_number(3.1416) == sympy.Rational(3927, 1250)  # not pi
    for value in (math.sqrt(2), math.e, 0.7390851332151607, 1.2345678901234):
        assert isinstance(exact_number(value), sympy.Float)  # no exact reading claimed
    rng = np.random.default_rng(0)
    assert not any(isinstance(exact_number(v), sympy.Rational) for v in rng.uniform(-50, 50, 200))


def test_bridge_maps_torch_functions_and_columns():
    z = SymbolicCoords({"x": sympy.Symbol("x"), "y": sympy.Symbol("y")})
    assert torch.sin(z.x).expr == sin(x)
    assert torch.sigmoid(2 * z.y).expr == 1 / (1 + exp(-2 * y))
    assert (torch.tensor(3.0) * z.x - 0.5).expr == 3 * x - sympy.Rational(1, 2)
    assert torch.stack([z.x, z.y**2], dim=1).sum(dim=1).expr == x + y**2
    assert torch.sum(z.tensor * z.tensor, dim=-1).expr == x**2 + y**2
    assert (np.float64(2.0) * z.x).expr == 2 * x and isinstance(np.float64(2.0) * z.x, Sym)


def test_unsupported_torch_function_is_a_clear_error():
    problem = Problem(name="clipped", domain=Box([0.0], [1.0], names=["x"]),
                      residual=lambda u, z, p: u.d("x", "x") - torch.where(z.x > 0.5, 1.0, 0.0))
    with pytest.raises(KanpdeError, match=r"clipped.*residual.*(where|>).*numerically"):
        verify_formula(problem, x**2)
    problem = Problem(name="clamped", domain=Box([0.0], [1.0], names=["x"]),
                      residual=lambda u, z, p: torch.clamp(u.value, min=0.0))
    with pytest.raises(KanpdeError, match=r"torch.clamp.*numerically"):
        residual_expression(problem, x)


def test_formula_errors_name_what_is_accepted():
    problem = kanpde.load_problem("heat2d")
    with pytest.raises(KanpdeError, match=r"symbols D .*\(x, y, t\)"):
        verify_formula(problem, exp(-sympy.Symbol("D") * t) * sin(pi * x))
    with pytest.raises(KanpdeError, match=r"components u, v, p"):
        verify_formula(kanpde.load_problem("cavity"), {"u": x, "v": y})


def test_record_is_json_ready_and_formula_may_be_a_string():
    result = verify_formula(kanpde.load_problem("diffusion1d"), "exp(-t)*sin(pi*x)", points=128)
    record = json.loads(json.dumps(result.to_dict()))
    assert record["exact"] is True and record["problem"] == "diffusion1d"
    assert [c["name"] for c in record["checks"]] == ["residual", "dirichlet[boundary]", "initial"]
    assert all(c["points"] > 0 and c["expression"] == "0" for c in record["checks"])
