"""The one exception type for bad input, so the app can report it in a paragraph, and the
translation of exceptions raised in a user's own code (a problem file) into one."""

from __future__ import annotations

import logging
import sysconfig
import traceback
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_LIBRARY_DIRS = tuple({str(Path(p).resolve()) for p in (sysconfig.get_paths()["stdlib"],
                                                         sysconfig.get_paths()["purelib"],
                                                         sysconfig.get_paths()["platlib"])})


class KanpdeError(ValueError):
    """Bad input: the message names what is wrong and what is accepted."""


def user_code_error(error: BaseException, what: str) -> KanpdeError:
    """``error``, raised while running ``what`` (e.g. "the residual of problem 'rod'"), as
    one paragraph: the exception, its message, and the file, line and source of the
    user's code nearest to where it was raised (not kanpde's or torch's frames)."""
    if isinstance(error, KanpdeError):
        return error
    if isinstance(error, SyntaxError) and error.filename:
        where = f"{error.filename}, line {error.lineno}: {(error.text or '').strip()}"
        return KanpdeError(f"{what} failed: SyntaxError: {error.msg} ({where})")
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_user_file(f.filename)]
    where = (f" ({frames[-1].filename}, line {frames[-1].lineno}, in {frames[-1].name}: "
             f"{(frames[-1].line or '').strip()})") if frames else ""
    message = str(error).strip().splitlines()[0] if str(error).strip() else "(no message)"
    return KanpdeError(f"{what} raised {type(error).__name__}: {message}{where}")


def log_failure(log: logging.Logger, error: BaseException, what: str, outcome: str) -> KanpdeError:
    """Log an exception that ended ``what`` (a part of a run, which goes on without it) as
    one paragraph, with ``outcome`` (what was kept); the traceback only at debug level
    (the command's ``hydra.verbose=kanpde``). Returns the paragraph."""
    described = user_code_error(error, what)
    log.error("%s; %s", described, outcome)
    log.debug("the traceback of %s", what, exc_info=error)
    return described


def _is_user_file(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    path = str(Path(filename).resolve())
    return not path.startswith(str(PACKAGE_DIR)) and not path.startswith(_LIBRARY_DIRS)
