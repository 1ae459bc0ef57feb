"""``kanpde predict RUN_DIR``: a trained run's solution (and derivatives) on new points.

    kanpde predict RUN_DIR                       # a grid of ~10000 points over the domain
    kanpde predict RUN_DIR --points x.npy        # (N, d) points: .npy, .csv, or .npz ("points")
    kanpde predict RUN_DIR --derivatives x,xx,t  # also u_x, u_xx, u_t (autograd)
    kanpde predict RUN_DIR --network symbolic    # the symbolic stage's network

writes an .npz (default RUN_DIR/prediction.npz): ``points`` (N, d), ``coordinates`` and
``components`` (names), one array (N,) per component (``u``) and per component and
derivative (``u_xx``). A derivative is written as its coordinates' names, one letter each
(``xt``), or separated by colons (``x:t``) when the names are longer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

import numpy as np
import torch

from kanpde.app.load import CHECKPOINTS, LoadedRun, load_run
from kanpde.compare import evaluation_points, predict
from kanpde.errors import KanpdeError
from kanpde.files import atomic_path

CHUNK = 16_384  # points per autograd pass for derivatives


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kanpde predict", description="Evaluate a trained run on new points.")
    p.add_argument("run_dir", type=Path, help="the run directory (with config.yaml and model.pt)")
    p.add_argument("--points", type=Path, help="(N, d) points: .npy, .csv (a header row of coordinate names "
                                               "optional) or .npz with an array 'points'")
    p.add_argument("--n", type=int, default=10_000, help="without --points: a grid of about n points in the domain")
    p.add_argument("--derivatives", default="", help="comma-separated derivatives, e.g. x,xx,t")
    p.add_argument("--network", choices=sorted(CHECKPOINTS), default="model",
                   help="the trained network (model) or the symbolic stage's (symbolic)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--out", type=Path, help="the .npz to write (default: RUN_DIR/prediction.npz)")
    return p


def command(argv: list[str]) -> int:
    """Runs ``kanpde predict``; returns the exit code (2: bad input, with one line on stderr)."""
    args = parser().parse_args(argv)
    try:
        run = load_run(args.run_dir, args.network, args.device)
        first = next(run.model.parameters())
        if args.points is None:
            x = evaluation_points(run.problem, args.n, first.dtype, first.device)
        else:
            x = torch.as_tensor(read_points(args.points, run.problem.domain.names), dtype=first.dtype,
                                device=first.device)
        arrays = solution_arrays(run, x, parse_derivatives(args.derivatives, run.problem.domain.names))
    except KanpdeError as error:
        sys.stderr.write(f"kanpde predict: {error}\n")
        return 2
    out = args.out or args.run_dir / "prediction.npz"
    with atomic_path(out) as tmp:
        np.savez(tmp, **cast(dict, arrays))  # names of arrays, none of them savez's own keywords
    sys.stdout.write(f"wrote {len(x)} points ({', '.join(k for k in arrays if k not in FIXED)}) to {out}\n")
    return 0


FIXED = ("points", "coordinates", "components")


def read_points(path: Path, names: tuple[str, ...]) -> np.ndarray:
    """(N, d) points from a .npy, .csv or .npz file, columns in the domain's coordinate order."""
    if not path.is_file():
        raise KanpdeError(f"no points file {path}")
    if path.suffix == ".npy":
        points = np.load(path, allow_pickle=False)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "points" not in data:
                raise KanpdeError(f"{path} has no array 'points' (it has: {', '.join(data.files)})")
            points = data["points"]
    elif path.suffix == ".csv":
        points = _read_csv(path, names)
    else:
        raise KanpdeError(f"cannot read points from {path.name}; accepted: .npy, .csv, .npz")
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != len(names):
        raise KanpdeError(f"{path} holds points of shape {points.shape}; expected (N, {len(names)}): one column per "
                          f"coordinate ({', '.join(names)})")
    return points


def _read_csv(path: Path, names: tuple[str, ...]) -> np.ndarray:
    first = path.read_text().splitlines()[0] if path.stat().st_size else ""
    header = [h.strip() for h in first.split(",")]
    if not set(header) & set(names):
        return _numbers(path, skip=0)
    missing = [n for n in names if n not in header]
    if missing:
        raise KanpdeError(f"{path}: the header names {', '.join(header)} but not {', '.join(missing)}; the "
                          f"coordinates are {', '.join(names)}")
    return _numbers(path, skip=1)[:, [header.index(n) for n in names]]


def _numbers(path: Path, skip: int) -> np.ndarray:
    try:
        return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except ValueError as error:
        raise KanpdeError(f"cannot read {path} as comma-separated numbers (an optional first row of coordinate "
                          f"names): {error}") from None


def parse_derivatives(spec: str, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """"x,xx,t" -> [("x",), ("x", "x"), ("t",)]; unknown coordinates are refused, naming the known."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        axes = tuple(item.split(":")) if ":" in item else tuple(item)
        unknown = [a for a in axes if a not in names]
        if unknown:
            raise KanpdeError(f"derivative {item!r}: unknown coordinate {', '.join(map(repr, unknown))}; the "
                              f"coordinates are {', '.join(names)} (write x:y for names longer than a letter)")
        out.append(axes)
    return out


def solution_arrays(run: LoadedRun, x: torch.Tensor, derivatives: list[tuple[str, ...]]) -> dict[str, np.ndarray]:
    """The arrays of the .npz: points, names, each component and each derivative of it."""
    problem = run.problem
    values = predict(problem, run.model, x)
    arrays = {"points": x.cpu().numpy(), "coordinates": np.array(problem.domain.names),
              "components": np.array(problem.components)}
    for i, name in enumerate(problem.components):
        arrays[name] = values[:, i].cpu().numpy()
    parts: dict[str, list[torch.Tensor]] = {}
    for chunk in x.split(CHUNK) if derivatives else ():
        field = problem.field(chunk, run.model)  # autograd on the points
        for axes in derivatives:
            for name in problem.components:
                parts.setdefault(f"{name}_{''.join(axes)}", []).append(field[name].d(*axes).detach())
    arrays.update({key: torch.cat(chunks).cpu().numpy() for key, chunks in parts.items()})
    return arrays
