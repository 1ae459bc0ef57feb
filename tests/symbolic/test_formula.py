"""Planted edges: spline edges set to known closed forms are recovered by name, fixed into
the network, and the assembled formula equals the network; constants snap to simple
numbers only where the error allows."""

import math

import pytest
import sympy
import torch

from kanpde.model import KAN, KANConfig
from kanpde.symbolic.edges import fit_network, fix_edges
from kanpde.symbolic.formula import FormulaModel, is_closed, network_formula, snap_constants
from kanpde.symbolic.library import function_library

F64 = torch.float64
BOUNDS = [[0.0, 2.0], [-1.0, 1.0]]  # mapped onto [-1, 1]: z0 = x - 1, z1 = y

# (layer, source, target) -> the planted edge function of the layer input z
PLANTED = {
    (0, 0, 0): ("sin", lambda z: 0.5 * torch.sin(2.0 * z + 0.3)),
    (0, 1, 0): ("x^2", lambda z: 0.3 * z**2 - 0.1),
    (0, 0, 1): ("tanh", lambda z: 0.4 * torch.tanh(3.0 * z)),
    (0, 0, 2): ("exp", lambda z: 0.6 * torch.exp(0.7 * z) - 0.6),
    (0, 1, 3): ("x", lambda z: 0.8 * z + 0.1),
    (1, 0, 0): ("x^2", lambda z: 0.7 * (z - 0.1) ** 2),
    (1, 1, 0): ("sin", lambda z: torch.sin(1.5 * z)),
    (1, 2, 0): ("x", lambda z: 1.2 * z - 0.05),
}


def planted_network():
    """KAN [2, (2 sums, 1 product), 1] on a fine grid, every spline edge either masked or
    least-squares fitted to its planted function over [-1, 1] (silu branch off)."""
    model = KAN([2, 2, 1], BOUNDS, KANConfig(grid_size=40), mult=(1,), generator=torch.Generator().manual_seed(0),
                dtype=F64)
    z = torch.linspace(-1.0, 1.0, 2001, dtype=F64)
    with torch.no_grad():
        for index, layer in enumerate(model.layers):
            layer.mask.zero_()
            layer.w_base.zero_()
            layer.w_spline.fill_(1.0)
            basis = layer.basis_values(z[:, None].expand(-1, layer.in_dim))  # (S, in, G+k)
            for (layer_index, source, target), (_, g) in PLANTED.items():
                if layer_index == index:
                    coef = torch.linalg.lstsq(basis[:, source], g(z)[:, None]).solution[:, 0]
                    layer.coef[source, :, target] = coef
                    layer.mask[source, target] = 1.0
    return model


def truth(x):
    """The planted network in closed form: x (N, 2) -> (N,)."""
    z0, z1 = x[:, 0] - 1.0, x[:, 1]
    f = {key: g for key, (_, g) in PLANTED.items()}
    n0 = f[0, 0, 0](z0) + f[0, 1, 0](z1)
    n1 = f[0, 0, 1](z0)
    n2 = f[0, 0, 2](z0) * f[0, 1, 3](z1)
    return f[1, 0, 0](n0) + f[1, 1, 0](n1) + f[1, 2, 0](n2)


