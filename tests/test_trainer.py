"""The training loop: curriculum with grid extension, NaN handling, reproducibility."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from kanpde import (
    KAN,
    Dirichlet,
    Interval,
    KANConfig,
    KanpdeError,
    PointWeighting,
    Problem,
    SamplerConfig,
    Stage,
    load_problem,
    solve,
)
from kanpde.constraints import hard_dirichlet
from kanpde.training import optim
from kanpde.training.losses import loss_terms, term_weights, total_loss
from kanpde.training.sampler import sample_batch, z_order

SAMPLER = SamplerConfig("sobol", 128, 32)


def small_kan(problem, grid=3, dtype=torch.float64, seed=0):
    return KAN([problem.domain.dim, 4, 1], problem.domain.bounds, KANConfig(grid_size=grid),
               generator=torch.Generator().manual_seed(seed), dtype=dtype)


def batch_loss(problem, model, seed):
    """The loss on the points solve() drew first with this seed."""
    batch = sample_batch(problem, SAMPLER, torch.Generator().manual_seed(seed), torch.float64,
                         torch.device("cpu"))
    return float(total_loss(loss_terms(problem, model, batch), term_weights(problem)).detach())


def test_exploding_stage_stops_with_advice_and_keeps_the_last_good_model():
    poisson = load_problem("poisson2d")
    # the same loss while |u| < 1, NaN once the exploding stage pushes |u| past 1
    problem = replace(poisson, residual=lambda u, x, p: poisson.residual(u, x, p)
                      + 0.0 * torch.sqrt(1.0 - u.value**2))
    model = small_kan(problem)
    curriculum = [Stage(10, "adam", 1e-2), Stage(30, "adam", 1e12)]
    result = solve(problem, model, curriculum, sampler=SAMPLER, log_every=1)
    assert result.status == "nan"
    assert "stage 2" in result.message and "Lower the learning rate" in result.message
    assert "float64" not in result.message  # it already is: the advice is the stage's lr
    assert result.status.exit_code == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # oracle: the kept model is exactly the one that produced the last recorded loss
    assert batch_loss(problem, model, seed=0) == pytest.approx(result.history[-1]["loss"], rel=1e-12)


def test_grid_extension_keeps_the_loss_and_the_next_stage_lowers_it():
    problem = load_problem("poisson2d")
    model = small_kan(problem)
    curriculum = [Stage(60, "adam", 1e-2, grid=3), Stage(5, "lbfgs", 1.0, grid=6),
                  Stage(5, "lbfgs", 1.0, grid=12)]
    result = solve(problem, model, curriculum, sampler=SAMPLER, log_every=10)
    assert result.ok and model.grid_size == 12
    for prev, stage in zip(result.stages, result.stages[1:]):
        # an exact extension: the new stage starts from the previous stage's model
        assert stage.first_loss < prev.first_loss
        assert stage.last_loss < stage.first_loss


def test_same_seed_same_history_other_seed_other_history():
    problem = load_problem("diffusion1d")
    runs = [solve(problem, small_kan(problem, seed=s), [Stage(6, "adam", 1e-2)], sampler=SAMPLER,
                  seed=s, log_every=2).history for s in (0, 0, 1)]
    losses = [[row["loss"] for row in h] for h in runs]
    assert losses[0] == losses[1] and losses[0] != losses[2]


def test_adam_state_is_carried_through_an_extension(monkeypatch):
    """Stage 2's Adam starts from stage 1's moments: the same tensors for the parameters
    the extension keeps, the extension's own refit of them for the spline coefficients
    (second moments clamped at zero), and stage 1's step count."""
    problem = load_problem("poisson2d")
    model = small_kan(problem)
    seen = []
    real_adopt = optim.Adam.adopt

    def recording_adopt(optimizer, saved, model, refits):
        real_adopt(optimizer, saved, model, refits)
        def copy(state):  # the optimizer goes on updating its state in place
            return {k: v.clone() for k, v in state.items()}

        state = optimizer.torch.state
        seen.append(({name: copy(state) for name, state in saved.items()}, refits,
                     {name: copy(state[p]) for name, p in model.named_parameters() if p in state}))

    monkeypatch.setattr(optim.Adam, "adopt", recording_adopt)
    result = solve(problem, model, [Stage(5, "adam", 1e-2, grid=3), Stage(1, "adam", 1e-2, grid=6)],
                   sampler=SAMPLER, log_every=1)
    assert result.ok and all(math.isfinite(r["loss"]) for r in result.history)
    saved, refits, loaded = seen[1]  # stage 2's optimizer, right after the carry-over
    assert refits and set(refits) <= set(saved) and set(saved) == set(loaded)
    for name, old in saved.items():
        new = loaded[name]
        assert float(new["step"]) == 5.0
        if name in refits:
            assert torch.equal(new["exp_avg"], refits[name](old["exp_avg"]))
            assert torch.equal(new["exp_avg_sq"], refits[name](old["exp_avg_sq"]).clamp_min(0.0))
            assert new["exp_avg"].shape != old["exp_avg"].shape  # the grid did change
        else:
            assert torch.equal(new["exp_avg"], old["exp_avg"]) and torch.equal(new["exp_avg_sq"], old["exp_avg_sq"])
        assert new["exp_avg"].abs().max() > 0  # moments, not a fresh start


