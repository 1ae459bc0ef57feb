"""A KAN layer on a derivative jet in one fused CPU kernel (``csrc/layer_jet.cpp``).

The kernel forms, for every point and input, the edge functions and their first
derivatives as vectors over the outputs (k+1 non-zero B-splines by Horner on the Taylor
table, plus silu) and applies the chain rule to every jet channel; its backward gives the
gradients with respect to the input jet, the spline coefficients and the silu weights. It
computes what ``KANLayer.jet`` computes with torch operations, without their
intermediate tensors and per-operator overhead.

Built on first use with the C++ compiler through ``torch.utils.cpp_extension`` (about
20 s, then cached in torch's extension directory, ``TORCH_EXTENSIONS_DIR``). The module
name is a hash of everything the binary depends on: the kernel source, the torch and
Python versions, the compile flags and the CPU's model and flags (the build targets the
machine, ``-march=native``). So machines sharing a home directory, and checkouts or
virtualenvs sharing a machine, each keep their own build instead of rebuilding in turn.

The build must survive a kill at any moment (a SLURM time limit, a Ctrl-C'd job, kill -9):
torch's own lock file would then stay behind and make every later process wait on it
forever. So torch never builds in the shared directory. Under an ``flock`` (released by
the kernel when its holder dies, so it cannot go stale; waited on for at most
``LOCK_TIMEOUT_S``), torch builds in a fresh private directory and the finished ``.so``
is renamed into place (atomic): the shared directory only ever holds a complete binary,
and a binary that fails to load anyway is removed and built again, once.

When the build is impossible (no compiler or ninja) or disabled (``KANPDE_FUSED=0``),
:func:`available` says so once in the log and the torch implementations are used.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from kanpde.jet import JetRequest

try:
    import fcntl
except ImportError:  # not POSIX: build without the lock (the rename alone keeps it safe)
    fcntl = None  # type: ignore[assignment]  # the module or None, tested before use

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "csrc" / "layer_jet.cpp"
MAX_ORDER = 7  # the kernel holds the k+1 non-zero B-splines of a point in a fixed array
CFLAGS = ("-O3", "-march=native", "-fopenmp")
LDFLAGS = ("-fopenmp",)
LOCK_NAME = "kanpde-build.flock"  # not torch's "lock", which torch leaves behind when killed
BUILD_PREFIX = "build-"  # the private build directories, inside the extension's directory
LOCK_TIMEOUT_S = 300.0  # a build takes ~20 s; a holder this slow is stuck, so fall back
_state: dict[str, bool] = {}  # "loaded": the build's outcome, once tried


class _LockTimeout(Exception):
    pass


def available() -> bool:
    """Whether ``torch.ops.kanpde.layer_jet`` can run (building it if needed)."""
    if "loaded" not in _state:
        _state["loaded"] = _load()
    return _state["loaded"]


def module_name() -> str:
    """The extension's name: a hash of what the compiled binary depends on."""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), torch.__version__.encode(), platform.python_version().encode(),
                 sys.implementation.cache_tag.encode(), " ".join(CFLAGS + LDFLAGS).encode(),
                 _machine_text().encode()):
        digest.update(len(part).to_bytes(8, "little") + part)  # length-prefixed: no ambiguity
    return f"kanpde_layer_jet_{digest.hexdigest()[:16]}"


def extension_directory(name: str) -> Path:
    """Where the extension ``name`` lives: ``TORCH_EXTENSIONS_DIR``/name, else torch's
    default root (per Python and accelerator)/name; created if missing."""
    from torch.utils.cpp_extension import _get_build_directory

    return Path(_get_build_directory(name, verbose=False))


def _load() -> bool:
    if os.environ.get("KANPDE_FUSED", "1") == "0":
        log.info("fused CPU layer kernel disabled by KANPDE_FUSED=0")
        return False
    try:
        return _load_or_build()
    except _LockTimeout as error:
        log.warning("fused CPU layer kernel: gave up after %.0f s waiting for the build lock %s (held by "
                    "another process building it, which may be stuck: end it, or set KANPDE_FUSED=0); using "
                    "the torch implementation", LOCK_TIMEOUT_S, error.args[0])
        return False
    except Exception as error:  # noqa: BLE001 - no compiler, no ninja, a failed build: fall back, say why
        log.warning("fused CPU layer kernel unavailable (%s); using the torch implementation. "
                    "Install a C++ compiler and ninja to build it, or set KANPDE_FUSED=0.", _reason(error))
        return False


