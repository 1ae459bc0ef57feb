"""KAN and MLP networks: input normalisation, reproducibility, activations, gradients."""

import math

import pytest
import torch

from kanpde.model import KAN, MLP, KANConfig, count_parameters

F64 = torch.float64
BOUNDS = [[0.0, 2.0], [-1.0, 3.0]]


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def same_parameters(a, b):
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return pa.keys() == pb.keys() and all(torch.equal(pa[n], pb[n]) for n in pa)


def test_kan_maps_input_bounds_onto_grid_range():
    model = KAN([2, 3, 1], BOUNDS, KANConfig(grid_range=(-2.0, 5.0)), dtype=F64)
    corners = torch.tensor([[0.0, -1.0], [2.0, 3.0], [1.0, 1.0]], dtype=F64)
    first = model.layer_inputs(corners)[0]
    torch.testing.assert_close(first, torch.tensor([[-2.0, -2.0], [5.0, 5.0], [1.5, 1.5]], dtype=F64))


def test_kan_forward_is_the_layer_chain_and_layer_inputs_match():
    model = KAN([2, 4, 3, 1], BOUNDS, generator=seeded(0), dtype=F64)
    x = torch.rand(50, 2, generator=seeded(1), dtype=F64)
    inputs = model.layer_inputs(x)
    assert [h.shape[1] for h in inputs] == [2, 4, 3]
    torch.testing.assert_close(inputs[1], model.layers[0](inputs[0]), rtol=0, atol=0)
    torch.testing.assert_close(model(x), model.layers[2](inputs[2]), rtol=0, atol=0)


@pytest.mark.parametrize("cls", [KAN, MLP])
def test_reproducible_through_generator(cls):
    a = cls([2, 5, 1], BOUNDS, generator=seeded(7))
    b = cls([2, 5, 1], BOUNDS, generator=seeded(7))
    c = cls([2, 5, 1], BOUNDS, generator=seeded(8))
    assert same_parameters(a, b)
    assert not same_parameters(a, c)


def test_mlp_unknown_activation_lists_accepted():
    with pytest.raises(ValueError, match="gelu, silu, sin, tanh"):
        MLP([2, 4, 1], BOUNDS, activation="relu6")


@pytest.mark.parametrize("activation, fn", [("tanh", torch.tanh), ("sin", torch.sin),
                                            ("silu", torch.nn.functional.silu), ("gelu", torch.nn.functional.gelu)])
def test_mlp_forward_by_hand(activation, fn):
    model = MLP([2, 3, 1], BOUNDS, activation, generator=seeded(2), dtype=F64)
    x = torch.tensor([[0.0, -1.0], [2.0, 3.0], [0.5, 0.0]], dtype=F64)
    z = 2.0 * (x - torch.tensor([0.0, -1.0], dtype=F64)) / torch.tensor([2.0, 4.0], dtype=F64) - 1.0
    l0, l1 = model.linears
    expected = fn(z @ l0.weight.T + l0.bias) @ l1.weight.T + l1.bias
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-14)
    bound = math.sqrt(6.0 / (2 + 3))
    assert l0.weight.abs().max() <= bound and torch.equal(l0.bias, torch.zeros(3, dtype=F64))


def test_count_parameters():
    model = KAN([2, 3, 1], BOUNDS, KANConfig(grid_size=5, order=3))
    assert count_parameters(model) == (2 * 3 + 3 * 1) * (5 + 3 + 2)
    assert count_parameters(MLP([2, 4, 1], BOUNDS)) == 2 * 4 + 4 + 4 * 1 + 1


@pytest.mark.parametrize("bounds", [[[0.0, 1.0]], [[1.0, 1.0], [0.0, 1.0]], [0.0, 1.0]])
def test_bad_input_bounds_raise(bounds):
    with pytest.raises(ValueError, match="input_bounds"):
        KAN([2, 1], bounds)


def test_gradcheck_wrt_input():
    model = KAN([2, 3, 1], BOUNDS, KANConfig(grid_size=4, noise_scale=1.0), generator=seeded(3), dtype=F64)
    x = torch.rand(6, 2, generator=seeded(4), dtype=F64) * torch.tensor([2.6, 5.0], dtype=F64) \
        + torch.tensor([-0.3, -1.5], dtype=F64)  # inside and just outside the bounds
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(model, (x,), eps=1e-6, atol=1e-8)
