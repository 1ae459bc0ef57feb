"""Second-order finite differences for linear elliptic problems, solved with sparse LU.

Solves ``-Δu + c u = f`` in a domain D, ``u = g`` on its boundary, on the uniform grid of a
box in d dimensions (Poisson: c = 0; Helmholtz ``Δu + k^2 u = q``: c = -k^2, f = -q).
Along each axis, with distances ``a = θ⁻h`` and ``b = θ⁺h`` (0 < θ <= 1) from a grid point
to its neighbours or to the boundary,

    u_kk ≈ 2/(a + b) * ((u⁺ - u)/b - (u - u⁻)/a),

the standard 3-point difference when a = b = h, and the Shortley–Weller difference where
the boundary cuts a grid line between two grid points. Its local error near the boundary is
O(h), but the scheme is monotone and the error stays O(h^2) in the max norm
(Bramble & Hubbard 1962), which is what ``ORDER`` states.

D is the box, a grid indicator (grid-aligned boundaries), or a level set phi < 0 whose
crossings with the grid lines are found by bisection on phi.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = 2
SNAP = 1e-9  # grid points with |phi| <= SNAP * h lie on the boundary (rounding of grid-aligned edges)
BISECTIONS = 60  # halvings of [0, 1]: below the float64 resolution of a crossing's position

Field = float | np.ndarray | Callable[..., np.ndarray]


def _spacings(axes: Sequence[np.ndarray]) -> np.ndarray:
    """Grid steps h: (d,); every axis must be uniform, increasing and have >= 3 points."""
    if len(axes) == 0:
        raise ValueError("axes is empty; give one 1-D array of grid coordinates per dimension")
    steps = []
    for k, axis in enumerate(axes):
        if axis.ndim != 1 or len(axis) < 3:
            raise ValueError(f"axes[{k}] has shape {axis.shape}; each axis must be 1-D with "
                             "at least 3 points")
        diff = np.diff(axis)
        if not (diff > 0).all() or not np.allclose(diff, diff.mean(), rtol=1e-9, atol=0):
            raise ValueError(f"axes[{k}] is not uniform and increasing; finite differences "
                             "need np.linspace grids")
        steps.append(diff.mean())
    return np.array(steps)


def _evaluate(name: str, value: Field, coords: Sequence[np.ndarray]) -> np.ndarray:
    """A scalar, an array of the coordinates' shape, or a callable ``value(*coords)`` there."""
    shape = coords[0].shape
    out = np.asarray(value(*coords) if callable(value) else value, dtype=np.float64)
    if out.ndim > 0 and out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}; expected a scalar or shape {shape} "
                         "(the grid shape, or the shape of the coordinate arrays it is called with)")
    return np.broadcast_to(out, shape)


def _domain(mesh: list[np.ndarray], h: np.ndarray, phi, inside) -> tuple[np.ndarray, np.ndarray]:
    """(closed, unknown): boolean grid masks of the closed domain and of its interior points.

    A grid point is an unknown when it is off the box faces and (indicator) all its 3^d
    neighbours are in the domain, or (level set) phi < 0 there.
    """
    shape = mesh[0].shape
    off_faces = np.zeros(shape, dtype=bool)
    off_faces[(slice(1, -1),) * len(shape)] = True
    if phi is not None and inside is not None:
        raise ValueError("give the domain as phi (level set) or inside (grid indicator), not both")
    if phi is not None:
        level = _evaluate("phi", phi, mesh)
        tolerance = SNAP * h.min()
        return level <= tolerance, off_faces & (level < -tolerance)
    if inside is None:
        return np.ones(shape, dtype=bool), off_faces
    inside = np.asarray(inside)
    if inside.shape != shape or inside.dtype != bool:
        raise ValueError(f"inside has shape {inside.shape} and dtype {inside.dtype}; "
                         f"expected a boolean array of the grid shape {shape}")
    # interior: all 3^d neighbours inside, i.e. all 2^d grid cells around the point lie in the
    # domain (so a re-entrant corner is a boundary point); one erosion per axis builds the cube
    unknown = inside.copy()
    for k in range(len(shape)):
        unknown &= np.roll(unknown, 1, axis=k) & np.roll(unknown, -1, axis=k)  # wrap-around only hits faces
    return inside, unknown & off_faces


def _crossing(phi: Callable, start: list[np.ndarray], axis: int, step: float) -> np.ndarray:
    """Fractions θ in (0, 1] with phi(start + θ step e_axis) = 0, by bisection: (M,).

    phi < 0 at start and phi > 0 at start + step e_axis for every one of the M points.
    """
    low, high = np.zeros(len(start[0])), np.ones(len(start[0]))
    for _ in range(BISECTIONS):
        middle = 0.5 * (low + high)
        point = list(start)
        point[axis] = start[axis] + middle * step
        negative = _evaluate("phi", phi, point) < 0
        low, high = np.where(negative, middle, low), np.where(negative, high, middle)
    return 0.5 * (low + high)


