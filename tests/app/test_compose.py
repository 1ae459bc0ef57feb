"""Every config option composes (Hydra compose API) and builds the objects it names."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from kanpde import KAN, MLP, KanpdeError, Stage
from kanpde.app.build import build
from kanpde.app.main import CONFIG_DIR, expand_problem_path
from kanpde.app.schema import register

register()
GROUPS = {g: sorted(p.stem for p in (Path(CONFIG_DIR) / g).glob("*.yaml"))
          for g in ("problem", "model", "train", "sampler")}


def _compose(overrides=()):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUPS.items() for o in opts
                                          if (g, o) != ("problem", "file")])
def test_every_option_composes_and_builds(group, option):
    cfg = _compose([f"{group}={option}"])
    job = build(cfg)
    if group == "problem":
        assert job.problem.name == option
        params = {k: float(v) for k, v in cfg.problem.params.items()}
        assert dict(job.problem.params) == params or not cfg.problem.params
    assert isinstance(job.model, MLP if cfg.model.kind.value == "mlp" else KAN)
    x = job.problem.domain.sample_interior(4, "uniform", generator=torch.Generator().manual_seed(0))
    assert job.model(x).shape == (len(x), len(job.problem.components))
    assert [s.steps for s in job.curriculum] == [s.steps for s in cfg.train.stages]
    assert job.sampler.method == cfg.sampler.method


def test_kan_widths_and_grid_follow_the_config():
    job = build(_compose(["model.widths=[3,4]", "model.grid=7", "dtype=float32"]))
    assert job.model.widths == [2, 3, 4, 1]
    assert job.model.grid_size == 7
    assert next(job.model.parameters()).dtype == torch.float32


def test_problem_path_override_selects_the_file_config(tmp_path):
    path = tmp_path / "my_pde.py"
    args = expand_problem_path(["kanpde", f"problem={path}", "seed=1"])
    assert args == ["kanpde", "problem=file", f"problem.source={path}", "problem.name=my_pde", "seed=1"]


@pytest.mark.parametrize("override,words", [
    ("seed=abc", ["seed", "Integer"]),
    ("dtype=float16", ["dtype", "float32", "float64"]),
    ("model.kind=transformer", ["kind", "kan", "mlp"]),
    ("model.grid=1.5", ["grid", "Integer"]),
    ("sampler.interior=many", ["interior", "Integer"]),
])
def test_a_value_of_the_wrong_type_is_named_with_what_is_accepted(override, words):
    with pytest.raises((ConfigCompositionException, ValidationError)) as error:
        _compose([override])
    message = str(error.value) + str(error.value.__cause__ or "")
    assert all(w in message for w in words), message


@pytest.mark.parametrize("override,words", [
    ("train.stages.0.optimizer=sgd", ["train.stages.0", "unknown optimizer 'sgd'", "adam, lbfgs"]),
    ("sampler.method=random", ["sampler", "unknown sampling method 'random'", "sobol"]),
    ("sampler.adaptive=magic", ["sampler", "magic", "rad"]),
])
def test_a_value_the_library_refuses_is_named_by_its_config_key(override, words):
    with pytest.raises(KanpdeError) as error:
        build(_compose([override]))
    assert all(w in str(error.value) for w in words), str(error.value)


def test_every_stage_and_symbolic_option_reaches_the_library_by_name():
    """The config's stages and symbolic options are the library's dataclasses, field for
    field (no positional mapping that could shift or drop one)."""
    stage = Stage(7, "lbfgs", 0.5, grid=9, update_grid=True, resample_every=3, stall_rtol=1e-6, sparsify=0.1,
                  entropy=1.5)
    overrides = ["train.stages=[{steps:7,optimizer:lbfgs,lr:0.5,grid:9,update_grid:true,resample_every:3,"
                 "stall_rtol:1e-6,sparsify:0.1,entropy:1.5}]", "symbolic=auto", "symbolic.samples=50",
                 "symbolic.functions=[x,sin]", "+symbolic.extra.xexp='x*exp(-x)'", "symbolic.r2_threshold=0.99",
                 "symbolic.complexity_weight=0.2", "symbolic.snap_rtol=0.5", "symbolic.verify_points=100",
                 "symbolic.prune_threshold=0.2"]
    job = build(_compose(overrides))
    assert job.curriculum == [stage]
    options = job.symbolic
    assert (options.samples, options.functions, dict(options.extra), options.r2_threshold, options.complexity_weight,
            options.snap_rtol, options.verify_points, options.prune_threshold) == (
        50, ["x", "sin"], {"xexp": "x*exp(-x)"}, 0.99, 0.2, 0.5, 100, 0.2)
    assert options.refine == [Stage(100, "lbfgs", 1.0)] and options.retrain == [Stage(50, "lbfgs", 1.0)]


def test_unknown_problem_lists_the_available_ones():
    with pytest.raises(Exception) as error:
        _compose(["problem=nope"])
    message = str(error.value)
    assert "nope" in message and "poisson2d" in message and "helmholtz2d" in message


def test_hard_constraints_and_point_weights_follow_the_config():
    job = build(_compose(["problem=kdv", "problem.hard_initial=true", "problem.hard_periodic=true",
                          "train.point_weights.causal=2.0", "train.point_weights.attention=0.01"]))
    assert job.problem.conditions == ()  # the initial value and periodicity are in the ansatz
    assert job.model.widths[0] == 3  # x as (cos, sin), and t
    assert (job.point_weighting.causal, job.point_weighting.attention) == (2.0, 0.01)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    left, right = torch.stack([torch.zeros_like(t), t], 1), torch.stack([2 * torch.ones_like(t), t], 1)

    def u(x):
        return job.problem.solution(job.model, x)

    assert torch.allclose(u(left), u(right), atol=1e-12)
    start = torch.stack([torch.linspace(0, 2, 9, dtype=torch.float64), torch.zeros(9, dtype=torch.float64)], 1)
    assert torch.allclose(u(start)[:, 0], torch.cos(torch.pi * start[:, 0]), atol=1e-12)


def test_a_marched_problems_own_transform_is_applied_once():
    """allen_cahn's lift is the problem's own output transform: each window's network goes
    through it, and the marched solution (the job's problem on the windows) adds it no more."""
    job = build(_compose(["problem=allen_cahn", "problem.params.lift=true", "train.windows=2"]))
    assert job.problem.transform is None
    x = torch.tensor([[0.3, 0.1], [0.0, 0.1], [0.3, 0.55], [0.0, 0.55]], dtype=torch.float64)
    first, second = job.model.problems
    expected = torch.cat([first.solution(job.model.models[0], x[:2]), second.solution(job.model.models[1], x[2:])])
    lift = first.transform(x)[0]
    assert lift.abs().min() > 1e-3  # the lift matters at these points
    assert torch.equal(job.problem.solution(job.model, x), expected)
    nets = torch.cat([job.model.models[0](x[:2]), job.model.models[1](x[2:])])
    assert torch.allclose(expected, lift + nets, rtol=0, atol=1e-15)  # each window: lift + its network


@pytest.mark.parametrize("model", ["kan", "mlp"])
def test_hard_symmetry_builds_the_problems_parity_into_either_network(model):
    job = build(_compose(["problem=burgers1d", f"model={model}", "problem.hard_initial=true",
                          "problem.hard_dirichlet=true", "problem.hard_symmetry=true"]))
    x = torch.rand(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * torch.tensor([2.0, 1.0])
    x[:, 0] -= 1.0
    mirrored = x * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        u = job.problem.solution(job.model, x)
        torch.testing.assert_close(job.problem.solution(job.model, mirrored), -u, atol=1e-14, rtol=0)
    with pytest.raises(KanpdeError, match="declares no symmetry"):
        build(_compose(["problem=poisson2d", "problem.hard_symmetry=true"]))


@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("[!_]*.yaml")))
def test_every_experiment_composes_and_builds(name):
    job = build(_compose([f"+experiment={name}"]))
    assert job.curriculum and job.problem.name


