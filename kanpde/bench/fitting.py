"""``kanpde-bench fit``: how long the symbolic stage's edge fitter takes, and whether it is
right, on planted edges.

Each edge is ``c f(a x + b) + d`` for a library function f (cycling through PLANTED) with
random constants, sampled at S points over [-1, 1]; all edges go to ``fit_edges`` against
the whole default library in one batched call, as ``kanpde.symbolic.edges.fit_network``
does. Reported: the median wall time of that call over the repeats, per edge, and the
fraction of edges that came back as their planted function with r2 > 0.9999.
"""

from __future__ import annotations

import statistics
import time

import torch

from kanpde.app.build import device_description
from kanpde.symbolic.fit import fit_edges
from kanpde.symbolic.library import function_library

# functions with no exact alias in the library (cos would come back as a shifted sin)
PLANTED = ("x^2", "sin", "exp", "tanh", "x^3", "gaussian", "arctan", "x^4")


def planted_edges(count: int, samples: int, seed: int = 0, device: str = "cpu"):
    """x, y: (count, samples) and the planted function names."""
    library = {f.name: f for f in function_library(PLANTED)}
    g = torch.Generator().manual_seed(seed)
    uniform = lambda lo, hi: lo + (hi - lo) * torch.rand(count, 1, generator=g, dtype=torch.float64)  # noqa: E731
    a, b, d = uniform(0.5, 2.0), uniform(-0.5, 0.5), uniform(-1.0, 1.0)
    c = uniform(0.5, 2.0) * torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
    x = torch.linspace(-1.0, 1.0, samples, dtype=torch.float64).expand(count, samples)
    names = [PLANTED[i % len(PLANTED)] for i in range(count)]
    u = a * x + b  # (count, samples)
    y = torch.stack([c[i] * library[n](u[i]) + d[i] for i, n in enumerate(names)])
    return x.contiguous().to(device), y.to(device), names


def run_fit_bench(edges: list[int], samples: int = 201, device: str = "cpu", repeat: int = 3) -> list[dict]:
    functions = function_library()
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    x, y, _ = planted_edges(len(PLANTED), samples, device=device)
    fit_edges(x, y, functions)  # warm-up: the functions' symmetries are found once with sympy
    records = []
    for count in edges:
        x, y, names = planted_edges(count, samples, device=device)
        times = []
        for _ in range(repeat):
            sync()
            start = time.perf_counter()
            fits = fit_edges(x, y, functions)
            sync()
            times.append(time.perf_counter() - start)
        right = sum(f.function == n and f.r2 > 0.9999 for f, n in zip(fits, names))
        seconds = statistics.median(times)
        records.append({"edges": count, "samples": samples, "functions": len(functions),
                        "device": device_description(device), "threads": torch.get_num_threads(),
                        "seconds": seconds, "ms_per_edge": 1e3 * seconds / count, "recovered": right / count,
                        "seconds_runs": times})
    return records


def table(records: list[dict]) -> str:
    head = f"{'edges':>6} {'samples':>8} {'functions':>9} {'seconds':>9} {'ms/edge':>9} {'recovered':>10}"
    lines = [head, "-" * len(head)]
    for r in records:
        lines.append(f"{r['edges']:>6} {r['samples']:>8} {r['functions']:>9} {r['seconds']:>9.2f} "
                     f"{r['ms_per_edge']:>9.1f} {r['recovered']:>10.1%}")
    first = records[0] if records else {}
    lines.append(f"device: {first.get('device')}; seconds = median wall time of "
                 "one batched fit_edges call; recovered = planted function back with r2 > 0.9999")
    return "\n".join(lines)
