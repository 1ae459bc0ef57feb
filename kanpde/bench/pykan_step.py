"""The same 2-D Poisson training step written with pykan (optional extra ``bench``).

As in pykan's own PDE example: second derivatives by nested ``batch_jacobian``, the
Laplacian from the Hessian's diagonal, a boundary loss on values, one backward pass.
pykan runs in its speed mode (no activation caching, no symbolic branch).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable

import torch


def make_pykan_step(widths, grid, interior, boundary, dtype, device, seed=0) -> Callable[[], None]:
    try:
        from kan import KAN
        from kan.utils import batch_jacobian
    except ImportError as error:
        raise ImportError("pykan is not installed; install the benchmark extra: "
                          "pip install -e '.[bench]'") from error
    torch.set_default_dtype(dtype)  # pykan builds its tensors in the default dtype
    model = KAN(width=list(widths), grid=grid, k=3, seed=seed, auto_save=False,
                ckpt_path=tempfile.mkdtemp(prefix="pykan"), device=device).speed()
    g = torch.Generator().manual_seed(seed)
    xi = (torch.rand(interior, 2, generator=g, dtype=dtype) * 2 - 1).to(device)
    xb = (torch.rand(boundary, 2, generator=g, dtype=dtype) * 2 - 1).to(device)
    xb[: boundary // 2, 0] = torch.sign(xb[: boundary // 2, 0])
    xb[boundary // 2:, 1] = torch.sign(xb[boundary // 2:, 1])

    def exact(x):
        return torch.sin(math.pi * x[:, [0]]) * torch.sin(math.pi * x[:, [1]])

    source = -2 * math.pi**2 * exact(xi)

    def gradient(x):
        return batch_jacobian(model, x, create_graph=True, mode="vector")[:, 0, :]

    def step():
        model.zero_grad()
        hessian = batch_jacobian(gradient, xi, create_graph=True, mode="vector")
        laplacian = torch.diagonal(hessian, dim1=1, dim2=2).sum(dim=1, keepdim=True)
        loss = torch.mean((laplacian - source) ** 2) + torch.mean((model(xb) - exact(xb)) ** 2)
        loss.backward()

    return step
