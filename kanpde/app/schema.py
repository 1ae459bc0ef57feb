"""Structured-config schemas: Hydra validates every config and override against these.

The library's option dataclasses are the schema where they exist (Stage, SamplerConfig,
PointWeighting, SymbolicOptions): their fields, types and defaults are written once, and
app.build instantiates them by keyword (OmegaConf.to_object), so their own checks run.
Only what the library has no dataclass for (the problem's loading, the network's choice,
the run's device and dtype) is declared here, with KANConfig's defaults read from it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from kanpde.model import MLP, KANConfig
from kanpde.symbolic.pipeline import SymbolicOptions
from kanpde.training import PointWeighting, SamplerConfig, Stage, solve


class ModelKind(Enum):
    kan = "kan"
    mlp = "mlp"


class DType(Enum):
    float32 = "float32"
    float64 = "float64"


@dataclass
class ProblemConf:
    name: str = MISSING  # names the run directory
    source: Optional[str] = None  # shipped problem name or path to a .py file (default: name)
    params: Dict[str, Any] = field(default_factory=dict)
    hard_dirichlet: bool = False  # impose constant Dirichlet values exactly (output transform)
    hard_components: Optional[List[str]] = None  # with hard_dirichlet: of these components only (default: all)
    hard_initial: bool = False  # impose initial values exactly (after hard_dirichlet when both)
    hard_periodic: bool = False  # periodic network inputs (cos/sin) replace Periodic conditions
    hard_symmetry: bool = False  # the network built odd/even as the problem's declared symmetry


@dataclass
class ModelConf:
    """The network: a KAN (its KANConfig under the names model.grid, model.order, ...) or an MLP."""

    kind: ModelKind = ModelKind.kan
    widths: List[int] = field(default_factory=lambda: [8])  # hidden widths; in/out from the problem
    mult: List[int] = field(default_factory=list)  # KAN: product nodes per hidden layer (after its sums)
    grid: int = KANConfig.grid_size  # KAN: initial grid size (stages may extend it)
    order: int = KANConfig.order  # KAN: B-spline order
    grid_eps: float = KANConfig.grid_eps  # KAN: uniform share of the knots in grid updates
    noise_scale: float = KANConfig.noise_scale  # KAN: initial spline coefficient scale
    activation: str = inspect.signature(MLP).parameters["activation"].default  # MLP only


@dataclass
class TrainConf:
    stages: List[Stage] = field(default_factory=list)  # kanpde.training.Stage: steps, optimizer, lr, grid, ...
    log_every: int = inspect.signature(solve).parameters["log_every"].default
    time_limit: float = 0.0  # seconds of training; the run ends with the step under way (0: no limit)
    validation: int = 0  # points of a fixed set on which each stage picks the model it keeps (0: its last)
    windows: int = 1  # time marching: the time range cut into this many windows, a network each, trained in order
    checkpoint_every: int = 100  # steps between the network's checkpoints while training (0: at stage ends only)
    weights: Dict[str, float] = field(default_factory=dict)  # loss term name -> weight
    point_weights: PointWeighting = field(default_factory=PointWeighting)  # residual points


@dataclass
class SymbolicConf(SymbolicOptions):
    """The symbolic stage: SymbolicOptions, and whether it runs on which network."""

    enabled: bool = False  # after training: prune, fit edges, refine, assemble, snap, verify
    ansatz: str = "model"  # model: the configured KAN | separable: u = c X_0(x_0) ... X_{d-1}(x_{d-1}) + e
    terms: int = 1  # separable: a sum of this many such products


@dataclass
class Config:
    problem: ProblemConf = MISSING
    model: ModelConf = MISSING
    train: TrainConf = MISSING
    sampler: SamplerConfig = MISSING  # kanpde.training.SamplerConfig
    symbolic: SymbolicConf = field(default_factory=SymbolicConf)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: DType = DType.float64
    seed: int = 0
    eval_points: int = 10_000
    progress: bool = True


def register() -> None:
    ConfigStore.instance().store(name="schema", node=Config)
