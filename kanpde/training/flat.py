"""Parameters as one flat vector, for the optimizers that work on x in R^n."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The parameters' values, concatenated: (n,), detached."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def flatten_grads(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gradients as one vector (n,) in the order of :func:`flatten`; None (a parameter the
    loss does not depend on) counts as zeros."""
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


@torch.no_grad()
def assign(params: Sequence[torch.Tensor], x: torch.Tensor) -> None:
    """Copy x (n,) into the parameters, in the order of :func:`flatten`."""
    offset = 0
    for p in params:
        p.copy_(x[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
