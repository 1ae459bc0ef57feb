"""Domains, named boundary faces, outward normals and point sampling.

A domain knows its coordinate names (``("x", "y")``, ``("x", "t")``), its bounding box and
its named boundary faces (``"x-"``, ``"x+"``, ``"boundary"``, ``"t0"``). It samples points:

- ``"uniform"``: iid uniform, ``torch.rand`` with the given generator;
- ``"sobol"`` / ``"lhs"``: scrambled Sobol / Latin hypercube (``scipy.stats.qmc``), seeded
  with an int drawn from the generator, so a seeded generator makes runs reproducible;
- ``"grid"``: a regular grid; the count n' may differ from the n asked for (see
  :func:`grid_side`; a Disk masks a square grid; a face gets a grid in its own coordinates).

Points are drawn in float64 on the CPU (the generator must be a CPU generator), then moved
to the requested dtype/device. Randomness only enters through ``generator``; with
``generator=None`` torch's default generator is used (never seeded here).
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from typing import Iterable, Sequence

import torch

from kanpde.errors import KanpdeError

log = logging.getLogger(__name__)

METHODS = ("uniform", "sobol", "lhs", "grid")
_F64 = torch.float64


class GeometryError(KanpdeError):
    """Invalid domain, face, coordinate name or sampling method."""


def _fmt(v: float) -> str:
    return f"{float(v):g}"


def grid_side(n: int, d: int) -> int:
    """Points per dimension of a "grid" of about n points in d dims: ceil(n ** (1/d))."""
    m = max(1, math.ceil(n ** (1.0 / d)))
    while m > 1 and (m - 1) ** d >= n:  # guard against round-off in the root
        m -= 1
    return m


def _qmc(n: int, d: int, method: str, generator: torch.Generator | None) -> torch.Tensor:
    from scipy.stats import qmc  # here: scipy.stats takes ~1 s to import, and bad input fails before sampling

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    cls = qmc.Sobol if method == "sobol" else qmc.LatinHypercube
    try:
        engine = cls(d, scramble=True, rng=seed)
    except TypeError:  # scipy < 1.15
        engine = cls(d, scramble=True, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Sobol balance needs n = 2**m
        return torch.from_numpy(engine.random(n))


def unit_points(n: int, d: int, method: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Points in [0, 1]^d, float64 on CPU: (n', d); n' == n except for "grid" (grid_side(n, d)**d)."""
    if d == 0 or n == 0:
        return torch.zeros(n, d, dtype=_F64)
    if method == "uniform":
        return torch.rand(n, d, generator=generator, dtype=_F64)
    if method == "grid":
        axis = torch.linspace(0.0, 1.0, grid_side(n, d), dtype=_F64)
        return torch.cartesian_prod(*([axis] * d)).reshape(-1, d)
    return _qmc(n, d, method, generator)


def _rtol(x: torch.Tensor) -> float:
    """Relative tolerance of contains(): tight in float64, a few ulps in lower precision."""
    return max(1e-9, 8 * torch.finfo(x.dtype).eps)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise GeometryError(f"unknown sampling method {method!r}; accepted methods are: {', '.join(METHODS)}")


def _split(n: int, measures: Sequence[float]) -> list[int]:
    """n split in proportion to measures (largest remainder), at least 1 each."""
    w = torch.tensor(measures, dtype=_F64)
    exact = n * w / w.sum()
    counts = exact.floor().long()
    order = torch.argsort(exact - counts, descending=True, stable=True)
    counts[order[: n - int(counts.sum())]] += 1
    return counts.clamp(min=1).tolist()


