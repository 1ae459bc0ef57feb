"""A KAN layer on a derivative jet in one fused CPU kernel (``csrc/layer_jet.cpp``).

The kernel forms, for every point and input, the edge functions and their first
derivatives as vectors over the outputs (k+1 non-zero B-splines by Horner on the Taylor
table, plus silu) and applies the chain rule to every jet channel; its backward gives the
gradients with respect to the input jet, the spline coefficients and the silu weights. It
computes what ``KANLayer.jet`` computes with torch operations, without their
intermediate tensors and per-operator overhead.

Built on first use with the C++ compiler through ``torch.utils.cpp_extension`` (about
15 s, then cached in torch's extension directory, ``TORCH_EXTENSIONS_DIR``). The build
targets the machine it runs on (``-march=native``), so the module name carries a hash of
the CPU's model and flags: machines sharing a home directory each build their own.

When the build is impossible (no compiler or ninja) or disabled (``KANPDE_FUSED=0``),
:func:`available` says so once in the log and the torch implementations are used.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
from pathlib import Path

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from kanpde.jet import JetRequest

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "csrc" / "layer_jet.cpp"
MAX_ORDER = 7  # the kernel holds the k+1 non-zero B-splines of a point in a fixed array
_state: dict[str, bool] = {}  # "loaded": the build's outcome, once tried


def available() -> bool:
    """Whether ``torch.ops.kanpde.layer_jet`` can run (building it if needed)."""
    if "loaded" not in _state:
        _state["loaded"] = _load()
    return _state["loaded"]


def _load() -> bool:
    if os.environ.get("KANPDE_FUSED", "1") == "0":
        log.info("fused CPU layer kernel disabled by KANPDE_FUSED=0")
        return False
    try:
        from torch.utils.cpp_extension import load

        load(name=f"kanpde_layer_jet_{_machine_tag()}", sources=[str(SOURCE)],
             extra_cflags=["-O3", "-march=native", "-fopenmp"], extra_ldflags=["-fopenmp"],
             is_python_module=False, verbose=False)
    except Exception as error:  # no compiler, no ninja, a failed build: fall back, say why
        lines = str(error).strip().splitlines() or [type(error).__name__]
        reason = next((line.strip() for line in lines if "error:" in line), lines[-1])
        log.warning("fused CPU layer kernel unavailable (%s); using the torch implementation. "
                    "Install a C++ compiler and ninja to build it, or set KANPDE_FUSED=0.", reason)
        return False
    return True


def _machine_tag() -> str:
    """Short hash of the CPU model and instruction-set flags (Linux) or the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        text = "".join(line for line in lines if line.startswith(("model name", "flags")))[:4096]
    except OSError:
        text = platform.platform() + platform.processor()
    return hashlib.sha1(text.encode()).hexdigest()[:10]


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
