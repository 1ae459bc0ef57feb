"""Every config value checked before anything is built or trained.

``check_config`` refuses keys the schema does not know and values out of range, each in
one message naming the key, the value and what is accepted. ``check_job`` cross-checks
the built problem and model: the spline order against the derivatives the residual asks
for, and the memory a training step needs against what the device has.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from kanpde.errors import KanpdeError, user_code_error
from kanpde.operators import Field
from kanpde.problem import Problem

SEED_LIMIT = 2**63  # torch.Generator.manual_seed takes [0, 2^64); numpy's and Sobol's less
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # a run directory's name: no path, no leading dot


def _positive(v) -> bool:
    return v > 0


def _non_negative(v) -> bool:
    return v >= 0


# key -> (test, what is accepted); a "*" stands for every stage index
RANGES: dict[str, tuple[Callable, str]] = {
    "seed": (lambda v: 0 <= v < SEED_LIMIT, f"an integer in [0, 2^63) = [0, {SEED_LIMIT})"),
    "eval_points": (_positive, "a positive integer"),
    "model.grid": (_positive, "a positive integer"),
    "model.order": (lambda v: 1 <= v <= 7, "an integer from 1 to 7"),
    "model.grid_eps": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "model.noise_scale": (_non_negative, "a number >= 0"),
    "train.log_every": (_positive, "a positive integer"),
    "train.time_limit": (_non_negative, "seconds of training, a number >= 0 (0: no limit)"),
    "train.validation": (_non_negative, "an integer >= 0, the validation set's points (0: none)"),
    "train.windows": (_positive, "a positive integer, the time windows marched through (1: one network for all t)"),
    "train.checkpoint_every": (_non_negative, "an integer >= 0, steps between checkpoints (0: at stage ends only)"),
    "train.point_weights.causal": (_non_negative, "a number >= 0 (0: off)"),
    "train.point_weights.bins": (_positive, "a positive integer"),
    "train.point_weights.attention": (_non_negative, "a number >= 0 (0: off)"),
    "train.point_weights.decay": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train.point_weights.time_decay": (_non_negative, "a number >= 0 (0: off)"),
    "sampler.interior": (_positive, "a positive integer"),
    "sampler.boundary": (_positive, "a positive integer"),
    "sampler.k": (_non_negative, "a number >= 0"),
    "sampler.c": (_non_negative, "a number >= 0"),
    "sampler.pool": (lambda v: v >= 1, "an integer >= 1"),
    "symbolic.terms": (_positive, "a positive integer"),
}
STAGE_RANGES: dict[str, tuple[Callable, str]] = {
    "steps": (_non_negative, "an integer >= 0"),
    "lr": (_positive, "a number > 0"),
    "grid": (lambda v: v is None or v > 0, "a positive integer, or null to keep the grid"),
    "resample_every": (_non_negative, "an integer >= 0 (0: keep the points)"),
    "stall_rtol": (_non_negative, "a number >= 0 (0: run every step)"),
    "sparsify": (_non_negative, "a number >= 0 (0: off)"),
    "entropy": (_non_negative, "a number >= 0"),
    "points": (lambda v: v is None or v > 0, "a positive integer, or null for sampler.interior"),
}


def check_config(cfg: DictConfig) -> None:
    """Unknown keys, values not given, out-of-range values, a run name that is not a plain name."""
    _unknown_keys(cfg, "")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise KanpdeError(f"no value given for {', '.join(missing)}; set it on the command line (key=value) or "
                          "in the config")
    for key, (test, accepted) in RANGES.items():
        _check(key, OmegaConf.select(cfg, key), test, accepted)
    for group in ("train.stages", "symbolic.retrain", "symbolic.refine"):
        for i, stage in enumerate(OmegaConf.select(cfg, group) or []):
            for name, (test, accepted) in STAGE_RANGES.items():
                _check(f"{group}.{i}.{name}", stage[name], test, accepted)
    for width in cfg.model.widths:
        _check("model.widths", width, _positive, "a list of positive integers (hidden layer widths)")
    for name, weight in cfg.train.weights.items():
        _check(f"train.weights.{name}", weight, lambda v: isinstance(v, (int, float)) and v >= 0, "a number >= 0")
    if not NAME.fullmatch(str(cfg.problem.name)):
        raise KanpdeError(f"problem.name={cfg.problem.name!r} names the run directory: use letters, digits and "
                          "_ . + - only, starting with a letter or digit (no path, no leading dot)")


def _check(key: str, value, test: Callable, accepted: str) -> None:
    try:
        good = test(value)
    except TypeError:
        good = False
    if not good:
        raise KanpdeError(f"{key}={value!r} is out of range; accepted: {accepted}")


def _unknown_keys(node, prefix: str) -> None:
    """Keys in a schema node that its dataclass does not declare (``+model.gird=5``)."""
    if isinstance(node, (ListConfig, DictConfig)) and node._is_none():
        return
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            _unknown_keys(item, f"{prefix}{i}.")
        return
    if not isinstance(node, DictConfig):
        return
    schema = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(schema):
        return  # a free mapping: problem.params, train.weights, symbolic.extra
    known = [f.name for f in dataclasses.fields(schema)]
    for key in node.keys():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise KanpdeError(f"unknown config key {prefix}{key!s}{hint}; the keys of "
                              f"{prefix.rstrip('.') or 'the config'} are: {', '.join(known)}")
        _unknown_keys(node._get_node(key), f"{prefix}{key}.")


def residual_order(problem: Problem) -> int:
    """The highest derivative order the residual and conditions ask for (a probe field
    of zeros records it, at no cost)."""
    x = torch.zeros(4, problem.domain.dim, dtype=torch.float64)
    probe = Field.probe(x, problem.domain.names, problem.components, problem.space)
    try:
        problem.residual(probe, problem.coords(x), problem.params)
    except Exception as error:  # noqa: BLE001 - user code (the residual) may raise anything: reported as its own error
        raise user_code_error(error, f"the residual of problem {problem.name!r}") from None
    asked = [len(axes) for axes in probe._shared.derivatives] + [2 for _ in probe._shared.laplacians]
    return max(asked, default=0)


def check_spline_order(cfg: DictConfig, problem: Problem) -> None:
    """A KAN whose B-splines have degree below the PDE's order has zero derivatives of
    that order in its spline part: refuse it before it trains to a useless result."""
    if cfg.model.kind.value != "kan":
        return
    order = residual_order(problem)
    if cfg.model.order < order:
        raise KanpdeError(f"model.order={cfg.model.order}: B-splines of degree {cfg.model.order} have no "
                          f"derivative of order {order} (it is zero between knots), and the residual of "
                          f"{problem.name!r} asks for derivatives of order {order}; use model.order >= {order} "
                          "(3, the default, covers second-order PDEs)")


def training_bytes(cfg: DictConfig, problem: Problem, dtype: torch.dtype) -> int:
    """A generous estimate of the memory one training step needs (bytes): the points'
    jets through every layer, kept for the backward pass, and the spline grid's dense
    least-squares refit of a grid change."""
    d = problem.domain.dim
    widths = [d, *cfg.model.widths, len(problem.components)]
    points = cfg.sampler.interior * (1 + max(cfg.sampler.pool - 1, 0) * (cfg.sampler.adaptive != "none"))
    points += cfg.sampler.boundary * max(len(problem.conditions), 1)
    channels = 1 + d + d * d  # value, gradient, second derivatives
    k = cfg.model.order
    per_point = channels * sum(a + b for a, b in zip(widths, widths[1:])) * (k + 2) * 4
    grids = [cfg.model.grid] + [s.grid for s in cfg.train.stages if s.grid]
    refit = max(widths[:-1]) * (k + 2) * max(grids) * (2 * max(grids) + 2 * k) * 3
    size = torch.finfo(dtype).bits // 8
    return int((points * per_point + refit) * size)


def available_bytes(device: torch.device) -> int | None:
    """Free memory of the device (CUDA) or of the machine (Linux MemAvailable), if known."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(cfg: DictConfig, problem: Problem, dtype: torch.dtype, device: torch.device) -> None:
    need, have = training_bytes(cfg, problem, dtype), available_bytes(device)
    if have is not None and need > have:
        gib = 2.0**30
        grid = max([cfg.model.grid] + [s.grid or 0 for s in cfg.train.stages])
        raise KanpdeError(f"this configuration needs about {need / gib:.1f} GiB for a training step (sampler."
                          f"interior={cfg.sampler.interior}, sampler.boundary={cfg.sampler.boundary}, model.widths="
                          f"{list(cfg.model.widths)}, largest grid {grid}), "
                          f"and the {device.type} has {have / gib:.1f} GiB free; lower the point counts, the widths "
                          "or the grid sizes")
