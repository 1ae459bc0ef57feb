"""SIGINT and SIGTERM for the whole run, not only the training loop.

While the run computes (building, training, evaluating, the symbolic stage) a signal
raises KeyboardInterrupt where the program is: the training loop turns it into status
``interrupted`` and keeps its model, and the app skips what is left to compute. While the
run writes its directory the signal is only recorded, so no file is cut short; the app
stops once the files are written. A second Ctrl-C therefore never loses a trained result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import NoReturn

log = logging.getLogger("kanpde")


class Interrupts:
    def __init__(self):
        self.received: list[int] = []  # signal numbers, in order
        self._deferring = 0

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)
        sys.unraisablehook = _quiet_interrupts(sys.unraisablehook)
        sys.excepthook = self._quiet_excepthook(sys.excepthook)

    def _quiet_excepthook(self, hook):
        """sys.excepthook that passes over the KeyboardInterrupt of a received signal: a
        Cython function that cannot raise (scipy's Sobol set-up, say) prints what it caught
        through sys.excepthook and goes on; the interrupt is raised again by ``check``."""
        def excepthook(kind, value, traceback) -> None:
            if not (issubclass(kind, KeyboardInterrupt) and self.received):
                hook(kind, value, traceback)
        return excepthook

    def check(self) -> None:
        """Raise the interrupt now if a signal came whose KeyboardInterrupt was lost: Python
        drops an exception raised in a destructor or a garbage-collector callback (printing
        it as "Exception ignored"), and a handler can run inside one."""
        if self.received and not self._deferring:
            raise KeyboardInterrupt(f"signal {self.received[-1]}")

    def _handle(self, signum, frame) -> None:
        self.received.append(signum)
        if not self._deferring:
            raise KeyboardInterrupt(f"signal {signum}")
        log.warning("%s received while the run is being written: interrupted once it is written",
                    signal.Signals(signum).name)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that a signal does not cut short (it is recorded for later)."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1


def exit_now(code: int) -> NoReturn:
    """End the process with ``code``, after flushing the logs and the console. Not by
    sys.exit when interrupted: a KeyboardInterrupt that once escaped Python code run from
    C (some extension modules do that while they import) marks the interpreter, which then
    ends itself by SIGINT at exit, status -2 instead of 130."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _quiet_interrupts(hook):
    """sys.unraisablehook that passes over the KeyboardInterrupt of a signal (recorded, and
    raised again by ``Interrupts.check``) instead of printing it with a traceback."""
    def unraisable(info) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):
            hook(info)
    return unraisable


INTERRUPTS = Interrupts()  # the command's (kanpde.app.cli installs it before the slow imports)
