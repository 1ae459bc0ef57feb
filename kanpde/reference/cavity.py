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
Jacobian and a direct solve (spsolve), damped by halving the step while the residual grows.
It starts from rest on COARSEST cells or fewer, and on finer grids from the solution on
half as many cells a side, interpolated (grid sequencing: 3 steps instead of 5-6 from
rest). Continuity is imposed in every cell but one, whose equation follows from the
others (zero net flux through the walls) and is replaced by fixing p there.

Output: a GridSolution on the (n+1) x (n+1) nodes of the grid, components (u, v, p).
u and v at interior nodes are averages of the two adjacent face values; on the walls they
are the boundary values (the lid, including its two end points, moves with ``lid``).
p at the nodes is the average of the four adjacent cells, extended by linear
extrapolation across the walls; it is normalised so that p(0.5, 0) = 0, the middle of the
bottom wall, far from the singular corners. The centred divergence of the nodal velocity
is the average of the four surrounding cells' MAC divergences, i.e. zero up to rounding.
Nodes near the lid's ends can be left out (NaN) with ``corner_radius``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp
from scipy.interpolate import RegularGridInterpolator
from scipy.sparse.linalg import spsolve

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = 2
MIN_CELLS = 4
COARSEST = 32  # grid sequencing starts from rest on at most this many cells a side


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


def _newton(system: _System, z: np.ndarray, tolerance: float, max_iterations: int) -> tuple[np.ndarray, int]:
    """Damped Newton from z: (z, iterations).

    Stops once the step, or the remaining error estimated from the last two full steps
    (quadratic convergence: s_{k+1} ~ C s_k^2 with C ~ s_k / s_{k-1}^2), is at most
    ``tolerance`` (velocities are O(lid): an absolute error).
    """
    residual, previous = system.residual(z), np.inf  # inf: no full step before
    for iteration in range(1, max_iterations + 1):
        step = spsolve(system.jacobian(z), -residual)
        if not np.isfinite(step).all():
            raise KanpdeError("the cavity's Newton step is not finite (singular Jacobian); "
                              "try more cells")
        scale, norm = 1.0, np.linalg.norm(residual)
        while True:  # halve the step while the residual grows (far from the solution)
            trial = system.residual(z + scale * step)
            if np.linalg.norm(trial) < norm or scale < 1e-3:
                break
            scale /= 2
        z, residual = z + scale * step, trial
        size = scale * np.max(np.abs(step))
        log.debug("cavity Newton %d on %d^2 cells: step %.2e (damping %g), residual %.2e", iteration,
                  system.n, size, scale, np.linalg.norm(residual))
        if size <= tolerance or (previous < np.inf and size**3 <= tolerance * previous**2):
            return z, iteration
        previous = size if scale == 1.0 else np.inf
    raise KanpdeError(f"the cavity's Newton iteration did not converge in {max_iterations} "
                      "iterations; lower re, use more cells, or raise max_iterations")


def _solve(n: int, re: float, lid: float, tolerance: float,
           max_iterations: int) -> tuple[_System, np.ndarray, str]:
    """Newton on n^2 cells, started from the solution on (n/2)^2 cells (grid sequencing,
    down to COARSEST) or from rest: (system, z, steps taken on each grid, for reports)."""
    system = _System(n, re, lid)
    if n % 4 == 0 and n // 2 >= COARSEST:
        coarse, z_coarse, steps = _solve(n // 2, re, lid, tolerance, max_iterations)
        z, taken = _newton(system, _prolong(coarse, z_coarse, system), tolerance, max_iterations)
        return system, z, f"{steps}+{taken}"
    z, taken = _newton(system, np.zeros(sum(system.sizes)), tolerance, max_iterations)
    return system, z, str(taken)


def _mac_points(n: int) -> list[np.ndarray]:
    """The points of u (m n, 2), v (n m, 2) and p (n n, 2) on n^2 cells, in unknown order."""
    nodes, cells = np.arange(1, n) / n, (np.arange(n) + 0.5) / n
    grids = [(nodes, cells), (cells, nodes), (cells, cells)]
    return [np.stack([g.reshape(-1) for g in np.meshgrid(*axes, indexing="ij")], axis=1) for axes in grids]


def _prolong(coarse: _System, z: np.ndarray, fine: _System) -> np.ndarray:
    """The coarse solution interpolated (bilinearly, through its nodal values) to the fine
    grid's unknowns: (fine unknowns,). Accurate to O(h^2), so Newton needs few steps."""
    nodal = _to_nodes(coarse, z)
    axis = np.linspace(0.0, 1.0, coarse.n + 1)
    return np.concatenate([RegularGridInterpolator((axis, axis), nodal[..., k])(points)
                           for k, points in enumerate(_mac_points(fine.n))])


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


def lid_driven_cavity(re: float = 100.0, n: int = 128, *, lid: float = 1.0, corner_radius: float = 0.0,
                      tolerance: float = 1e-10, max_iterations: int = 30) -> GridSolution:
    """The steady lid-driven cavity flow at Reynolds number ``re`` on ``n`` x ``n`` cells.

    n: even, at least 4 (the output grid has the nodes x, y = k / n, k = 0..n, so x = 0.5
    is a node); for n divisible by 4 and n / 2 >= COARSEST, Newton starts from the
    solution on n / 2 cells. corner_radius: nodes closer than this to one of the two ends of the lid
    are NaN, i.e. left out of comparisons (there p is unbounded, p ~ 1/r, so no grid
    resolves it and its L2 norm diverges). Returns a GridSolution on axes (x, y) with
    values (n+1, n+1, 3): the components u, v, p, with p(0.5, 0) = 0. Raises KanpdeError
    on bad arguments or when Newton does not converge.
    """
    if not isinstance(n, (int, np.integer)) or n < MIN_CELLS or n % 2:
        raise KanpdeError(f"the cavity needs an even number of cells n >= {MIN_CELLS}; got {n!r}")
    if not (np.isfinite(re) and re > 0):
        raise KanpdeError(f"the Reynolds number re must be finite and > 0; got {re!r}")
    if not (np.isfinite(lid) and 0 <= corner_radius < 0.5):
        raise KanpdeError(f"need a finite lid velocity and 0 <= corner_radius < 0.5; got {lid!r}, "
                          f"{corner_radius!r}")
    start = time.perf_counter()
    system, z, steps = _solve(int(n), float(re), float(lid), tolerance, max_iterations)
    values = _to_nodes(system, z)
    axis = np.linspace(0.0, 1.0, n + 1)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    values[np.minimum(np.hypot(x, y - 1), np.hypot(x - 1, y - 1)) < corner_radius] = np.nan
    log.debug("cavity re=%g on %d^2 cells: Newton steps %s, %.1f s", re, n, steps,
              time.perf_counter() - start)
    excluded = f", nodes within {corner_radius:g} of the lid's ends left out" if corner_radius > 0 else ""
    return GridSolution((axis, axis), values,
                        f"lid-driven cavity re={re:g}, MAC finite differences, order 2, {n}x{n} cells, "
                        f"Newton with grid sequencing ({steps} steps) and sparse LU; nodal (u, v, p), "
                        f"p(0.5, 0) = 0{excluded}")
