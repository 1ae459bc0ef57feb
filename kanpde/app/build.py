"""The only code that reads a Hydra config: turns it into typed kanpde objects."""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from kanpde.app.validate import check_config, check_memory, check_spline_order
from kanpde.constraints import hard_dirichlet, hard_initial, hard_periodic, hard_symmetry
from kanpde.errors import KanpdeError
from kanpde.model import KAN, MLP, KANConfig
from kanpde.problem import Problem, load_problem
from kanpde.result import TrainResult
from kanpde.symbolic.ansatz import separable_kan
from kanpde.symbolic.pipeline import SymbolicOptions, check_symbolic
from kanpde.training import Callback, PointWeighting, SamplerConfig, Stage, solve
from kanpde.training.marching import TimeWindows, march, time_windows

log = logging.getLogger("kanpde")


@dataclass
class Job:
    """Everything solve() needs, built from a config."""

    problem: Problem
    model: nn.Module
    curriculum: list[Stage]
    sampler: SamplerConfig
    weights: dict[str, float]
    point_weighting: PointWeighting
    symbolic: SymbolicOptions | None
    seed: int
    log_every: int
    eval_points: int
    time_limit: float = 0.0  # seconds of training (0: no limit)
    validation: int = 0  # points of the set each stage picks its model on (0: none, the last model)

    def fit(self, callbacks: Sequence[Callback] = ()) -> TrainResult:
        """Train the model in place: ``solve``, or ``march`` through the time windows."""
        options: dict[str, Any] = dict(
            sampler=self.sampler, weights=self.weights, point_weighting=self.point_weighting, seed=self.seed,
            log_every=self.log_every, time_limit=self.time_limit, validation=self.validation, callbacks=callbacks)
        if isinstance(self.model, TimeWindows):
            return march(self.model, self.curriculum, **options)
        return solve(self.problem, self.model, self.curriculum, **options)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise KanpdeError(f"device={name} but CUDA is not available here; use device=cpu or device=auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise KanpdeError(f"unknown device {name!r}; accepted: auto, cpu, cuda, cuda:N") from None


def device_description(device: str | torch.device) -> str:
    """The device in words, for records: the GPU's name, or the CPU and its threads."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


@dataclass(frozen=True)
class Built:
    """What the network must build in: periodic inputs, a mirror symmetry (axis, parity)."""

    periodic: tuple[int, ...] = ()
    reflect: tuple[int, str] | None = None


def build_problem(cfg: DictConfig) -> tuple[Problem, Built]:
    """The problem with its hard constraints, and what the network must build in."""
    return constrain(cfg, plain_problem(cfg))


def plain_problem(cfg: DictConfig) -> Problem:
    """The configured problem as its file defines it, without hard constraints."""
    params = OmegaConf.to_container(cfg.params, resolve=True)  # a dict: the schema types params as one
    return load_problem(cfg.source or cfg.name, params)  # type: ignore[arg-type]


def constrain(cfg: DictConfig, problem: Problem) -> tuple[Problem, Built]:
    """The problem with the hard constraints the config asks for, and what the network must build in."""
    if cfg.hard_components is not None and not cfg.hard_dirichlet:
        raise KanpdeError("problem.hard_components names the components of problem.hard_dirichlet; "
                          "set problem.hard_dirichlet=true")
    components = None if cfg.hard_components is None else list(cfg.hard_components)
    problem = hard_dirichlet(problem, components) if cfg.hard_dirichlet else problem
    problem = hard_initial(problem) if cfg.hard_initial else problem
    reflect = hard_symmetry(problem) if cfg.hard_symmetry else None
    problem, periodic = hard_periodic(problem) if cfg.hard_periodic else (problem, ())
    return problem, Built(periodic, reflect)


ANSATZES = ("model", "separable")


def build_model(cfg: DictConfig, problem: Problem, dtype: torch.dtype, device: torch.device,
                seed: int, built: Built = Built(), ansatz: str = "model", terms: int = 1) -> nn.Module:
    """The configured network; ``ansatz="separable"`` (symbolic runs) replaces it by the
    readable KAN ``u = c X_0(x_0) ... X_{d-1}(x_{d-1}) + e`` of kanpde.symbolic.ansatz (a sum
    of ``terms`` such products), on the configured grid."""
    if ansatz not in ANSATZES:
        raise KanpdeError(f"unknown symbolic.ansatz {ansatz!r}; accepted: {', '.join(ANSATZES)}")
    widths = [problem.domain.dim, *cfg.widths, len(problem.components)]
    bounds = problem.domain.bounds
    generator = torch.Generator().manual_seed(seed)
    if cfg.kind.value == "mlp":
        if ansatz == "separable":
            raise KanpdeError("symbolic.ansatz=separable is a KAN; the model is an MLP (use model=kan)")
        if cfg.mult:
            raise KanpdeError(f"model.mult={list(cfg.mult)} gives a KAN product nodes; the MLP has none "
                              "(use model=kan)")
        return MLP(widths, bounds, cfg.activation, periodic=built.periodic, reflect=built.reflect,
                   generator=generator, dtype=dtype, device=device)
    config = KANConfig(grid_size=cfg.grid, order=cfg.order, grid_eps=cfg.grid_eps,
                       noise_scale=cfg.noise_scale)
    if ansatz == "separable":
        if built.periodic or built.reflect:
            raise KanpdeError("symbolic.ansatz=separable takes the coordinates themselves; set "
                              "problem.hard_periodic=false and problem.hard_symmetry=false")
        return separable_kan(bounds, len(problem.components), config, terms=terms, generator=generator,
                             dtype=dtype, device=device)
    return KAN(widths, bounds, config, mult=list(cfg.mult), periodic=built.periodic, reflect=built.reflect,
               generator=generator, dtype=dtype, device=device)


def options(node: DictConfig, key: str):
    """The library dataclass a schema node declares (Stage, SamplerConfig, ...), built by
    keyword so that its own checks run; their complaints name the config key."""
    try:
        return OmegaConf.to_object(node)
    except KanpdeError as error:
        if str(error).startswith(key):  # it names the key already (SymbolicOptions does)
            raise
        raise KanpdeError(f"{key}: {error}") from None


def build_curriculum(cfg: DictConfig) -> list[Stage]:
    if not cfg.stages:
        raise KanpdeError("the curriculum (train.stages) is empty; give at least one stage")
    return [options(stage, f"train.stages.{i}") for i, stage in enumerate(cfg.stages)]


def build_symbolic(cfg: DictConfig, problem: Problem, model: nn.Module) -> SymbolicOptions | None:
    """The symbolic stage's options, or None when it is off; refuses a problem or model
    it cannot read a formula from before any training is spent."""
    if not cfg.enabled:
        return None
    check_symbolic(problem, model)
    return options(cfg, "symbolic")  # a SymbolicConf: the SymbolicOptions with the app's switches


def build_windows(cfg: DictConfig, problem: Problem, dtype: torch.dtype, device: torch.device) -> TimeWindows:
    """Time marching (train.windows > 1): the windows of the plain problem, each with the
    configured hard constraints and a network; the plain problem's solution is theirs."""
    if cfg.symbolic.enabled:
        raise KanpdeError(f"the symbolic stage reads one formula off one network; train.windows="
                          f"{cfg.train.windows} trains a network per time window: set train.windows=1 or "
                          "symbolic=none")

    def make(window: Problem) -> tuple[Problem, nn.Module]:
        constrained, built = constrain(cfg.problem, window)
        return constrained, build_model(cfg.model, constrained, dtype, device, cfg.seed, built)

    return time_windows(problem, cfg.train.windows, make)


def build(cfg: DictConfig) -> Job:
    """The job, after every value and the problem's code are checked (app.validate)."""
    check_config(cfg)
    device = resolve_device(cfg.device)
    dtype = getattr(torch, cfg.dtype.value)
    marching = cfg.train.windows > 1
    problem, built = (plain_problem(cfg.problem), Built()) if marching else build_problem(cfg.problem)
    check_spline_order(cfg, problem)
    check_memory(cfg, problem, dtype, device)
    if marching:
        model: nn.Module = build_windows(cfg, problem, dtype, device)
        problem = replace(problem, transform=None)  # the windows' solutions include the problem's own transform
    else:
        ansatz = cfg.symbolic.ansatz if cfg.symbolic.enabled else "model"
        model = build_model(cfg.model, problem, dtype, device, cfg.seed, built, ansatz, cfg.symbolic.terms)
    return Job(problem=problem, model=model, curriculum=build_curriculum(cfg.train),
               sampler=options(cfg.sampler, "sampler"), weights=dict(cfg.train.weights),
               point_weighting=options(cfg.train.point_weights, "train.point_weights"),
               symbolic=build_symbolic(cfg.symbolic, problem, model), seed=cfg.seed, log_every=cfg.train.log_every,
               eval_points=cfg.eval_points, time_limit=cfg.train.time_limit,
               validation=cfg.train.validation)
