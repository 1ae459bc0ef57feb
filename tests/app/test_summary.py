"""`kanpde-bench summarize`: a real sweep (kanpde -m) read back into one table."""

import csv
import json
import statistics
import subprocess
import sys

SWEEP = ["-m", "progress=false", "eval_points=400", "sampler.interior=64", "sampler.boundary=16", "model.order=3",
         "train.stages=[{steps:4,optimizer:adam,lr:0.01,grid:3},{steps:2,optimizer:lbfgs,lr:1.0,grid:6}]",
         "model.widths=[3],[4]", "train.stages.0.lr=0.01,1e300", "seed=0,1"]


def summarize(sweep):
    return subprocess.run([sys.executable, "-m", "kanpde.bench", "summarize", str(sweep)], capture_output=True,
                          text=True, timeout=300)


def test_a_2x2_sweep_with_2_seeds_is_grouped_and_its_failed_jobs_keep_their_messages(tmp_path):
    """widths [3], [4] x lr 0.01, 1e300 (that one ends in NaN) x seeds 0, 1: four groups of
    two; the ok groups' mean, std and best are those of their jobs' metrics.json; each NaN
    job is listed with its message; a job killed before metrics.json shows as incomplete."""
    sweep = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "kanpde", *SWEEP, f"hydra.sweep.dir={sweep}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr  # the largest exit code of the jobs: NaN
    jobs = sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file())
    assert len(jobs) == 8
    metrics = {p.name: json.loads((p / "metrics.json").read_text()) for p in jobs}
    killed = jobs[-1]  # as a kill -9 leaves it: no metrics.json, its note still there
    (killed / "metrics.json").unlink()
    (killed / "incomplete.txt").write_text("This run has not finished: training.\n")

    proc = summarize(sweep)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert len(rows) == 8
    assert {r["model.widths"] for r in rows} == {"[3]", "[4]"} and {r["seed"] for r in rows} == {"0", "1"}
    for row in rows:
        if row["job"] == killed.name:
            assert row["status"] == "incomplete" and "has not finished: training" in row["message"]
        else:
            record = metrics[row["job"]]
            assert row["status"] == record["status"] and row["message"] == record["message"]
            if record["status"] == "ok":
                assert float(row["rel_l2"]) == record["rel_l2"]
    assert sum(r["status"] == "nan" for r in rows) == 3 + (metrics[killed.name]["status"] == "ok")

    table = (sweep / "summary.md").read_text()
    assert table.count("| [3] |") + table.count("| [4] |") == 4  # four groups
    for widths in ("[3]", "[4]"):
        errors = [m["rel_l2"] for name, m in metrics.items() if name != killed.name and m["status"] == "ok"
                  and f"widths:\n  - {widths[1]}\n" in m["config"]]
        assert errors, widths
        best, mean = min(errors), statistics.fmean(errors)
        std = f"{statistics.stdev(errors):.3e}" if len(errors) > 1 else "-"
        assert f"| {widths} | 0.01 | 2 | {len(errors)} | {mean:.3e} | {std} | {best:.3e} |" in table
        assert f"| {widths} | 1e+300 | 2 | 0 | - | - | - |" in table
    for name, record in metrics.items():
        if name != killed.name and record["status"] != "ok":
            assert f"| {name} | nan | {record['message']} |" in table
    assert f"| {killed.name} | incomplete |" in table and table in proc.stdout
    for key in ("model.widths", "train.stages.0.lr"):
        assert (sweep / f"summary_{key}.png").stat().st_size > 1000


def test_a_directory_without_jobs_is_refused_with_what_to_give(tmp_path):
    proc = summarize(tmp_path)
    assert proc.returncode == 2 and "holds no job directories" in proc.stderr and "Traceback" not in proc.stderr
