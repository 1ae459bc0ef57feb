"""Training: sampling, losses, optimizers, the curriculum and the one loop."""

from kanpde.training.callbacks import Callback, LogStages, LogSteps, ProgressBar
from kanpde.training.curriculum import Stage, grid_schedule
from kanpde.training.sampler import SamplerConfig
from kanpde.training.trainer import solve
from kanpde.training.weighting import PointWeighting

__all__ = ["Callback", "LogStages", "LogSteps", "PointWeighting", "ProgressBar", "SamplerConfig", "Stage",
           "grid_schedule", "solve"]
