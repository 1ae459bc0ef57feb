"""Hard Dirichlet constraints: exact on the faces, the network's values inside."""

import pytest
import torch

from kanpde import Box, Dirichlet, Disk, Initial, Interval, KanpdeError, Periodic, Problem, SpaceTime
from kanpde.constraints import hard_dirichlet, hard_initial, hard_periodic

GEN = torch.Generator().manual_seed(0)


def net(x):
    """Any smooth 'network' that is not zero on the boundary: (N, d) -> (N, 1)."""
    return (1.0 + torch.sin(3 * x).sum(dim=1, keepdim=True))


def make(domain, conditions):
    return Problem("p", domain, lambda u, x, p: u.value, conditions)


@pytest.mark.parametrize("domain,faces,value", [
    (Box([-1, 0], [1, 2]), None, 0.0),
    (Box([0, 0, 0], [1, 2, 3]), ("x-", "z+"), 1.5),
    (Disk((0.5, -0.5), 2.0), None, -2.0),
    (SpaceTime(Interval(-1, 1), 0, 1), None, 0.0),
])
def test_constrained_faces_hold_the_value_exactly(domain, faces, value):
    problem = hard_dirichlet(make(domain, [Dirichlet(faces, value=value)]))
    x, _ = domain.sample_boundary(200, faces, generator=GEN)
    assert torch.allclose(problem.solution(net, x), torch.full((len(x), 1), value, dtype=x.dtype), atol=1e-13)
    inside = domain.sample_interior(200, generator=GEN)
    gap = (problem.solution(net, inside) - value).abs()
    assert (gap > 1e-6).float().mean() > 0.9  # inside, the network still shapes the solution
    assert problem.conditions == ()


def test_other_conditions_stay_in_the_loss():
    domain = SpaceTime(Interval(-1, 1), 0, 1)
    initial = Initial(value=lambda x, p: torch.sin(x.x))
    problem = hard_dirichlet(make(domain, [Dirichlet(value=0.0), initial,
                                           Dirichlet("t1", value=lambda x, p: x.x, name="end")]))
    assert [c.label for c in problem.conditions] == ["initial", "end"]


def test_box_distance_is_the_product_of_face_distances():
    problem = hard_dirichlet(make(Box([0, 0], [2, 1]), [Dirichlet(("x-", "y+"), value=0.0)]))
    x = torch.tensor([[0.5, 0.25], [1.5, 0.5]], dtype=torch.float64)
    expected = (2 * x[:, 0] / 2) * (2 * (1 - x[:, 1])) * net(x)[:, 0]
    assert torch.allclose(problem.solution(net, x)[:, 0], expected, atol=1e-15)


def test_errors_say_what_can_be_imposed():
    with pytest.raises(KanpdeError, match="no Dirichlet condition with a constant"):
        hard_dirichlet(make(Box([0, 0], [1, 1]), [Dirichlet(value=lambda x, p: x.x)]))
    with pytest.raises(KanpdeError, match="different values"):
        hard_dirichlet(make(Box([0, 0], [1, 1]), [Dirichlet("x-", value=0.0), Dirichlet("x+", value=1.0)]))


def test_named_components_only_are_imposed_exactly():
    """Cavity-like: v = 0 on every wall is built in, u (1 on the lid, 0 elsewhere) stays soft."""
    domain = Box([0, 0], [1, 1])
    conditions = [Dirichlet("y+", value=1.0, component="u", name="lid"),
                  Dirichlet(["x-", "x+", "y-"], value=0.0, component="u", name="walls_u"),
                  Dirichlet(value=0.0, component="v", name="walls_v")]
    problem = hard_dirichlet(Problem("p", domain, lambda u, x, p: u["u"].value, conditions,
                                     components=("u", "v")), ["v"])
    assert [c.label for c in problem.conditions] == ["lid", "walls_u"]
    x, _ = domain.sample_boundary(200, generator=GEN)
    two = lambda x: torch.cat([net(x), net(x) + 1], dim=1)  # noqa: E731
    values = problem.solution(two, x)
    assert values[:, 1].abs().max() < 1e-13
    assert torch.allclose(values[:, 0], two(x)[:, 0])  # u is the network's, untouched
    with pytest.raises(KanpdeError, match="no component 'w'.*components: u, v"):
        hard_dirichlet(Problem("p", domain, lambda u, x, p: u["u"].value, conditions, components=("u", "v")),
                       ["w"])


