"""Run directories that cannot collide, and stubs that do not pass for runs.

The default directory is ``outputs/<problem>/<date>_<time>_<6 hex>``: the random part,
drawn once per process, keeps runs started in the same second apart (on one machine or
many sharing a file system). A run holds an exclusive lock on ``.lock`` in its directory
while it runs, so two runs pointed at the same ``hydra.run.dir`` cannot interleave.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import functools
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from omegaconf import OmegaConf

from kanpde.analysis.report import INCOMPLETE
from kanpde.errors import KanpdeError

LOCK = ".lock"
# what Hydra, claim, the incomplete marker and the config write before the first training step
STUB_FILES = {".hydra", "main.log", LOCK, INCOMPLETE, "config.yaml"}


@functools.lru_cache(maxsize=1)
def run_id() -> str:
    """``2026-12-02_21-50-03_3f9a1c``: the time this process asked first, and 24 random bits."""
    return f"{datetime.datetime.now():%Y-%m-%d_%H-%M-%S}_{os.urandom(3).hex()}"


def safe_name(name: str) -> str:
    """A problem name as one path component: anything but letters, digits and ``_.+-`` becomes
    ``_`` and leading dots go, so ``../../x`` cannot leave outputs/ (app.validate then refuses
    the name itself, with a message)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(name)).lstrip(".") or "_"


def register_resolvers() -> None:
    """``${kanpde_run_id:}`` and ``${kanpde_name:...}`` for configs/config.yaml's hydra.run.dir.
    Cached, as Hydra's ``now`` is: a sweep's jobs get the sweep's id."""
    OmegaConf.register_new_resolver("kanpde_run_id", run_id, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("kanpde_name", safe_name, use_cache=True, replace=True)


@contextlib.contextmanager
def claim(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for this run: a second run on the same directory is refused while
    this one lives (the lock goes with the process, however it ends)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise KanpdeError(f"the run directory {run_dir} is in use by another kanpde run ({lock.read().strip()}); "
                              "give this run its own hydra.run.dir, or leave the default") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            (run_dir / LOCK).unlink(missing_ok=True)


def remove_stub(run_dir: Path) -> None:
    """Remove a directory that holds nothing but what Hydra wrote at the start (the run
    failed before training): it must not look like a run. Anything else in it stays."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= STUB_FILES:
        shutil.rmtree(run_dir, ignore_errors=True)
        if run_dir.parent.parent.name == "outputs":  # outputs/<problem>/ made for this run alone
            with contextlib.suppress(OSError):
                run_dir.parent.rmdir()  # only when empty
