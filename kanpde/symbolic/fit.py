"""Fit sampled KAN edges to ``y = c f(a x + b) + d``, one library function ``f`` at a time,
and choose one function per edge.

Per edge the inputs are normalised, ``z = (x - mid) / half`` in [-1, 1], and the model is
``y ~ c f(alpha z + beta) + d``; ``(a, b)`` are recovered at the end. For given
``(alpha, beta)`` the best ``(c, d)`` is linear least squares of ``y`` on ``[g, 1]``
(``g = f(alpha z + beta)``), so only ``(alpha, beta)`` is searched (variable projection):
a coarse grid over ``(alpha, beta)`` on a subsample, then Levenberg–Marquardt from the best
grid points of a few distinct regions, with Kaufman's Jacobian ``J = -c P (dg/dtheta)``
(``P`` projects out ``span{g, 1}``). Steps that raise the error or give non-finite values
are rejected; runs that stop improving retire. Finally (a, b, c, d) are put in a canonical
form using the function's symmetries (kanpde.symbolic.canonical), so that equal curves give
equal parameters. Everything is batched over edges (in chunks) and grid points or starts;
the only Python loops are over library functions, edge chunks and iterations.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from kanpde.errors import KanpdeError
from kanpde.symbolic.canonical import canonical, symmetries
from kanpde.symbolic.library import LibraryFunction

log = logging.getLogger(__name__)

_GRID_RANGE = 10.0  # beta of the coarse grid lies in [-10, 10], and so does alpha in steps of h
_HIGH_RANGE = 30.0  # for periodic f, |alpha| goes on to 30 in unit steps: ~9 periods per edge range
_STARTS = 6  # LM runs from the best few grid points of each edge
_COARSE_SAMPLES = 24  # the grid search sees about this many samples per edge,
_PERIODIC_SAMPLES = 48  # or this many for a periodic f (5 per period at |alpha| = 30)
_CHUNK = 1 << 22  # elements in one (edges x grid x samples) block
_DIGITS_CAP = 14.0  # -log10(1 - r2) above this is float64 noise: all exact fits tie
_TIE = 0.5  # scores this close to the best count as ties, won by the earlier function
_FLAT = 1e-24  # g whose relative variance is below this counts as constant (c = 0)
_CONSTANT = 1e-20  # SST below this * S * mean(y)^2: the edge is constant


@dataclass(frozen=True)
class EdgeFit:
    """The chosen fit of one edge: ``y ~ c * function(a * x + b) + d`` with its ``r2``."""

    function: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    complexity: int
    accepted: bool  # r2 >= threshold; when False the caller keeps the edge numeric


def _project(g: Tensor, yc: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Eliminate (c, d): least squares of centred y on [g, 1].

    g, yc: (..., S) with yc centred  ->  c: (...), g_mean: (...), gc: (..., S) centred g,
    ssr: (...) (inf where g or the fit is not finite), r: (..., S) residual.
    """
    g_mean = g.mean(-1)
    gc = g - g_mean[..., None]
    gg = (gc * gc).sum(-1)
    varies = gg > _FLAT * (g.shape[-1] * g_mean**2 + gg)  # else g is constant: c = 0
    c = torch.where(varies, (gc * yc).sum(-1) / gg, torch.zeros_like(gg))
    r = yc - c[..., None] * gc
    ssr = (r * r).sum(-1)
    ok = torch.isfinite(g).all(-1) & torch.isfinite(ssr) & torch.isfinite(c)
    return c, g_mean, gc, torch.where(ok, ssr, torch.full_like(ssr, math.inf)), r


def _grid(coarse: int, like: Tensor, periodic: bool = False) -> tuple[Tensor, Tensor]:
    """:func:`_grid_cpu` in like's dtype, on like's device."""
    grid, members = _grid_cpu(coarse, periodic)
    return grid.to(dtype=like.dtype, device=like.device), members.to(like.device)


