"""The accuracy suite: its tiers, and the smoke tier run for real with error thresholds at
3x the errors it printed when recorded (so a 3x loss of accuracy fails)."""

import pytest

from kanpde.bench.accuracy import SMOKE_BUDGET, Case, model_overrides, run_suite, tier_cases
from kanpde.problem import known_problems

# rel. L2 errors printed by `kanpde-bench accuracy --tier smoke --device cpu` (2026-12-03, 2-core
# AMD EPYC VM, the quintic KAN and the 3 x 30 MLP defaults; the table is in BENCHMARKS.md)
RECORDED = {
    ("poisson2d", "kan"): 1.71e-05, ("poisson2d", "mlp"): 0.000137,
    ("diffusion1d", "kan"): 0.000162, ("diffusion1d", "mlp"): 0.000423,
    ("heat2d", "kan"): 8.19e-05, ("heat2d", "mlp"): 0.000397,
    ("poisson_disk", "kan"): 1.17e-05, ("poisson_disk", "mlp"): 0.000116,
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    records = run_suite("smoke", tmp_path_factory.mktemp("smoke"), device="cpu", timeout=600)
    return {(r["problem"], r["model"]): r for r in records}


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_smoke_tier_errors_stay_within_three_times_the_recorded_ones(smoke, case):
    record = smoke[case]
    assert record.get("error") is None, record.get("error")
    assert record["status"] == "ok" and record["parameters"] > 0 and record["device"]
    assert record["rel_l2"] <= 3 * RECORDED[case], record["rel_l2"]


def test_the_smoke_tier_has_every_recorded_case_and_nothing_else():
    assert {(c.problem, m) for c in tier_cases("smoke") for m in ("kan", "mlp")} == set(RECORDED)


def test_full_tier_covers_every_shipped_problem():
    assert [c.problem for c in tier_cases("full")] == known_problems()


def test_unknown_tier_names_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: smoke, full"):
        tier_cases("medium")


def test_the_mlp_gets_the_same_budget_without_the_kan_widths():
    case = Case("poisson2d", SMOKE_BUDGET)
    mlp = model_overrides("mlp", case)
    assert mlp[0] == "model=mlp" and "model.widths=[8]" not in mlp
    assert set(mlp[1:]) == set(SMOKE_BUDGET) - {"model.widths=[8]"} | {"model.mult=[]", "model.widths=[30,30,30]"}


def test_an_experiment_that_sizes_the_kan_leaves_the_mlp_its_own_widths():
    from hydra import compose, initialize_config_dir

    from kanpde.app.main import CONFIG_DIR
    from kanpde.app.schema import register

    register()
    (case,) = [c for c in tier_cases("full") if c.problem == "burgers1d"]  # its experiment: widths [8, 8]
    with initialize_config_dir(CONFIG_DIR, version_base=None):
        kan = compose("config", overrides=["problem=burgers1d", *model_overrides("kan", case)])
        mlp = compose("config", overrides=["problem=burgers1d", *model_overrides("mlp", case)])
    assert list(kan.model.widths) == [8, 8]
    assert mlp.model.kind.value == "mlp" and list(mlp.model.widths) == [30, 30, 30]
    assert mlp.train.stages == kan.train.stages and mlp.sampler == kan.sampler


def test_equal_time_gives_the_later_models_of_a_case_the_first_ones_training_seconds(monkeypatch, tmp_path):
    import kanpde.bench.accuracy as accuracy

    calls = []

    def fake_run(case, model, out_dir, device, timeout, time_limit=None):
        calls.append((case.problem, model, time_limit))
        return {"problem": case.problem, "model": model, "train_s": {"poisson2d": 12.5, "heat2d": 30.0}[case.problem]}

    monkeypatch.setattr(accuracy, "run_case", fake_run)
    run_suite("full", tmp_path, problems=["poisson2d", "heat2d"], equal_time=True)
    assert sorted(calls) == sorted([("heat2d", "kan", None), ("heat2d", "mlp", 30.0),
                                    ("poisson2d", "kan", None), ("poisson2d", "mlp", 12.5)])
    calls.clear()
    run_suite("full", tmp_path, problems=["poisson2d"])
    assert calls == [("poisson2d", "kan", None), ("poisson2d", "mlp", None)]
