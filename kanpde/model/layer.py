"""One KAN layer: a learnable 1-D function on every edge, nodes sum.

Edge ``i -> j`` carries
``phi_ij(x) = w_base[i,j] * silu(x) + w_spline[i,j] * sum_m coef[i,m,j] B_m(clamp(x, lower_i, upper_i))``.

The spline part sees its input clamped to the grid range ``[lower_i, upper_i]``: outside
it the spline part is constant (and continuous), so a function-preserving refit on the
grid range preserves the function everywhere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.model.basis import bspline_basis, uniform_knots


class KANLayer(nn.Module):
    """KAN layer ``(N, in) -> (N, out)``, evaluated as one matmul over all edges.

    Parameters: ``coef: (in, G+k, out)``, ``w_base: (in, out)``, ``w_spline: (in, out)``;
    buffer ``knots: (in, G+2k+1)``.

    Init (reproducible through ``generator``): ``w_base ~ U(-1/sqrt(in), 1/sqrt(in))``
    (the silu path starts like a default linear layer), ``w_spline = 1`` and
    ``coef ~ noise_scale * N(0, 1) / sqrt(in)``: the spline part starts as a small random
    perturbation whose node sum has a variance independent of the fan-in. Random
    coefficients (rather than a least-squares fit to noise) keep the init one line and
    cheap; the B-splines sum to one, so the spline part stays ``O(noise_scale)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        grid_size: int = 5,
        order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        *,
        noise_scale: float = 0.1,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        if in_dim < 1 or out_dim < 1 or grid_size < 1 or order < 0:
            raise KanpdeError(
                f"KANLayer needs in_dim, out_dim, grid_size >= 1 and order >= 0; "
                f"got in_dim={in_dim}, out_dim={out_dim}, grid_size={grid_size}, order={order}"
            )
        if not grid_range[0] < grid_range[1]:
            raise KanpdeError(f"grid_range must be (lower, upper) with lower < upper; got {grid_range}")
        dtype = dtype or torch.get_default_dtype()
        self.in_dim, self.out_dim, self._order = in_dim, out_dim, order
        lower = torch.full((in_dim,), float(grid_range[0]), dtype=dtype, device=device)
        upper = torch.full((in_dim,), float(grid_range[1]), dtype=dtype, device=device)
        self.register_buffer("knots", uniform_knots(lower, upper, grid_size, order))  # (in, G+2k+1)

        bound = 1.0 / math.sqrt(in_dim)
        u = _random(torch.rand, (in_dim, out_dim), generator, dtype, device)
        z = _random(torch.randn, (in_dim, grid_size + order, out_dim), generator, dtype, device)
        self.w_base = nn.Parameter((2.0 * u - 1.0) * bound)  # (in, out)
        self.w_spline = nn.Parameter(torch.ones(in_dim, out_dim, dtype=dtype, device=device))  # (in, out)
        self.coef = nn.Parameter(noise_scale * bound * z)  # (in, G+k, out)

    @property
    def order(self) -> int:
        return self._order

    @property
    def grid_size(self) -> int:
        return self.knots.shape[1] - 2 * self._order - 1

    @property
    def lower(self) -> Tensor:
        """Left end of each input's grid range, (in,)."""
        return self.knots[:, self._order]

    @property
    def upper(self) -> Tensor:
        """Right end of each input's grid range, (in,)."""
        return self.knots[:, -self._order - 1]

    def basis_values(self, x: Tensor) -> Tensor:
        """Basis of each input, clamped into its grid range. x: (N, in) -> (N, in, G+k)."""
        # clamp (not minimum/maximum, which halve the gradient at a tie) keeps the full
        # derivative at the ends of the range, where Neumann/Robin conditions evaluate it
        x = torch.clamp(x, self.lower, self.upper)
        return bspline_basis(x, self.knots, self._order)

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in) -> (N, out)."""
        n = x.shape[0]
        basis = self.basis_values(x).reshape(n, -1)  # (N, in*(G+k))
        weights = (self.coef * self.w_spline[:, None, :]).reshape(-1, self.out_dim)  # (in*(G+k), out)
        return F.silu(x) @ self.w_base + basis @ weights

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, grid_size={self.grid_size}, order={self.order}"


def _random(sample, shape, generator, dtype, device) -> Tensor:
    """Draw on the generator's device (so a CPU generator can seed a CUDA model), then move."""
    where = generator.device if generator is not None else device
    return sample(shape, generator=generator, dtype=dtype, device=where).to(device)