@functools.lru_cache(maxsize=4)
def _grid_cpu(coarse: int, periodic: bool = False) -> tuple[Tensor, Tensor]:
    """Coarse (alpha, beta) grid in normalised coordinates, with a region id per point.

    ``|alpha|``: 10 geometric values on [0.05, 2.5], then steps of ``h = 20 / (coarse - 1)``
    up to 10, and for a ``periodic`` f unit steps on up to 30 (oscillations: sin(4 pi y)
    over [-1, 1] has alpha 4 pi; beyond 10 no other function makes a new shape), both
    signs. ``beta``: on [-B, B], ``B = min(10, 3 |alpha| + 2)``, with step
    ``min(h, 0.6 h |alpha|)``: for a small ``|alpha|`` the window ``alpha z + beta`` is
    narrow and must be placed finely. Regions: four bands of |alpha| (0.5, 2.5, 10) x four
    bands of the centre ``-beta / alpha`` (-1, 0, 1), so that the starts are distinct shapes
    (mirror images (-alpha, -beta) of an even or odd f share a region).
    -> grid: (G, 2), members: (R, M) grid indices per region, padded with G.
    """
    h = 2 * _GRID_RANGE / (coarse - 1)
    mags = [0.05 * 50 ** (i / 9) for i in range(10)]
    mags += [2.5 + h * i for i in range(1, int((_GRID_RANGE - 2.5) / h + 1e-9) + 1)]
    if periodic:
        mags += [_GRID_RANGE + i for i in range(1, int(_HIGH_RANGE - _GRID_RANGE) + 1)]
    points, region = [], []
    for sign in (-1.0, 1.0):
        for mag in mags:
            top, step = min(_GRID_RANGE, 3 * mag + 2), min(h, 0.6 * h * mag)
            n = int(top / step + 1e-9)
            for j in range(-n, n + 1):
                beta = j * step
                points.append((sign * mag, beta))
                centre = -beta / (sign * mag)  # where alpha z + beta = 0
                band = (mag >= 0.5) + (mag >= 2.5) + (mag > _GRID_RANGE)
                region.append(band * 4 + (centre >= -1) + (centre >= 0) + (centre > 1))
    members = [[i for i, r in enumerate(region) if r == k] for k in sorted(set(region))]
    width = max(len(m) for m in members)
    padded = [m + [len(points)] * (width - len(m)) for m in members]
    return torch.tensor(points, dtype=torch.float64), torch.tensor(padded)


def _coarse_starts(
    f: LibraryFunction, grid: Tensor, members: Tensor, z: Tensor, yc: Tensor, k: int
) -> Tensor:
    """Starts for each edge: the best grid point of each region, the k best of those.

    grid: (G, 2), members: (R, M), z, yc: (E, s)  ->  (E, k, 2)
    """
    g = f(grid[None, :, 0, None] * z[:, None, :] + grid[None, :, 1, None])  # (E, G, s)
    g_mean = g.mean(-1, keepdim=True)
    g = g - g_mean
    gg, gy = (g * g).sum(-1), (g * yc[:, None, :]).sum(-1)  # (E, G)
    varies = gg > _FLAT * (g.shape[-1] * g_mean.squeeze(-1) ** 2 + gg)  # as in _project
    explained = torch.where(varies, gy / gg.sqrt(), torch.zeros_like(gg)) ** 2
    ssr = (yc * yc).sum(-1, keepdim=True) - explained  # enough precision to rank starts
    ssr = torch.where(torch.isfinite(gg) & torch.isfinite(explained), ssr, math.inf)
    ssr = torch.cat([ssr, torch.full_like(ssr[:, :1], math.inf)], dim=1)  # padding -> inf
    region_best, arg = ssr[:, members].min(-1)  # (E, R)
    pick = torch.topk(region_best, k, dim=1, largest=False).indices  # (E, k)
    index = members[pick, arg.gather(1, pick)]  # (E, k) grid indices
    return grid[index.clamp_max(grid.shape[0] - 1)]


