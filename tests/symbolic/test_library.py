"""The function library: values against torch's own functions, derivatives against
autograd, sympy substitution against evaluation, and the error messages."""

import math

import pytest
import sympy
import torch

from kanpde.errors import KanpdeError
from kanpde.symbolic.library import DEFAULT_FUNCTIONS, X, function_library

# name -> the same function written directly with torch (the oracle for the values)
REFERENCE = {
    "0": lambda u: torch.zeros_like(u), "x": lambda u: u, "x^2": lambda u: u**2,
    "x^3": lambda u: u**3, "x^4": lambda u: u**4, "1/x": lambda u: 1 / u,
    "sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log, "sin": torch.sin,
    "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh, "arctan": torch.atan,
    "gaussian": lambda u: torch.exp(-(u**2)), "abs": torch.abs,
}
POSITIVE_ONLY = {"sqrt", "log"}


def _points(name: str) -> torch.Tensor:
    """Points inside the domain of ``name``, away from poles and kinks: (2, 12)."""
    u = torch.linspace(0.15, 1.4, 24, dtype=torch.float64)  # tan is finite below pi/2
    if name not in POSITIVE_ONLY:
        u = torch.cat([-u[::2], u[1::2]])
    return u.reshape(2, 12)


def test_default_library_order_and_complexity():
    lib = function_library()
    assert tuple(f.name for f in lib) == DEFAULT_FUNCTIONS == tuple(REFERENCE)
    expected = {"0": 0, "x": 1, "x^2": 2, "x^3": 3, "x^4": 4, "1/x": 2, "sqrt": 2, "exp": 2,
                "log": 2, "sin": 2, "cos": 2, "tan": 3, "tanh": 3, "arctan": 3,
                "gaussian": 3, "abs": 3}
    assert {f.name: f.complexity for f in lib} == expected


@pytest.mark.parametrize("name", DEFAULT_FUNCTIONS)
def test_values_and_derivatives_match_torch_and_autograd(name):
    (f,) = function_library([name])
    u = _points(name).requires_grad_(True)
    value, first, second = f.derivatives(u, 2)
    assert value.shape == first.shape == second.shape == u.shape
    torch.testing.assert_close(value, REFERENCE[name](u.detach()), rtol=1e-12, atol=1e-12)
    ref = REFERENCE[name](u) + 0 * u  # part of the graph even for constants
    (d1,) = torch.autograd.grad(ref.sum(), u, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), u) if d1.requires_grad else (torch.zeros_like(u),)
    torch.testing.assert_close(first, d1.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(second, d2, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(f(u.detach()), value)


@pytest.mark.parametrize("name", DEFAULT_FUNCTIONS)
def test_sympy_substitution_evaluates_to_the_same_numbers(name):
    (f,) = function_library([name])
    a, b = 0.7, 0.05  # a * u + b stays inside every domain for the points below
    u = _points(name)
    expr = f.sympy(sympy.Float(a) * X + sympy.Float(b))
    by_sympy = torch.tensor([[float(expr.subs(X, float(p))) for p in row] for row in u.tolist()],
                            dtype=torch.float64)
    torch.testing.assert_close(by_sympy, f(a * u + b), rtol=1e-12, atol=1e-12)


def test_constants_come_back_shaped_typed_and_fresh():
    (zero, lin) = function_library(["0", "x"])
    u = torch.ones(2, 3, dtype=torch.float32)
    for t in zero.derivatives(u, 2) + lin.derivatives(u, 2)[1:]:
        assert t.shape == u.shape and t.dtype == torch.float32
    assert lin(u) is not u  # the identity does not hand back the caller's tensor
    assert torch.equal(lin.derivatives(u, 2)[1], torch.ones_like(u))
    cube = function_library(["x^3"])[0].derivatives(u, 3)  # third derivative 6, as for the jets of order 3
    assert torch.equal(cube[3], torch.full_like(u, 6.0)) and cube[3].dtype == torch.float32
    with pytest.raises(KanpdeError, match="order 4 .* expected 0, 1, 2 or 3"):
        lin.derivatives(u, 4)


def test_extra_functions_are_usable_and_leave_the_defaults_alone():
    lib = function_library(["x", "sin"], extra={"xexp": "x*exp(-x)", "sq": "x^2",
                                                "cubic": (sympy.Symbol("x") ** 3 + X, 7)})
    assert [f.name for f in lib] == ["x", "sin", "xexp", "sq", "cubic"]
    xexp, sq, cubic = lib[2:]
    assert xexp.complexity == int(sympy.count_ops(X * sympy.exp(-X))) + 1 == 3
    assert cubic.complexity == 7 and cubic.expr == X**3 + X  # plain Symbol("x") is read as X
    u = torch.linspace(-1.0, 2.0, 7, dtype=torch.float64)
    value, first, second = xexp.derivatives(u, 2)
    torch.testing.assert_close(value, u * torch.exp(-u), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(first, (1 - u) * torch.exp(-u), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(second, (u - 2) * torch.exp(-u), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sq(u), u**2)  # "^" reads as a power
    assert tuple(f.name for f in function_library()) == DEFAULT_FUNCTIONS
    assert function_library("sin")[0].name == "sin"  # one name as a string


def test_constant_extra_with_irrational_constants():
    (f,) = function_library([], extra={"k": "sqrt(2)*pi + E"})
    u = torch.zeros(4, dtype=torch.float64)
    torch.testing.assert_close(f(u), torch.full_like(u, math.sqrt(2) * math.pi + math.e))


def test_unknown_names_are_listed_with_the_known_ones():
    with pytest.raises(KanpdeError, match=r"unknown library function\(s\) \['cosh'\].*known: 0, x"):
        function_library(["sin", "cosh"])


@pytest.mark.parametrize("extra, message", [
    ({"bad": "x*y"}, r"the name y is not allowed; accepted: numbers, x, the constants"),
    ({"bad": sympy.Symbol("x") * sympy.Symbol("y")}, r"depends on \['y'\].*variable x only"),
    ({"bad": "x +* 2"}, r"cannot read .* as a formula in x"),
    ({"bad": lambda v: v}, r"cannot read .* as a formula in x"),
    ({"bad": "Heaviside(x)"}, r"the call Heaviside\(\.\.\.\) is not allowed"),
    ({"bad": sympy.Heaviside(sympy.Symbol("x"))}, r"cannot be evaluated with torch.*such as abs"),
    ({"bad": ("x**2", -1)}, r"complexity -1.*integer >= 0"),
    ({"sin": "x"}, r"'sin' clashes with a selected library function"),
])
def test_bad_extras_are_rejected_with_a_helpful_message(extra, message):
    with pytest.raises(KanpdeError, match=message):
        function_library(extra=extra)
