"""Loss = weighted mean squares of the PDE residual and of every condition's residual."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from kanpde.errors import KanpdeError
from kanpde.jet import Jet, JetRequest
from kanpde.model import KAN
from kanpde.operators import Field, JetMiss
from kanpde.problem import Problem

if TYPE_CHECKING:  # the sampler uses this module (adaptive points follow the residual)
    from kanpde.training.sampler import Batch

RESIDUAL = "residual"
SPARSITY = "sparsity"


Requests = dict[str, JetRequest | None]


def evaluate_residual(problem: Problem, model: nn.Module, x: torch.Tensor,
                      requests: Requests | None = None) -> torch.Tensor:
    """PDE residual at interior points x: (N, d) -> (N, k)."""
    return _checked(problem, _evaluate(problem, model, x, RESIDUAL, requests, _residual(problem)), len(x))


def term_residuals(problem: Problem, model: nn.Module, batch: Batch, requests: Requests | None = None,
                   ) -> dict[str, torch.Tensor]:
    """The residual of the PDE and of each condition at their points, by name: (N_t, k_t)
    (k_t values at each of the term's N_t points; the PDE residual checked to have one
    row per interior point).

    ``requests`` (term name -> JetRequest, or None for autograd) is filled in by the first
    call and read by the later ones. With it, and a model that has an analytic jet, every
    term the jet covers is evaluated from one forward pass over all the batch's points
    (the union of the terms' requests; see ``Problem.solution_jet``); without it every
    term uses autograd.
    """
    terms = [(RESIDUAL, batch.interior, _residual(problem))]
    terms += [(c.label, points.x, _condition(problem, c, points))
              for c, points in zip(problem.conditions, batch.conditions)]
    jets = _joint_jets(problem, model, batch, terms, requests)
    out = {}
    for label, x, fn in terms:
        r = _evaluate(problem, model, x, label, requests, fn, jets.get(label))
        if label == RESIDUAL:
            out[label] = _checked(problem, r, len(x))
        else:
            out[label] = r.reshape(r.shape[0], -1) if r.ndim else r.reshape(1, 1)
    return out


def loss_terms(problem: Problem, model: nn.Module, batch: Batch, requests: Requests | None = None,
               reduce_residual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
               ) -> dict[str, torch.Tensor]:
    """Mean square of the residual and of each condition, by name: scalar tensors (see
    :func:`term_residuals` for ``requests``). ``reduce_residual(squares (N,), x (N, d))``
    turns the residual's per-point squares into its term (default: their mean; see
    training.weighting)."""
    out = {}
    for label, r in term_residuals(problem, model, batch, requests).items():
        if label == RESIDUAL and reduce_residual is not None:
            out[label] = reduce_residual(r.square().mean(dim=1), batch.interior)
        else:
            out[label] = r.square().mean()
    return out


def _residual(problem: Problem) -> Callable[[Field], torch.Tensor]:
    return lambda u: problem.residual(u, problem.coords(u.x), problem.params)


def _condition(problem: Problem, condition, points) -> Callable[[Field], torch.Tensor]:
    return lambda u: condition.residual(u, problem.coords(u.x), points, problem.params)


def _checked(problem: Problem, r, n: int) -> torch.Tensor:
    if not isinstance(r, torch.Tensor) or r.ndim not in (1, 2) or r.shape[0] != n:
        shape = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
        raise KanpdeError(f"problem {problem.name!r}: the residual returned {shape} for {n} "
                          f"points; expected a tensor of shape ({n},) or ({n}, k): one "
                          "value per point, or k values for k equations")
    return r.reshape(n, -1)


def _record(problem: Problem, model: nn.Module, x: torch.Tensor, label: str,
            requests: Requests | None, fn: Callable[[Field], torch.Tensor]) -> None:
    """Record, once, which derivatives fn asks for: on a probe field of zeros (no cost)."""
    if requests is not None and hasattr(model, "jet") and label not in requests:
        probe = Field.probe(x, problem.domain.names, problem.components, problem.space)
        fn(probe)
        requests[label] = probe.jet_request()


def _joint_jets(problem: Problem, model: nn.Module, batch: Batch, terms, requests: Requests | None) -> dict[str, Jet]:
    """One jet pass over all the batch's points, for the union of the terms' requests,
    split back by term: one pass through the network instead of one per term."""
    if requests is None or not hasattr(model, "jet"):
        return {}
    for label, x, fn in terms:
        _record(problem, model, x, label, requests, fn)
    wanted = [r for r in (requests[label] for label, _, _ in terms) if r is not None]
    if not wanted:
        return {}
    jet = problem.solution_jet(model, batch.points(), functools.reduce(JetRequest.union, wanted))
    jets, start = {}, 0
    for label, x, _ in terms:
        if requests[label] is not None:
            jets[label] = jet.with_data(jet.data[:, start:start + len(x)])
        start += len(x)
    return jets


def _evaluate(problem: Problem, model: nn.Module, x: torch.Tensor, label: str,
              requests: Requests | None, fn: Callable[[Field], torch.Tensor],
              jet: Jet | None = None) -> torch.Tensor:
    """fn(solution field at x), through the model's jet when it has one (``jet``: already
    computed at x). Autograd when there is no jet, for derivatives of order four or more,
    or when fn asks for more than it did before (the request then grows)."""
    _record(problem, model, x, label, requests, fn)
    request = requests.get(label) if requests is not None else None
    if request is not None and hasattr(model, "jet"):
        try:
            return fn(problem.field_from_jet(x, jet) if jet is not None else problem.field(x, model, request))
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
    return functools.reduce(operator.add, (weights[name] * value for name, value in terms.items()))


def sparsity(model: KAN, x: torch.Tensor, entropy: float = 2.0) -> torch.Tensor:
    """The KAN paper's sparsity regulariser at points x: (N, d): over every layer, the L1
    norm of the edge scales ``s_ij`` (each edge's RMS output, ``KANLayer.edge_scales``)
    plus ``entropy`` times the entropy of each input node's share ``s_ij / sum_j s_ij``
    (low when a node feeds few edges). Scalar tensor."""
    total = x.new_zeros(())
    for layer, h in zip(model.layers, model.layer_inputs(x)):
        scales = layer.edge_scales(h)  # (in, out)
        share = scales / scales.sum(dim=1, keepdim=True)
        total = total + scales.sum() - entropy * (share * share.log()).sum()
    return total