def _levenberg_marquardt(
    f: LibraryFunction, theta: Tensor, z: Tensor, yc: Tensor, sst: Tensor, iterations: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Minimise the projected error over theta = (alpha, beta).

    theta: (N, 2), z, yc: (N, S), sst: (N,)  ->  theta, c, g_mean, ssr: (N, 2), (N,), (N,), (N,)
    """

    def evaluate(th: Tensor) -> list[Tensor]:  # on the current z, yc (runs still going)
        g, dg = f.derivatives(th[:, :1] * z + th[:, 1:], 1)  # (N, S) each
        c, g_mean, gc, ssr, r = _project(g, yc)
        return [th, c, g_mean, ssr, gc, r, dg]

    state = evaluate(theta)
    result = [t.clone() for t in state[:4]]  # theta, c, g_mean, ssr of every run
    rows = torch.arange(theta.shape[0], device=theta.device)  # runs still iterating
    lam = torch.full_like(sst, 1e-3)  # (N,)
    eye = torch.eye(2, dtype=z.dtype, device=z.device)
    checkpoint = state[3]
    step = -1
    for step in range(iterations):
        th, c, _, ssr, gc, r, dg = state
        jac = torch.stack([dg * z, dg], dim=1)  # (N, 2, S): dg/dalpha, dg/dbeta
        jac = jac - jac.mean(-1, keepdim=True)
        gg = (gc * gc).sum(-1)  # (N,)
        along_g = (jac * gc[:, None]).sum(-1) / gg.clamp_min(1e-300)[:, None]  # (N, 2)
        jac = -c[:, None, None] * (jac - along_g[..., None] * gc[:, None])  # Kaufman
        jtj = jac @ jac.transpose(1, 2)  # (N, 2, 2)
        jtr = (jac * r[:, None]).sum(-1)  # (N, 2)
        diag = torch.diagonal(jtj, dim1=1, dim2=2)  # (N, 2)
        damp = diag + 1e-12 * diag.sum(-1, keepdim=True) + 1e-300
        a = jtj + lam[:, None, None] * damp[:, :, None] * eye
        det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        delta = -torch.stack(  # solve the 2 x 2 system a @ delta = -jtr
            [a[:, 1, 1] * jtr[:, 0] - a[:, 0, 1] * jtr[:, 1],
             a[:, 0, 0] * jtr[:, 1] - a[:, 1, 0] * jtr[:, 0]], dim=-1
        ) / det[:, None]
        trial = evaluate(th + torch.where(torch.isfinite(delta), delta, 0))
        accept = trial[3] < ssr  # inf and NaN never pass
        state = [torch.where(accept.view(-1, *[1] * (t.dim() - 1)), t, old)
                 for t, old in zip(trial, state)]
        lam = torch.where(accept, lam * 0.3, lam * 10).clamp(1e-12, 1e16)
        if step % 10 == 9 or step == iterations - 1:  # retire runs that stopped improving
            for out, t in zip(result, state[:4]):
                out[rows] = t
            going = checkpoint - state[3] > 1e-6 * state[3] + 1e-28 * sst  # (N,)
            if not bool(going.any()):
                break
            rows, z, yc, sst, lam = rows[going], z[going], yc[going], sst[going], lam[going]
            state = [t[going] for t in state]
            checkpoint = state[3]
    log.debug("fit_edges: %s converged after %d LM steps", f.name, step + 1)
    theta, c, g_mean, ssr = result
    return theta, c, g_mean, ssr


def _fit_function(
    f: LibraryFunction, z: Tensor, yc: Tensor, sst: Tensor, grids: dict[bool, tuple[Tensor, Tensor]],
    iterations: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Best (alpha, beta) fit of f to each edge. z, yc: (E, S), sst: (E,), grids: periodic
    f or not -> the coarse grid from _grid  ->  theta: (E, 2), c, g_mean, ssr: (E,) each."""
    edges, samples = z.shape
    periodic = symmetries(f.expr).period is not None
    step = -(-samples // (_PERIODIC_SAMPLES if periodic else _COARSE_SAMPLES))  # ceil
    z_sub, y_sub = z[:, ::step], yc[:, ::step]
    y_sub = y_sub - y_sub.mean(-1, keepdim=True)  # (E, s), centred on the subsample
    grid, members = grids[periodic]
    k = min(_STARTS, members.shape[0])
    chunk = max(1, min(_CHUNK // (grid.shape[0] * z_sub.shape[1]), _CHUNK // (16 * k * samples)))
    out = []
    for lo in range(0, edges, chunk):
        sl = slice(lo, lo + chunk)
        starts = _coarse_starts(f, grid, members, z_sub[sl], y_sub[sl], k)  # (e, k, 2)
        e = starts.shape[0]
        rep = lambda t: t.repeat_interleave(k, dim=0)  # noqa: E731 - (e, ...) -> (e * k, ...)
        theta, c, g_mean, ssr = _levenberg_marquardt(
            f, starts.reshape(e * k, 2), rep(z[sl]), rep(yc[sl]), rep(sst[sl]), iterations
        )
        best = ssr.view(e, k).argmin(1) + torch.arange(e, device=z.device) * k  # (e,)
        out.append((theta[best], c[best], g_mean[best], ssr[best]))
    theta, c, g_mean, ssr = (torch.cat(parts) for parts in zip(*out))
    return theta, c, g_mean, ssr


def fit_edges(
    x: Tensor,
    y: Tensor,
    functions: Sequence[LibraryFunction],
    *,
    r2_threshold: float = 0.999,
    complexity_weight: float = 1.0,
    coarse: int = 41,
    iterations: int = 200,
) -> list[EdgeFit]:
    """Fit every edge to every library function and choose one function per edge.

    x, y: (E, S), edge e sampled at S points over its own input range (any float dtype and
    device; the fit runs in float64 on that device). Returns E :class:`EdgeFit`.

    Selection rule: ``score = min(-log10(1 - r2), 14) - complexity_weight * complexity``
    among the functions with ``r2 >= r2_threshold``; every score within 0.5 of the best
    counts as a tie, won by the function earliest in ``functions``. The cap at 14 digits
    makes all exact fits equal in accuracy, so a degenerate imitation (exp with tiny alpha
    and huge c posing as x, (a x + b)^2 with huge b posing as x) loses to the simpler true
    function, and one of equal complexity (cos posing as x^2 or sin) loses on the order.
    ``r2 = 1 - SSR / SST``; a constant edge (SST below 1e-20 * S * mean(y)^2) has r2 = 1
    if SSR is that small too, else 0; non-finite fits have r2 = -inf. If no function
    reaches the threshold, the best-r2 fit is returned with ``accepted=False``.

    Parameters come back canonical (see :func:`kanpde.symbolic.canonical.canonical`):
    a >= 0 for even or odd f, |a| = 1 for powers, abs and log, b = 0 for exp and x, b in one
    period for sin, cos, tan.

    ``coarse``: grid values per axis of the (alpha, beta) search in normalised coordinates;
    ``iterations``: Levenberg–Marquardt steps at most (it stops earlier once converged).
    """
    if not (isinstance(x, Tensor) and isinstance(y, Tensor)) or x.dim() != 2 or x.shape != y.shape:
        raise KanpdeError(
            f"fit_edges needs x and y as tensors of one shape (E, S); got "
            f"{tuple(getattr(x, 'shape', ()))} and {tuple(getattr(y, 'shape', ()))}"
        )
    if x.shape[1] < 5:
        raise KanpdeError(f"fit_edges needs at least 5 samples per edge (about 50 or more is "
                          f"sensible); got S = {x.shape[1]}")
    if not functions or not all(isinstance(f, LibraryFunction) for f in functions):
        raise KanpdeError("fit_edges needs a non-empty sequence of LibraryFunction "
                          "(see kanpde.symbolic.library.function_library)")
    if coarse < 3 or iterations < 0 or complexity_weight < 0 or not 0 <= r2_threshold <= 1:
        raise KanpdeError(
            f"fit_edges options out of range: coarse={coarse} (>= 3), iterations={iterations} "
            f"(>= 0), complexity_weight={complexity_weight} (>= 0), r2_threshold={r2_threshold} "
            "(in [0, 1])"
        )
    x, y = x.to(torch.float64), y.to(torch.float64)
    if not bool(torch.isfinite(x).all() & torch.isfinite(y).all()):
        raise KanpdeError("fit_edges got non-finite samples (NaN or inf) in x or y; "
                          "sample the edges where the network is finite")
    if x.shape[0] == 0:
        return []
    samples = x.shape[1]
    lo, hi = x.amin(1), x.amax(1)  # (E,)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    half = torch.where(half > 0, half, torch.ones_like(half))
    z = (x - mid[:, None]) / half[:, None]  # (E, S) in [-1, 1]
    y_mean = y.mean(1)
    yc = y - y_mean[:, None]
    sst = (yc * yc).sum(1)  # (E,)
    grids = {periodic: _grid(coarse, x, periodic) for periodic in (False, True)}

    fits = [_fit_function(f, z, yc, sst, grids, iterations) for f in functions]
    theta = torch.stack([t[0] for t in fits])  # (F, E, 2)
    c, g_mean, ssr = (torch.stack([t[i] for t in fits]) for i in (1, 2, 3))  # (F, E) each

    level = _CONSTANT * samples * (y_mean**2 + torch.finfo(torch.float64).tiny)  # (E,)
    constant = sst <= level
    r2 = 1 - ssr / sst.clamp_min(torch.finfo(torch.float64).tiny)  # (F, E)
    r2 = torch.where(constant, (ssr <= level).to(r2.dtype), r2)
    r2 = torch.where(torch.isfinite(ssr), r2, torch.full_like(r2, -math.inf))

    complexity = torch.tensor([f.complexity for f in functions], dtype=x.dtype, device=x.device)
    digits = (-torch.log10((1 - r2).clamp_min(1e-300))).clamp_max(_DIGITS_CAP)
    score = digits - complexity_weight * complexity[:, None]  # (F, E)
    score = torch.where((r2 >= r2_threshold) & torch.isfinite(r2), score, -math.inf)
    best = score.amax(0)  # (E,)
    tied = score >= best - _TIE  # (F, E)
    first_tied = (tied.cumsum(0) == 0).sum(0)  # (E,) earliest function within the tie
    accepted = torch.isfinite(best)
    choice = torch.where(accepted, first_tied, r2.argmax(0))  # (E,)

    pick = lambda t: t.gather(0, choice[None]).squeeze(0)  # noqa: E731 - (F, E) -> (E,)
    alpha, beta, c_e = pick(theta[..., 0]), pick(theta[..., 1]), pick(c)
    params = [alpha / half, beta - alpha * mid / half, c_e, y_mean - c_e * pick(g_mean)]
    for j, f in enumerate(functions):  # canonical (a, b, c, d) for the edges that chose f
        chose = choice == j
        if bool(chose.any()):
            new = canonical(symmetries(f.expr), *params)
            params = [torch.where(chose, n, o) for n, o in zip(new, params)]
    table = torch.stack([*params, pick(r2)]).tolist()
    names = [functions[i].name for i in choice.tolist()]
    cost = [functions[i].complexity for i in choice.tolist()]
    log.debug("fit_edges: %d edges, %d functions, %d accepted", x.shape[0], len(functions),
              int(accepted.sum()))
    return [
        EdgeFit(n, a, b, cc, d, r, k, bool(acc))
        for n, a, b, cc, d, r, k, acc in zip(names, *table, cost, accepted.tolist())
    ]
