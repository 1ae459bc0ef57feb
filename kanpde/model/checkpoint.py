"""A network's checkpoint: its state and what a freshly built network lacks to take it.

Training changes a network's structure as well as its numbers: a grid extension gives
each KAN layer more knots and coefficients, and the symbolic stage replaces spline edges
by closed forms. A network rebuilt from its config has neither. ``architecture(model)``
records, as plain data, the closed-form edges of every layer (the function's name, not
the function: a checkpoint holds tensors, numbers and strings only, read with
``torch.load(weights_only=True)``); ``restore(model, state, architecture, functions)``
makes the rebuilt network take the checkpoint: it puts those edges back (functions looked
up by name), gives each layer's knots and coefficients the checkpoint's shapes, and loads
the state. The grid sizes need no record: they are the shapes of the state's tensors.

A checkpoint file is a dict with ``format`` = FORMAT and ``version`` = VERSION;
``read_checkpoint`` refuses any other file with a message that says what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.files import atomic_path
from kanpde.model.fixed import EdgeFunction, FixedEdge, FixedEdges
from kanpde.model.layer import KANLayer

FORMAT = "kanpde-checkpoint"
VERSION = 1
RESIZED = ("knots", "coef")  # the tensors of a KAN layer whose shape is its grid size


def architecture(model: nn.Module) -> dict:
    """What ``restore`` needs besides the state: {"fixed": {layer path: [[source, target,
    function name, frozen], ...]}} for every KAN layer with closed-form edges (paths as in
    ``named_modules``, e.g. "layers.1" or "models.0.layers.1" for a marched run)."""
    fixed = {}
    for path, module in model.named_modules():
        if isinstance(module, KANLayer) and module.fixed is not None:
            fixed[path] = [[e.source, e.target, e.function.name, e.frozen] for e in module.fixed.edges]
    return {"fixed": fixed}


def restore(model: nn.Module, state: Mapping[str, Tensor], arch: Mapping,
            functions: Mapping[str, EdgeFunction]) -> None:
    """Make ``model`` (built from the run's config) the network of ``state``: its
    closed-form edges from ``arch`` (``functions``: name -> function), each KAN layer's knots
    and coefficients shaped as in ``state``, then ``state`` loaded (strict)."""
    layers = dict(model.named_modules())
    for path, edges in arch.get("fixed", {}).items():
        layer = layers.get(path)
        if not isinstance(layer, KANLayer):
            raise KanpdeError(f"the checkpoint has closed-form edges on {path!r}, which is not a KAN layer of the "
                              "network its config builds")
        unknown = sorted({name for _, _, name, _ in edges} - set(functions))
        if unknown:
            raise KanpdeError(f"the checkpoint's closed-form edges use {', '.join(unknown)}, which the function "
                              f"library does not have (known: {', '.join(sorted(functions))})")
        layer.fixed = FixedEdges(layer.in_dim, layer.out_dim,
                                 [FixedEdge(s, t, functions[name], frozen=frozen) for s, t, name, frozen in edges],
                                 dtype=layer.coef.dtype, device=layer.coef.device)
    take_shapes(model, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise KanpdeError(f"the checkpoint does not fit the network its config builds: {error}") from None


def take_shapes(model: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Give every KAN layer of ``model`` the knots and coefficients shapes of ``state``
    (another grid size), so that ``model.load_state_dict(state)`` fits."""
    for path, layer in model.named_modules():
        if isinstance(layer, KANLayer):
            for name in RESIZED:
                _reshape(layer, name, state.get(f"{path}.{name}" if path else name))


def _reshape(layer: KANLayer, name: str, saved: Tensor | None) -> None:
    """``layer.<name>`` replaced by an empty tensor of ``saved``'s shape (values come next, from the state)."""
    current = getattr(layer, name)
    if saved is None or saved.shape == current.shape:
        return
    empty = torch.empty(saved.shape, dtype=current.dtype, device=current.device)
    setattr(layer, name, nn.Parameter(empty, requires_grad=current.requires_grad)
            if isinstance(current, nn.Parameter) else empty)


def write_checkpoint(path: str | Path, model: nn.Module, state: Mapping[str, Tensor] | None = None,
                     **extra) -> None:
    """``state`` (an earlier one of the same network; default: the model's own) with the
    model's architecture and ``extra`` (tensors, numbers, strings), written atomically."""
    state = model.state_dict() if state is None else state
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, "state_dict": dict(state),
                    "architecture": architecture(model), **extra}, tmp)


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at ``path`` (tensors on the CPU), after checking that kanpde
    wrote it in a format this version reads."""
    path = Path(path)
    if not path.is_file():
        raise KanpdeError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same answer
        raise KanpdeError(f"{path} is not a checkpoint kanpde can read ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else 'unreadable'})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        older = isinstance(data, dict) and "state_dict" in data
        raise KanpdeError(f"{path} is " + ("a checkpoint of an older kanpde, without a format version: re-run it "
                                           "with this version" if older else "not a kanpde checkpoint")
                          + f" (expected format {FORMAT!r}, version {VERSION})")
    if data.get("version") != VERSION:
        raise KanpdeError(f"{path} has checkpoint format version {data.get('version')!r}; this kanpde reads "
                          f"version {VERSION}")
    return data