def _neighbours(axes, h, index, number, closed, phi, g, axis, side):
    """The neighbour of every unknown along ``axis`` on ``side`` (+1 or -1).

    index: d arrays (M,) of grid indices of the unknowns; number: grid array of unknown
    numbers (-1 elsewhere). Returns (theta, column, boundary_value), each (M,): the distance
    in units of h, the neighbour's unknown number (-1 for a boundary point) and g there.
    """
    neighbour = list(index)
    neighbour[axis] = index[axis] + side
    neighbour = tuple(neighbour)
    column = number[neighbour]
    theta = np.ones(len(column))
    outside = ~closed[neighbour]  # only with a level set: the boundary lies between the two points
    start = [axes[j][index[j]] for j in range(len(axes))]
    if outside.any():
        theta[outside] = _crossing(phi, [s[outside] for s in start], axis, side * h[axis])
    on_boundary = column < 0
    point = [s[on_boundary] for s in start]
    point[axis] = point[axis] + side * theta[on_boundary] * h[axis]
    boundary_value = np.zeros(len(column))
    boundary_value[on_boundary] = _evaluate("g", g, point)
    return theta, column, boundary_value


def _assemble(axes, h, unknown, closed, phi, g, shift):
    """Matrix (M, M) of -Δ + c and the boundary contributions to the right-hand side (M,)."""
    index = np.nonzero(unknown)
    size = len(index[0])
    number = np.full(unknown.shape, -1)
    number[index] = np.arange(size)
    rows, cols, entries = [np.arange(size)], [np.arange(size)], [shift]
    rhs = np.zeros(size)
    for axis in range(len(axes)):
        minus = _neighbours(axes, h, index, number, closed, phi, g, axis, -1)
        plus = _neighbours(axes, h, index, number, closed, phi, g, axis, +1)
        before, after = minus[0] * h[axis], plus[0] * h[axis]
        entries[0] += 2.0 / (before * after)
        for (_, column, boundary_value), distance in ((minus, before), (plus, after)):
            weight = 2.0 / (distance * (before + after))
            coupled = column >= 0
            rows.append(np.nonzero(coupled)[0])
            cols.append(column[coupled])
            entries.append(-weight[coupled])
            rhs += np.where(coupled, 0.0, weight * boundary_value)
    matrix = sp.csc_matrix((np.concatenate(entries), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(size, size))
    return matrix, rhs


def _sparse_solve(matrix: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray:
    """Sparse LU solve of matrix @ u = rhs: (M,).

    The pattern is symmetric (neighbours are mutual), so a minimum-degree ordering of
    A^T + A with pivots preferred on the diagonal roughly halves the fill against the default
    column ordering; the threshold 0.1 keeps pivoting for indefinite (Helmholtz) matrices.
    """
    singular = "the discrete operator -Δ + c is singular on this grid (c at an eigenvalue?)"
    try:
        factors = splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1,
                       options={"SymmetricMode": True})
    except RuntimeError as error:  # SuperLU reports an exactly singular factor this way
        raise ValueError(f"{singular}: {error}") from error
    solution = factors.solve(rhs)
    if not np.isfinite(solution).all():
        raise ValueError(singular)
    return solution


def solve_elliptic(axes: Sequence[np.ndarray], f: Field, g: Field, *, c: Field = 0.0,
                   phi: Callable[..., np.ndarray] | None = None,
                   inside: np.ndarray | None = None) -> GridSolution:
    """Solve -Δu + c u = f in D, u = g on the boundary of D, by second-order finite differences.

    axes: d uniform increasing 1-D arrays, the grid of the box including its faces; the grid
    shape is S = (len(axes[0]), ..., len(axes[d-1])). f, c: scalars, arrays of shape S, or
    vectorised callables ``f(*coords)`` (d coordinate arrays of one shape -> that shape);
    g: the same, called at the boundary points only (grid points, and crossings of grid
    lines with phi = 0). D is the box when neither of these is given:
    inside: boolean (S,) indicator of the closed domain; its points on a box face or with one
    of their 3^d neighbours outside it are boundary points (grid-aligned, standard stencil);
    phi: level set callable like f, phi < 0 inside D, ideally a signed distance; the
    boundary may cut grid lines anywhere (Shortley–Weller stencil there).
    Returns u with values (S,): NaN outside the closed domain, g at its boundary grid points.
    """
    axes = [np.asarray(a, dtype=np.float64) for a in axes]
    h = _spacings(axes)
    mesh = np.meshgrid(*axes, indexing="ij")
    closed, unknown = _domain(mesh, h, phi, inside)
    if not unknown.any():
        raise ValueError("the domain has no interior grid points; refine the grid or check phi/inside "
                         "(phi < 0 inside; inside marks the closed domain)")
    source = _evaluate("f", f, mesh)[unknown]
    shift = _evaluate("c", c, mesh)[unknown]
    matrix, boundary_rhs = _assemble(axes, h, unknown, closed, phi, g, shift)
    solution = _sparse_solve(matrix, source + boundary_rhs)
    values = np.full(unknown.shape, np.nan)
    edge = closed & ~unknown
    values[edge] = _evaluate("g", g, [m[edge] for m in mesh])
    values[unknown] = solution
    stencil = "Shortley–Weller at the level-set boundary" if phi is not None else "standard stencil"
    log.debug("finite differences: %d unknowns on a grid of shape %s", len(solution), unknown.shape)
    return GridSolution(tuple(axes), values,
                        f"finite differences, order 2, {2 * len(axes) + 1}-point {stencil}, "
                        f"grid {'x'.join(map(str, unknown.shape))}, {len(solution)} unknowns, sparse LU")
