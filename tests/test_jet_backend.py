"""Which backend the operators use, and that the jet backend gives what autograd gives.

Oracle: the same residuals and condition terms evaluated by nested autograd.
"""

import pytest
import torch

import kanpde
from kanpde.conditions import Dirichlet, Neumann, Periodic
from kanpde.geometry import Box
from kanpde.jet import Jet, JetRequest, autograd_jet
from kanpde.model import KAN, MLP, KANConfig
from kanpde.problem import Problem
from kanpde.training.losses import RESIDUAL, loss_terms
from kanpde.training.sampler import SamplerConfig, sample_batch

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def kan(problem, widths=(8,), seed=1):
    dims = [problem.domain.dim, *widths, len(problem.components)]
    return KAN(dims, problem.domain.bounds, KANConfig(grid_size=6, noise_scale=1.0), generator=gen(seed), dtype=F64)


def batch(problem, n=64):
    return sample_batch(problem, SamplerConfig("uniform", n, 32), gen(2), F64, "cpu")


def spy(problem):
    """The problem with its residual recording the backend of each field it sees."""
    seen = []

    def residual(u, x, p):
        seen.append(u.backend)
        return problem.residual(u, x, p)

    from dataclasses import replace
    return replace(problem, residual=residual), seen


def test_operators_choose_the_jet_for_a_kan_after_recording_the_request():
    problem, seen = spy(kanpde.load_problem("poisson2d"))
    model, data, requests = kan(problem), batch(problem), {}
    loss_terms(problem, model, data, requests)
    loss_terms(problem, model, data, requests)
    assert seen == ["probe", "jet", "jet"]  # a probe of zeros records what the residual asks for
    assert requests[RESIDUAL] == JetRequest.of(laplacian=[0, 1])  # the Laplacian as one channel
    assert requests["dirichlet[boundary]"] == JetRequest()  # values only


def test_operators_choose_the_jet_for_an_mlp_too_and_autograd_for_a_model_without_one():
    problem, seen = spy(kanpde.load_problem("poisson2d"))
    model = MLP([2, 8, 1], problem.domain.bounds, generator=gen(), dtype=F64)
    requests = {}
    for _ in range(2):
        loss_terms(problem, model, batch(problem), requests)
    assert seen == ["probe", "jet", "jet"]
    problem, seen = spy(kanpde.load_problem("poisson2d"))
    plain = torch.nn.Sequential(torch.nn.Linear(2, 8, dtype=F64), torch.nn.Tanh(), torch.nn.Linear(8, 1, dtype=F64))
    requests = {}
    for _ in range(2):
        loss_terms(problem, plain, batch(problem), requests)
    assert seen == ["autograd", "autograd"]


def test_third_order_terms_take_the_jet_and_fourth_order_ones_fall_back_to_autograd():
    def residual(u, x, p):
        return u.d("x", "x", "x") + u.d("x", "y", "y") + u.d("x", "y")

    problem, seen = spy(Problem("kdv-like", Box([0, 0], [1, 1]), residual))
    model, data, requests = kan(problem), batch(problem), {}
    by_jet = [loss_terms(problem, model, data, requests)[RESIDUAL] for _ in range(2)]
    assert seen == ["probe", "jet", "jet"] and requests[RESIDUAL].third == ((0, 0, 0), (0, 1, 1))
    by_autograd = loss_terms(problem, model, data, None)[RESIDUAL]
    torch.testing.assert_close(by_jet[1], by_autograd, rtol=1e-12, atol=0)

    problem, seen = spy(Problem("fourth", Box([0, 0], [1, 1]), lambda u, x, p: u.d("x", "x", "y", "y")))
    requests = {}
    for _ in range(2):
        loss_terms(problem, kan(problem), batch(problem), requests)
    assert seen == ["probe", "autograd", "autograd"] and requests[RESIDUAL] is None


def test_a_derivative_missing_from_the_jet_is_recorded_and_computed_by_autograd():
    calls = []

    def residual(u, x, p):  # asks for u_xy only from its third call on
        calls.append(u.backend)
        return u.laplacian() + (u.d("x", "y") if len(calls) > 2 else 0.0)

    problem = Problem("growing", Box([0, 0], [1, 1]), residual)
    model, data, requests = kan(problem), batch(problem), {}
    first = loss_terms(problem, model, data, requests)[RESIDUAL]
    second = loss_terms(problem, model, data, requests)[RESIDUAL]  # jet misses u_xy -> autograd
    third = loss_terms(problem, model, data, requests)[RESIDUAL]  # the jet now carries u_xy
    assert calls == ["probe", "jet", "jet", "autograd", "jet"]
    assert (0, 1) in requests[RESIDUAL].second and requests[RESIDUAL].laplacian == (0, 1)
    torch.testing.assert_close(third, second, rtol=1e-12, atol=0)
    assert not torch.isclose(first, second)


