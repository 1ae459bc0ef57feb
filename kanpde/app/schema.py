"""Structured-config schemas: Hydra validates every config and override against these."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class ModelKind(Enum):
    kan = "kan"
    mlp = "mlp"


class OptimizerName(Enum):
    adam = "adam"
    lbfgs = "lbfgs"


class SampleMethod(Enum):
    uniform = "uniform"
    sobol = "sobol"
    lhs = "lhs"
    grid = "grid"


class DType(Enum):
    float32 = "float32"
    float64 = "float64"


@dataclass
class ProblemConf:
    name: str = MISSING  # names the run directory
    source: Optional[str] = None  # shipped problem name or path to a .py file (default: name)
    params: Dict[str, Any] = field(default_factory=dict)
    hard_dirichlet: bool = False  # impose constant Dirichlet values exactly (output transform)
    hard_initial: bool = False  # impose initial values exactly (after hard_dirichlet when both)
    hard_periodic: bool = False  # periodic network inputs (cos/sin) replace Periodic conditions


@dataclass
class ModelConf:
    kind: ModelKind = ModelKind.kan
    widths: List[int] = field(default_factory=lambda: [8])  # hidden widths; in/out from the problem
    grid: int = 5  # KAN: initial grid size (stages may extend it)
    order: int = 3  # KAN: B-spline order
    grid_eps: float = 0.02  # KAN: uniform share of the knots in grid updates
    noise_scale: float = 0.1  # KAN: initial spline coefficient scale
    activation: str = "tanh"  # MLP only


@dataclass
class StageConf:
    steps: int = 1000
    optimizer: OptimizerName = OptimizerName.adam
    lr: float = 1e-3
    grid: Optional[int] = None
    update_grid: bool = False
    resample_every: int = 0
    stall_rtol: float = 1e-8  # L-BFGS stage ends when 2 steps in a row gain less than this (relative)


@dataclass
class PointWeightsConf:
    causal: float = 0.0  # causal weighting in time: epsilon (0: off)
    bins: int = 32  # causal: time slabs
    attention: float = 0.0  # residual-based attention: step size eta (0: off)
    decay: float = 0.999  # attention: memory gamma


@dataclass
class TrainConf:
    stages: List[StageConf] = field(default_factory=list)
    log_every: int = 50
    weights: Dict[str, float] = field(default_factory=dict)  # loss term name -> weight
    point_weights: PointWeightsConf = field(default_factory=PointWeightsConf)  # residual points


class Adaptive(Enum):
    none = "none"
    rad = "rad"


@dataclass
class SamplerConf:
    method: SampleMethod = SampleMethod.sobol
    interior: int = 1024
    boundary: int = 256
    adaptive: Adaptive = Adaptive.none  # how resample_every re-places the interior points
    k: float = 1.0  # rad: probability ~ |r|^k / mean |r|^k + c
    c: float = 1.0
    pool: int = 8  # rad: candidates per kept point


@dataclass
class Config:
    problem: ProblemConf = MISSING
    model: ModelConf = MISSING
    train: TrainConf = MISSING
    sampler: SamplerConf = MISSING
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: DType = DType.float64
    seed: int = 0
    eval_points: int = 10_000
    progress: bool = True


def register() -> None:
    ConfigStore.instance().store(name="schema", node=Config)
