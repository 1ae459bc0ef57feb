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

A negative c (Helmholtz) can put -Δ + c at or next to a resonance, where -c is an eigenvalue
of the Laplacian; the solve then returns the near-null mode blown up, not a solution. Such a
c raises KanpdeError (see ``_resonance``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from kanpde.errors import KanpdeError
from kanpde.reference.solution import GridSolution

log = logging.getLogger(__name__)

ORDER = 2
SNAP = 1e-9  # grid points with |phi| <= SNAP * h lie on the boundary (rounding of grid-aligned edges)
BISECTIONS = 60  # halvings of [0, 1]: below the float64 resolution of a crossing's position
RESONANCE_SOLVES = 3  # inverse-iteration steps of the resonance check (only when c < 0 somewhere)

Field = float | np.ndarray | Callable[..., np.ndarray]


def _spacings(axes: Sequence[np.ndarray]) -> np.ndarray:
    """Grid steps h: (d,); every axis must be uniform, increasing and have >= 3 points."""
    if len(axes) == 0:
        raise KanpdeError("axes is empty; give one 1-D array of grid coordinates per dimension")
    steps = []
    for k, axis in enumerate(axes):
        if axis.ndim != 1 or len(axis) < 3:
            raise KanpdeError(f"axes[{k}] has shape {axis.shape}; each axis must be 1-D with "
                              "at least 3 points")
        diff = np.diff(axis)
        if not (diff > 0).all() or not np.allclose(diff, diff.mean(), rtol=1e-9, atol=0):
            raise KanpdeError(f"axes[{k}] is not uniform and increasing (steps from {diff.min():.6g} to "
                              f"{diff.max():.6g}); finite differences need np.linspace grids")
        steps.append(diff.mean())
    return np.array(steps)


def _evaluate(name: str, value: Field, coords: Sequence[np.ndarray]) -> np.ndarray:
    """A scalar, an array of the coordinates' shape, or a callable ``value(*coords)`` there."""
    shape = coords[0].shape
    out = np.asarray(value(*coords) if callable(value) else value, dtype=np.float64)
    if out.ndim > 0 and out.shape != shape:
        raise KanpdeError(f"{name} has shape {out.shape}; expected a scalar or shape {shape} "
                          "(the grid shape, or the shape of the coordinate arrays it is called with)")
    return np.broadcast_to(out, shape)


def _domain(mesh: Sequence[np.ndarray], h: np.ndarray, phi, inside) -> tuple[np.ndarray, np.ndarray]:
    """(closed, unknown): boolean grid masks of the closed domain and of its interior points.

    A grid point is an unknown when it is off the box faces and (indicator) all its 3^d
    neighbours are in the domain, or (level set) phi < 0 there.
    """
    shape = mesh[0].shape
    off_faces = np.zeros(shape, dtype=bool)
    off_faces[(slice(1, -1),) * len(shape)] = True
    if phi is not None and inside is not None:
        raise KanpdeError("got both phi and inside; give the domain as phi (level set) or inside "
                          "(grid indicator), not both")
    if phi is not None:
        level = _evaluate("phi", phi, mesh)
        tolerance = SNAP * h.min()
        return level <= tolerance, off_faces & (level < -tolerance)
    if inside is None:
        return np.ones(shape, dtype=bool), off_faces
    inside = np.asarray(inside)
    if inside.shape != shape or inside.dtype != bool:
        raise KanpdeError(f"inside has shape {inside.shape} and dtype {inside.dtype}; "
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
    rows, cols, entries = [np.arange(size)], [np.arange(size)], [shift.copy()]  # diagonal, added to below
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


def _describe(shift: np.ndarray) -> str:
    """c at the unknowns, in words: "c = -8" or "c from -3 to 2"."""
    low, high = shift.min(), shift.max()
    return f"c = {low:.6g}" if low == high else f"c from {low:.6g} to {high:.6g}"


def _resonance(matrix: sp.csc_matrix, factors, shift: np.ndarray, h: np.ndarray) -> str | None:
    """Why -Δ_h + c is too close to singular to trust, or None; shift: c at the unknowns (M,).

    With c >= 0 the matrix is a nonsingular M-matrix and nothing is checked. Otherwise
    RESONANCE_SOLVES steps of inverse iteration from a fixed random vector x, reusing the LU
    factors, give ``bound = |x| / |A^-1 x|``, never below the smallest singular value of A
    (the distance from -c to the spectrum of -Δ_h, for constant c), and its Rayleigh quotient,
    the eigenvalue of A nearest 0 once the iteration has settled on it (fast, exactly when it
    is much nearer 0 than the others). The box's discrete eigenvalues near -c lie below those
    of -Δ by up to ``margin = c^2 h^2 / 12`` (h the largest step); a bound below that means the
    grid cannot tell whether the PDE itself is resonant (at k^2 = 2 pi^2 on the unit square,
    the bound is margin / 2 on every grid), and the solution is the near-null mode blown up.
    """
    if shift.min() >= 0:
        return None
    margin = np.abs(shift).max() ** 2 * h.max() ** 2 / 12
    x = np.random.default_rng(0).standard_normal(matrix.shape[0])
    for _ in range(RESONANCE_SOLVES):
        x /= np.linalg.norm(x)
        y = factors.solve(x)
        bound, x = 1.0 / np.linalg.norm(y), y
    nearest = x @ (matrix @ x) / (x @ x)
    log.debug("resonance check: smallest singular value <= %.3g (eigenvalue ~ %.3g), margin %.3g",
              bound, nearest, margin)
    if bound > margin:
        return None
    if shift.min() == shift.max():
        eigenvalue = nearest - shift[0]
        return (f"the discrete operator -Δ + c is nearly singular at c = {shift[0]:.7g} (a resonance): "
                f"k^2 = -c lies within {bound:.2g} of {eigenvalue:.7g}, an eigenvalue of the discrete "
                f"Laplacian, closer than the O(h^2) error {margin:.2g} of the discrete eigenvalues there, "
                "so the solution would be that eigenmode blown up; accepted: c at least "
                f"{margin:.2g} away from minus every eigenvalue of the discrete Laplacian (move c off "
                "this resonance)")
    return (f"the discrete operator -Δ + c ({_describe(shift)}) is nearly singular: it has the "
            f"eigenvalue {nearest:.2g} (|λ| <= {bound:.2g}), closer to 0 than the O(h^2) error "
            f"{margin:.2g} of the discrete eigenvalues at this c (a resonance), so the result would be "
            "its near-null mode blown up; accepted: c for which -Δ + c keeps its eigenvalues at least "
            "that far from 0 (move c off this resonance)")


def _sparse_solve(matrix: sp.csc_matrix, rhs: np.ndarray, shift: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Sparse LU solve of matrix @ u = rhs: (M,), rejecting a (nearly) singular matrix.

    The pattern is symmetric (neighbours are mutual), so a minimum-degree ordering of
    A^T + A with pivots preferred on the diagonal roughly halves the fill against the default
    column ordering; the threshold 0.1 keeps pivoting for indefinite (Helmholtz) matrices.
    shift: c at the unknowns (M,), h: the grid steps (d,), for the resonance check.
    """
    singular = (f"the discrete operator -Δ + c is singular on this grid at {_describe(shift)} (minus an "
                "eigenvalue of the discrete Laplacian); accepted: c off the Laplacian's eigenvalues")
    try:
        factors = splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1,
                       options={"SymmetricMode": True})
    except RuntimeError as error:  # SuperLU reports an exactly singular factor this way
        raise KanpdeError(f"{singular} ({error})") from None
    solution = factors.solve(rhs)
    if not np.isfinite(solution).all():
        raise KanpdeError(singular)
    reason = _resonance(matrix, factors, shift, h)
    if reason is not None:
        raise KanpdeError(reason)
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
    Raises KanpdeError for bad input, and for a c < 0 at (or within the discretisation error
    of) a resonance, where -Δ + c is (nearly) singular; c >= 0 is never checked, nor slowed.
    """
    axes = [np.asarray(a, dtype=np.float64) for a in axes]
    h = _spacings(axes)
    mesh = np.meshgrid(*axes, indexing="ij")
    closed, unknown = _domain(mesh, h, phi, inside)
    if not unknown.any():
        raise KanpdeError(f"the domain has no interior grid points ({int(closed.sum())} points of the "
                          f"{'x'.join(map(str, unknown.shape))} grid in the closed domain, all on its "
                          "boundary); refine the grid or check phi/inside (phi < 0 inside; inside marks "
                          "the closed domain)")
    source = _evaluate("f", f, mesh)[unknown]
    shift = _evaluate("c", c, mesh)[unknown]
    matrix, boundary_rhs = _assemble(axes, h, unknown, closed, phi, g, shift)
    solution = _sparse_solve(matrix, source + boundary_rhs, shift, h)
    values = np.full(unknown.shape, np.nan)
    edge = closed & ~unknown
    values[edge] = _evaluate("g", g, [m[edge] for m in mesh])
    values[unknown] = solution
    stencil = "Shortley–Weller at the level-set boundary" if phi is not None else "standard stencil"
    log.debug("finite differences: %d unknowns on a grid of shape %s", len(solution), unknown.shape)
    return GridSolution(tuple(axes), values,
                        f"finite differences, order 2, {2 * len(axes) + 1}-point {stencil}, "
                        f"grid {'x'.join(map(str, unknown.shape))}, {len(solution)} unknowns, sparse LU")
