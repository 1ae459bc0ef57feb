"""Files written whole or not at all: a temporary file beside the target, then os.replace;
and where the folders that ship with kanpde are.

A kill at any moment leaves either the old file, the new one, or a hidden temporary
(``.name.<pid>.tmp<suffix>``), never a truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path with ``path``'s suffix (so savefig and np.savez keep the format),
    moved onto ``path`` when the block ends without an exception, removed otherwise. A
    block that wrote nothing there (a plot that does not apply) leaves ``path`` alone."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            return
        with open(tmp, "rb+") as f:  # on disk before the rename, so a crash cannot leave it empty
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def shipped(name: str) -> Path:
    """A folder that ships with kanpde (``configs``, ``problems``): inside the installed
    package in a wheel install, at the top of the checkout in an editable one."""
    package = Path(__file__).resolve().parent
    inside = package / name
    return inside if inside.is_dir() else package.parent / name
