"""KANLayer: the one-matmul forward equals a naive per-edge loop (scipy B-splines), inside and
beyond the grid range."""

import math

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanpde.model import KANLayer

F64 = torch.float64


def naive_forward(layer, x):
    """Sum over edges of phi_ij(x_i), each edge evaluated on its own with scipy: (N, out)."""
    knots, coef = layer.knots.numpy(), layer.coef.detach().numpy()
    w_base, w_spline = layer.w_base.detach().numpy(), layer.w_spline.detach().numpy()
    k = layer.order
    x = x.numpy()
    out = np.zeros((x.shape[0], layer.out_dim))
    for i in range(layer.in_dim):
        xi = x[:, i]
        silu = xi / (1.0 + np.exp(-xi))
        for j in range(layer.out_dim):  # beyond the range scipy continues the end pieces, as the layer does
            spline = BSpline(knots[i], coef[i, :, j], k, extrapolate=True)(xi)
            out[:, j] += w_base[i, j] * silu + w_spline[i, j] * spline
    return torch.tensor(out)


@pytest.mark.parametrize("order", [1, 3])
def test_forward_equals_naive_edge_loop(order):
    gen = torch.Generator().manual_seed(0)
    layer = KANLayer(3, 4, grid_size=6, order=order, grid_range=(-1.5, 2.0), noise_scale=1.0, generator=gen, dtype=F64)
    with torch.no_grad():  # make w_spline matter
        layer.w_spline.copy_(torch.randn(3, 4, generator=gen, dtype=F64))
    x = 5.0 * torch.rand(400, 3, generator=gen, dtype=F64) - 2.5  # also outside the grid range
    x[:2] = torch.tensor([-1.5, 2.0], dtype=F64)[:, None]  # both range ends
    torch.testing.assert_close(layer(x).detach(), naive_forward(layer, x), rtol=0, atol=1e-12)


def test_spline_part_continues_its_end_polynomials_smoothly_beyond_the_grid_range():
    layer = KANLayer(1, 2, grid_range=(0.0, 1.0), noise_scale=1.0, generator=torch.Generator().manual_seed(1),
                     dtype=F64)
    with torch.no_grad():
        layer.w_base.zero_()
    # the cubic of the last interval [0.8, 1], fitted through 4 of its points inside, predicts
    # the layer beyond the range (so value and every derivative meet across the end)
    inside = torch.tensor([[0.82], [0.87], [0.93], [0.99]], dtype=F64)
    fit = np.polyfit(inside[:, 0].numpy(), layer(inside).detach().numpy(), 3)  # (4, out)
    beyond = torch.tensor([[1.05], [1.4], [3.0]], dtype=F64)
    predicted = np.stack([np.polyval(fit[:, j], beyond[:, 0].numpy()) for j in range(2)], axis=1)
    torch.testing.assert_close(layer(beyond).detach(), torch.tensor(predicted), rtol=1e-9, atol=1e-9)


def test_init_reproducible_and_scaled():
    def make(seed):
        return KANLayer(16, 8, noise_scale=0.1, generator=torch.Generator().manual_seed(seed), dtype=F64)

    a, b, c = make(3), make(3), make(4)
    for name, p in a.named_parameters():
        assert torch.equal(p, dict(b.named_parameters())[name])
    assert not torch.equal(a.coef, c.coef) and not torch.equal(a.w_base, c.w_base)
    assert a.w_base.abs().max() <= 1.0 / math.sqrt(16)
    assert torch.equal(a.w_spline, torch.ones(16, 8, dtype=F64))
    assert abs(a.coef.std().item() - 0.1 / math.sqrt(16)) < 0.1 * 0.1 / math.sqrt(16)  # 1024 samples


def test_properties_follow_the_knots():
    layer = KANLayer(2, 1, grid_size=7, order=2, grid_range=(-0.5, 3.0))
    assert layer.grid_size == 7 and layer.order == 2
    assert torch.equal(layer.lower, torch.full((2,), -0.5)) and torch.equal(layer.upper, torch.full((2,), 3.0))
    assert layer.coef.shape == (2, 9, 1) and layer.knots.shape == (2, 12)
