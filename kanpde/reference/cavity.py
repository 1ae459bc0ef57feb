"""Steady incompressible Navier–Stokes in the lid-driven cavity, by finite differences.

Solves, on [0, 1]^2 with nu = 1 / re,

    u u_x + v u_y + p_x - nu Δu = 0,   u v_x + v v_y + p_y - nu Δv = 0,   u_x + v_y = 0,

with u = lid (default 1), v = 0 on the lid y = 1 and u = v = 0 on the other walls.

Discretisation: the staggered (MAC) grid of n x n cells, h = 1 / n: u on the vertical cell
faces (x_i, y_{j+1/2}), v on the horizontal faces (x_{i+1/2}, y_j), p at the cell centres.
Central differences, advective form; a velocity needed at another variable's point is the
average of its two or four neighbours; the wall-tangential velocity enters through a
mirrored ghost value (u_ghost = 2 u_wall - u_inside). The local error is O(h^2) except in
the rows next to the walls, where the ghost makes it O(1) in Δ; that leaves a global
O(h^2) error (the same supraconvergence as for Poisson's equation), hence ``ORDER = 2``.
The ends of the lid are singular (u jumps from the lid's value to 0; vorticity and
pressure grow like 1/r): next to them the error falls only like h^1.2, and p there grows
without bound as h -> 0. Away from them (e.g. on the centrelines) the order is 2.

The nonlinear system (3 n^2 - 2 n unknowns) is solved by Newton's method with a sparse
Jacobian and its LU factors (SuperLU), damped by halving the step while the residual
grows. It starts from rest on COARSEST cells or fewer, and on finer grids from the solution
on half as many cells a side, interpolated (grid sequencing); from there the first LU
factors serve every step (chord steps, contraction about 0.04), so a fine grid costs one
factorisation: 128^2 cells 3 s, 256^2 15 s, 384^2 (from 48^2) 77 s and 2.1 GB; 512^2 needs
4.2 GB and about 4 min a factorisation (one core). Continuity is imposed in every cell but
one, whose equation follows from the others (zero net flux through the walls) and is
replaced by fixing p there.

Richardson's extrapolation (``levels``): the solutions on n and 2n cells (4n, ...) at the
n-grid's nodes, which are nodes of the finer grids, combined to cancel the h^2 term. What
is left falls like h^3 (EXPANSION), measured at Re = 100 in relative L2 over the nodes
farther than 0.05 from the lid's ends: R(h) - R(h/2) shrinks by 2^2.8 to 2^4.0, mostly about
2^3, per halving for u and v on 16..512 cells (2^3.0 on the centrelines from 64 cells on,
smaller grids being pre-asymptotic there). R(128, 256) differs from R(256, 512) by 4.1e-5 (u), 5.1e-5 (v),
1.8e-4 (p) at the 129^2 nodes (the plain 256^2 solution by 5e-4, 7.5e-4, 1.3e-3);
R(192, 384) from R(256, 512) by 6.6e-6, 8.4e-6, 2.5e-5 at the nodes k / 64, so with the h^3
law the error of R(192, 384) is about 1.2e-5 (u), 1.5e-5 (v), 4e-5 (p), and 4e-6, 6e-6
farther than 0.1 from the lid's ends. The difference is concentrated between 0.05 and 0.1
from the ends, where the expansion in h / r converges slowly; a third level (h^3 also
cancelled) gains away from them (3x at r > 0.2), not there.
Against the three-level R(128, 256, 512) at the nodes k / 32 farther than 0.05 from the
ends: R(192, 384) 7.9e-6 (u), 1.2e-5 (v), 7.9e-5 (p); R(224, 448) 5.0e-6, 7.5e-6, 5.3e-5
(2 min, 2.9 GB: the cavity problem's reference); R(256, 512) 3.6e-6, 5.0e-6, 4.0e-5.

Output: a GridSolution on the (n+1) x (n+1) nodes of the grid, components (u, v, p).
u and v at interior nodes are averages of the two adjacent face values; on the walls they
are the boundary values (the lid, including its two end points, moves with ``lid``).
p at the nodes is the average of the four adjacent cells, extended by linear
extrapolation across the walls; it is normalised so that p(0.5, 0) = 0, the middle of the
bottom wall, far from the singular corners. The centred divergence of the nodal velocity
is the average of the four surrounding cells' MAC divergences, i.e. zero up to rounding,
for a single grid's solution, not for an extrapolated one.
Nodes near the lid's ends can be left out (NaN) with ``corner_radius``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp
from scipy.interpolate import RegularGridInterpolator
from scipy.sparse.linalg import splu

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = 2
MIN_CELLS = 4
COARSEST = 32  # grid sequencing starts from rest on at most this many cells a side
EXPANSION = (2, 3)  # the powers of h in the error, as measured (module docstring), eliminated in turn
REUSE_CONTRACTION = 0.1  # keep the LU factors while each step is at most this fraction of the last


def _operators_1d(n: int) -> dict[str, sp.csr_matrix]:
    """1-D difference matrices on n cells of width h = 1 / n.

    "nodes": the n - 1 interior nodes (values zero on the two walls); "cells": the n cell
    centres (wall value reached by a mirrored ghost; the matrices here assume it is zero,
    a non-zero wall value adds a constant, see :func:`_lid_terms`).
    """
    h, m = 1.0 / n, n - 1
    d_nodes = sp.diags([-1.0, 1.0], [-1, 1], shape=(m, m)) / (2 * h)  # central, (m, m)
    l_nodes = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(m, m)) / h**2
    first, second = np.zeros(n), np.full(n, -2.0)
    first[[0, -1]], second[[0, -1]] = (1.0, -1.0), -3.0  # the ghost is minus the first value
    d_cells = sp.diags([-np.ones(n - 1), first, np.ones(n - 1)], [-1, 0, 1]) / (2 * h)  # (n, n)
    l_cells = sp.diags([np.ones(n - 1), second, np.ones(n - 1)], [-1, 0, 1]) / h**2
    grad = sp.diags([-1.0, 1.0], [0, 1], shape=(m, n)) / h  # cells -> interior nodes, (m, n)
    mean_to_nodes = sp.diags([0.5, 0.5], [0, 1], shape=(m, n))  # (m, n)
    return {"d_nodes": d_nodes, "l_nodes": l_nodes, "d_cells": d_cells, "l_cells": l_cells,
            "grad": grad, "div": -grad.T, "to_nodes": mean_to_nodes, "to_cells": mean_to_nodes.T}


def _lid_terms(n: int, lid: float) -> tuple[np.ndarray, np.ndarray]:
    """Constants that the lid's ghost adds to u_y and Δu on the u grid: each (m * n,)."""
    h = 1.0 / n
    last = np.zeros(n)
    last[-1] = 1.0  # the cell row under the lid
    column = np.tile(last, n - 1)
    return column * lid / h, column * 2 * lid / h**2


