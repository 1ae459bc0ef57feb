"""Reference solutions computed once and kept on disk (``outputs/references`` by default).

A cached file is named by the problem and a hash of what determines it: the problem's
parameters, the source of the problem's module and of the reference solvers. Editing
either computes a fresh reference; stale files are simply never read again. Files are
written atomically; one that cannot be read all the same (written by other means,
damaged) is discarded with a warning and computed afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from kanpde.errors import user_code_error
from kanpde.files import atomic_path
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

SOLVERS_DIR = Path(__file__).parent


def reference_solution(problem, directory: str | Path | None = None) -> GridSolution | None:
    """The problem's reference solution (None when it names no reference solver), read from
    ``directory`` when computed before, else computed and written there (None: no cache).
    Jobs that need the same uncached reference at once compute it once: the first takes a
    lock beside the file, the others wait for it and read what it wrote."""
    if problem.reference is None:
        return None
    if directory is None:
        return _compute(problem)
    path = Path(directory) / f"{problem.name}-{_key(problem)}.npz"
    solution = _read(problem, path)
    if solution is not None:
        return solution
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path.with_name(path.name + ".lock")):
        solution = _read(problem, path)  # computed by another job while this one waited
        if solution is None:
            solution = _compute(problem)
            with atomic_path(path) as tmp:
                solution.save(tmp)
    return solution


def _read(problem, path: Path) -> GridSolution | None:
    if not path.is_file():
        return None
    try:
        solution = GridSolution.load(path)
    except Exception as error:  # noqa: BLE001 - truncated or damaged: a zip, pickle or key error
        log.warning("cached reference %s is unreadable (%s: %s); discarding it and computing it again",
                    path, type(error).__name__, error)
        path.unlink(missing_ok=True)
        return None
    log.info("reference solution of %s read from %s", problem.name, path)
    return solution


def _compute(problem) -> GridSolution:
    log.info("computing the reference solution of %s", problem.name)
    start = time.perf_counter()
    try:
        solution = problem.reference(problem.params)
    except Exception as error:  # noqa: BLE001 - user code may raise anything: reported as its own error
        raise user_code_error(error, f"the reference solver of problem {problem.name!r}") from None
    log.info("reference solution of %s (%s) computed in %.1f s", problem.name, solution.method,
             time.perf_counter() - start)
    return solution


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created, kept: an empty file) while the
    block runs; released when the process dies, so a killed job never blocks the others.
    Where the platform has no flock (Windows), no lock: each job computes its own."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _key(problem) -> str:
    digest = hashlib.sha1(json.dumps(dict(problem.params), sort_keys=True, default=str).encode())
    try:
        module = inspect.getmodule(problem.reference)
        if module is None:
            raise TypeError("no module")
        digest.update(inspect.getsource(module).encode())
    except (OSError, TypeError):  # defined interactively: key on its name only
        digest.update(getattr(problem.reference, "__qualname__", repr(problem.reference)).encode())
    for source in sorted(SOLVERS_DIR.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]
