"""From a trained KAN to a verified formula, end to end on a small problem; the same seed
gives the same formula; an edge no function fits keeps the formula partial."""

import copy

import pytest
import sympy
import torch

import kanpde
from kanpde import KanpdeError
from kanpde.constraints import hard_dirichlet
from kanpde.model import KAN, MLP
from kanpde.symbolic.pipeline import SymbolicOptions, check_symbolic, extract_formula
from kanpde.training import Stage, solve

F64 = torch.float64
X = sympy.Symbol("x", real=True)


@pytest.fixture(scope="module")
def trained():
    """poisson1d (-u'' = 2 on [0, 1], u = x (1 - x)) on the one-edge KAN [1, 1]."""
    problem = kanpde.load_problem("poisson1d")
    model = KAN([1, 1], problem.domain.bounds, generator=torch.Generator().manual_seed(0), dtype=F64)
    solve(problem, model, [Stage(100, "adam", 1e-2), Stage(10, "lbfgs", 1.0)])
    return problem, model


def test_a_trained_network_yields_the_exact_solution_verified_against_the_pde(trained):
    problem, model = trained
    result = extract_formula(problem, copy.deepcopy(model), SymbolicOptions(refine=[Stage(20, "lbfgs", 1.0)]))
    assert result.status == "verified", result.message
    assert sympy.expand(result.formulas[0] - X * (1 - X)) == 0
    assert result.metrics["formula_rel_l2"] < 1e-12
    assert all(check.exact_zero for check in result.verification.checks)
    record = result.to_dict()
    assert record["edges"][0]["function"] == "x^2" and record["edges"][0]["r2"] > 0.9999


def test_the_same_seed_gives_the_same_formula_and_fits(trained):
    problem, model = trained
    options = SymbolicOptions(retrain=[Stage(5, "adam", 1e-3)], refine=[Stage(5, "lbfgs", 1.0)])
    first = extract_formula(problem, copy.deepcopy(model), options, seed=3).to_dict()
    second = extract_formula(problem, copy.deepcopy(model), options, seed=3).to_dict()
    assert first == second


def test_an_edge_outside_the_library_stays_numeric_and_the_formula_says_so(trained):
    problem, model = trained
    result = extract_formula(problem, copy.deepcopy(model), SymbolicOptions(functions=["0", "exp"], refine=()))
    assert result.status == "partial" and "numeric" in result.message
    assert "phi_0_0_0" in str(result.formulas[0]) and result.verification is None


def test_symbolic_extraction_needs_a_kan_whose_output_is_the_solution():
    problem = kanpde.load_problem("poisson2d")
    kan = KAN([2, 1], problem.domain.bounds, dtype=F64)
    with pytest.raises(KanpdeError, match="hard_dirichlet=false"):
        check_symbolic(hard_dirichlet(problem), kan)
    with pytest.raises(KanpdeError, match="model=kan"):
        check_symbolic(problem, MLP([2, 4, 1], problem.domain.bounds, dtype=F64))