class _System:
    """The discrete equations R(z) = 0 and their Jacobian; z = (u (m n), v (n m), p (n n)),
    each grid flattened in C order with x as the first index, m = n - 1."""

    def __init__(self, n: int, re: float, lid: float):
        o, m = _operators_1d(n), n - 1
        i_n, i_m, kron = sp.identity(n), sp.identity(m), sp.kron
        self.n, self.nu, self.lid, self.sizes = n, 1.0 / re, lid, (m * n, n * m, n * n)
        self.uy_lid, self.lap_lid = _lid_terms(n, lid)
        # u grid (x: nodes, y: cells); v grid (x: cells, y: nodes)
        self.ux, self.uy = kron(o["d_nodes"], i_n).tocsr(), kron(i_m, o["d_cells"]).tocsr()
        self.lap_u = (kron(o["l_nodes"], i_n) + kron(i_m, o["l_cells"])).tocsr()
        self.vx, self.vy = kron(o["d_cells"], i_m).tocsr(), kron(i_n, o["d_nodes"]).tocsr()
        self.lap_v = (kron(o["l_cells"], i_m) + kron(i_n, o["l_nodes"])).tocsr()
        self.v_at_u = kron(o["to_nodes"], o["to_cells"]).tocsr()  # (m n, n m)
        self.u_at_v = kron(o["to_cells"], o["to_nodes"]).tocsr()  # (n m, m n)
        self.px, self.py = kron(o["grad"], i_n).tocsr(), kron(i_n, o["grad"]).tocsr()
        div = sp.hstack([kron(o["div"], i_n), kron(i_n, o["div"])]).tolil()  # (n n, m n + n m)
        self.pin = (n // 2) * n  # the cell at the middle of the bottom wall
        div[self.pin] = 0.0
        self.div = div.tocsr()

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b, _ = self.sizes
        return z[:a], z[a:a + b], z[a + b:]

    def residual(self, z: np.ndarray) -> np.ndarray:
        u, v, p = self.split(z)
        uy = self.uy @ u + self.uy_lid
        momentum_x = u * (self.ux @ u) + (self.v_at_u @ v) * uy + self.px @ p \
            - self.nu * (self.lap_u @ u + self.lap_lid)
        momentum_y = (self.u_at_v @ u) * (self.vx @ v) + v * (self.vy @ v) + self.py @ p \
            - self.nu * (self.lap_v @ v)
        continuity = self.div @ np.concatenate([u, v])
        continuity[self.pin] = p[self.pin]
        return np.concatenate([momentum_x, momentum_y, continuity])

    def jacobian(self, z: np.ndarray) -> sp.csc_matrix:
        u, v, _ = self.split(z)
        diag = sp.diags
        v_at_u, u_at_v = self.v_at_u @ v, self.u_at_v @ u
        uu = diag(self.ux @ u) + diag(u) @ self.ux + diag(v_at_u) @ self.uy - self.nu * self.lap_u
        uv = diag(self.uy @ u + self.uy_lid) @ self.v_at_u
        vu = diag(self.vx @ v) @ self.u_at_v
        vv = diag(u_at_v) @ self.vx + diag(self.vy @ v) + diag(v) @ self.vy - self.nu * self.lap_v
        n2 = self.sizes[2]
        pin = sp.csr_matrix(([1.0], ([self.pin], [self.pin])), shape=(n2, n2))
        return sp.bmat([[uu, uv, self.px], [vu, vv, self.py],
                        [self.div[:, :self.sizes[0]], self.div[:, self.sizes[0]:], pin]], format="csc")


def _factor(jacobian: sp.csc_matrix):
    """Sparse LU factors of the Jacobian (SuperLU, COLAMD column order)."""
    try:
        return splu(jacobian)
    except RuntimeError as error:  # SuperLU: "Factor is exactly singular"
        raise KanpdeError(f"the cavity's Jacobian is singular ({error}); try more cells") from None


def _newton(system: _System, z: np.ndarray, tolerance: float, max_iterations: int) -> tuple[np.ndarray, str]:
    """Damped Newton from z, reusing the Jacobian's LU factors while they still contract
    well: (z, "steps/factorisations").

    A step with stale factors (a chord step) costs a back substitution instead of a
    factorisation (at 256^2 cells a fraction of a second instead of 10 s); the factors are renewed once a
    step shrinks by less than REUSE_CONTRACTION, or at once when a chord step would raise
    the residual. Stops once the step, or the remaining error estimated from the last two
    full steps (at least linear convergence with ratio q = s_k / s_{k-1}: s_k q / (1 - q)),
    is at most ``tolerance`` (velocities are O(lid): an absolute error).
    """
    residual, previous, factors, factorisations = system.residual(z), np.inf, None, 0
    for iteration in range(1, max_iterations + 1):
        fresh = factors is None
        if factors is None:
            factors, factorisations = _factor(system.jacobian(z)), factorisations + 1
        step = factors.solve(-residual)
        scale, norm = 1.0, np.linalg.norm(residual)
        trial = system.residual(z + step)
        if not fresh and np.linalg.norm(trial) >= norm:  # stale factors: renew them, not the step size
            factors, previous = None, np.inf
            continue
        while np.linalg.norm(trial) >= norm and scale >= 1e-3:  # far from the solution: halve the step
            scale /= 2
            trial = system.residual(z + scale * step)
        z, residual = z + scale * step, trial
        size = scale * np.max(np.abs(step))
        log.debug("cavity Newton %d on %d^2 cells (%s factors): step %.2e (damping %g), residual %.2e",
                  iteration, system.n, "new" if fresh else "reused", size, scale, np.linalg.norm(residual))
        if size <= tolerance or (size < previous < np.inf and size**2 <= tolerance * (previous - size)):
            return z, f"{iteration}/{factorisations}"
        if scale < 1.0 or size > REUSE_CONTRACTION * previous:
            factors = None
        previous = size if scale == 1.0 else np.inf
    raise KanpdeError(f"the cavity's Newton iteration did not converge in {max_iterations} "
                      "iterations; lower re, use more cells, or raise max_iterations")


def _solve(n: int, re: float, lid: float, tolerance: float,
           max_iterations: int) -> tuple[dict[int, np.ndarray], str]:
    """Newton on n^2 cells, started from the solution on (n/2)^2 cells (grid sequencing,
    down to COARSEST) or from rest: (cells -> nodal (u, v, p) of every grid on the way,
    steps/factorisations taken on each grid, for reports)."""
    system = _System(n, re, lid)
    if n % 4 == 0 and n // 2 >= COARSEST:
        nodal, steps = _solve(n // 2, re, lid, tolerance, max_iterations)
        z, taken = _newton(system, _prolong(nodal[n // 2], n), tolerance, max_iterations)
        return {**nodal, n: _to_nodes(system, z)}, f"{steps}+{taken}"
    z, taken = _newton(system, np.zeros(sum(system.sizes)), tolerance, max_iterations)
    return {n: _to_nodes(system, z)}, taken


def _mac_points(n: int) -> list[np.ndarray]:
    """The points of u (m n, 2), v (n m, 2) and p (n n, 2) on n^2 cells, in unknown order."""
    nodes, cells = np.arange(1, n) / n, (np.arange(n) + 0.5) / n
    grids = [(nodes, cells), (cells, nodes), (cells, cells)]
    return [np.stack([g.reshape(-1) for g in np.meshgrid(*axes, indexing="ij")], axis=1) for axes in grids]


def _prolong(nodal: np.ndarray, n: int) -> np.ndarray:
    """A coarse solution, given by its nodal values (c+1, c+1, 3), interpolated bilinearly
    to the unknowns on n^2 cells: (3 n^2 - 2 n,). Accurate to O(h^2), so Newton needs few steps."""
    axis = np.linspace(0.0, 1.0, len(nodal))
    return np.concatenate([RegularGridInterpolator((axis, axis), nodal[..., k])(points)
                           for k, points in enumerate(_mac_points(n))])


def _to_nodes(system: _System, z: np.ndarray) -> np.ndarray:
    """(u, v, p) at the (n+1) x (n+1) nodes: (n+1, n+1, 3), p(0.5, 0) = 0."""
    n, m = system.n, system.n - 1
    u, v, p = system.split(z)
    out = np.zeros((n + 1, n + 1, 3))
    u, v = u.reshape(m, n), v.reshape(n, m)
    out[1:-1, 1:-1, 0] = (u[:, :-1] + u[:, 1:]) / 2
    out[:, -1, 0] = system.lid
    out[1:-1, 1:-1, 1] = (v[:-1, :] + v[1:, :]) / 2
    cells = p.reshape(n, n)
    cells = np.concatenate([2 * cells[:1] - cells[1:2], cells, 2 * cells[-1:] - cells[-2:-1]], axis=0)
    cells = np.concatenate([2 * cells[:, :1] - cells[:, 1:2], cells,
                            2 * cells[:, -1:] - cells[:, -2:-1]], axis=1)  # ghosts: (n+2, n+2)
    nodal = (cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]) / 4
    out[..., 2] = nodal - nodal[n // 2, 0]
    return out


def _extrapolate(nodal: list[np.ndarray]) -> np.ndarray:
    """Richardson's extrapolation of nodal values on n, 2n, 4n, ... cells (coarsest first,
    each (k n + 1, k n + 1, 3)) at the n-grid's nodes, which are nodes of every grid:
    (n+1, n+1, 3). Eliminates the error terms of EXPANSION in turn."""
    table = [values[::2**k, ::2**k] for k, values in enumerate(nodal)]  # each (n+1, n+1, 3)
    for order in EXPANSION[:len(nodal) - 1]:
        factor = 2.0**order - 1
        table = [fine + (fine - coarse) / factor for coarse, fine in zip(table, table[1:])]
    return table[0]


def _nodal_levels(n: int, levels: int, re: float, lid: float, tolerance: float,
                  max_iterations: int) -> tuple[list[np.ndarray], str]:
    """Nodal (u, v, p) on n, 2n, ..., 2^(levels-1) n cells, coarsest first, and the Newton
    steps taken. Grid sequencing towards the finest grid passes through the coarser ones
    when n is divisible by 4 and n / 2 >= COARSEST; any it misses is solved on its own."""
    nodal: dict[int, np.ndarray] = {}
    reports = []
    for cells in reversed([n * 2**k for k in range(levels)]):
        if cells not in nodal:
            solved, steps = _solve(cells, re, lid, tolerance, max_iterations)
            nodal.update(solved)
            reports.append(steps)
    return [nodal[n * 2**k] for k in range(levels)], ", ".join(reversed(reports))


def lid_driven_cavity(re: float = 100.0, n: int = 128, *, levels: int = 1, lid: float = 1.0,
                      corner_radius: float = 0.0, tolerance: float = 1e-10, max_iterations: int = 30) -> GridSolution:
    """The steady lid-driven cavity flow at Reynolds number ``re`` on ``n`` x ``n`` cells.

    n: even, at least 4 (the output grid has the nodes x, y = k / n, k = 0..n, so x = 0.5
    is a node); for n divisible by 4 and n / 2 >= COARSEST, Newton starts from the
    solution on n / 2 cells. levels: 1, the solution on n^2 cells; L > 1, Richardson's
    extrapolation at the same nodes from the solutions on n, 2n, ..., 2^(L-1) n cells,
    eliminating the error terms h^2, h^3 (the first L - 1 of EXPANSION); the cost is
    that of the finest grid. corner_radius: nodes closer than this to one of the two ends of the lid
    are NaN, i.e. left out of comparisons (there p is unbounded, p ~ 1/r, so no grid
    resolves it and its L2 norm diverges). Returns a GridSolution on axes (x, y) with
    values (n+1, n+1, 3): the components u, v, p, with p(0.5, 0) = 0. Raises KanpdeError
    on bad arguments or when Newton does not converge.
    """
    _check_arguments(re, n, levels, lid, corner_radius)
    start = time.perf_counter()
    nodal, steps = _nodal_levels(int(n), int(levels), float(re), float(lid), tolerance, max_iterations)
    values = _extrapolate(nodal)
    axis = np.linspace(0.0, 1.0, n + 1)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    values[np.minimum(np.hypot(x, y - 1), np.hypot(x - 1, y - 1)) < corner_radius] = np.nan
    log.debug("cavity re=%g on %d^2 cells, %d levels: Newton steps/factorisations %s, %.1f s", re, n, levels,
              steps, time.perf_counter() - start)
    excluded = f", nodes within {corner_radius:g} of the lid's ends left out" if corner_radius > 0 else ""
    grids = f"{n}x{n} cells" if levels == 1 else \
        f"Richardson-extrapolated from {', '.join(str(n * 2**k) for k in range(levels))} cells a side " \
        f"(h^{', h^'.join(map(str, EXPANSION[:levels - 1]))} eliminated)"
    return GridSolution((axis, axis), values,
                        f"lid-driven cavity re={re:g}, MAC finite differences, order 2, {grids}, "
                        f"Newton with grid sequencing (steps/LU factorisations {steps}); "
                        f"nodal (u, v, p), p(0.5, 0) = 0{excluded}")


def _check_arguments(re: float, n: int, levels: int, lid: float, corner_radius: float) -> None:
    if not isinstance(n, (int, np.integer)) or n < MIN_CELLS or n % 2:
        raise KanpdeError(f"the cavity needs an even number of cells n >= {MIN_CELLS}; got {n!r}")
    if not isinstance(levels, (int, np.integer)) or not 1 <= levels <= len(EXPANSION) + 1:
        raise KanpdeError(f"levels must be an integer from 1 to {len(EXPANSION) + 1} (grids n, 2n, ... "
                          f"for Richardson's extrapolation); got {levels!r}")
    if not (np.isfinite(re) and re > 0):
        raise KanpdeError(f"the Reynolds number re must be finite and > 0; got {re!r}")
    if not (np.isfinite(lid) and 0 <= corner_radius < 0.5):
        raise KanpdeError(f"need a finite lid velocity and 0 <= corner_radius < 0.5; got {lid!r}, "
                          f"{corner_radius!r}")
