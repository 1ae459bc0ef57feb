"""Optimizers for a stage, and carrying Adam's moments across a grid extension."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from kanpde.training.curriculum import Stage


def make_optimizer(stage: Stage, model: nn.Module) -> torch.optim.Optimizer:
    params = list(model.parameters())
    if stage.optimizer == "adam":
        return torch.optim.Adam(params, lr=stage.lr)
    # a step is up to 20 L-BFGS iterations (as in pykan); a single iteration per call
    # stalls, since torch's LBFGS restarts its line-search bookkeeping on every call
    return torch.optim.LBFGS(params, lr=stage.lr, max_iter=20, history_size=50,
                             line_search_fn="strong_wolfe", tolerance_grad=1e-14,
                             tolerance_change=1e-16)


def adam_state_by_name(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, dict]:
    """Adam's per-parameter state keyed by parameter name (survives parameter replacement)."""
    if not isinstance(optimizer, torch.optim.Adam):
        return {}
    return {name: optimizer.state[p] for name, p in model.named_parameters() if p in optimizer.state}


def load_adam_state(optimizer: torch.optim.Optimizer, model: nn.Module, saved: Mapping[str, dict],
                    refits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]) -> None:
    """Give the new Adam the old moments; reshaped parameters go through their refit map."""
    if not isinstance(optimizer, torch.optim.Adam):
        return
    for name, p in model.named_parameters():
        if name not in saved:
            continue
        state = dict(saved[name])
        if name in refits:
            state["exp_avg"] = refits[name](state["exp_avg"])
            state["exp_avg_sq"] = refits[name](state["exp_avg_sq"]).clamp_min(0.0)
        if state["exp_avg"].shape == p.shape:
            optimizer.state[p] = state
