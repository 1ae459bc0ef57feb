"""Loss = weighted mean squares of the PDE residual and of every condition's residual."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from kanpde.errors import KanpdeError
from kanpde.jet import JetRequest
from kanpde.operators import Field, JetMiss
from kanpde.problem import Problem
from kanpde.training.sampler import Batch

RESIDUAL = "residual"


Requests = dict[str, JetRequest | None]


def evaluate_residual(problem: Problem, model: nn.Module, x: torch.Tensor,
                      requests: Requests | None = None) -> torch.Tensor:
    """PDE residual at interior points x: (N, d) -> (N, k)."""
    r = _evaluate(problem, model, x, RESIDUAL, requests,
                  lambda u: problem.residual(u, problem.coords(u.x), problem.params))
    if not isinstance(r, torch.Tensor) or r.ndim not in (1, 2) or r.shape[0] != len(x):
        shape = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
        raise KanpdeError(f"problem {problem.name!r}: the residual returned {shape} for {len(x)} "
                          f"points; expected a tensor of shape ({len(x)},) or ({len(x)}, k): one "
                          "value per point, or k values for k equations")
    return r.reshape(len(x), -1)


def loss_terms(problem: Problem, model: nn.Module, batch: Batch,
               requests: Requests | None = None) -> dict[str, torch.Tensor]:
    """Mean square of the residual and of each condition, by name: scalar tensors.

    ``requests`` (term name -> JetRequest, or None for autograd) is filled in by the first
    call and read by the later ones, which then evaluate each term through the model's
    analytic jet (see ``Problem.field``); without it every term uses autograd.
    """
    terms = {RESIDUAL: evaluate_residual(problem, model, batch.interior, requests).square().mean()}
    for condition, points in zip(problem.conditions, batch.conditions):
        r = _evaluate(problem, model, points.x, condition.label, requests,
                      lambda u: condition.residual(u, problem.coords(u.x), points, problem.params))
        terms[condition.label] = r.square().mean()
    return terms


def _evaluate(problem: Problem, model: nn.Module, x: torch.Tensor, label: str,
              requests: Requests | None, fn: Callable[[Field], torch.Tensor]) -> torch.Tensor:
    """fn(solution field at x), through the model's jet when it has one: the derivatives fn
    needs are recorded once, on a probe field of zeros, and asked of the jet from then on.
    Autograd when there is no jet, for third-order terms, or when fn asks for more than it
    did before (the request then grows)."""
    jet_model = hasattr(model, "jet")
    if requests is not None and jet_model and label not in requests:
        probe = Field.probe(x, problem.domain.names, problem.components, problem.space)
        fn(probe)
        requests[label] = probe.jet_request()
    request = requests.get(label) if requests is not None else None
    if request is not None and jet_model:
        try:
            return fn(problem.field(x, model, request))
        except JetMiss:
            pass
    u = problem.field(x, model)
    out = fn(u)
    if requests is not None:
        asked = u.jet_request()
        requests[label] = asked if request is None or asked is None else request.union(asked)
    return out


def term_weights(problem: Problem, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Weight of each term: 1 for the residual, each condition's own weight, then overrides."""
    weights = {RESIDUAL: 1.0, **{c.label: c.weight for c in problem.conditions}}
    unknown = set(overrides or {}) - set(weights)
    if unknown:
        raise KanpdeError(f"loss weights name unknown terms {sorted(unknown)}; the terms of "
                          f"{problem.name!r} are: {', '.join(weights)}")
    return {**weights, **(overrides or {})}


def total_loss(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    return sum(weights[name] * value for name, value in terms.items())
