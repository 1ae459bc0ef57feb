"""The benchmark's own bookkeeping: traffic counting, records, bad arguments."""

import pytest
import torch

from kanpde.bench.cli import parse, pykan_estimate_gb, record
from kanpde.bench.speed import CONFIGS, TrafficCounter


def test_traffic_counter_counts_inputs_and_outputs_of_each_operator():
    a = torch.ones(3, 4, dtype=torch.float64)
    b = torch.ones(4, 5, dtype=torch.float64)
    counter = TrafficCounter()
    with counter:
        c = a @ b  # reads 12 + 20 values, writes 15
        c.add_(1.0)  # reads and writes 15 values (counted as input and output)
    assert counter.bytes == 8 * (12 + 20 + 15) + 8 * (15 + 15)


def test_record_ratio_is_pykan_time_over_kanpde_time():
    r = record(CONFIGS["S"], "cpu", "float32", {"ms": 2.0, "traffic_gb_per_s": 5.0}, {"ms": 30.0}, 50e9)
    assert r["ratio"] == pytest.approx(15.0)
    assert r["bandwidth_fraction"] == pytest.approx(0.1)
    assert r["points"] == 441 + 84
    failed = record(CONFIGS["L"], "cpu", "float32", {"ms": 2.0}, {"error": "killed"}, 50e9)
    assert failed["ratio"] is None and failed["pykan_error"] == "killed"


def test_pykan_memory_estimate_grows_with_points_and_grid():
    small, large = CONFIGS["M"], CONFIGS["L"]
    assert pykan_estimate_gb(large, 4) > 100 * pykan_estimate_gb(small, 4)


def test_unknown_configuration_is_named_with_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        parse(["speed", "--configs", "S,XL"])
    err = capsys.readouterr().err
    assert "unknown configuration ['XL']" in err and "S, M, L" in err


def test_keep_freed_memory_applies_on_glibc():
    import platform

    from kanpde.app.memory import keep_freed_memory
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert keep_freed_memory() is True


def test_median_run_keeps_the_middle_time_and_all_times():
    from kanpde.bench.cli import median_run
    runs = [{"ms": 5.0, "peak_memory_mb": 1}, {"error": "killed"}, {"ms": 3.0, "peak_memory_mb": 2},
            {"ms": 4.0, "peak_memory_mb": 3}]
    middle = median_run(runs)
    assert middle["ms"] == 4.0 and middle["peak_memory_mb"] == 3 and middle["ms_all"] == [5.0, 3.0, 4.0]
    assert median_run([{"error": "killed"}]) == {"error": "killed"}


def test_fit_bench_recovers_its_planted_edges_and_reports_per_edge_time():
    from kanpde.bench.fitting import PLANTED, planted_edges, run_fit_bench, table
    x, y, names = planted_edges(10, 101)
    assert x.shape == y.shape == (10, 101) and names[:len(PLANTED)] == list(PLANTED)
    assert torch.equal(planted_edges(10, 101)[1], y)  # seeded: the same edges every run
    (r,) = run_fit_bench([len(PLANTED)], samples=101, repeat=1)
    assert r["recovered"] == 1.0
    assert r["ms_per_edge"] == pytest.approx(1e3 * r["seconds"] / len(PLANTED))
    assert "100.0%" in table([r])
    assert parse(["fit", "--edges", "10,100"]).edges == [10, 100]
