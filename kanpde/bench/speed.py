"""Time one training step (residual loss + boundary loss + backward) on 2-D Poisson.

Each measurement runs in a fresh Python process (``measure`` below is its body), so
that its peak memory is its own and a library that runs out of memory on a large
configuration cannot take the benchmark down. On CPU the peak is the growth of the
process's resident set during the timed steps (after warm-up and ``malloc_trim``,
with Linux's peak-RSS mark reset: the working set the steps fault in); on CUDA, ``torch.cuda.max_memory_allocated``.

Traffic: the bytes read and written by every operator the step executes (inputs plus
outputs, counted once per call), i.e. the traffic of an unfused execution; divided by
the step time it is the achieved bandwidth, compared with the device's copy bandwidth.
"""

from __future__ import annotations

import ctypes
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from kanpde.app.memory import keep_freed_memory


@dataclass(frozen=True)
class Config:
    name: str
    widths: tuple[int, ...]
    grid: int
    interior: int
    boundary: int


CONFIGS = {
    "S": Config("S", (2, 2, 1), 5, 441, 84),
    "M": Config("M", (2, 8, 8, 1), 10, 4096, 512),
    "L": Config("L", (2, 32, 32, 1), 20, 65536, 4096),
}


def make_kanpde_step(config: Config, dtype, device, seed=0):
    """kanpde's own training step on its shipped poisson2d problem (soft Dirichlet, as pykan)."""
    from kanpde.model import KAN, KANConfig
    from kanpde.problem import load_problem
    from kanpde.training.losses import Requests, loss_terms, term_weights, total_loss
    from kanpde.training.sampler import SamplerConfig, sample_batch

    problem = load_problem("poisson2d")
    g = torch.Generator().manual_seed(seed)
    model = KAN(config.widths, problem.domain.bounds, KANConfig(grid_size=config.grid),
                generator=g, dtype=dtype, device=device)
    batch = sample_batch(problem, SamplerConfig("sobol", config.interior, config.boundary), g, dtype, device)
    weights = term_weights(problem)
    requests: Requests = {}

    def step():
        model.zero_grad(set_to_none=True)
        total_loss(loss_terms(problem, model, batch, requests), weights).backward()

    return step


class TrafficCounter(TorchDispatchMode):
    """Sums the bytes of the inputs and outputs of every operator executed inside it."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in (*args, *(kwargs or {}).values(), *(out if isinstance(out, (tuple, list)) else (out,))):
            if isinstance(value, torch.Tensor):
                self.bytes += value.numel() * value.element_size()
        return out


def copy_bandwidth(device, nbytes=1 << 28) -> float:
    """Bytes per second of a large device-to-device copy (read + write)."""
    x = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    seconds = min(_timed(lambda: y.copy_(x), device) for _ in range(5))
    return 2 * nbytes / seconds


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _reset_peak_rss() -> int:
    """Give freed heap pages back to the system (so that the next step must fault in its
    working set again), reset the kernel's peak-RSS mark (Linux); the current RSS in bytes."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kb("VmRSS") * 1024


def _peak_rss() -> int:
    return _status_kb("VmHWM") * 1024


def measure(library: str, config: Config, dtype: str, device: str, min_time: float = 1.0) -> dict:
    """ms per step (median), peak memory, traffic: the body of one benchmark process."""
    torch_dtype = getattr(torch, dtype)
    if library == "kanpde":
        step = make_kanpde_step(config, torch_dtype, device)
    else:
        from kanpde.bench.pykan_step import make_pykan_step
        step = make_pykan_step(config.widths, config.grid, config.interior, config.boundary, torch_dtype, device)
    for _ in range(3):  # warm-up: recording of jet requests, allocator, caches, lazy libraries
        step()
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        baseline = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        baseline = _reset_peak_rss()
    times: list[float] = []
    while sum(times) < min_time or len(times) < 5:
        times.append(_timed(step, device))
    peak = (torch.cuda.max_memory_allocated() if cuda else _peak_rss()) - baseline
    counter = TrafficCounter()
    with counter:
        step()
    ms = 1e3 * statistics.median(times)
    return {"ms": ms, "peak_memory_mb": peak / 2**20, "traffic_gb_per_s": counter.bytes / (ms / 1e3) / 1e9,
            "steps": len(times)}


def run_isolated(library: str, config: Config, dtype: str, device: str, timeout: float) -> dict:
    """``measure`` in a fresh process; {"error": ...} when it fails or runs out of time."""
    arguments = json.dumps({"library": library, "config": asdict(config), "dtype": dtype, "device": device})
    try:
        done = subprocess.run([sys.executable, "-m", "kanpde.bench", "_measure", arguments],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit code {done.returncode}"
        return {"error": reason if done.returncode >= 0 else f"killed (signal {-done.returncode}; out of memory?)"}
    return json.loads(lines[-1])


def measure_main(arguments: str) -> None:
    keep_freed_memory()  # as the kanpde command does; pykan's process gets it too
    spec = json.loads(arguments)
    spec["config"]["widths"] = tuple(spec["config"]["widths"])
    result = measure(spec["library"], Config(**spec["config"]), spec["dtype"], spec["device"])
    print(json.dumps(result))
