"""Tests for kanpde.geometry: every test checks against an exact value or property."""

import math

import pytest
import torch
from scipy.stats import qmc

from kanpde.geometry import METHODS, Box, Disk, GeometryError, Interval, SpaceTime

EPS = 1e-6  # step along the normal for the outward test
Z = 5.0  # standard errors allowed in statistical checks


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


DOMAINS = {
    "interval": lambda: Interval(-1.0, 2.0),
    "box2": lambda: Box([0.0, -1.0], [2.0, 3.0]),
    "box3": lambda: Box([0.0, 0.0, 0.0], [1.0, 2.0, 0.5]),
    "disk": lambda: Disk((1.0, -2.0), 0.5),
    "st_interval": lambda: SpaceTime(Interval(0.0, 1.0), 0.0, 2.0),
    "st_box": lambda: SpaceTime(Box([0.0, 0.0], [1.0, 2.0]), 1.0, 3.0, name="s"),
    "st_disk": lambda: SpaceTime(Disk(), 0.0, 1.0),
}


def assert_on_face(dom, face, x, normal):
    """Points lie on `face` (exactly for coordinate faces, |r| == R for disks), normals unit and outward."""
    space, xs = (dom.space, x[:, :-1]) if isinstance(dom, SpaceTime) else (dom, x)
    if isinstance(dom, SpaceTime) and face in dom.time_faces:
        t = dom.t_bounds[0 if face.endswith("0") else 1]
        assert torch.all(x[:, -1] == t)
        assert space.contains(xs).all()
    elif isinstance(space, Disk):
        r = (xs - space.center).norm(dim=1)
        torch.testing.assert_close(r, torch.full_like(r, space.radius), atol=1e-12, rtol=0)
    else:
        i, side = dom.face_axis(face)
        assert (x[:, i] - dom.bounds[i, 0 if side < 0 else 1]).abs().max() <= 1e-12
    assert dom.contains(x).all()
    torch.testing.assert_close(normal.norm(dim=1), torch.ones(len(x), dtype=x.dtype), atol=1e-12, rtol=0)
    assert not dom.contains(x + EPS * normal).any()
    assert dom.contains(x - EPS * normal).all()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(DOMAINS))
def test_samples_lie_in_domain_and_on_faces(name, method):
    dom = DOMAINS[name]()
    x = dom.sample_interior(200, method, generator=gen())
    assert x.shape[1] == dom.dim and x.dtype == torch.float64 and dom.contains(x).all()
    for face in dom.faces:
        xb, nb = dom.sample_boundary(30, faces=[face], method=method, generator=gen())
        assert xb.shape == nb.shape and len(xb) >= 1
        assert_on_face(dom, face, xb, nb)


def test_uniform_box_moments():
    lo, hi, n = torch.tensor([0.0, -1.0, 2.0]), torch.tensor([2.0, 3.0, 2.5]), 40000
    x = Box(lo.tolist(), hi.tolist()).sample_interior(n, generator=gen(1))
    w = hi - lo
    mean, var = (lo + hi) / 2, w**2 / 12
    assert ((x.mean(0) - mean).abs() <= Z * (var / n).sqrt()).all()
    assert ((x.var(0) - var).abs() <= Z * (w**4 / 180 / n).sqrt()).all()  # Var((X-mu)^2) = w^4/180


def test_uniform_disk_moments():
    c, R, n = torch.tensor([1.0, -2.0]), 1.5, 40000
    x = Disk(c.tolist(), R).sample_interior(n, generator=gen(2))
    r2 = ((x - c) ** 2).sum(1)
    assert abs(r2.mean() - R**2 / 2) <= Z * math.sqrt(R**4 / 12 / n)  # E r^2 = R^2/2, Var r^2 = R^4/12
    assert ((x.mean(0) - c).abs() <= Z * math.sqrt(R**2 / 4 / n)).all()  # Var x = R^2/4
    xb, _ = Disk(c.tolist(), R).sample_boundary(n, generator=gen(3))
    assert ((xb.mean(0) - c).abs() <= Z * math.sqrt(R**2 / 2 / n)).all()  # Var(R cos) = R^2/2


@pytest.mark.parametrize("space", [Box([0.0, 0.0], [1.0, 2.0]), Disk()])
def test_uniform_spacetime_moments(space):
    t0, t1, n = 0.5, 2.5, 40000
    x = SpaceTime(space, t0, t1).sample_interior(n, generator=gen(4))
    t = x[:, -1]
    assert abs(t.mean() - (t0 + t1) / 2) <= Z * math.sqrt((t1 - t0) ** 2 / 12 / n)
    s_mean = space.bounds.mean(1)
    s_sd = (space.bounds[:, 1] - space.bounds[:, 0]) / 2  # |x - center| <= half width
    assert ((x[:, :-1].mean(0) - s_mean).abs() <= Z * s_sd / math.sqrt(n)).all()
    assert abs(torch.corrcoef(torch.stack([x[:, 0], t]))[0, 1]) <= Z / math.sqrt(n)  # independent