def burgers_like(initial=lambda x, p: -torch.sin(torch.pi * x.x), boundary=0.0):
    domain = SpaceTime(Interval(-1, 1), 0.5, 2.0)
    return make(domain, [Dirichlet(value=boundary), Initial(value=initial)])


def test_initial_value_holds_exactly_and_composes_with_the_boundary():
    problem = hard_initial(hard_dirichlet(burgers_like()))
    domain = problem.domain
    start, _ = domain.sample_boundary(100, ("t0",), generator=GEN)
    g = -torch.sin(torch.pi * start[:, :1])
    assert torch.allclose(problem.solution(net, start), g, atol=1e-13)
    sides, _ = domain.sample_boundary(100, ("x-", "x+"), generator=GEN)
    assert problem.solution(net, sides).abs().max() < 1e-13
    inside = domain.sample_interior(200, generator=GEN)
    shift, scale = problem.transform(inside)
    tau = (inside[:, 1:] - 0.5) / 1.5
    assert torch.allclose(scale, tau * (1 - inside[:, :1]) * (1 + inside[:, :1]), atol=1e-14)
    assert problem.conditions == ()


def test_initial_alone_keeps_the_boundary_in_the_loss():
    problem = hard_initial(burgers_like())
    assert [c.label for c in problem.conditions] == ["dirichlet[boundary]"]
    x = torch.tensor([[0.25, 0.5], [0.25, 2.0]], dtype=torch.float64)
    u = problem.solution(net, x)[:, 0]
    g = -torch.sin(torch.tensor(torch.pi * 0.25, dtype=torch.float64))
    assert torch.allclose(u, torch.stack([g, g + net(x[1:])[0, 0]]), atol=1e-14)


def test_incompatible_initial_and_boundary_values_are_refused():
    with pytest.raises(KanpdeError, match="differs from the hard Dirichlet value"):
        hard_initial(hard_dirichlet(burgers_like(boundary=0.5)))
    with pytest.raises(KanpdeError, match="no initial value"):
        hard_initial(make(Box([0, 0], [1, 1]), [Dirichlet(value=0.0)]))


def periodic_in_x(value, derivatives):
    domain = SpaceTime(Interval(-1.0, 1.0), 0.0, 1.0)
    return hard_initial(make(domain, [Periodic(axis="x", derivatives=derivatives), Initial(value=value)]))


def test_a_hard_initial_value_that_is_not_periodic_to_the_conditions_order_is_refused():
    # x^2 cos(pi x): periodic in value, but u_x = 2 at x = -1 and -2 at x = 1: the hard
    # ansatz g + t * net would keep that kink for all t
    kinked = periodic_in_x(lambda x, p: x.x**2 * torch.cos(torch.pi * x.x), derivatives=1)
    with pytest.raises(KanpdeError, match=r"derivative of order 1 differs by 4 .*hard_initial=false"):
        hard_periodic(kinked)
    hard_periodic(periodic_in_x(lambda x, p: x.x**2 * torch.cos(torch.pi * x.x), derivatives=0))  # value only: fine
    with pytest.raises(KanpdeError, match="its value differs by 1"):
        hard_periodic(periodic_in_x(lambda x, p: (x.x + 1) / 2, derivatives=0))
    smooth = periodic_in_x(lambda x, p: torch.cos(torch.pi * x.x) + torch.sin(2 * torch.pi * x.x), derivatives=2)
    stripped, axes = hard_periodic(smooth)
    assert axes == (0,) and stripped.conditions == ()
