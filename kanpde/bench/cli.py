"""``kanpde-bench``: speed (ms per training step of kanpde and of pykan, side by side),
accuracy (the problem library solved by the KAN and the MLP baseline) and fit (the
symbolic stage's edge fitter on planted edges).

    kanpde-bench speed                       # S, M, L and the grid sweep on this machine
    kanpde-bench speed --configs S,M --json speed.json
    kanpde-bench speed --device cuda --grids 5,20,100
    kanpde-bench accuracy --tier smoke       # minutes on a CPU
    kanpde-bench accuracy --tier full --device cuda --json accuracy.json
    kanpde-bench accuracy --tier full --problems burgers1d --equal-time   # the MLP gets the KAN's time
    kanpde-bench fit --edges 10,100,1000     # seconds per batched fit, planted edges
    kanpde-bench summarize outputs/multirun/<id>   # a sweep's table and plots

Each prints a table and, with --json PATH, writes one record per configuration or case.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from kanpde.app.build import device_description
from kanpde.app.summary import summarize
from kanpde.bench.accuracy import MODELS, run_suite
from kanpde.bench.accuracy import table as accuracy_table
from kanpde.bench.fitting import run_fit_bench
from kanpde.bench.fitting import table as fit_table
from kanpde.bench.speed import CONFIGS, Config, copy_bandwidth, measure_main, run_isolated
from kanpde.errors import KanpdeError
from kanpde.problem import known_problems

log = logging.getLogger("kanpde.bench")


def pykan_estimate_gb(config: Config, itemsize: int) -> float:
    """Rough memory pykan needs for a step: it materialises (N, in, out) activations and
    (N, in, G+k) bases per layer, several times over in its nested Jacobians."""
    points = config.interior + config.boundary
    per_point = sum(a * b * (config.grid + 4) for a, b in zip(config.widths[:-1], config.widths[1:]))
    return 8 * points * per_point * itemsize / 1e9


def available_gb(device: str) -> float:
    if torch.device(device).type == "cuda":
        return torch.cuda.mem_get_info()[0] / 1e9
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024 / 1e9


def pykan_installed() -> bool:
    return importlib.util.find_spec("kan") is not None


def run_speed(args) -> list[dict]:
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    itemsize = torch.tensor([], dtype=getattr(torch, args.dtype)).element_size()
    configs = [CONFIGS[name] for name in args.configs]
    sweep_base = CONFIGS["L"]
    sweep = [replace(sweep_base, name=f"L G={g}", grid=g) for g in args.grids]
    with_pykan = args.pykan and pykan_installed()
    if args.pykan and not with_pykan:
        log.warning("pykan is not installed: kanpde only (pip install -e '.[bench]' adds it)")
    bandwidth = copy_bandwidth(device)
    records = []
    for config, compare in [(c, with_pykan) for c in configs] + [(c, False) for c in sweep]:
        libraries = ["kanpde"]
        skipped = None
        if compare:
            need, have = pykan_estimate_gb(config, itemsize), available_gb(device)
            if need > 0.5 * have:
                skipped = {"error": f"skipped: needs about {need:.0f} GB, {have:.0f} GB available"}
            else:
                libraries.append("pykan")
        runs: dict[str, list[dict]] = {name: [] for name in libraries}
        for repeat in range(args.repeat):  # interleaved, so that a slow spell hits both
            for name in libraries:
                log.info("%s: %s (%d/%d) ...", config.name, name, repeat + 1, args.repeat)
                runs[name].append(run_isolated(name, config, args.dtype, device, args.timeout))
        theirs = median_run(runs["pykan"]) if "pykan" in runs else skipped
        records.append(record(config, device, args.dtype, median_run(runs["kanpde"]), theirs, bandwidth))
    return records


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (its memory and traffic with it); the first error if
    every run failed. ``ms_all`` keeps every run's time."""
    good = sorted((r for r in runs if "ms" in r), key=lambda r: r["ms"])
    if not good:
        return runs[0]
    return {**good[(len(good) - 1) // 2], "ms_all": [r["ms"] for r in runs if "ms" in r]}


def record(config: Config, device: str, dtype: str, ours: dict, theirs: dict | None, bandwidth: float) -> dict:
    ratio = None
    if theirs and "ms" in theirs and "ms" in ours:
        ratio = theirs["ms"] / ours["ms"]
    traffic = ours.get("traffic_gb_per_s")
    return {
        "name": config.name, "widths": list(config.widths), "grid": config.grid,
        "points": config.interior + config.boundary, "interior": config.interior,
        "boundary": config.boundary, "device": device_description(device), "dtype": dtype,
        "kanpde_ms": ours.get("ms"), "pykan_ms": (theirs or {}).get("ms"), "ratio": ratio,
        "kanpde_peak_memory_mb": ours.get("peak_memory_mb"),
        "pykan_peak_memory_mb": (theirs or {}).get("peak_memory_mb"),
        "traffic_gb_per_s": traffic, "device_copy_gb_per_s": bandwidth / 1e9,
        "bandwidth_fraction": traffic / (bandwidth / 1e9) if traffic else None,
        "kanpde_ms_runs": ours.get("ms_all"), "pykan_ms_runs": (theirs or {}).get("ms_all"),
        "kanpde_error": ours.get("error"), "pykan_error": (theirs or {}).get("error"),
    }


def table(records: list[dict]) -> str:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    head = (f"{'config':<9} {'widths':<14} {'G':>4} {'points':>7} {'kanpde ms':>10} {'pykan ms':>10} "
            f"{'ratio':>7} {'peak MB':>9} {'pykan MB':>9} {'GB/s':>7} {'of copy':>8}")
    lines = [head, "-" * len(head)]
    for r in records:
        lines.append(
            f"{r['name']:<9} {str(r['widths']).replace(' ', ''):<14} {r['grid']:>4} {r['points']:>7} "
            f"{fmt(r['kanpde_ms'], '10.2f')} {fmt(r['pykan_ms'], '10.2f')} "
            f"{fmt(r['ratio'], '6.1f') + ('x' if r['ratio'] else ''):>7} "
            f"{fmt(r['kanpde_peak_memory_mb'], '9.1f')} {fmt(r['pykan_peak_memory_mb'], '9.1f')} "
            f"{fmt(r['traffic_gb_per_s'], '7.1f')} {fmt(r['bandwidth_fraction'], '7.1%'):>8}")
        for who in ("kanpde", "pykan"):
            if r[f"{who}_error"]:
                lines.append(f"{'':<9} {who}: {r[f'{who}_error']}")
    first = records[0] if records else {}
    lines.append(f"device: {first.get('device')}, dtype {first.get('dtype')}, copy bandwidth "
                 f"{fmt(first.get('device_copy_gb_per_s'), '.1f')} GB/s; ms = median over processes of "
                 "each one's median step (residual + boundary loss + backward); "
                 "GB/s = unfused operator traffic / step time")
    return "\n".join(lines)


def parse(argv):
    parser = argparse.ArgumentParser(prog="kanpde-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("speed", help="ms per training step, kanpde vs pykan")
    names = ",".join(CONFIGS)
    speed.add_argument("--configs", default=names, type=_choices(CONFIGS),
                       help=f"comma-separated, from {names} (default: all)")
    speed.add_argument("--grids", default="5,20,100", type=_ints,
                       help="grid sizes of the sweep on L's network and points ('' for none)")
    speed.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    speed.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    speed.add_argument("--no-pykan", dest="pykan", action="store_false", help="kanpde only")
    speed.add_argument("--repeat", type=int, default=3,
                       help="fresh processes per library and configuration; the median is reported")
    speed.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    speed.add_argument("--json", metavar="PATH", help="also write the records as JSON")
    accuracy = sub.add_parser("accuracy", help="errors of the problem library, KAN vs MLP")
    accuracy.add_argument("--tier", default="smoke", choices=["smoke", "full"])
    accuracy.add_argument("--models", default="kan,mlp", type=_choices(MODELS),
                          help="comma-separated, from kan,mlp (default: both)")
    accuracy.add_argument("--problems", type=_choices(known_problems()),
                          help="comma-separated subset of the tier's problems (default: all of them)")
    accuracy.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    accuracy.add_argument("--out", help="folder of the runs (default outputs/accuracy/<tier>-<time>)")
    accuracy.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    accuracy.add_argument("--equal-time", action="store_true",
                          help="the later models of a case train at most as long as the first (train.time_limit)")
    accuracy.add_argument("--json", metavar="PATH", help="also write the records as JSON")
    fit = sub.add_parser("fit", help="the edge fitter on planted edges: seconds, recovered")
    fit.add_argument("--edges", default="10,100,1000", type=_ints, help="edge counts, one batched call each")
    fit.add_argument("--samples", type=int, default=201, help="samples per edge (the symbolic stage's default)")
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fit.add_argument("--repeat", type=int, default=3, help="calls per edge count; the median is reported")
    fit.add_argument("--json", metavar="PATH", help="also write the records as JSON")
    summarize = sub.add_parser("summarize", help="a sweep's table (Markdown and CSV) and plots")
    summarize.add_argument("sweep_dir", type=Path, help="the sweep's directory, e.g. outputs/multirun/<id>")
    measure = sub.add_parser("_measure")  # internal: one measurement in a fresh process
    measure.add_argument("spec")
    return parser.parse_args(argv)


def _choices(known):
    def convert(text):
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown configuration {unknown}; known: {', '.join(known)}")
        return names
    return convert


def _ints(text):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv=None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "_measure":
        measure_main(args.spec)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "summarize":
        try:
            summary = summarize(args.sweep_dir)
        except KanpdeError as error:
            sys.stderr.write(f"kanpde-bench summarize: {error}\n")
            sys.exit(2)
        print((args.sweep_dir / "summary.md").read_text(), end="")
        print("wrote " + ", ".join(str(path) for path in summary["files"]))
        return
    elif args.command == "accuracy":
        out = Path(args.out or f"outputs/accuracy/{args.tier}-{time.strftime('%Y-%m-%d_%H-%M-%S')}")
        records = run_suite(args.tier, out, args.device, args.models, args.timeout, problems=args.problems,
                            equal_time=args.equal_time,
                            on_case=lambda r: log.info("%s, %s: rel_l2 %s", r["problem"], r["model"],
                                                       r.get("rel_l2", r.get("error"))))
        print(accuracy_table(records))
    elif args.command == "fit":
        device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        records = run_fit_bench(args.edges, args.samples, device, args.repeat)
        print(fit_table(records))
    else:
        records = run_speed(args)
        print(table(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
        log.info("wrote %s", args.json)
