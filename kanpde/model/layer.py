"""One KAN layer: a learnable 1-D function on every edge, nodes sum.

Edge ``i -> j`` carries
``phi_ij(x) = w_base[i,j] * silu(x) + w_spline[i,j] * sum_m coef[i,m,j] B_m(x)``.

An edge can be switched off (``mask``, after pruning or once it is fixed to a closed form)
and a layer can carry edges fixed to closed forms ``c f(a x + b) + d`` (``fixed``, see
kanpde.model.fixed), whose outputs are added to the spline edges'.

Beyond its grid range ``[lower_i, upper_i]`` the spline part continues the polynomial of
its end interval. The edge function is then smooth everywhere, so the PDE residual (built
from its derivatives) is a smooth function of the parameters even when a hidden
activation crosses the end of the next layer's range; a spline held constant there (a
clamp) makes the residual jump at such crossings, and L-BFGS stalls on those jumps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kanpde.errors import KanpdeError
from kanpde.jet import Jet
from kanpde.model import fused
from kanpde.model.basis import bspline_taylor, continued_basis, taylor_table, uniform_knots
from kanpde.model.fixed import FixedEdges
from kanpde.model.spline_product import spline_product

PRODUCTS = ("auto", "fused", "dense", "local")  # implementations of KANLayer.jet


class KANLayer(nn.Module):
    """KAN layer ``(N, in) -> (N, out)``, evaluated as one matmul over all edges.

    Parameters: ``coef: (in, G+k, out)``, ``w_base: (in, out)``, ``w_spline: (in, out)``;
    buffers ``knots: (in, G+2k+1)`` and ``mask: (in, out)`` (1: the spline edge is active).

    Init (reproducible through ``generator``): ``w_base ~ U(-1/sqrt(in), 1/sqrt(in))``
    (the silu path starts like a default linear layer), ``w_spline = 1`` and
    ``coef ~ noise_scale * N(0, 1) / sqrt(in)``: the spline part starts as a small random
    perturbation whose node sum has a variance independent of the fan-in. Random
    coefficients (rather than a least-squares fit to noise) keep the init one line and
    cheap; the B-splines sum to one, so the spline part stays ``O(noise_scale)``.
    """

    knots: Tensor  # buffer (in, G+2k+1)
    mask: Tensor  # buffer (in, out)

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
        self.product = "auto"  # jet(): auto | fused | dense | local (see jet)
        self._taylor_key: tuple | None = None
        self._taylor_cache: Tensor | None = None
        lower = torch.full((in_dim,), float(grid_range[0]), dtype=dtype, device=device)
        upper = torch.full((in_dim,), float(grid_range[1]), dtype=dtype, device=device)
        self.register_buffer("knots", uniform_knots(lower, upper, grid_size, order))  # (in, G+2k+1)

        bound = 1.0 / math.sqrt(in_dim)
        u = _random(torch.rand, (in_dim, out_dim), generator, dtype, device)
        z = _random(torch.randn, (in_dim, grid_size + order, out_dim), generator, dtype, device)
        self.w_base = nn.Parameter((2.0 * u - 1.0) * bound)  # (in, out)
        self.w_spline = nn.Parameter(torch.ones(in_dim, out_dim, dtype=dtype, device=device))  # (in, out)
        self.coef = nn.Parameter(noise_scale * bound * z)  # (in, G+k, out)
        self.register_buffer("mask", torch.ones(in_dim, out_dim, dtype=dtype, device=device))
        self.fixed: FixedEdges | None = None  # closed-form edges
        # when a list, jet() appends (input jet, output channels (C, N, out) of the spline
        # and silu edges) of every call, for per-point parameter Jacobians (training.jacobian)
        self.recording: list[tuple[Jet, Tensor]] | None = None

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
        """Basis of each input, end polynomials continued beyond the grid range.
        x: (N, in) -> (N, in, G+k)."""
        return continued_basis(x, self.knots, self._order)

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in) -> (N, out)."""
        n = x.shape[0]
        basis = self.basis_values(x).reshape(n, -1)  # (N, in*(G+k))
        w_base, table = self.active_weights()
        out = F.silu(x) @ w_base + basis @ table.reshape(-1, self.out_dim)
        return out if self.fixed is None else out + self.fixed(x)

    def active_weights(self) -> tuple[Tensor, Tensor]:
        """The silu weights (in, out) and the spline table ``coef * w_spline`` (in, G+k, out)
        of the active edges (masked edges contribute zero)."""
        return self.w_base * self.mask, self.coef * (self.w_spline * self.mask)[:, None, :]

    def active_edges(self) -> Tensor:
        """(in, out) bool: the edges that carry a function, an unmasked spline or a fixed
        closed form."""
        active = self.mask > 0
        if self.fixed is not None:
            active = active.index_put((self.fixed.source, self.fixed.target), torch.tensor(True, device=active.device))
        return active

    def edge_scales(self, x: Tensor) -> Tensor:
        """Root mean square of every active spline edge's output over the samples
        x: (N, in) -> (in, out). Differentiable; see :meth:`edge_moments`."""
        return self.edge_moments(x)[1].clamp_min(0.0).add(1e-30).sqrt()

    def edge_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and mean square of every active spline edge's output over the samples
        x: (N, in) -> two (in, out), from batch statistics: with the features
        ``F_i = [silu(x_i), B_1(x_i), ..., B_{G+k}(x_i)]``, their mean ``f_i`` and Gram
        matrix ``M_i = mean_n F_i F_i^T: (in, G+k+1, G+k+1)``, edge i -> j has mean
        ``f_i . w_ij`` and mean square ``w_ij^T M_i w_ij``; no (N, in, out) tensor is formed."""
        features = torch.cat([F.silu(x)[..., None], self.basis_values(x)], dim=2)  # (N, in, G+k+1)
        gram = torch.einsum("nik,nil->ikl", features, features) / x.shape[0]
        w_base, table = self.active_weights()
        weights = torch.cat([w_base[:, None, :], table], dim=1)  # (in, G+k+1, out)
        mean = torch.einsum("ik,iko->io", features.mean(dim=0), weights)
        return mean, torch.einsum("iko,ikl,ilo->io", weights, gram, weights)

    def add_constant(self, source: int, target: int, value: float) -> None:
        """Add ``value`` to spline edge ``source -> target`` (the B-splines and their
        continued end pieces sum to one, so shifting every coefficient shifts the edge)."""
        with torch.no_grad():
            self.coef[source, :, target] += value / self.w_spline[source, target]

    def edge_function(self, x: Tensor) -> Tensor:
        """Every spline edge's own output at its input's samples, masked ones included:
        x: (S, in) -> (S, in, out). Materialises the edges; meant for inspection."""
        basis = self.basis_values(x)  # (S, in, G+k)
        spline = torch.einsum("sim,imo->sio", basis, self.coef * self.w_spline[:, None, :])
        return F.silu(x)[..., None] * self.w_base + spline

    def jet(self, h: Jet) -> Jet:
        """Push a jet of the layer's input, channels (C, N, in), to its output (C, N, out).

        Each edge function is applied to the input channels by the chain rule, with the
        analytic derivatives of silu and of the B-splines (see ``Jet.compose``); only the
        k+1 non-zero B-splines of each input are evaluated, so the cost does not grow
        with G. Beyond the grid range the end interval's polynomials continue.

        ``self.product`` picks the implementation: ``fused``, one C++ kernel on the CPU
        (``kanpde.model.fused``); ``dense`` or ``local``, torch operations with the
        spline product of that name (``spline_product``); ``auto``, fused where it runs,
        else the torch operations with the product chosen by G.
        """
        if self.runs_fused(h):
            w_base, table = self.active_weights()
            out = fused.layer_jet(h.data, self.knots, self._taylor(), table, w_base, h.request)
            if self.recording is not None:
                self.recording.append((h, out))
            return self.with_fixed(h, h.with_data(out))
        first, spline, base = self.jet_features(h)
        return self.jet_combine(h, first, spline, base)

    def with_fixed(self, h: Jet, out: Jet) -> Jet:
        """Add the closed-form edges' jet (input jet ``h``) to the spline edges' ``out``."""
        return out if self.fixed is None else out.with_data(out.data + self.fixed.jet(h))

    def runs_fused(self, h: Jet) -> bool:
        """Whether :meth:`jet` takes the fused CPU kernel for this jet."""
        if self.product not in PRODUCTS:
            raise KanpdeError(f"unknown layer product {self.product!r}; accepted: {', '.join(PRODUCTS)}")
        if self.product not in ("auto", "fused"):
            return False
        usable = (h.data.device.type == "cpu" and h.data.dtype in (torch.float32, torch.float64)
                  and self._order <= fused.MAX_ORDER and h.request.order <= 2 and fused.available())
        if self.product == "fused" and not usable:
            raise KanpdeError("the fused layer kernel runs on the CPU in float32 or float64 for spline orders <= "
                              f"{fused.MAX_ORDER} and derivatives up to the second, once built (see the log); use "
                              "product 'auto', 'dense' or 'local'")
        return usable

    def jet_features(self, h: Jet) -> tuple[Tensor, Tensor, Tensor]:
        """The input-dependent half of :meth:`jet`: index of the first non-zero B-spline
        (N, in), spline features (C, N, in, k+1) and silu features (C, N, in)."""
        x = h.value  # (N, in)
        order = h.request.order
        first, b = bspline_taylor(x, self.knots, self._taylor(), order)
        spline = h.compose(*b)  # (C, N, in, k+1)
        base = h.compose(*_silu_derivatives(x, order))  # (C, N, in)
        return first, spline, base

    def jet_combine(self, h: Jet, first: Tensor, spline: Tensor, base: Tensor) -> Jet:
        """The parameter-dependent half of :meth:`jet`: features against the weights."""
        w_base, table = self.active_weights()
        product = "auto" if self.product == "fused" else self.product
        out = base @ w_base + spline_product(spline, first, table, product)  # (C, N, out)
        if self.recording is not None:
            self.recording.append((h, out))
        return self.with_fixed(h, h.with_data(out))

    def _taylor(self) -> Tensor:
        """Per-interval polynomial table of the basis and its first three derivatives,
        (in, G, 4, k+1, k+1), rebuilt when the knots change (grid update or extension,
        load_state_dict, a move to another device)."""
        knots = self.knots
        key = (knots.data_ptr(), knots._version, knots.shape, knots.dtype, knots.device)
        cache = self._taylor_cache
        if self._taylor_key != key or cache is None:
            with torch.no_grad():
                cache = self._taylor_cache = taylor_table(knots, self._order, derivatives=3)
            self._taylor_key = key
        return cache

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, grid_size={self.grid_size}, order={self.order}"


def _silu_derivatives(x: Tensor, order: int) -> list[Tensor]:
    """silu and its first ``order`` (<= 3) derivatives at x (elementwise):
    silu = x s, silu' = s + x s', silu'' = 2 s' + x s'', silu^(3) = 3 s'' + x s^(3) with
    s = sigmoid(x), s' = s (1 - s), s'' = s' (1 - 2 s), s^(3) = s'' (1 - 2 s) - 2 s'^2."""
    sig = torch.sigmoid(x)
    out = [x * sig]
    if order >= 1:
        slope = sig - sig * sig  # s'
        out.append(torch.addcmul(sig, x, slope))
    if order >= 2:
        curve = slope * (1.0 - 2.0 * sig)  # s''
        out.append(torch.addcmul(2.0 * slope, x, curve))
    if order >= 3:
        out.append(torch.addcmul(3.0 * curve, x, curve * (1.0 - 2.0 * sig) - 2.0 * slope * slope))
    return out


def _random(sample, shape, generator, dtype, device) -> Tensor:
    """Draw on the generator's device (so a CPU generator can seed a CUDA model), then move."""
    where = generator.device if generator is not None else device
    return sample(shape, generator=generator, dtype=dtype, device=where).to(device)