def random_points(n=500, seed=1):
    u = torch.rand(n, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return torch.stack([2.0 * u[:, 0], 2.0 * u[:, 1] - 1.0], dim=1)


@pytest.fixture(scope="module")
def fitted():
    model = planted_network()
    functions = function_library()
    records = fit_network(model, random_points(4000, seed=2), functions)
    return model, functions, records


def test_planted_edges_are_recovered_by_name_with_r2_above_0_9999(fitted):
    model, _, records = fitted
    x = random_points()
    assert torch.allclose(model(x)[:, 0], truth(x), atol=1e-5)  # the planting itself
    found = {(r.layer, r.source, r.target): r.fit for r in records}
    assert set(found) == set(PLANTED)
    for key, (name, _) in PLANTED.items():
        assert found[key].function == name, (key, found[key])
        assert found[key].r2 > 0.9999 and found[key].accepted


def test_formula_of_the_fixed_network_equals_the_network(fitted):
    model, functions, records = fitted
    assert fix_edges(model, records, functions) == len(PLANTED)
    formula = network_formula(model, ["x", "y"])[0]
    assert is_closed(formula)
    assert {s.name for s in formula.free_symbols} == {"x", "y"}
    x = random_points(seed=3)
    network = model(x)[:, 0].detach()
    assert torch.allclose(FormulaModel([formula], ["x", "y"])(x)[:, 0], network, rtol=0,
                          atol=1e-6 * float(network.abs().max()))
    assert torch.allclose(network, truth(x), atol=1e-4)  # the fits are the planted functions


def test_numeric_edges_appear_as_named_functions_and_periodic_inputs_as_cos_sin():
    model = KAN([2, 1], [[0.0, 1.0], [0.0, 2.0 * math.pi]], periodic=(1,), dtype=F64)
    formula = network_formula(model, ["t", "x"])[0]
    assert not is_closed(formula)
    names = {type(f).__name__ for f in formula.atoms(sympy.core.function.AppliedUndef)}
    assert names == {"phi_0_0_0", "phi_0_1_0", "phi_0_2_0"}
    x = sympy.Symbol("x", real=True)
    assert formula.has(sympy.cos(1.0 * x)) or formula.has(sympy.cos(x))


def test_constants_snap_to_pi_and_rationals_when_the_error_allows():
    x = sympy.Symbol("x", real=True)
    points = torch.linspace(-1.0, 1.0, 201, dtype=F64)

    def error_against(amplitude):
        exact = amplitude * torch.sin(math.pi * points)

        def error(formulas):
            values = FormulaModel(formulas, ["x"])(points[:, None])[:, 0]
            return float(torch.linalg.norm(values - exact) / torch.linalg.norm(exact))
        return error

    noisy = sympy.Float(0.3333333341) * sympy.sin(sympy.Float(3.1415926531) * x) + sympy.Float(2e-10)
    snapped, err = snap_constants([noisy], error_against(1 / 3))
    assert sympy.simplify(snapped[0] - sympy.sin(sympy.pi * x) / 3) == 0
    assert err < 1e-14
    # when the truth is 0.37 sin(pi x), 0.37 is no simple number: every snap raises the error
    off = sympy.Float(0.37) * sympy.sin(sympy.pi * x)
    kept, err = snap_constants([off], error_against(0.37))
    assert kept[0] == off and err < 1e-15


def test_a_heat_decay_rate_snaps_to_a_rational_multiple_of_pi_squared():
    """exp(-2 pi^2 D t) with D = 0.1: the rate 1.9739208... is (1/5) pi^2, not p/q or (p/q) pi."""
    t = sympy.Symbol("t", real=True)
    points = torch.linspace(0.0, 1.0, 101, dtype=F64)
    exact = torch.exp(-0.2 * math.pi**2 * points)

    def error(formulas):
        values = FormulaModel(formulas, ["t"])(points[:, None])[:, 0]
        return float(torch.linalg.norm(values - exact) / torch.linalg.norm(exact))

    snapped, err = snap_constants([sympy.exp(sympy.Float(-1.9739208802178716) * t)], error)
    assert sympy.simplify(snapped[0] - sympy.exp(-sympy.pi**2 * t / 5)) == 0 and err < 1e-14


def test_a_narrow_gaussian_edge_assembles_into_a_formula_that_evaluates_like_the_network():
    """exp(-(40 x - 30)^2): expanding its argument would split off exp(-900), which
    underflows to 0 while exp(2400 x - 1600 x^2) overflows, so the formula would be NaN
    where the network is 1."""
    from kanpde.model.fixed import FixedEdge, FixedEdges
    model = KAN([1, 1], [[-1.0, 1.0]], dtype=F64)
    layer = model.layers[0]
    layer.mask.zero_()
    layer.fixed = FixedEdges(1, 1, [FixedEdge(0, 0, function_library(["gaussian"])[0], 40.0, -30.0, 2.0, 0.5)],
                             dtype=F64)
    x = torch.linspace(-1.0, 1.0, 401, dtype=F64)[:, None]
    formula = network_formula(model, ["x"])
    values = FormulaModel(formula, ["x"])(x)
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values, model(x), rtol=1e-12, atol=1e-12)
    assert float(values.max()) == pytest.approx(2.5)  # the peak at x = 3/4 is there
