"""Post-processing: metrics against the exact solution, plots, run directories."""

from kanpde.analysis.metrics import evaluate, relative_l2
from kanpde.analysis.report import write_run, write_symbolic

__all__ = ["evaluate", "relative_l2", "write_run", "write_symbolic"]
