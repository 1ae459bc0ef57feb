"""Gauss-Newton / Levenberg-Marquardt, and the residual Jacobian they step with."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kanpde import KAN, MLP, KANConfig, Stage, load_problem, solve
from kanpde.analysis import evaluate
from kanpde.constraints import hard_dirichlet, hard_periodic
from kanpde.errors import KanpdeError
from kanpde.training import jacobian
from kanpde.training.gauss_newton import GaussNewton, gram
from kanpde.training.losses import term_weights
from kanpde.training.objective import Objective
from kanpde.training.sampler import SamplerConfig, sample_batch

F64 = torch.float64


class Residuals:
    """A least-squares objective r(x) with its Jacobian by autograd (small n)."""

    def __init__(self, x: nn.Parameter, fn):
        self.x, self.fn = x, fn

    def residuals(self) -> torch.Tensor:
        return self.fn(self.x)

    def jacobian(self, params):
        r = self.fn(self.x)
        J = torch.stack([torch.autograd.grad(ri, self.x, retain_graph=True)[0] for ri in r])
        return r.detach(), J


def _linear(seed: int = 0, rank: int | None = None):
    generator = torch.Generator().manual_seed(seed)
    A = torch.randn(30, 10, generator=generator, dtype=F64)
    if rank is not None:  # a rank-deficient matrix: the minimum-norm solution is the answer
        A = A[:, :rank] @ torch.randn(rank, 10, generator=generator, dtype=F64)
    return A, torch.randn(30, generator=generator, dtype=F64)


@pytest.mark.parametrize("rank", [None, 6])
def test_gauss_newton_solves_linear_least_squares_in_one_step(rank):
    A, b = _linear(rank=rank)
    x = nn.Parameter(torch.zeros(10, dtype=F64))
    optimizer = GaussNewton([x], method="gn")
    optimizer.step(Residuals(x, lambda z: A @ z - b))
    exact = torch.linalg.pinv(A) @ b  # from zero, the minimum-norm solution
    assert optimizer.iterations == 1
    assert torch.allclose(x.detach(), exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layout", ["contiguous", "column slice"])
def test_the_gram_matrix_equals_the_general_product(dtype, layout):
    J = torch.randn(300, 70, generator=torch.Generator().manual_seed(1), dtype=F64)
    J = (J if layout == "contiguous" else torch.randn(300, 90, dtype=F64)[:, 10:80] + J).to(dtype)
    A = gram(J)
    expected = (J.double().T @ J.double()).to(dtype)
    assert torch.equal(A, A.T)
    tol = 1e-12 if dtype == F64 else 1e-5
    assert (A - expected).abs().max() <= tol * expected.abs().max()


@pytest.mark.parametrize("max_dense", [6000, 0])  # Cholesky, then conjugate gradients
def test_levenberg_marquardt_on_linear_least_squares(max_dense):
    A, exact = _linear()
    exact = exact[:10]
    b = A @ exact  # a consistent system: the loss at the minimum is 0, so the loss can still
    # tell steps apart near it (at a loss of O(1) rounding hides changes below 1e-16)
    x = nn.Parameter(torch.zeros(10, dtype=F64))
    optimizer = GaussNewton([x], method="lm", max_dense=max_dense)
    objective = Residuals(x, lambda z: A @ z - b)
    # the linear model is exact (gain ratio 1): the damping falls 3x a step and the error
    # contracts by mu / (mu + sigma_min^2) each step (measured: 1.3e-9 after 12 steps)
    for _ in range(20):
        optimizer.step(objective)
        if (x.detach() - exact).norm() < 1e-12:
            break
    assert (x.detach() - exact).norm() < 1e-12 and optimizer.iterations < 20


def test_levenberg_marquardt_on_rosenbrock_residuals():
    # f = 100 (x1 - x0^2)^2 + (1 - x0)^2 = |r|^2, minimum 0 at (1, 1), from the classic (-1.2, 1)
    x = nn.Parameter(torch.tensor([-1.2, 1.0], dtype=F64))
    optimizer = GaussNewton([x], method="lm")
    objective = Residuals(x, lambda z: torch.stack([10 * (z[1] - z[0] ** 2), 1 - z[0]]))
    for _ in range(50):
        optimizer.step(objective)
        if (x.detach() - 1).abs().max() < 1e-12:
            break
    assert (x.detach() - 1).abs().max() < 1e-12 and optimizer.iterations < 50


def test_levenberg_marquardt_fits_poisson1d_to_rounding():
    """u = x (1 - x): one KAN layer represents it exactly, but its edge is the product
    w_spline * coef, a nonlinear least-squares problem; LM reaches rounding level in a
    bounded number of steps (measured: rel. L2 1.4e-15 after 20 steps)."""
    problem = load_problem("poisson1d")
    model = KAN([1, 1], problem.domain.bounds, KANConfig(grid_size=5),
                generator=torch.Generator().manual_seed(0), dtype=F64)
    result = solve(problem, model, [Stage(40, "lm")], sampler=SamplerConfig(interior=64, boundary=2))
    assert result.ok, result.message
    assert evaluate(problem, model, 1000)["rel_l2"] < 1e-10
    assert result.stages[0].steps < 40  # ended at rounding level, not at the step limit


def _objective(problem, model, interior=128, boundary=64):
    batch = sample_batch(problem, SamplerConfig(interior=interior, boundary=boundary),
                         torch.Generator().manual_seed(0), F64, torch.device("cpu"))
    objective = Objective(problem, model, batch, {}, term_weights(problem))
    objective()  # records the jet requests
    return objective


def _kan(problem, widths, **kwargs):
    return KAN([problem.domain.dim, *widths, len(problem.components)], problem.domain.bounds,
               KANConfig(grid_size=4, noise_scale=1.0), generator=torch.Generator().manual_seed(1),
               dtype=F64, **kwargs)


@pytest.mark.parametrize("name, widths, kwargs", [
    ("poisson2d", [4], {}),  # hard Dirichlet output transform below
    ("cavity", [4], {}),  # three equations a point, three outputs
    ("burgers_inverse", [3], {}),  # observed data, and the unknown nu: a column by forward mode
    ("helmholtz2d", [2, 3], {"mult": [1]}),  # product nodes
    ("poisson2d", [5, 5], {"mlp": True}),  # the MLP baseline's linear layers
    ("burgers_inverse", [4], {"mlp": True}),
    ("burgers1d", [3, 3], {"reflect": (0, "odd")}),  # a residual depends on its point and its mirror image
    ("burgers_inverse", [4], {"mlp": True, "reflect": (0, "odd")}),
])
def test_the_per_point_jacobian_equals_reverse_mode(name, widths, kwargs):
    problem = load_problem(name)
    if name == "poisson2d":
        problem = hard_dirichlet(problem)
    if kwargs.pop("mlp", False):
        model = MLP([problem.domain.dim, *widths, len(problem.components)], problem.domain.bounds, "tanh",
                    generator=torch.Generator().manual_seed(1), dtype=F64, **kwargs)
    else:
        model = _kan(problem, widths, **kwargs)
    params = list(model.parameters()) + problem.unknown_tensors(F64, torch.device("cpu"))
    objective = _objective(problem, model)
    r, J = objective.jacobian(params)
    assert objective.fast_terms == set(objective.residual_blocks())  # the fast path held for every term
    r_ref, J_ref = jacobian._generic(objective, params)
    assert torch.allclose(r, r_ref, rtol=1e-12, atol=1e-14)  # torch operations vs the fused kernel
    assert torch.allclose(J, J_ref, rtol=0, atol=1e-12 * float(J_ref.abs().max()))
    # the residual vector's squares are the loss
    assert float(r.square().sum()) == pytest.approx(float(objective().detach()), rel=1e-12)


def test_a_condition_coupling_points_gets_its_rows_by_reverse_mode():
    # allen_cahn's periodic conditions compare u at x = -1 and x = 1: rows of two points
    problem = load_problem("allen_cahn")
    model = _kan(problem, [3])
    params = list(model.parameters())
    objective = _objective(problem, model, interior=64, boundary=16)
    r, J = objective.jacobian(params)
    assert objective.fast_terms == {"residual", "initial"}  # the periodic pairs by reverse mode
    _, J_ref = jacobian._generic(objective, params)
    assert torch.allclose(J, J_ref, rtol=0, atol=1e-12 * float(J_ref.abs().max()))
    # with the periodicity built into the network, the fast path holds again
    periodic_problem, periodic = hard_periodic(problem)
    model = _kan(periodic_problem, [3], periodic=periodic)
    objective = _objective(periodic_problem, model, interior=64, boundary=16)
    objective.jacobian(list(model.parameters()))
    assert objective.fast_terms == set(objective.residual_blocks())


def test_a_least_squares_stage_refuses_the_sparsity_regulariser():
    with pytest.raises(KanpdeError, match="sum of squares.*sparsify"):
        Stage(3, "lm", sparsify=1e-3)
    problem = load_problem("poisson1d")  # and so does its objective, used directly
    objective = _objective(problem, _kan(problem, [2]), interior=16, boundary=2)
    objective.sparsify = 1e-3
    with pytest.raises(KanpdeError, match="sum of squares"):
        objective.residual_blocks()


@pytest.mark.parametrize("loss", ["sqrt", "log"])
def test_a_quasi_newton_stage_on_a_transformed_loss_logs_the_loss_itself(loss):
    problem = load_problem("poisson1d")
    model = _kan(problem, [2])
    sampler = SamplerConfig(interior=64, boundary=2)
    result = solve(problem, model, [Stage(5, "ssbroyden", loss=loss)], sampler=sampler, log_every=1)
    assert result.ok, result.message
    objective = _objective(problem, model, interior=64, boundary=2)  # the same points (seed 0)
    last = result.history[-1]
    assert last["loss"] > 0 and last["loss"] < result.history[0]["loss"]
    # each row's loss is the mean-square loss of the model it logs: the last row's model
    # is the one before the last step, whose loss is not below the final one
    assert float(objective().detach()) <= last["loss"] * (1 + 1e-12)


def test_a_least_squares_stage_takes_only_the_plain_loss():
    with pytest.raises(KanpdeError, match="must be mse"):
        Stage(3, "lm", loss="log")
