"""Parameters as one flat vector, for the optimizers that work on x in R^n."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The parameters' values, concatenated: (n,), detached."""
    return torch.cat([p.detach().reshape(-1) for p in params])


@torch.no_grad()
def assign(params: Sequence[torch.Tensor], x: torch.Tensor) -> None:
    """Copy x (n,) into the parameters, in the order of :func:`flatten`."""
    offset = 0
    for p in params:
        p.copy_(x[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