def test_a_stalled_lbfgs_stage_ends_early_and_logs_its_last_step():
    # two equations u = 1 and u = -1: the best the network can do is u = 0, loss 1
    poisson = load_problem("poisson2d")
    problem = replace(poisson, conditions=(), equations=2,
                      residual=lambda u, x, p: torch.stack([u.value - 1.0, u.value + 1.0], dim=1))
    model = small_kan(problem)
    result = solve(problem, model, [Stage(60, "lbfgs", 1.0)], sampler=SAMPLER, log_every=100)
    (stage,) = result.stages
    assert stage.stalled and stage.steps < 60
    assert result.history[-1]["stage_step"] == stage.steps  # the stopping step is logged
    assert stage.last_loss == pytest.approx(1.0, rel=1e-8)
    final = batch_loss(problem, model, seed=0)  # after the last step, logged before it
    assert final <= stage.last_loss and final == pytest.approx(stage.last_loss, rel=1e-7)
    full = solve(problem, small_kan(problem), [Stage(stage.steps + 3, "lbfgs", 1.0, stall_rtol=0.0)],
                 sampler=SAMPLER, log_every=100)
    assert not full.stages[0].stalled and full.stages[0].steps == stage.steps + 3


def test_an_lbfgs_stage_at_an_exact_solution_stops_at_rounding_level_not_in_nan():
    """u = exp(10 x - 10) solves -0.1 u'' + u' = 0 exactly as one closed-form edge: the loss
    starts at float64 rounding noise (~1e-31, not 0). Stepping on from there turned it NaN;
    the stage must end after its first step, with status ok."""
    from kanpde.model.fixed import FixedEdge, FixedEdges
    from kanpde.symbolic.library import function_library
    problem = load_problem("boundary_layer")
    model = KAN([1, 1], problem.domain.bounds, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    layer = model.layers[0]
    layer.mask.zero_()  # the input is mapped onto [-1, 1]: z = 2x - 1, 10 x - 10 = 5 z - 5
    layer.fixed = FixedEdges(1, 1, [FixedEdge(0, 0, function_library(["exp"])[0], 5.0, -5.0, 1.0, 0.0)],
                             dtype=torch.float64)
    result = solve(problem, model, [Stage(50, "lbfgs", 1.0, stall_rtol=0.0)], sampler=SAMPLER, log_every=100)
    assert result.ok, result.message
    assert result.stages[0].steps == 1 and 0.0 < result.stages[0].first_loss < 1e-28


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_z_order_is_a_permutation_that_keeps_neighbours_together(dim):
    g = torch.Generator().manual_seed(0)
    bounds = torch.tensor([[-1.0, 2.0]] * dim, dtype=torch.float64)
    x = -1.0 + 3.0 * torch.rand(4096, dim, dtype=torch.float64, generator=g)
    order = z_order(x, bounds)
    assert torch.equal(order.sort().values, torch.arange(4096))
    step = (x[order][1:] - x[order][:-1]).norm(dim=1).mean()  # consecutive points in memory
    random_step = (x[1:] - x[:-1]).norm(dim=1).mean()
    assert step < random_step / 4


def test_the_batch_holds_the_sampled_interior_points_in_z_order():
    problem = load_problem("poisson2d")
    batch = sample_batch(problem, SamplerConfig("sobol", 256, 16), torch.Generator().manual_seed(1),
                         torch.float64, "cpu")
    sobol = problem.domain.sample_interior(256, "sobol", generator=torch.Generator().manual_seed(1),
                                           dtype=torch.float64, device="cpu")
    assert torch.equal(batch.interior, sobol[z_order(sobol, problem.domain.bounds)])


class _Zero(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 1, dtype=x.dtype)


def _bump_problem():
    """u = exp(-((x - 0.8) / 0.05)^2) on [0, 1]: for u = 0 the residual is the bump."""
    def residual(u, x, p):
        return u.value - torch.exp(-((x.x - 0.8) / 0.05) ** 2)
    return Problem(name="bump", domain=Interval(0.0, 1.0), residual=residual, conditions=[Dirichlet(value=0.0)])


@pytest.mark.parametrize("c, least", [(0.0, 0.9), (1.0, 0.35)])
def test_rad_puts_the_points_where_the_residual_is(c, least):
    config = SamplerConfig("sobol", 2000, 8, adaptive="rad", k=1.0, c=c)
    batch = sample_batch(_bump_problem(), config, torch.Generator().manual_seed(0), torch.float64, "cpu", _Zero())
    near = ((batch.interior[:, 0] - 0.8).abs() < 0.1).double().mean()  # 20% of the interval
    assert near > least  # uniform points: 0.2
    again = sample_batch(_bump_problem(), config, torch.Generator().manual_seed(0), torch.float64, "cpu", _Zero())
    assert torch.equal(batch.interior, again.interior)


def test_unknown_adaptive_sampling_names_the_accepted_ones():
    with pytest.raises(KanpdeError, match="accepted: none, rad"):
        SamplerConfig(adaptive="rar")


def test_an_inverse_problem_recovers_its_parameter_within_one_percent():
    problem = hard_dirichlet(load_problem("heat_inverse"))  # true D = 0.5, initial guess 0.1
    assert problem.recovered() == pytest.approx({"D": 0.1})
    model = KAN([2, 8, 1], problem.domain.bounds, KANConfig(), generator=torch.Generator().manual_seed(0),
                dtype=torch.float64)
    curriculum = [Stage(300, "adam", 1e-2, 5), Stage(30, "lbfgs", 1.0, 5), Stage(30, "lbfgs", 1.0, 10),
                  Stage(30, "lbfgs", 1.0, 20)]
    result = solve(problem, model, curriculum, seed=0)
    assert result.status == "ok"
    assert problem.recovered()["D"] == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("lr,status", [(1e300, "nan"), (1e3, "diverged")])
def test_a_stopped_inverse_run_keeps_the_parameters_of_the_model_it_keeps(lr, status):
    """Stage 2's lr wrecks the network and log D alike; the run goes back to the model of
    stage 1's end (nan) or to stage 2's best (diverged; the first checked is stage 1's
    end) and D goes back with it: it equals D after stage 1 alone, to the last bit."""
    def run(curriculum):
        problem = hard_dirichlet(load_problem("heat_inverse"))
        model = KAN([2, 4, 1], problem.domain.bounds, KANConfig(grid_size=3),
                    generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return problem, solve(problem, model, curriculum, sampler=SAMPLER, seed=0, log_every=1)

    first = [Stage(20, "adam", 1e-2)]
    alone, _ = run(first)
    problem, result = run(first + [Stage(50, "adam", lr)])
    assert result.status == status and "kept the model of step 21" in result.message, result.message  # before step 21
    assert problem.recovered()["D"] == alone.recovered()["D"] != 0.1


def test_unknowns_must_be_parameters_with_a_positive_guess():
    domain = Interval(0.0, 1.0)
    with pytest.raises(KanpdeError, match=r"unknowns \{'k': 1.0\} must be parameters of the problem \(a\)"):
        Problem(name="p", domain=domain, residual=lambda u, x, p: u.value, params={"a": 1.0}, unknowns={"k": 1.0})
    with pytest.raises(KanpdeError, match="positive initial guess"):
        Problem(name="p", domain=domain, residual=lambda u, x, p: u.value, params={"a": 1.0}, unknowns={"a": 0.0})


def test_point_weights_shape_adam_stages_and_lbfgs_minimises_the_plain_loss():
    problem = load_problem("diffusion1d")
    weighting = PointWeighting(causal=5.0, bins=4, attention=0.5, decay=0.5)
    model = small_kan(problem)
    plain = batch_loss(problem, model, seed=0)
    weighted = solve(problem, small_kan(problem), [Stage(1, "adam", 1e-12)], sampler=SAMPLER,
                     point_weighting=weighting, log_every=1)
    assert weighted.history[0]["loss"] != pytest.approx(plain, rel=1e-3)  # reweighted
    lbfgs = solve(problem, model, [Stage(1, "lbfgs", 1.0)], sampler=SAMPLER, point_weighting=weighting,
                  log_every=1)
    assert lbfgs.history[0]["loss"] == pytest.approx(plain, rel=1e-12)


def test_a_diverging_stage_stops_and_keeps_the_best_model_of_the_stage():
    """lr 1e3 sends Adam's loss up by orders of magnitude without a NaN: status diverged,
    and the model kept is the stage's best (its loss on the first batch is at most the
    stage's first loss)."""
    problem = load_problem("poisson2d")
    model = small_kan(problem)
    result = solve(problem, model, [Stage(5, "adam", 1e-2), Stage(200, "adam", 1e3)], sampler=SAMPLER,
                   log_every=1)
    assert result.status == "diverged" and result.status.exit_code == 4
    assert "train.stages.1.lr" in result.message and "kept the model of step" in result.message
    assert all(math.isfinite(row["loss"]) for row in result.history)
    assert batch_loss(problem, model, 0) <= result.history[4]["loss"] * 1.01  # not worse than stage 1's end
    assert result.history[-1]["step"] < 205  # stopped early


def test_an_exception_mid_training_keeps_the_steps_before_it():
    poisson = load_problem("poisson2d")
    calls = [0]

    def residual(u, x, p):  # fails on its 8th call (the preflight makes 2 before training)
        calls[0] += 1
        if calls[0] == 8:
            raise RuntimeError("the solver ran out of road")
        return poisson.residual(u, x, p)

    result = solve(replace(poisson, residual=residual), small_kan(poisson), [Stage(20, "adam", 1e-2)],
                   sampler=SAMPLER, log_every=1)
    assert result.status == "failed" and result.status.exit_code == 1
    assert "RuntimeError: the solver ran out of road" in result.message and "test_trainer.py" in result.message
    assert len(result.history) >= 3 and result.state is not None


def test_a_residual_that_is_nan_from_the_start_is_refused_before_training():
    poisson = load_problem("poisson2d")
    bad = replace(poisson, residual=lambda u, x, p: u.value * float("nan"))
    with pytest.raises(KanpdeError, match=r"loss terms \{'residual': nan\} are not finite on the initial network"):
        solve(bad, small_kan(poisson), [Stage(3, "adam", 1e-2)], sampler=SAMPLER)


def test_more_equations_than_components_must_be_declared():
    poisson = load_problem("poisson2d")
    three = replace(poisson, residual=lambda u, x, p: torch.stack([u.value] * 3, -1))
    with pytest.raises(KanpdeError, match=r"returns 3 equations, the problem has 1.*Problem\(equations=3\)"):
        solve(three, small_kan(poisson), [Stage(3, "adam", 1e-2)], sampler=SAMPLER)


def test_a_stage_that_diverges_right_after_its_grid_change_keeps_the_model_before_it(monkeypatch):
    """A refit that ruins the function (here: extend_grid, then the coefficients scaled by
    1e8) must not cost the stages before it: the run stops as diverged with the KAN back on
    its old grid and exactly the model of the step the message names."""
    import kanpde.training.trainer as trainer

    extend = trainer.extend_grid

    def ruinous_extension(model, size):
        maps = extend(model, size)
        for layer in model.layers:
            layer.coef.data.mul_(1e8)
        return maps

    monkeypatch.setattr(trainer, "extend_grid", ruinous_extension)
    problem = load_problem("poisson2d")
    model = small_kan(problem)
    result = solve(problem, model, [Stage(20, "adam", 1e-2, grid=3), Stage(5, "lm", 1e-3, grid=5)],
                   sampler=SAMPLER, log_every=1)
    assert result.status == "diverged"
    assert model.grid_size == 3
    kept = int(result.message.split("kept the model of step ")[1].split()[0])
    row = next(row for row in result.history if row["step"] == kept)
    assert row["stage"] == 0
    assert batch_loss(problem, model, 0) == pytest.approx(row["loss"], rel=1e-12)


def test_a_stage_with_its_own_point_count_draws_that_many_and_the_next_stage_returns_to_the_samplers():
    """Stage.points: a finer grid can have more residual points than the coarse stages."""
    from kanpde.training import Callback

    poisson = load_problem("poisson2d")
    seen: list[list[torch.Tensor]] = []  # per stage: the interior points of every residual evaluation

    class Stages(Callback):
        def on_stage_start(self, index, stage, grid):
            seen.append([])

    def residual(u, x, p):
        if seen:
            seen[-1].append(x.tensor.detach().clone())
        return poisson.residual(u, x, p)

    problem = replace(poisson, residual=residual)
    curriculum = [Stage(2, "adam", 1e-2), Stage(3, "adam", 1e-2, points=300), Stage(2, "adam", 1e-2, points=300),
                  Stage(2, "adam", 1e-2)]
    result = solve(problem, small_kan(problem), curriculum, sampler=SAMPLER, callbacks=[Stages()])
    assert result.status == "ok"
    assert [{len(x) for x in stage} for stage in seen] == [{128}, {300}, {300}, {128}]
    first, second, third, last = seen
    assert all(torch.equal(x, second[0]) for x in second)  # one set for the whole stage
    assert torch.equal(third[0], second[0])  # the same count: the points carry over, as without points
    assert not torch.equal(last[0], first[0])  # back to 128: a new draw
    with pytest.raises(KanpdeError, match="points must be a positive integer"):
        Stage(1, "adam", points=0)


def test_a_time_limit_ends_the_run_with_the_step_under_way_and_keeps_its_model(monkeypatch):
    """train.time_limit: a clock that advances one second per residual evaluation makes
    the limit of 7.5 s fall in stage 2; the first step begun past it is the last one, it
    is logged, the later stage never starts and the message says where the run stopped."""
    import kanpde.training.trainer as trainer

    class Clock:
        now = 0.0

        def perf_counter(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(trainer, "time", clock)
    poisson = load_problem("poisson2d")

    def residual(u, x, p):
        clock.now += 1.0
        return poisson.residual(u, x, p)

    problem = replace(poisson, residual=residual)
    curriculum = [Stage(3, "adam", 1e-2), Stage(50, "adam", 1e-2), Stage(50, "lm", 1e-3)]
    result = solve(problem, small_kan(problem), curriculum, sampler=SAMPLER, log_every=1, time_limit=7.5)
    assert result.status == "ok"
    assert len(result.stages) == 2 and result.stages[0].steps == 3 and 1 <= result.stages[1].steps < 50
    assert not any(s.stalled for s in result.stages)
    ends = [row["time"] for row in result.history]  # the clock after each step: the next one's start
    assert ends[-3] < 7.5 <= ends[-2]  # the step begun past the limit ran, and no other
    steps = result.stages[1].steps
    assert f"time limit of 7.5 s in stage 2 of 3 (its step {steps} of 50), {3 + steps} steps" in result.message
    with pytest.raises(KanpdeError, match="time_limit"):
        solve(problem, small_kan(problem), curriculum, sampler=SAMPLER, time_limit=-1.0)


def test_redrawn_points_with_a_much_larger_loss_are_not_divergence(monkeypatch):
    """RAD can move the points onto a singularity (the cavity's lid ends): the loss on the
    new points is then far above the stage's best on the old ones without anything having
    gone wrong. Here the residual is 3e3 times larger on every redrawn batch (9e6 in the
    loss, below the 1e3 x the first loss that still counts as divergence): the stage goes on."""
    import kanpde.training.trainer as trainer

    poisson = load_problem("poisson1d")
    scale = [1.0]
    draw, draws = trainer.sample_batch, [0]

    def louder_points(*args, **kwargs):  # the first draw is the stage's batch, later ones redraws
        draws[0] += 1
        scale[0] = 3e3 if draws[0] > 1 else 1.0
        return draw(*args, **kwargs)

    def residual(u, x, p):
        return scale[0] * poisson.residual(u, x, p)

    monkeypatch.setattr(trainer, "sample_batch", louder_points)
    problem = replace(poisson, residual=residual)
    result = solve(problem, small_kan(poisson, grid=5), [Stage(12, "lm", 1e-3, resample_every=8, stall_rtol=0.0)],
                   sampler=SAMPLER, log_every=1)
    assert result.status == "ok", result.message
    losses = [row["loss"] for row in result.history]
    assert scale[0] == 3e3 and max(losses[8:]) > 1e6 * min(losses[:8])  # the jump the old check called divergence
    assert max(losses) < 1e3 * losses[0]
    assert len(result.history) == 12


def test_validation_keeps_the_stages_best_checked_model_and_its_estimate_and_leaves_training_as_it_was():
    """train.validation: every model a stage checks (its start, each logged step, the one
    before each redraw) is scored by its loss on a fixed validation set, and the stage ends
    with the lowest-scoring one, the inverse problem's estimate included. Adam at lr 0.02 on
    heat_inverse with points redrawn every 10 steps scores lower after step 25 than after
    its last step 30, so the stage keeps step 25's model and D. The training itself draws
    the same points and logs the same losses as without validation."""
    from kanpde.training import Callback
    from kanpde.training.validation import Validation

    class Snapshots(Callback):  # on_log comes after the step: the model a check scores
        def __init__(self, problem, model):
            self.problem, self.model, self.kept = problem, model, {}

        def on_log(self, row):
            self.kept[row["step"]] = ({k: v.clone() for k, v in self.model.state_dict().items()},
                                      [u.detach().clone() for u in self.problem.params.estimates.values()])

    def run(validation):
        problem = load_problem("heat_inverse")
        model = small_kan(problem, grid=5)
        snapshots = Snapshots(problem, model)
        snapshots.kept[0] = ({k: v.clone() for k, v in model.state_dict().items()},
                             [u.detach().clone() for u in problem.params.estimates.values()])
        result = solve(problem, model, [Stage(30, "adam", 0.02, resample_every=10)], sampler=SAMPLER, log_every=5,
                       validation=validation, callbacks=[snapshots])
        return problem, model, result, snapshots.kept

    plain_problem, _, plain, _ = run(0)
    problem, model, result, kept = run(512)
    recovered = problem.recovered()
    assert result.status == "ok" and plain.stages[0].validation is None
    assert [{k: v for k, v in row.items() if k != "time"} for row in result.history] == \
           [{k: v for k, v in row.items() if k != "time"} for row in plain.history]
    unknowns = list(problem.params.estimates.values())
    scorer = Validation(problem, model, SAMPLER, 512, 0, term_weights(problem), {}, unknowns)
    final_score = scorer.score()
    scores = {}
    for step, (state, estimates) in kept.items():  # every checked model: start, logged steps (10, 20 redraws)
        model.load_state_dict(state)
        with torch.no_grad():
            for u, value in zip(unknowns, estimates):
                u.copy_(value)
        scores[step] = scorer.score()
    best = min(scores, key=scores.get)
    summary = result.stages[0]
    assert best == summary.kept_step == 25 and scores[25] < scores[30]
    assert summary.validation == pytest.approx(scores[25], rel=1e-12) == final_score
    assert result.state["layers.0.coef"].equal(kept[25][0]["layers.0.coef"])
    assert recovered["D"] == kept[25][1][0].exp().item() != plain_problem.recovered()["D"]  # went back with it
    with pytest.raises(KanpdeError, match="validation"):
        solve(problem, model, [Stage(1)], validation=-1)
