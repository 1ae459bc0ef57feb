"""Time marching (kanpde.training.marching): a network per time window, trained in order,
each window starting from the last one's solution."""

import pytest
import torch

from kanpde import KAN, KANConfig, load_problem
from kanpde.conditions import Initial, condition_values
from kanpde.constraints import hard_dirichlet, hard_initial
from kanpde.errors import KanpdeError
from kanpde.training import SamplerConfig, Stage
from kanpde.training.marching import march, time_windows

SAMPLER = SamplerConfig("sobol", 256, 64)


def make(constraints=(hard_dirichlet,), grid=5, seed=0):
    """make(window) for time_windows: the constraints applied in order, a small quintic KAN."""
    def build(window):
        for constrain in constraints:
            window = constrain(window)
        model = KAN([window.domain.dim, 6, 1], window.domain.bounds, KANConfig(grid_size=grid, order=5),
                    generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return window, model
    return build


def points_at(t, n=64, lower=-1.0, upper=1.0):
    x = torch.linspace(lower, upper, n, dtype=torch.float64)
    return torch.stack([x, torch.full_like(x, t)], dim=1)


def test_a_hard_initial_window_starts_exactly_where_the_last_one_ended():
    """Untrained networks: the marched solution is continuous across each window edge to
    rounding, because window k's ansatz is window k-1's solution at t_k plus tau * net."""
    windows = time_windows(load_problem("diffusion1d"), 3, make((hard_dirichlet, hard_initial)))
    assert windows.edges == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    for k in (1, 2):
        x = points_at(windows.edges[k])
        with torch.no_grad():
            before = windows.problems[k - 1].solution(windows.models[k - 1], x)  # window k-1 at its end
            after = windows.problems[k].solution(windows.models[k], x)  # window k at its start
            assert torch.equal(windows(x), before)  # the marched solution at t_k: the window that ends there
        assert float(before.abs().max()) > 1e-2  # a non-trivial function, not two zeros
        assert torch.allclose(after, before, rtol=0, atol=1e-12)
    x = points_at(0.0)  # and window 1 starts at the problem's initial value
    with torch.no_grad():
        start = windows(x)
    assert torch.allclose(start[:, 0], torch.sin(torch.pi * x[:, 0]), rtol=0, atol=1e-12)


def test_a_window_continues_the_initial_rate_with_the_last_windows_time_derivative():
    """wave1d has u_t(x, 0) = 0; the second window's rate condition is the first window's
    u_t at t_1 (autograd of its solution), and its value condition that solution."""
    windows = time_windows(load_problem("wave1d"), 2, make())
    first, model = windows.problems[0], windows.models[0]
    x = points_at(0.5, lower=0.0, upper=1.0).requires_grad_(True)
    u = first.solution(model, x)[:, 0]
    u_t = torch.autograd.grad(u.sum(), x)[0][:, 1]
    initial = {c.derivative: c for c in windows.problems[1].conditions if isinstance(c, Initial)}
    coords = windows.problems[1].coords(x.detach())
    assert float(u_t.abs().max()) > 1e-3
    assert torch.allclose(condition_values(initial[1].value, coords, {}), u_t, rtol=0, atol=1e-12)
    assert torch.allclose(condition_values(initial[0].value, coords, {}), u.detach(), rtol=0, atol=1e-12)


def test_marching_two_windows_solves_diffusion_and_numbers_the_stages_across_them():
    problem = load_problem("diffusion1d")
    windows = time_windows(problem, 2, make((hard_dirichlet, hard_initial)))
    curriculum = [Stage(100, "adam", 0.01), Stage(15, "lm", 1e-3)]
    result = march(windows, curriculum, sampler=SAMPLER, log_every=25)
    assert result.status == "ok" and result.message == "2 windows of 2 stages, 230 steps"
    assert [(s.index, s.window) for s in result.stages] == [(0, 0), (1, 0), (2, 1), (3, 1)]
    steps = [row["step"] for row in result.history]
    assert steps == sorted(steps) and steps[-1] == 230
    x = problem.domain.sample_interior(2000, "grid", dtype=torch.float64)
    with torch.no_grad():
        error = torch.linalg.norm(windows(x)[:, 0] - problem.exact_values(x)[:, 0]) / torch.linalg.norm(
            problem.exact_values(x))
    assert error < 1e-3  # 2.7e-5 when written
    assert windows.reach == 1.0 and set(result.state) == set(windows.state_dict())


def test_a_window_refused_after_others_trained_keeps_them_and_says_which():
    """The residual raises for t > 0.5 only: the first window trains, the second is
    refused at its preflight; the run keeps the first and names the second."""
    problem = load_problem("diffusion1d")
    residual = problem.residual

    def fails_late(u, x, p):
        if float(x.t.detach().max()) > 0.5:
            raise ValueError("no data after t = 0.5")
        return residual(u, x, p)

    from dataclasses import replace
    windows = time_windows(replace(problem, residual=fails_late), 2, make())
    result = march(windows, [Stage(5, "adam", 0.01)], sampler=SAMPLER, log_every=5)
    assert result.status == "failed" and [s.window for s in result.stages] == [0]
    assert result.message.startswith("window 2 of 2 (t in [0.5, 1]) was refused before training")
    assert "no data after t = 0.5" in result.message and "untrained" in result.message


def test_marching_stops_at_the_time_limit_and_says_which_windows_are_untrained():
    windows = time_windows(load_problem("diffusion1d"), 3, make())
    result = march(windows, [Stage(10_000, "adam", 0.01)], sampler=SAMPLER, log_every=50, time_limit=0.5)
    assert result.status == "ok" and [s.window for s in result.stages] == [0]
    steps = result.stages[0].steps
    assert 0 < steps < 10_000 and result.message == (
        f"stopped at the time limit of 0.5 s in window 1 of 3 (t in [0, 0.333333]), {steps} steps in all; "
        "the windows after it are untrained")


@pytest.mark.parametrize("name, words", [("poisson2d", ["no time axis", "train.windows=1"]),
                                         ("heat_inverse", ["recovers parameters", "D"])])
def test_marching_refuses_problems_it_cannot_march(name, words):
    with pytest.raises(KanpdeError) as error:
        time_windows(load_problem(name), 2, make())
    for word in words:
        assert word in str(error.value)


def test_stage_errors_during_marching_measure_the_windows_trained_so_far():
    """After window 1's stage, the logged error is that of window 1's own solution on
    t <= t_1 (the points at t_1 included), not of untrained windows beyond."""
    from kanpde.analysis.metrics import StageErrors
    from kanpde.compare import predict, relative_l2
    from kanpde.training import Callback

    problem = load_problem("diffusion1d")
    windows = time_windows(problem, 2, make((hard_dirichlet, hard_initial)))
    errors = StageErrors(problem, windows, n=961)  # a 31 x 31 grid: t = 0.5 among its times

    class Direct(Callback):
        def __init__(self):
            self.errors = []

        def on_stage_end(self, summary):
            k = summary.index  # one stage a window: the window's stage index is 0
            if k == 0 and not self.errors:
                x = errors.x[errors.x[:, -1] <= 0.5]
                exact = errors.exact[errors.x[:, -1] <= 0.5]
                self.errors.append(relative_l2(predict(windows.problems[0], windows.models[0], x), exact))

    direct = Direct()
    march(windows, [Stage(30, "adam", 0.01)], sampler=SAMPLER, log_every=30, callbacks=[errors, direct])
    assert (errors.x[:, -1] == 0.5).any() and errors.errors[0] == pytest.approx(direct.errors[0], rel=1e-12)
    assert errors.errors[0] < 0.5  # a trained window, not the untrained second one (error ~1)