def count_faces(dom, x):
    """Number of points on each coordinate face (points at corners counted once, first face)."""
    counts, left = [], torch.ones(len(x), dtype=torch.bool)
    for face in dom.faces:
        i, side = dom.face_axis(face)
        on = left & (x[:, i] == dom.bounds[i, 0 if side < 0 else 1])
        counts.append(int(on.sum()))
        left &= ~on
    return counts


def test_boundary_counts_split_by_measure():
    box = Box([0.0, 0.0], [2.0, 1.0])  # x faces have length 1, y faces length 2: perimeter 6
    xb, nb = box.sample_boundary(600, generator=gen())
    assert count_faces(box, xb) == [100, 100, 200, 200]
    xb, _ = box.sample_boundary(7, generator=gen())  # 7/6, 7/6, 14/6, 14/6 -> largest remainder
    assert len(xb) == 7 and count_faces(box, xb) == [1, 1, 3, 2]
    thin = Box([0.0, 0.0], [100.0, 1.0])  # x faces would get 10/202 of a point: at least 1
    assert count_faces(thin, thin.sample_boundary(10, generator=gen())[0]) == [1, 1, 5, 5]
    seg = Interval(0.0, 3.0)  # end points have measure 1 each
    xb, nb = seg.sample_boundary(9, generator=gen())
    assert count_faces(seg, xb) == [5, 4] and torch.equal(nb[:5, 0], -torch.ones(5, dtype=torch.float64))


def test_spacetime_faces_and_counts():
    st = SpaceTime(Interval(0.0, 2.0), 0.0, 1.0)
    assert st.names == ("x", "t") and st.faces == ("x-", "x+", "t0", "t1") and st.dim == 2
    assert st.bounds.tolist() == [[0.0, 2.0], [0.0, 1.0]] and st.t_bounds == (0.0, 1.0)
    xb, nb = st.sample_boundary(100, generator=gen())  # lateral faces only
    assert (nb[:, 1] == 0).all() and torch.isin(xb[:, 0], torch.tensor([0.0, 2.0], dtype=torch.float64)).all()
    assert int((xb[:, 0] == 0).sum()) == 50
    xb, nb = st.sample_boundary(300, faces=["x-", "t0"], generator=gen())  # measures 1 (x-) and 2 (t0)
    assert int((nb[:, 0] == -1).sum()) == 100 and int((nb[:, 1] == -1).sum()) == 200
    named = SpaceTime(Disk(), 0.0, 1.0, name="tau")
    assert named.faces == ("boundary", "tau0", "tau1") and named.time_name == "tau" and named.axis("tau") == 2


@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
@pytest.mark.parametrize("name", ["box3", "disk", "st_disk"])
def test_reproducible_with_generator(name, method):
    dom = DOMAINS[name]()

    def draw(seed):
        g = gen(seed)
        boundary = dom.sample_boundary(32, method=method, generator=g)
        return torch.cat([dom.sample_interior(64, method, generator=g), *boundary])

    assert torch.equal(draw(7), draw(7))
    assert not torch.allclose(draw(7), draw(8))


def test_sobol_has_lower_discrepancy_than_uniform():
    box = Box([0.0, 0.0], [1.0, 1.0])
    for seed in range(3):
        d_sobol = qmc.discrepancy(box.sample_interior(256, "sobol", generator=gen(seed)).numpy())
        d_unif = qmc.discrepancy(box.sample_interior(256, "uniform", generator=gen(seed)).numpy())
        assert d_sobol < d_unif / 5
    assert len(box.sample_interior(100, "sobol", generator=gen())) == 100  # non-power of 2 works


def test_lhs_is_stratified():
    n, box = 50, Box([0.0, 10.0], [2.0, 15.0])
    x = box.sample_interior(n, "lhs", generator=gen())
    u = (x - box.bounds[:, 0]) / (box.bounds[:, 1] - box.bounds[:, 0])
    for j in range(2):  # exactly one point in each of the n equal bins of each coordinate
        assert sorted((u[:, j] * n).floor().long().tolist()) == list(range(n))


def test_box_grid_is_regular_and_has_corners():
    box = Box([0.0, -1.0], [2.0, 0.0])
    x = box.sample_interior(100, "grid")
    assert x.shape == (100, 2)  # 10 x 10
    for j, step in enumerate([2 / 9, 1 / 9]):
        levels = torch.unique(x[:, j])
        assert len(levels) == 10
        torch.testing.assert_close(levels.diff(), torch.full((9,), step, dtype=torch.float64))
    for corner in [(0.0, -1.0), (0.0, 0.0), (2.0, -1.0), (2.0, 0.0)]:
        assert (x == torch.tensor(corner, dtype=torch.float64)).all(1).any()
    assert len(box.sample_interior(101, "grid")) == 121  # ceil(sqrt(101)) = 11 per dimension
    assert len(Box([0.0] * 3, [1.0] * 3).sample_interior(1000, "grid")) == 1000
    xb, _ = box.sample_boundary(40, faces=["y+"], method="grid")  # face grid in x only
    torch.testing.assert_close(xb[:, 0], torch.linspace(0, 2, 40, dtype=torch.float64))


