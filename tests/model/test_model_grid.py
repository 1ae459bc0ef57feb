"""Grid update and extension keep the network's function."""

import pytest
import torch

from kanpde.model import KAN, KANConfig, KANLayer, extend_grid, update_grid
from kanpde.model.basis import bspline_basis, uniform_knots
from kanpde.model.grid import _refit_operator

F64 = torch.float64
BOUNDS = [[0.0, 1.0], [-2.0, 3.0]]


def make_kan(seed=0, dtype=F64, noise_scale=0.1, widths=(2, 5, 3, 1)):
    config = KANConfig(grid_size=5, noise_scale=noise_scale)
    return KAN(list(widths), BOUNDS, config, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def points(n, seed, dtype=F64, margin=0.0):
    """Uniform points in the input bounds, widened by ``margin`` of the side on each end."""
    lo, hi = torch.tensor(BOUNDS, dtype=dtype).T
    lo, hi = lo - margin * (hi - lo), hi + margin * (hi - lo)
    return lo + (hi - lo) * torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def evaluate(model, x):
    with torch.no_grad():
        return model(x)


def rel_l2(y, y0):
    return ((y - y0).norm() / y0.norm()).item()


@pytest.mark.parametrize("noise_scale", [0.1, 1.0])
def test_nested_extension_is_exact(noise_scale):
    model = make_kan(noise_scale=noise_scale)
    x, outside = points(1000, seed=1), points(200, seed=2, margin=0.3)
    y0, y0_out = evaluate(model, x), evaluate(model, outside)
    # exact, inside and outside the range (the same end pieces continue), relative to the
    # values: with noise_scale 1 the last layer's inputs reach +-35 on a [-1, 1] grid, where
    # the continued cubics reach 1e4 and amplify the refit's rounding: 0.4e-12 to 1.4e-12 of
    # the values, depending on the LAPACK path; a non-nested refit is off by ~1e-2
    for size in (10, 20):
        extend_grid(model, size)
        assert model.grid_size == size
        assert (evaluate(model, x) - y0).abs().max() < 1e-11 * y0.abs().max().clamp_min(1.0)
        assert (evaluate(model, outside) - y0_out).abs().max() < 1e-11 * y0_out.abs().max().clamp_min(1.0)


def test_nested_extension_after_update_grid_is_exact():
    model = make_kan(seed=3)
    update_grid(model, points(500, seed=4))  # non-uniform knots
    x = points(1000, seed=5)
    y0 = evaluate(model, x)
    extend_grid(model, 10)
    assert (evaluate(model, x) - y0).abs().max() < 1e-10


def test_non_nested_extension_is_approximate():
    # 5 -> 7 intervals: the old spline is not in the new space; the refit is its L2
    # projection. A random spline with features at the grid scale loses ~1-3 % (L2);
    # skipping the refit loses ~50 %.
    model = make_kan(seed=6)
    x = points(1000, seed=7)
    y0 = evaluate(model, x)
    extend_grid(model, 7)
    assert rel_l2(evaluate(model, x), y0) < 5e-2


def test_non_nested_refit_is_the_best_least_squares_fit():
    layer = KANLayer(2, 3, grid_size=5, noise_scale=1.0, generator=torch.Generator().manual_seed(8), dtype=F64)
    new_knots = uniform_knots(layer.lower, layer.upper, 7, 3)
    coef = _refit_operator(layer, new_knots) @ layer.coef.detach()  # (in, 10, out)
    xs = torch.linspace(-1.0, 1.0, 4001, dtype=F64)[:, None].expand(-1, 2)  # dense: (M, in)
    old = torch.einsum("mib,ibo->imo", layer.basis_values(xs), layer.coef.detach())
    a_new = bspline_basis(xs, new_knots, 3).transpose(0, 1)  # (in, M, 10)
    best = torch.linalg.lstsq(a_new, old).solution

    def err(c):
        return (a_new @ c - old).norm()

    assert err(coef) <= err(best) * (1 + 1e-4)


def test_update_grid_keeps_function_and_covers_samples():
    model = make_kan(seed=9)
    samples, held_out = points(2000, seed=10), points(1000, seed=11)
    y0 = evaluate(model, held_out)
    update_grid(model, samples)
    # Equal G on adapted knots is a projection, not an identity: ~0.1-0.4 % here,
    # ~50 % without the refit.
    assert rel_l2(evaluate(model, held_out), y0) < 2e-2
    with torch.no_grad():
        for layer, h in zip(model.layers, model.layer_inputs(samples)):
            assert (layer.knots.diff(dim=1) > 0).all()
            assert torch.equal(layer.lower, h.min(0).values) and torch.equal(layer.upper, h.max(0).values)


def test_update_grid_eps_one_gives_uniform_knots():
    model = make_kan(seed=12, widths=(2, 1))
    samples = points(300, seed=13)
    update_grid(model, samples, eps=1.0)
    h = model.input_map(samples)
    expected = uniform_knots(h.min(0).values, h.max(0).values, 5, 3)
    torch.testing.assert_close(model.layers[0].knots, expected, rtol=0, atol=1e-14)


def test_update_grid_keeps_parameters_in_place():
    model = make_kan(seed=14)
    before = [id(p) for p in model.parameters()]
    update_grid(model, points(100, seed=15))
    assert [id(p) for p in model.parameters()] == before


def test_extension_map_is_the_refit_operator():
    model = make_kan(seed=16)
    old = {name: p.detach().clone() for name, p in model.named_parameters()}
    maps = extend_grid(model, 9)
    params = dict(model.named_parameters())
    assert sorted(maps) == ["layers.0.coef", "layers.1.coef", "layers.2.coef"]
    for name, refit in maps.items():
        assert isinstance(params[name], torch.nn.Parameter) and params[name].requires_grad
        assert params[name].shape[1] == 9 + 3
        torch.testing.assert_close(refit(old[name]), params[name].detach(), rtol=0, atol=0)
        # linear, as a map of optimizer moments must be
        u, v = torch.randn_like(old[name]), torch.randn_like(old[name])
        torch.testing.assert_close(refit(2.0 * u + v), 2.0 * refit(u) + refit(v), rtol=0, atol=1e-12)
    for name in ("layers.0.w_base", "layers.1.w_spline"):
        assert torch.equal(params[name], old[name])


def test_float32_extension():
    model = make_kan(seed=17, dtype=torch.float32)
    x = points(1000, seed=18, dtype=torch.float32)
    y0 = evaluate(model, x)
    maps = extend_grid(model, 10)
    assert model.layers[0].coef.dtype == torch.float32 and model.layers[0].knots.dtype == torch.float32
    assert maps["layers.0.coef"](torch.zeros(2, 8, 5)).dtype == torch.float32
    assert (evaluate(model, x) - y0).abs().max() < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_extension_and_update(dtype):
    config = KANConfig(grid_size=5)
    model = KAN([2, 5, 1], BOUNDS, config, generator=torch.Generator().manual_seed(0), dtype=dtype, device="cuda")
    x = points(1000, seed=19, dtype=dtype).cuda()
    y0 = evaluate(model, x)
    extend_grid(model, 10)
    assert (evaluate(model, x) - y0).abs().max() < (1e-5 if dtype == torch.float32 else 1e-10)
    update_grid(model, x)
    assert model.layers[0].coef.device.type == "cuda"


def test_update_grid_on_repeated_and_constant_samples():
    model = make_kan(seed=20, widths=(2, 4, 1))
    samples = torch.stack([torch.arange(200, dtype=F64) % 3 / 2.0, torch.full((200,), 0.7, dtype=F64)], dim=1)
    y0 = evaluate(model, samples)
    old_knots = model.layers[0].knots[1].clone()
    update_grid(model, samples)
    assert (model.layers[0].knots.diff(dim=1) > 0).all()
    assert torch.equal(model.layers[0].knots[1], old_knots)  # constant input keeps its grid
    # clustered knots and an L2 refit over the whole range: ~4 % at the three sample values
    assert torch.isfinite(evaluate(model, samples)).all()
    assert ((evaluate(model, samples) - y0).abs().max() / y0.abs().max()) < 0.15
    with pytest.raises(ValueError, match="eps"):
        update_grid(model, samples, eps=0.0)
