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
    mult: List[int] = field(default_factory=list)  # KAN: product nodes per hidden layer (after its sums)
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
    sparsify: float = 0.0  # KAN: weight of the L1 + entropy regulariser of the edge scales (0: off)
    entropy: float = 2.0  # sparsify: weight of the entropy part


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
class SymbolicConf:
    enabled: bool = False  # after training: prune, fit edges, refine, assemble, snap, verify
    ansatz: str = "model"  # model: the configured KAN | separable: u = c X_0(x_0) ... X_{d-1}(x_{d-1}) + e
    terms: int = 1  # separable: a sum of this many such products
    prune_threshold: float = 0.05  # mask edges below this fraction of their layer's largest
    retrain: List[StageConf] = field(default_factory=list)  # stages after pruning
    functions: Optional[List[str]] = None  # library names (None: all)
    extra: Dict[str, str] = field(default_factory=dict)  # added functions: name -> formula in x
    r2_threshold: float = 0.999  # fits below stay numeric
    complexity_weight: Optional[float] = None  # score penalty per complexity unit (None: default)
    samples: int = 201  # points per edge
    refine: List[StageConf] = field(default_factory=lambda: [StageConf(steps=100, optimizer=OptimizerName.lbfgs,
                                                                       lr=1.0)])
    snap_rtol: float = 0.01  # snap a constant when the error grows by at most this fraction
    verify_points: int = 4096


@dataclass
class Config:
    problem: ProblemConf = MISSING
    model: ModelConf = MISSING
    train: TrainConf = MISSING
    sampler: SamplerConf = MISSING
    symbolic: SymbolicConf = field(default_factory=SymbolicConf)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: DType = DType.float64
    seed: int = 0
    eval_points: int = 10_000
    progress: bool = True


def register() -> None:
    ConfigStore.instance().store(name="schema", node=Config)