class Domain(ABC):
    """A closed domain in R^dim with named coordinates and named boundary faces."""

    names: tuple[str, ...]
    bounds: torch.Tensor  # (dim, 2) float64: [lower, upper] per coordinate
    faces: tuple[str, ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    def axis(self, name: str) -> int:
        """Index of coordinate ``name``."""
        if name not in self.names:
            raise GeometryError(f"unknown coordinate {name!r} of {self!r}; its coordinates are: "
                                f"{', '.join(self.names)}")
        return self.names.index(name)

    def check_faces(self, faces: Iterable[str]) -> None:
        faces = (faces,) if isinstance(faces, str) else faces
        for face in faces:
            if face not in self.faces:
                raise GeometryError(f"face {face!r} is not a face of {self!r}; its faces are: {', '.join(self.faces)}")

    def face_axis(self, face: str) -> tuple[int, int]:
        """(axis index, side -1/+1) of an axis-aligned face such as "x-"."""
        self.check_faces([face])
        raise GeometryError(f"face {face!r} of {self!r} is not an axis-aligned coordinate face")

    def default_faces(self) -> tuple[str, ...]:
        """Faces sampled by ``sample_boundary(faces=None)``."""
        return self.faces

    @abstractmethod
    def contains(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, dim) -> (N,) bool, closed domain up to a small tolerance."""

    @abstractmethod
    def volume(self) -> float:
        """Lebesgue measure of the domain."""

    @abstractmethod
    def face_measure(self, face: str) -> float:
        """(dim-1)-measure of a face (1 for the end points of an interval)."""

    @abstractmethod
    def _interior(self, n: int, method: str, generator) -> torch.Tensor:
        """(n', dim) float64 CPU points in the domain."""

    @abstractmethod
    def _face(self, face: str, n: int, method: str, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Points on ``face`` and outward unit normals, both (n', dim) float64 CPU."""

    def sample_interior(self, n: int, method: str = "uniform", *, generator: torch.Generator | None = None,
                        dtype: torch.dtype = _F64, device=None) -> torch.Tensor:
        """Points in the domain: (n', dim); n' == n except for method "grid"."""
        _check_method(method)
        return self._interior(int(n), method, generator).to(dtype=dtype, device=device)

    def sample_boundary(self, n: int, faces: Iterable[str] | None = None, method: str = "uniform", *,
                        generator: torch.Generator | None = None, dtype: torch.dtype = _F64,
                        device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Points on the faces and their outward unit normals: x (n', dim), normal (n', dim).

        n is split among the faces (in the given order) in proportion to their measure, at
        least one point each; the points of each face are contiguous.
        """
        _check_method(method)
        faces = self.default_faces() if faces is None else ((faces,) if isinstance(faces, str) else tuple(faces))
        self.check_faces(faces)
        counts = _split(int(n), [self.face_measure(f) for f in faces])
        parts = [self._face(f, k, method, generator) for f, k in zip(faces, counts)]
        x = torch.cat([p[0] for p in parts])
        normal = torch.cat([p[1] for p in parts])
        return x.to(dtype=dtype, device=device), normal.to(dtype=dtype, device=device)


class Box(Domain):
    """Axis-aligned box [lower, upper] in any dimension; faces "x-", "x+", "y-", ... in order."""

    def __init__(self, lower: Sequence[float], upper: Sequence[float], names: Sequence[str] | None = None):
        lo = torch.as_tensor(lower, dtype=_F64).reshape(-1)
        hi = torch.as_tensor(upper, dtype=_F64).reshape(-1)
        if lo.shape != hi.shape or lo.numel() == 0:
            raise GeometryError(f"lower {list(lower)} and upper {list(upper)} must be non-empty and of equal length")
        if not bool((lo < hi).all()):
            raise GeometryError(f"need lower < upper in every coordinate, got lower={lo.tolist()}, upper={hi.tolist()}")
        d = lo.numel()
        if names is None:
            names = ("x", "y", "z")[:d] if d <= 3 else tuple(f"x{i}" for i in range(d))
        self.names = tuple(names)
        if len(self.names) != d or len(set(self.names)) != d:
            raise GeometryError(f"need {d} distinct coordinate names, got {self.names}")
        self.bounds = torch.stack([lo, hi], dim=1)  # (dim, 2)
        self.faces = tuple(f"{nm}{s}" for nm in self.names for s in "-+")

    def __repr__(self) -> str:
        parts = [f"{nm} in [{_fmt(a)}, {_fmt(b)}]" for nm, (a, b) in zip(self.names, self.bounds.tolist())]
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def extents(self) -> torch.Tensor:  # (dim,)
        return self.bounds[:, 1] - self.bounds[:, 0]

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bounds.to(x)
        tol = _rtol(x) * (1.0 + b.abs().amax(dim=1))  # (dim,)
        return ((x >= b[:, 0] - tol) & (x <= b[:, 1] + tol)).all(dim=1)

    def volume(self) -> float:
        return float(self.extents.prod())

    def face_axis(self, face: str) -> tuple[int, int]:
        self.check_faces([face])
        i = self.faces.index(face)
        return i // 2, (-1 if i % 2 == 0 else 1)

    def face_measure(self, face: str) -> float:
        i, _ = self.face_axis(face)
        return float(torch.cat([self.extents[:i], self.extents[i + 1:]]).prod())  # empty product = 1

    def _interior(self, n, method, generator):
        u = unit_points(n, self.dim, method, generator)  # (n', dim)
        return self.bounds[:, 0] + u * self.extents

    def _face(self, face, n, method, generator):
        i, side = self.face_axis(face)
        other = [j for j in range(self.dim) if j != i]
        u = unit_points(n, self.dim - 1, method, generator)  # (n', dim-1)
        x = torch.empty(u.shape[0], self.dim, dtype=_F64)
        x[:, other] = self.bounds[other, 0] + u * self.extents[other]
        x[:, i] = self.bounds[i, 0 if side < 0 else 1]
        normal = torch.zeros_like(x)
        normal[:, i] = float(side)
        return x, normal


class Interval(Box):
    """[lower, upper] with faces "<name>-", "<name>+"; boundary samples repeat the end points."""

    def __init__(self, lower: float, upper: float, name: str = "x"):
        super().__init__([lower], [upper], names=(name,))


class Disk(Domain):
    """Closed disk in 2-D with one face "boundary".

    Interior: r = R sqrt(u), theta = 2 pi v from uniform or qmc (u, v); "grid" masks a square
    grid of grid_side(ceil(4n/pi), 2)**2 points to the disk (about n points). Boundary: angles
    iid / qmc, or equispaced for "grid".
    """

    def __init__(self, center: Sequence[float] = (0.0, 0.0), radius: float = 1.0, names: Sequence[str] = ("x", "y")):
        self.center = torch.as_tensor(center, dtype=_F64).reshape(-1)  # (2,)
        self.radius = float(radius)
        self.names = tuple(names)
        if self.center.numel() != 2 or len(self.names) != 2 or len(set(self.names)) != 2:
            raise GeometryError(f"Disk needs a 2-D center and two distinct names, got {center}, {names}")
        if not self.radius > 0:
            raise GeometryError(f"Disk radius must be positive, got {radius}")
        self.bounds = torch.stack([self.center - self.radius, self.center + self.radius], dim=1)
        self.faces = ("boundary",)

    def __repr__(self) -> str:
        c = ", ".join(_fmt(v) for v in self.center.tolist())
        return f"Disk(center=({c}), radius={_fmt(self.radius)}, names=({', '.join(self.names)}))"

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        r = (x - self.center.to(x)).norm(dim=1)
        return r <= self.radius * (1 + _rtol(x))

    def volume(self) -> float:
        return math.pi * self.radius**2

    def face_measure(self, face: str) -> float:
        self.check_faces([face])
        return 2 * math.pi * self.radius

    def _interior(self, n, method, generator):
        if method == "grid":
            u = unit_points(math.ceil(4 * n / math.pi), 2, "grid")  # square grid over the bounding box
            x = self.bounds[:, 0] + u * 2 * self.radius
            return x[self.contains(x)]
        uv = unit_points(n, 2, method, generator)  # (n, 2)
        r = self.radius * uv[:, 0].sqrt()
        theta = 2 * math.pi * uv[:, 1]
        return self.center + r[:, None] * torch.stack([theta.cos(), theta.sin()], dim=1)

    def _face(self, face, n, method, generator):
        if method == "grid":
            theta = 2 * math.pi * torch.arange(n, dtype=_F64) / n
        else:
            theta = 2 * math.pi * unit_points(n, 1, method, generator)[:, 0]
        normal = torch.stack([theta.cos(), theta.sin()], dim=1)  # (n, 2)
        return self.center + self.radius * normal, normal


class SpaceTime(Domain):
    """space x [t0, t1]; faces: the spatial faces (lateral) and "<name>0", "<name>1".

    ``sample_boundary(faces=None)`` samples the lateral faces only (normals: spatial normal
    padded with 0 in t). Face "<name>0" is the space interior at t0 with normal -e_t,
    "<name>1" likewise at t1 with +e_t.
    """

    def __init__(self, space: Domain, t0: float, t1: float, name: str = "t"):
        if not float(t0) < float(t1):
            raise GeometryError(f"need t0 < t1, got t0={t0}, t1={t1}")
        if name in space.names:
            raise GeometryError(f"time name {name!r} clashes with the space coordinates {space.names}")
        self._space, self._t = space, (float(t0), float(t1))
        self.names = space.names + (name,)
        self.bounds = torch.cat([space.bounds, torch.tensor([[float(t0), float(t1)]], dtype=_F64)])
        self.time_faces = (f"{name}0", f"{name}1")
        if set(self.time_faces) & set(space.faces):
            raise GeometryError(f"time faces {self.time_faces} clash with the faces of {space!r}")
        self.faces = space.faces + self.time_faces
        # a box space makes the whole domain a box: qmc then draws jointly in dim + 1
        lower, upper = self.bounds.T.tolist()
        self._box = Box(lower, upper, self.names) if isinstance(space, Box) else None

    def __repr__(self) -> str:
        return f"SpaceTime({self._space!r} x {self.time_name} in [{_fmt(self._t[0])}, {_fmt(self._t[1])}])"

    @property
    def space(self) -> Domain:
        return self._space

    @property
    def time_name(self) -> str:
        return self.names[-1]

    @property
    def t_bounds(self) -> tuple[float, float]:
        return self._t

    def default_faces(self) -> tuple[str, ...]:
        return self._space.faces

    def face_axis(self, face: str) -> tuple[int, int]:
        self.check_faces([face])
        if face in self.time_faces:
            raise GeometryError(f"face {face!r} of {self!r} is a time face, not a lateral coordinate face")
        return self._space.face_axis(face)

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        t0, t1 = self._t
        tol = _rtol(x) * (1.0 + max(abs(t0), abs(t1)))
        t = x[:, -1]
        return self._space.contains(x[:, :-1]) & (t >= t0 - tol) & (t <= t1 + tol)

    def volume(self) -> float:
        return self._space.volume() * (self._t[1] - self._t[0])

    def face_measure(self, face: str) -> float:
        self.check_faces([face])
        if face in self.time_faces:
            return self._space.volume()
        return self._space.face_measure(face) * (self._t[1] - self._t[0])

    def _with_time(self, draw_space, n: int, method: str, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows from draw_space(k) -> (k', w) paired with times: rows (n', w), t (n', 1)."""
        t0, t1 = self._t
        if method == "grid":  # tensor product: m time levels x about n / m space rows
            m = grid_side(n, self.dim)
            rows = draw_space(math.ceil(n / m))  # (k, w)
            t = torch.linspace(t0, t1, m, dtype=_F64).repeat(rows.shape[0])[:, None]
            return rows.repeat_interleave(m, dim=0), t
        rows = draw_space(n)
        return rows, t0 + (t1 - t0) * unit_points(rows.shape[0], 1, method, generator)

    def _interior(self, n, method, generator):
        if self._box is not None:
            return self._box._interior(n, method, generator)
        xs, t = self._with_time(lambda k: self._space._interior(k, method, generator), n, method, generator)
        return torch.cat([xs, t], dim=1)

    def _face(self, face, n, method, generator):
        d = self._space.dim
        if face in self.time_faces:
            xs = self._space._interior(n, method, generator)  # (n', d)
            t, side = (self._t[0], -1.0) if face == self.time_faces[0] else (self._t[1], 1.0)
            x = torch.cat([xs, torch.full((xs.shape[0], 1), t, dtype=_F64)], dim=1)
            normal = torch.zeros_like(x)
            normal[:, -1] = side
            return x, normal
        if self._box is not None:
            return self._box._face(face, n, method, generator)
        # lateral face of a general space: carry the spatial normal along with each point
        rows, t = self._with_time(lambda k: torch.cat(self._space._face(face, k, method, generator), dim=1),
                                  n, method, generator)  # rows: (n', 2d) = [x, normal]
        return torch.cat([rows[:, :d], t], dim=1), torch.cat([rows[:, d:], torch.zeros_like(t)], dim=1)
