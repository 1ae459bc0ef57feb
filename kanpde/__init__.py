"""kanpde: physics-informed PDE solving with Kolmogorov-Arnold Networks."""

from kanpde.conditions import Dirichlet, Initial, Neumann, PointData, Periodic, Robin
from kanpde.constraints import hard_dirichlet, hard_initial, hard_periodic
from kanpde.errors import KanpdeError
from kanpde.geometry import Box, Disk, Interval, SpaceTime
from kanpde.model import KAN, MLP, KANConfig
from kanpde.operators import Coords, Field
from kanpde.problem import Params, Problem, known_problems, load_problem
from kanpde.result import TrainResult
from kanpde.training import PointWeighting, SamplerConfig, Stage, grid_schedule, solve

__all__ = [
    "Box", "Coords", "Dirichlet", "Disk", "Field", "Initial", "Interval", "KAN", "KANConfig",
    "KanpdeError", "MLP", "Neumann", "Params", "Periodic", "PointData", "Problem", "Robin",
    "PointWeighting", "SamplerConfig", "SpaceTime", "Stage", "TrainResult", "grid_schedule", "known_problems",
    "hard_dirichlet", "hard_initial", "hard_periodic", "load_problem", "solve",
]