def _reason(error: Exception) -> str:
    """One line of an error: a compiler's ``error:`` line if any, else the last line."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return next((line.strip() for line in lines if "error:" in line), lines[-1])


def _load_or_build() -> bool:
    name = module_name()
    directory = extension_directory(name)
    binary = directory / f"{name}.so"
    if _load_binary(binary):  # the common case; no lock, since the binary only appears complete
        return True
    with _build_lock(directory / LOCK_NAME) as held:
        if _load_binary(binary):  # another process built it while this one waited
            return True
        if held:  # nobody else builds here now: what a killed build left is garbage
            for leftover in directory.glob(BUILD_PREFIX + "*"):
                shutil.rmtree(leftover, ignore_errors=True)
        _build(name, directory, binary)
    return True


def _load_binary(binary: Path) -> bool:
    """Load a finished binary; one that exists but does not load is removed (to be rebuilt)."""
    if not binary.exists():
        return False
    try:
        torch.ops.load_library(str(binary))
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file: never trust it again
        log.warning("fused CPU layer kernel %s does not load (%s); removing it and building it again",
                    binary, _reason(error))
        binary.unlink(missing_ok=True)
        return False
    return True


def _build(name: str, directory: Path, binary: Path) -> None:
    """Build in a fresh private directory (torch's stale lock can never be in it), then
    rename the binary into place: a kill at any moment leaves only a ``build-*`` folder."""
    from torch.utils.cpp_extension import load

    private = tempfile.mkdtemp(prefix=BUILD_PREFIX, dir=directory)
    log.info("building the fused CPU layer kernel in %s (about 20 s, once per machine, torch and kernel "
             "version)", private)
    try:
        # loads the new binary from the private directory; renaming it afterwards keeps the mapping
        built = load(name=name, sources=[str(SOURCE)], extra_cflags=list(CFLAGS), extra_ldflags=list(LDFLAGS),
                     build_directory=private, is_python_module=False, verbose=False)
        os.replace(built, binary)
    finally:
        shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path``; yields whether it is held (False where the
    file system has no flock: the build then goes ahead unlocked, still safe by the rename).
    Raises ``_LockTimeout`` after ``LOCK_TIMEOUT_S`` of waiting."""
    with open(path, "ab") as handle:
        held, deadline, waiting = False, time.monotonic() + LOCK_TIMEOUT_S, False
        while fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _LockTimeout(str(path)) from None
                if not waiting:
                    log.info("waiting for another process building the fused CPU layer kernel (lock %s)", path)
                    waiting = True
                time.sleep(0.2)
            except OSError as error:  # e.g. ENOLCK on some network file systems
                log.debug("no flock on %s (%s); building without it", path, error)
                break
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _machine_text() -> str:
    """The CPU model and instruction-set flags (Linux) or the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "".join(line for line in lines if line.startswith(("model name", "flags")))[:4096]
    except OSError:
        return platform.platform() + platform.processor()


def layer_jet(data: Tensor, knots: Tensor, taylor: Tensor, table: Tensor, w_base: Tensor,
              request: JetRequest) -> Tensor:
    """Jet channels of a KAN layer's output, (C, N, in) -> (C, N, out); taylor is the layer's
    (in, G, D, k+1, k+1) Taylor table (the kernel reads its value rows), table the (in, G+k, out) coefficients
    times w_spline. Call :func:`available` first."""
    pairs, laplacian = _channel_slots(request)
    data = data.contiguous()
    sig = torch.sigmoid(data[0])  # (N, in): vectorised here rather than in the kernel's loop
    return _LayerJet.apply(data, sig, knots.contiguous(), taylor, table.contiguous(), w_base.contiguous(),
                           pairs, laplacian)


@functools.lru_cache(maxsize=64)
def _channel_slots(request: JetRequest) -> tuple[Tensor, Tensor]:
    """The request's second pairs (P, 2) and Laplacian axes (L,) as tangent slots, int64."""
    slot = {a: j for j, a in enumerate(request.tangents)}
    pairs = torch.tensor([[slot[a], slot[b]] for a, b in request.second], dtype=torch.long).reshape(-1, 2)
    return pairs, torch.tensor([slot[a] for a in request.laplacian], dtype=torch.long)


class _LayerJet(torch.autograd.Function):
    @staticmethod
    def forward(ctx, data, sig, knots, taylor, table, w_base, pairs, laplacian):
        ctx.save_for_backward(data, sig, knots, taylor, table, w_base, pairs, laplacian)
        return torch.ops.kanpde.layer_jet(data, sig, knots, taylor, table, w_base, pairs, laplacian)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        need_data = ctx.needs_input_grad[0]
        grad_data, grad_table, grad_base = torch.ops.kanpde.layer_jet_backward(
            *ctx.saved_tensors, grad_out.contiguous(), need_data)
        # sig's gradient is part of grad_data's (the kernel differentiates silu itself)
        return grad_data if need_data else None, None, None, None, grad_table, grad_base, None, None
