"""Host allocator setting for the command-line entry points (not applied on import).

glibc serves blocks above 32 MB (its largest mmap threshold) by ``mmap`` and gives them
back on free, so a training step whose tensors are that large faults its whole working
set in again every step: on a 2-core machine that took more system time than the
computation. Disabling mmap for malloc and raising the trim threshold keeps freed memory
in the heap, to be reused by the next step. Peak memory is unchanged; the memory is
simply not returned to the system between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters, <malloc.h>


def keep_freed_memory() -> bool:
    """Apply the setting where the C library is glibc; True when it was applied."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        applied = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    except (OSError, AttributeError, TypeError):
        applied = False
    log.debug("keep freed memory in the heap: %s", applied)
    return applied
