"""kanpde: physics-informed PDE solving with Kolmogorov-Arnold Networks.

The names below are imported on first use (PEP 562), so that ``import kanpde.app.cli``
costs nothing before the command has installed its signal handlers: a Ctrl-C during
the seconds torch takes to import then ends the command cleanly, not with a traceback.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {  # public name -> the module that defines it
    "kanpde.app.load": ("LoadedRun", "load_run"),
    "kanpde.conditions": ("Dirichlet", "Initial", "Neumann", "PointData", "Periodic", "Robin"),
    "kanpde.constraints": ("hard_dirichlet", "hard_initial", "hard_periodic"),
    "kanpde.errors": ("KanpdeError",),
    "kanpde.geometry": ("Box", "Disk", "Interval", "SpaceTime"),
    "kanpde.model": ("KAN", "MLP", "KANConfig"),
    "kanpde.operators": ("Coords", "Field"),
    "kanpde.problem": ("Params", "Problem", "known_problems", "load_problem"),
    "kanpde.result": ("TrainResult",),
    "kanpde.training": ("PointWeighting", "SamplerConfig", "Stage", "grid_schedule", "solve"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_HOME_OF)


def __getattr__(name: str):
    if name not in _HOME_OF:
        raise AttributeError(f"module 'kanpde' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME_OF[name]), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see
    from kanpde.app.load import LoadedRun, load_run
    from kanpde.conditions import Dirichlet, Initial, Neumann, Periodic, PointData, Robin
    from kanpde.constraints import hard_dirichlet, hard_initial, hard_periodic
    from kanpde.errors import KanpdeError
    from kanpde.geometry import Box, Disk, Interval, SpaceTime
    from kanpde.model import KAN, MLP, KANConfig
    from kanpde.operators import Coords, Field
    from kanpde.problem import Params, Problem, known_problems, load_problem
    from kanpde.result import TrainResult
    from kanpde.training import PointWeighting, SamplerConfig, Stage, grid_schedule, solve