def test_disk_grid():
    disk = Disk((0.0, 0.0), 2.0)
    x = disk.sample_interior(400, "grid")
    assert disk.contains(x).all() and 0.8 * 400 <= len(x) <= 1.2 * 400
    step = torch.unique(x[:, 0]).diff()
    torch.testing.assert_close(step, torch.full_like(step, step[0].item()))  # square lattice
    xb, nb = disk.sample_boundary(8, method="grid")
    angles = torch.atan2(nb[:, 1], nb[:, 0]).remainder(2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8, dtype=torch.float64) * math.pi / 4)


def test_spacetime_grid_is_tensor_product():
    st = SpaceTime(Interval(0.0, 1.0), 0.0, 2.0)
    x = st.sample_interior(25, "grid")
    assert len(x) == 25 and len(torch.unique(x[:, 1])) == 5 and len(torch.unique(x[:, 0])) == 5
    x = SpaceTime(Disk(), 0.0, 1.0).sample_interior(300, "grid")
    assert len(torch.unique(x[:, 2])) == 7  # ceil(300 ** (1/3)) time levels, same space grid each
    per_level = torch.unique(x[:, 2], return_counts=True)[1]
    assert (per_level == per_level[0]).all()


def test_dtype_and_device():
    dom = DOMAINS["st_box"]()
    x = dom.sample_interior(10, generator=gen(), dtype=torch.float32, device="cpu")
    xb, nb = dom.sample_boundary(10, generator=gen(), dtype=torch.float32)
    assert x.dtype == xb.dtype == nb.dtype == torch.float32
    assert dom.contains(x).all() and dom.contains(xb).all()
    xd, _ = Disk((0.3, 0.7), 0.9).sample_boundary(1000, generator=gen(), dtype=torch.float32)
    assert Disk((0.3, 0.7), 0.9).contains(xd).all()  # tolerance adapts to float32 round-off
    torch.testing.assert_close(x, dom.sample_interior(10, generator=gen()).float())


def test_names_axis_face_axis_and_contains():
    box4 = Box([0.0] * 4, [1.0] * 4)
    assert box4.names == ("x0", "x1", "x2", "x3") and box4.faces[:3] == ("x0-", "x0+", "x1-")
    box = Box([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert box.names == ("x", "y", "z") and box.axis("z") == 2 and box.face_axis("y+") == (1, 1)
    assert box.face_measure("y-") == 3.0 and box.face_measure("z+") == 2.0
    st = SpaceTime(box, 0.0, 1.0)
    assert st.face_axis("x-") == (0, -1)
    x = st.sample_boundary(20, faces=["x-"], generator=gen())[0]  # periodic map x- -> x+
    i, _ = st.face_axis("x+")
    x[:, i] = st.bounds[i, 1]
    assert_on_face(st, "x+", x, torch.zeros_like(x).index_fill_(1, torch.tensor([0]), 1.0))
    pts = torch.tensor([[0.5, 0.5], [1.0, 0.0], [1.1, 0.0], [0.0, -0.01]], dtype=torch.float64)
    assert Box([0.0, 0.0], [1.0, 1.0]).contains(pts).tolist() == [True, True, False, False]
    assert Disk().contains(pts).tolist() == [True, True, False, True]
    assert repr(Interval(0, 1)) == "Interval(x in [0, 1])"


def test_errors_list_the_alternatives():
    box = Box([0.0, 0.0], [1.0, 1.0])
    msg = "face 'z-' is not a face of Box(x in [0, 1], y in [0, 1]); its faces are: x-, x+, y-, y+"
    with pytest.raises(GeometryError) as err:
        box.check_faces(["x-", "z-"])
    assert str(err.value) == msg
    with pytest.raises(GeometryError, match="its faces are: x-, x\\+, y-, y\\+"):
        box.sample_boundary(10, faces=["z-"])
    with pytest.raises(GeometryError, match="uniform, sobol, lhs, grid"):
        box.sample_interior(10, "halton")
    with pytest.raises(GeometryError, match="uniform, sobol, lhs, grid"):
        Disk().sample_boundary(10, method="random")
    with pytest.raises(GeometryError, match="its coordinates are: x, y, t"):
        SpaceTime(box, 0.0, 1.0).axis("z")
    with pytest.raises(GeometryError, match="time face"):
        SpaceTime(box, 0.0, 1.0).face_axis("t0")
    with pytest.raises(GeometryError, match="not an axis-aligned"):
        Disk().face_axis("boundary")
    with pytest.raises(GeometryError):
        Box([1.0], [0.0])
    with pytest.raises(GeometryError):
        SpaceTime(box, 0.0, 1.0, name="x")
    assert issubclass(GeometryError, ValueError)