def loss_by_backend(problem, model, data):
    """Every loss term through autograd and through the jet, with parameter gradients."""
    out = {}
    for backend in ("autograd", "jet"):
        requests = {}
        terms = loss_terms(problem, model, data, requests)
        if backend == "jet":
            terms = loss_terms(problem, model, data, requests)
        total = sum(terms.values())
        grads = torch.autograd.grad(total, list(model.parameters()))
        out[backend] = ({k: v.detach() for k, v in terms.items()}, grads)
    return out


def test_jet_and_autograd_give_the_same_loss_and_gradients_with_conditions_and_hard_constraints():
    def residual(u, x, p):  # mixed, pure and first derivatives of a two-component field
        a, b = u["a"], u["b"]
        return torch.stack([a.laplacian() + a.d("x", "y") * b.value, b.d("y") - a.d("x") + torch.sin(x.x)], dim=1)

    box = Box([0.0, 0.0], [1.0, 2.0])
    problem = Problem("system", box, residual, components=("a", "b"), conditions=[
        Dirichlet(("x-", "x+"), value=1.0, component="a"),
        Neumann("y+", value=0.5, component="b"),
        Periodic(axis="y", component="b"),
    ])
    for candidate in (problem, kanpde.hard_dirichlet(problem)):
        model = kan(candidate)
        result = loss_by_backend(candidate, model, batch(candidate))
        (terms_a, grads_a), (terms_j, grads_j) = result["autograd"], result["jet"]
        assert terms_a.keys() == terms_j.keys()
        for name in terms_a:
            torch.testing.assert_close(terms_j[name], terms_a[name], rtol=1e-12, atol=1e-14)
        for ga, gj in zip(grads_a, grads_j):
            torch.testing.assert_close(gj, ga, rtol=1e-10, atol=1e-12)


def test_the_autograd_jet_gives_closed_form_third_derivatives():
    x = torch.rand(30, 2, dtype=F64, generator=gen(4))
    request = JetRequest.of(third=[(1, 1, 1), (0, 1, 1), (0, 0, 0)])
    jet = autograd_jet(lambda z: torch.sin(z[:, :1]) * z[:, 1:] ** 4, x, request)  # f = sin(x) y^4
    s, c, y = torch.sin(x[:, :1]), torch.cos(x[:, :1]), x[:, 1:]
    torch.testing.assert_close(jet.d3(1, 1, 1), 24 * s * y, rtol=1e-13, atol=0)
    torch.testing.assert_close(jet.d3(1, 0, 1), 12 * c * y**2, rtol=1e-13, atol=0)
    torch.testing.assert_close(jet.d3(0, 0, 0), -c * y**4, rtol=1e-13, atol=0)
    torch.testing.assert_close(jet.d2(1, 1), 12 * s * y**2, rtol=1e-13, atol=0)  # the pairs within come along


@pytest.mark.parametrize("third", [(), [(0, 0, 0), (0, 1, 1)]], ids=["second", "third"])
def test_jet_product_rule_and_composition_against_autograd(third):
    x = torch.rand(40, 2, dtype=F64, generator=gen(3))
    request = JetRequest.of(first=[0, 1], second=[(0, 1), (1, 1)], laplacian=[0, 1], third=third)
    f = lambda z: torch.sin(3 * z[:, :1]) * torch.exp(z[:, 1:])  # noqa: E731
    g = lambda z: z[:, :1] ** 3 + torch.cos(z[:, 1:] * z[:, :1])  # noqa: E731
    jf, jg = autograd_jet(f, x, request), autograd_jet(g, x, request)
    torch.testing.assert_close((jf * jg).data, autograd_jet(lambda z: f(z) * g(z), x, request).data,
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close((jf + jg).data, autograd_jet(lambda z: f(z) + g(z), x, request).data,
                               rtol=1e-12, atol=1e-12)
    t = torch.tanh(jf.value)
    slope = 1 - t**2
    composed = Jet(request, jf.compose(t, slope, -2 * t * slope, slope * (4 * t**2 - 2 * slope)))
    torch.testing.assert_close(composed.data, autograd_jet(lambda z: torch.tanh(f(z)), x, request).data,
                               rtol=1e-12, atol=1e-12)


def test_all_jet_terms_come_from_one_pass_through_the_network():
    problem = kanpde.load_problem("poisson2d")  # residual + a Dirichlet term
    model, data, requests = kan(problem), batch(problem), {}
    calls = []
    original = model.jet
    model.jet = lambda x, request: calls.append(len(x)) or original(x, request)
    joint = loss_terms(problem, model, data, requests)
    assert calls == [len(data.interior) + len(data.conditions[0].x)]
    separate = loss_terms(problem, model, data)  # oracle: each term by autograd on its own points
    for name in joint:
        torch.testing.assert_close(joint[name], separate[name], rtol=1e-12, atol=1e-14)
