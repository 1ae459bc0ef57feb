"""The separable ansatz is a product of one-variable functions, whatever its parameters,
and its formula reads as one."""

import itertools

import pytest
import sympy
import torch

from kanpde.errors import KanpdeError
from kanpde.model import KANConfig
from kanpde.symbolic.ansatz import separable_kan
from kanpde.symbolic.formula import network_formula
from kanpde.symbolic.prune import prune

F64 = torch.float64


def model(d, outputs=1, seed=0):
    m = separable_kan([[-1.0, 1.0]] * d, outputs, KANConfig(noise_scale=1.0),
                      generator=torch.Generator().manual_seed(seed), dtype=F64)
    with torch.no_grad():  # a non-trivial output edge: u = 1.7 P - 0.3
        m.layers[-1].fixed.c.fill_(1.7)
        m.layers[-1].fixed.d.fill_(-0.3)
    return m


@pytest.mark.parametrize("d", [2, 3, 4])
@torch.no_grad()
def test_every_split_of_the_inputs_separates(d):
    """u + 0.3 = F(x_A) G(x_B) for every split A | B of the inputs, so for two points p, q
    the swapped products agree: (u(p) + .3)(u(q) + .3) = (u(p_A, q_B) + .3)(u(q_A, p_B) + .3)."""
    m = model(d)
    g = torch.Generator().manual_seed(1)
    p, q = (2 * torch.rand(64, d, dtype=F64, generator=g) - 1 for _ in range(2))

    def u(x):
        return m(x)[:, 0] + 0.3

    scale = u(p).abs().max() * u(q).abs().max()
    assert scale > 1e-3  # the network is not (near) zero, so the check has teeth
    for size in range(1, d):  # (A and its complement give the same check; cheap enough)
        for split in itertools.combinations(range(d), size):
            a = torch.zeros(d, dtype=torch.bool)
            a[list(split)] = True
            pq, qp = torch.where(a, p, q), torch.where(a, q, p)
            assert torch.allclose(u(p) * u(q), u(pq) * u(qp), atol=1e-12 * float(scale))


@torch.no_grad()
def test_a_general_kan_does_not_pass_the_separation_check():
    """The check above can fail: a plain sum-node KAN gives f(x) + g(y)-like functions."""
    from kanpde.model import KAN
    m = KAN([2, 3, 1], [[-1.0, 1.0]] * 2, KANConfig(noise_scale=1.0), generator=torch.Generator().manual_seed(0),
            dtype=F64)
    g = torch.Generator().manual_seed(1)
    p, q = (2 * torch.rand(64, 2, dtype=F64, generator=g) - 1 for _ in range(2))
    pq = torch.stack([p[:, 0], q[:, 1]], 1)
    qp = torch.stack([q[:, 0], p[:, 1]], 1)

    def u(x):
        return m(x)[:, 0]

    assert (u(p) * u(q) - u(pq) * u(qp)).abs().max() > 1e-4


@pytest.mark.parametrize("d", [2, 3])
def test_formula_is_a_product_of_one_variable_edges(d):
    """u_k = 1.7 X(x) Y(y) [T(t)] - 0.3: one spline edge per coordinate, the carries gone."""
    names = ["x", "y", "t"][:d]
    m = model(d, outputs=2)
    for f in network_formula(m, names):
        constant, product = sorted(sympy.Add.make_args(sympy.expand(f)), key=lambda term: term.is_number,
                                   reverse=True)
        assert float(constant) == pytest.approx(-0.3)
        coefficient, rest = product.as_coeff_Mul()
        assert float(coefficient) == pytest.approx(1.7)
        factors = rest.as_ordered_factors()
        assert all(isinstance(e, sympy.core.function.AppliedUndef) for e in factors)
        assert sorted(str(e.args[0]) for e in factors) == sorted(names)


def test_pruning_keeps_the_product_fed_by_the_fixed_output_edge():
    """The output layer has no spline edge, only the fixed affine one: the product node it
    reads is alive, and pruning a trained-looking ansatz masks nothing."""
    m = model(2)
    x = 2 * torch.rand(500, 2, dtype=F64, generator=torch.Generator().manual_seed(2)) - 1
    before = m(x)
    assert prune(m, x, threshold=1e-3) == 0
    assert int(m.layers[0].mask.sum()) == 2
    assert torch.equal(m(x), before)


@pytest.mark.parametrize("d, terms", [(2, 1), (2, 2), (2, 3), (3, 2)])
@torch.no_grad()
def test_a_sum_of_terms_has_exactly_that_separation_rank(d, terms):
    """u = sum_k c_k X_k(x) Y_k(y) [T_k(t)]: on a grid, u as a matrix of (x) against the
    other coordinates has rank ``terms`` (each term adds one, none adds more)."""
    m = separable_kan([[-1.0, 1.0]] * d, 1, KANConfig(noise_scale=1.0), terms=terms,
                      generator=torch.Generator().manual_seed(0), dtype=F64)
    m.layers[-1].fixed.d.zero_()  # no constant: u itself is the sum of products
    axis = torch.linspace(-0.9, 0.9, 9, dtype=F64)
    grid = torch.stack(torch.meshgrid(*[axis] * d, indexing="ij"), dim=-1).reshape(-1, d)
    u = m(grid)[:, 0].reshape(9, -1)  # (x) against (y[, t])
    s = torch.linalg.svdvals(u)
    assert s[terms - 1] > 1e-6 * s[0]  # the terms are independent
    if terms < len(s):
        assert s[terms] < 1e-12 * s[0]


def test_terms_must_be_a_positive_count():
    with pytest.raises(KanpdeError, match="terms >= 1"):
        separable_kan([[0.0, 1.0]] * 2, 1, terms=0)