@pytest.mark.parametrize("problem, widths, mult", [("poisson2d", [2, 1, 1], (1,)), ("poisson1d", [1, 1], ())])
def test_symbolic_auto_builds_the_separable_ansatz_with_soft_conditions(problem, widths, mult):
    job = build(_compose([f"problem={problem}", "symbolic=auto", "symbolic.r2_threshold=0.9999"]))
    assert job.problem.transform is None  # the network itself is the solution
    assert job.model.widths == widths and job.model.mult == mult
    assert job.symbolic.r2_threshold == 0.9999 and job.symbolic.refine[0].optimizer == "lbfgs"
    assert build(_compose([f"problem={problem}"])).symbolic is None


def test_symbolic_terms_sum_products_and_a_bad_count_is_refused():
    job = build(_compose(["problem=advection1d", "symbolic=auto", "symbolic.terms=2"]))
    assert job.model.widths == [2, 2, 1] and job.model.mult == (2,)
    from kanpde import KanpdeError
    with pytest.raises(KanpdeError, match="symbolic.terms=0 is out of range"):
        build(_compose(["problem=advection1d", "symbolic=auto", "symbolic.terms=0"]))


def test_symbolic_refuses_hard_constraints_and_product_nodes_need_a_kan():
    from kanpde import KanpdeError
    with pytest.raises(KanpdeError, match="hard_dirichlet=false"):
        build(_compose(["problem=poisson2d", "symbolic=auto", "problem.hard_dirichlet=true"]))
    with pytest.raises(KanpdeError, match="product nodes"):
        build(_compose(["model=mlp", "model.mult=[1]"]))
    job = build(_compose(["model.widths=[2]", "model.mult=[1]"]))
    assert job.model.widths == [2, 3, 1] and job.model.layers[0].out_dim == 4


def test_hard_components_choose_what_is_built_in():
    from kanpde import KanpdeError
    job = build(_compose(["problem=cavity", "problem.hard_dirichlet=true", "problem.hard_components=[v]"]))
    assert [c.label for c in job.problem.conditions] == ["lid", "walls_u", "pressure_gauge"]
    with pytest.raises(KanpdeError, match="set problem.hard_dirichlet=true"):
        build(_compose(["problem=cavity", "problem.hard_components=[v]"]))
