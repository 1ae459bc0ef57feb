"""Accuracy of the default runs (slow: minutes on a CPU; `make test-all` runs them)."""

import pytest
from hydra import compose, initialize_config_dir

from kanpde.analysis import evaluate
from kanpde.app.build import build
from kanpde.app.main import CONFIG_DIR
from kanpde.app.schema import register
from kanpde.training import solve

# problem -> the relative L2 error its default config must reach
TARGETS = {"poisson2d": 1e-3}


@pytest.mark.slow
@pytest.mark.parametrize("name", TARGETS)
def test_default_config_reaches_its_target(name):
    register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        job = build(compose(config_name="config", overrides=[f"problem={name}", "device=cpu"]))
    result = solve(job.problem, job.model, job.curriculum, sampler=job.sampler, seed=job.seed)
    assert result.ok, result.message
    assert evaluate(job.problem, job.model)["rel_l2"] <= TARGETS[name]
