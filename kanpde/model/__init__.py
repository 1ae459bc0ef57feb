"""The solution ansatz: KAN (and an MLP baseline), its layer, basis and grid mechanism."""

from kanpde.model.grid import extend_grid, update_grid
from kanpde.model.layer import KANLayer
from kanpde.model.network import KAN, MLP, KANConfig, count_parameters

__all__ = ["KAN", "KANConfig", "MLP", "KANLayer", "update_grid", "extend_grid", "count_parameters"]
