"""Symbolic solutions: prune the KAN, fit its edges to closed forms, assemble a formula,
snap its constants and verify it against the reference and the PDE itself."""

from kanpde.symbolic.ansatz import separable_kan
from kanpde.symbolic.edges import EdgeRecord, fit_network, fix_edges
from kanpde.symbolic.fit import EdgeFit, fit_edges
from kanpde.symbolic.formula import FormulaModel, latex, network_formula, snap_constants
from kanpde.symbolic.library import DEFAULT_FUNCTIONS, LibraryFunction, function_library
from kanpde.symbolic.pipeline import SymbolicOptions, SymbolicResult, extract_formula
from kanpde.symbolic.prune import prune
from kanpde.symbolic.verify import Verification, verify_formula

__all__ = ["DEFAULT_FUNCTIONS", "EdgeFit", "EdgeRecord", "FormulaModel", "LibraryFunction", "SymbolicOptions",
           "SymbolicResult", "Verification", "extract_formula", "fit_edges", "fit_network", "fix_edges",
           "function_library", "latex", "network_formula", "prune", "separable_kan", "snap_constants",
           "verify_formula"]
