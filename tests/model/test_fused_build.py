"""The first-use build of the fused CPU kernel: its cache key, and that no kill or leftover
of an earlier build makes a later process hang or load a broken binary.

Oracles: the key against changed inputs; a fresh process (with a timeout, in a private
``TORCH_EXTENSIONS_DIR``) that must finish, report the kernel available, and give the same
KAN jet as the torch implementation to 1e-12; the files left in the extension directory.
"""

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kanpde.model import fused

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 240  # a build takes ~25 s on a small busy machine; a hang is what this catches

# available(), then the largest relative gap between the fused and the torch ("dense") jet
# of a small float64 KAN with first, second and Laplacian channels
CHECK = """
import logging, sys, torch
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from kanpde.jet import JetRequest
from kanpde.model import KAN, KANConfig, fused
ok = fused.available()
print(ok)
if ok:
    model = KAN([2, 5, 1], [[0.0, 1.0], [-1.0, 2.0]], KANConfig(grid_size=5, noise_scale=1.0),
                generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    request = JetRequest.of(first=[0, 1], second=[(0, 1)], laplacian=[0, 1])
    jets = {}
    for product in ("fused", "dense"):
        for layer in model.layers:
            layer.product = product
        jets[product] = model.jet(x, request).data
    gap = (jets["fused"] - jets["dense"]).abs().max() / jets["dense"].abs().max()
    print(float(gap))
"""


def environment(extensions: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KANPDE_FUSED"}
    return {**env, "TORCH_EXTENSIONS_DIR": str(extensions), "PYTHONPATH": str(ROOT)}


def run_check(extensions: Path) -> subprocess.CompletedProcess:
    """CHECK in a fresh process; fails the test (instead of hanging it) past TIMEOUT_S."""
    try:
        done = subprocess.run([sys.executable, "-c", CHECK], env=environment(extensions), cwd=ROOT,
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"a fresh process did not finish within {TIMEOUT_S} s; stderr:\n{error.stderr}")
    assert done.returncode == 0, done.stderr
    return done


def assert_kernel_works(done: subprocess.CompletedProcess) -> None:
    lines = done.stdout.split()
    assert lines[0] == "True", done.stderr
    assert float(lines[1]) <= 1e-12


def directory_of(extensions: Path) -> Path:
    """The extension's directory under a TORCH_EXTENSIONS_DIR (torch's layout: root/name)."""
    return extensions / fused.module_name()


def test_key_follows_the_source_the_torch_version_and_nothing_else(tmp_path, monkeypatch):
    key = fused.module_name()
    assert key == fused.module_name()
    in_another_process = subprocess.run(
        [sys.executable, "-c", "from kanpde.model import fused; print(fused.module_name())"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert in_another_process.stdout.strip() == key  # no per-process salt (hash(), paths, time)

    source = tmp_path / "layer_jet.cpp"
    source.write_bytes(fused.SOURCE.read_bytes())
    monkeypatch.setattr(fused, "SOURCE", source)
    assert fused.module_name() == key  # the bytes count, not where the file lies
    source.write_bytes(fused.SOURCE.read_bytes() + b"\n// changed\n")
    edited = fused.module_name()
    assert edited != key

    monkeypatch.setattr(torch, "__version__", torch.__version__ + ".other")
    assert fused.module_name() not in (key, edited)


def test_a_stale_torch_lock_does_not_make_a_fresh_process_hang(tmp_path):
    # what a build by torch.utils.cpp_extension.load killed with -9 leaves behind
    directory = directory_of(tmp_path)
    directory.mkdir(parents=True)
    (directory / "lock").touch()
    (directory / "build.ninja").write_text("# partial\n")
    assert_kernel_works(run_check(tmp_path))


def test_a_lock_held_too_long_falls_back_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.delenv("KANPDE_FUSED", raising=False)
    monkeypatch.setattr(fused, "LOCK_TIMEOUT_S", 0.5)
    directory = directory_of(tmp_path)
    directory.mkdir(parents=True)
    lock = directory / fused.LOCK_NAME
    with open(lock, "ab") as holder, caplog.at_level(logging.WARNING, logger=fused.__name__):
        fcntl.flock(holder, fcntl.LOCK_EX)  # "another process" building: a second open file
        start = time.monotonic()
        assert fused._load() is False
        assert time.monotonic() - start < 30
    assert str(lock) in caplog.text and "torch implementation" in caplog.text
    assert not list(directory.glob("*.so"))


@pytest.mark.slow
def test_a_build_killed_midway_leaves_nothing_that_blocks_or_breaks_the_next(tmp_path):
    build = subprocess.Popen([sys.executable, "-c", "from kanpde.model import fused; fused.available()"],
                             env=environment(tmp_path), cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not list(tmp_path.rglob("build.ninja")):  # torch has taken its lock and is compiling
            assert build.poll() is None, "the build finished before it could be killed"
            assert time.monotonic() < deadline, "no build started"
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the compiler's ~20 s
        assert build.poll() is None, "the build finished before it could be killed"
    finally:
        os.killpg(build.pid, signal.SIGKILL)  # the whole job: python, ninja and the compiler
        build.wait()
    assert_kernel_works(run_check(tmp_path))
    directory = directory_of(tmp_path)
    assert sorted(p.name for p in directory.iterdir()) == sorted([f"{directory.name}.so", fused.LOCK_NAME])


@pytest.mark.slow
def test_a_binary_that_does_not_load_is_rebuilt_once_with_a_warning(tmp_path):
    directory = directory_of(tmp_path)
    directory.mkdir(parents=True)
    binary = directory / f"{directory.name}.so"
    binary.write_bytes(b"\x7fELF truncated by a full disk")
    done = run_check(tmp_path)
    assert_kernel_works(done)
    assert "does not load" in done.stderr and str(binary) in done.stderr
    assert binary.read_bytes()[:4] == b"\x7fELF" and binary.stat().st_size > 10_000
