"""Post-processing: metrics against the exact solution, plots, run directories."""

from kanpde.analysis.metrics import evaluate
from kanpde.analysis.report import write_run, write_symbolic
from kanpde.compare import relative_l2

__all__ = ["evaluate", "relative_l2", "write_run", "write_symbolic"]
