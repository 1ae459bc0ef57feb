"""From a trained KAN to a verified formula, end to end on a small problem; the same seed
gives the same formula; an edge no function fits is forced to its best fit, and the
result says it is an approximation and how good."""

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


def test_an_edge_outside_the_library_gives_an_approximation_with_its_error_stated(trained):
    """x (1 - x) from {0, abs} only: the edge is forced to its best fit, a |x - 1/2|; the formula is
    closed, called approximate, its error is measured and stated, and the PDE check fails."""
    problem, model = trained
    result = extract_formula(problem, copy.deepcopy(model), SymbolicOptions(functions=["0", "abs"], refine=()))
    assert result.status == "approximate", result.message
    assert "phi_0_0_0" in result.metrics["partial_formula"][0] and result.formulas[0].has(sympy.Abs)
    assert not result.formulas[0].atoms(sympy.core.function.AppliedUndef)
    error = result.metrics["formula_rel_l2"]
    assert 1e-3 < error < 1.0 and f"{error:.3e}" in result.message
    assert result.metrics["network_rel_l2"] < 1e-3 < error  # the network was good; the formula is worse
    assert not result.verification.exact and [e.fit.function for e in result.refits] == ["abs"]
    assert not result.edges[0].fit.accepted and not result.refits[0].fit.accepted  # forced, and said so


def test_symbolic_extraction_needs_a_kan_whose_output_is_the_solution():
    problem = kanpde.load_problem("poisson2d")
    kan = KAN([2, 1], problem.domain.bounds, dtype=F64)
    with pytest.raises(KanpdeError, match="hard_dirichlet=false"):
        check_symbolic(hard_dirichlet(problem), kan)
    with pytest.raises(KanpdeError, match="model=kan"):
        check_symbolic(problem, MLP([2, 4, 1], problem.domain.bounds, dtype=F64))


def test_the_refining_stages_minimise_the_loss_training_did_weights_and_point_weights(trained):
    """extract_formula passes the training's loss weights and point weighting to its stages:
    solve() then refuses what it refuses in training (a term the problem lacks; causal
    weighting on a steady problem) instead of quietly refining another loss."""
    problem, model = trained
    options = SymbolicOptions(refine=[Stage(2, "lbfgs", 1.0)])
    with pytest.raises(KanpdeError, match=r"unknown terms \['nosuch'\]"):
        extract_formula(problem, copy.deepcopy(model), options, weights={"nosuch": 1.0})
    with pytest.raises(KanpdeError, match="causal and time-decay weighting need a time axis"):
        extract_formula(problem, copy.deepcopy(model), options, point_weighting=kanpde.PointWeighting(causal=1.0))
