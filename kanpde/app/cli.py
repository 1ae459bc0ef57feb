"""The ``kanpde`` command's entry point: signal handlers first, then the (slow) imports.

Importing torch, scipy and Hydra takes seconds; the handlers are installed before, so a
Ctrl-C or SIGTERM at any moment of the start-up ends the command with exit code 130 and
one line, never a traceback. See :mod:`kanpde.app.main` for the run itself.
"""

from __future__ import annotations

import sys

from kanpde.app.signals import INTERRUPTS, exit_now

INTERRUPTED_EXIT = 130  # Status.INTERRUPTED.exit_code, without importing kanpde.result yet


def main() -> None:
    INTERRUPTS.install()  # SIGTERM (a cluster's time limit, `kill`) is handled like Ctrl-C
    try:
        from kanpde.app.main import command
        INTERRUPTS.check()  # a signal whose KeyboardInterrupt an extension's import swallowed
    except (KeyboardInterrupt, Exception):
        if not INTERRUPTS.received:
            raise
        # an import cut short by the signal can fail with any error (numpy's partial import
        # surfaces later as an AttributeError): the signal is the cause, not the error
        sys.stderr.write("kanpde: interrupted while starting; nothing was written\n")
        exit_now(INTERRUPTED_EXIT)
    command()
