"""The safe formula parser (kanpde.symbolic.parse) and the public paths that use it.

A formula string comes from a config or a user; ``sympy.parse_expr``/``sympify`` would
``eval`` it. These tests check that formulas are read correctly, that hostile strings are
refused with a KanpdeError naming the context (and run nothing: a marker file that a
shell command would create stays absent), and that SymbolicOptions checks every option
with a message naming its config key.
"""

import math
import os

import pytest
import sympy

import kanpde
from kanpde.errors import KanpdeError
from kanpde.symbolic.library import DEFAULT_FUNCTIONS, X, function_library
from kanpde.symbolic.parse import parse_formula
from kanpde.symbolic.pipeline import SymbolicOptions
from kanpde.symbolic.verify import verify_formula

SYMBOLS = {"x": X}
WHAT = "the test formula"

# -- 1. what is read, and how ---------------------------------------------------------------
PARSED = [
    ("x^2+1", X**2 + 1),  # ^ is a power that binds tighter than +, not x^(2+1)
    ("x**2+1", X**2 + 1),
    ("2^3^2", sympy.Integer(512)),  # right-associative, like **
    ("2*x*exp(-x)", 2 * X * sympy.exp(-X)),
    ("sin(pi*x)/x", sympy.sin(sympy.pi * X) / X),
    ("-x**3", -(X**3)),
    ("(-x)**2", X**2),
    ("arctan(x)", sympy.atan(X)),
    ("arcsin(x) + acos(x)", sympy.asin(X) + sympy.acos(X)),
    ("abs(x)", sympy.Abs(X)),
    ("Abs(x)", sympy.Abs(X)),
    ("1e-3*x", sympy.Float(1e-3) * X),
    ("E**x", sympy.exp(X)),
    ("sqrt(x) + log(x)", sympy.sqrt(X) + sympy.log(X)),
    ("1-2-3", sympy.Integer(-4)),  # left-associative
    ("8/2/2", sympy.Integer(2)),
    ("x/2*x", X**2 / 2),
    ("+x - -x", 2 * X),
    ("  x  ", X),  # surrounding whitespace is not an indentation error
    ("tanh(x) + erf(x) + sign(x)", sympy.tanh(X) + sympy.erf(X) + sympy.sign(X)),
]


@pytest.mark.parametrize("text, expected", PARSED, ids=[t for t, _ in PARSED])
def test_formulas_are_read_as_written(text, expected):
    got = parse_formula(text, SYMBOLS, WHAT)
    assert isinstance(got, sympy.Expr)
    assert sympy.simplify(got - expected) == 0
    assert got.free_symbols <= {X}  # the given symbol itself (real), not a fresh Symbol("x")


def test_power_is_not_xor_precedence():
    got = parse_formula("x^2+1", SYMBOLS, WHAT)
    assert got == X**2 + 1
    assert sympy.simplify(got - X**3) != 0  # what Python's ^ precedence would give


def test_symbols_are_the_given_ones_and_shadow_constants():
    t, e = sympy.Symbol("t", positive=True), sympy.Symbol("E")
    assert parse_formula("exp(-t)", {"t": t}, WHAT) == sympy.exp(-t)
    assert parse_formula("E*2", {"E": e}, WHAT) == 2 * e  # a coordinate named E stays the coordinate
    assert parse_formula("E", {}, WHAT) == sympy.E
    assert parse_formula("pi", {}, WHAT) == sympy.pi


def test_a_long_sum_and_product_are_read_exactly():
    n = 1000
    assert parse_formula("+".join(["x"] * n), SYMBOLS, WHAT) == n * X
    assert parse_formula("+".join(str(i) for i in range(1, n + 1)), {}, WHAT) == n * (n + 1) // 2
    assert parse_formula("-".join(["x"] * n), SYMBOLS, WHAT) == (2 - n) * X
    assert parse_formula("*".join(["x"] * n), SYMBOLS, WHAT) == X**n


def test_a_2000_term_sum_is_read():  # about the longest chain Python's own parser takes
    assert parse_formula("+".join(["x"] * 2000), SYMBOLS, WHAT) == 2000 * X


def test_a_too_long_or_too_deep_sum_is_refused_not_a_recursion_error():
    for text in ("+".join(["x"] * 5000), "-" * 5000 + "x", "**".join(["x"] * 3000)):
        with pytest.raises(KanpdeError, match="accepted"):
            parse_formula(text, SYMBOLS, WHAT)


# -- 2. hostile strings: refused, nothing run -----------------------------------------------
def _executing(marker: str) -> list[str]:
    """Strings that create ``marker`` if Python evaluates them."""
    touch = f"touch {marker}"
    return [
        f'__import__("os").system("{touch}")',
        f"__import__('os').system('{touch}')",
        f'x + __import__("os").system("{touch}")',
        f'sin(__import__("os").system("{touch}"))',
        f'exec("import os; os.system(\'{touch}\')")',
        f'eval("__import__(\'os\').system(\'{touch}\')")',
        f'(lambda: __import__("os").system("{touch}"))()',
        f'[__import__("os").system("{touch}") for _ in (1,)]',
        f'getattr(__import__("os"), "system")("{touch}")',
        f'().__class__.__bases__[0].__subclasses__() and __import__("os").system("{touch}")',
    ]


HOSTILE = [
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    'eval("1")',
    'exec("x = 1")',
    'open("f")',
    "lambda: 1",
    "[x for x in ()]",
    "x if x else 1",
    '"a"',
    "b'a'",
    'f"{x}"',
    "sin(x=1)",
    "sin(*x)",
    "sin(x, x)",
    "sin()",
    "x[0]",
    "x == 1",
    "x < 1",
    "x and 1",
    "not x",
    "(x := 1)",
    'getattr(x, "y")',
    "sin(x)(x)",
    "x(1)",
    "unknown(x)",
    "y + x",
    "e",
    "x // 2",
    "x % 2",
    "x @ x",
    "~x",
    "x, 1",
    "{x: 1}",
    "None",
    "True",
    "...",
    "1j",
    "9**9**9**9",
    "(10**100)**100",
    "2**2**2**2**2",
    "1e999",
    "-1e999*x",
    "(" * 500 + "x" + ")" * 500,
    "",
    "   ",
    "x; import os",
    "x\nimport os",
    "x+" * 10_000 + "x",  # 20001 characters
]


@pytest.fixture
def marker_dir(tmp_path, monkeypatch):
    """An empty folder, the working directory, whose marker file no test may create."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _marker(folder) -> str:
    return os.path.join(os.path.abspath(folder), "pwned")


def test_marker_strings_would_run_under_sympy_parse_expr(marker_dir):
    """The control: the old reading (sympy.parse_expr) runs the first string, so the
    marker checks below can fail."""
    sympy.parse_expr(_executing(_marker(marker_dir))[0])
    assert os.path.exists(_marker(marker_dir))


@pytest.mark.parametrize("index", range(len(_executing("M"))))
def test_executing_strings_are_refused_and_run_nothing(marker_dir, index):
    text = _executing(_marker(marker_dir))[index]
    with pytest.raises(KanpdeError) as info:
        parse_formula(text, SYMBOLS, WHAT)
    message = str(info.value)
    assert WHAT in message and "accepted" in message
    assert not os.path.exists(_marker(marker_dir))
    assert os.listdir(marker_dir) == []


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_are_refused_with_the_context(marker_dir, text):
    with pytest.raises(KanpdeError) as info:
        parse_formula(text, SYMBOLS, WHAT)
    message = str(info.value)
    assert message.startswith(WHAT)
    assert "accepted" in message
    assert len(message) < 1000  # the offending text is quoted short, not whole
    assert os.listdir(marker_dir) == []


@pytest.mark.parametrize("value", [None, 3, 1.5, b"x", ["x"], sympy.Symbol("x")])
def test_a_non_string_is_refused(value):
    with pytest.raises(KanpdeError, match="not a string"):
        parse_formula(value, SYMBOLS, WHAT)


def test_the_message_names_the_piece_refused():
    with pytest.raises(KanpdeError, match="attribute"):
        parse_formula("x.__class__", SYMBOLS, WHAT)
    with pytest.raises(KanpdeError, match="keyword"):
        parse_formula("sin(x=1)", SYMBOLS, WHAT)
    with pytest.raises(KanpdeError, match=r"unknown\(\.\.\.\)"):
        parse_formula("unknown(x)", SYMBOLS, WHAT)
    with pytest.raises(KanpdeError, match="the name y"):
        parse_formula("y", SYMBOLS, WHAT)
    with pytest.raises(KanpdeError, match="exponent .* too large"):
        parse_formula("9**9**9**9", SYMBOLS, WHAT)
    with pytest.raises(KanpdeError, match="digits"):
        parse_formula("(10**100)**100", SYMBOLS, WHAT)
    with pytest.raises(KanpdeError, match="longer than"):
        parse_formula("x+" * 10_000 + "x", SYMBOLS, WHAT)


# -- 3. the public paths ----------------------------------------------------------------------
def _all_hostile(folder) -> list[str]:
    return _executing(_marker(folder)) + HOSTILE


def test_function_library_refuses_hostile_extras(marker_dir):
    for text in _all_hostile(marker_dir):
        with pytest.raises(KanpdeError, match="extra library function 'f'"):
            function_library(extra={"f": text})
        with pytest.raises(KanpdeError, match="extra library function 'f'"):
            function_library(["x"], extra={"f": (text, 3)})  # the (expression, complexity) form
    assert os.listdir(marker_dir) == []


def test_function_library_reads_a_string_extra():
    (f,) = function_library([], extra={"xexp": "x*exp(-x)"})
    assert f.name == "xexp" and sympy.simplify(f.expr - X * sympy.exp(-X)) == 0


def test_symbolic_options_refuse_hostile_extras(marker_dir):
    for text in _all_hostile(marker_dir):
        with pytest.raises(KanpdeError) as info:
            SymbolicOptions(extra={"f": text})
        assert "symbolic.extra" in str(info.value) and "'f'" in str(info.value)
    assert os.listdir(marker_dir) == []


def test_verify_formula_refuses_hostile_formulas(marker_dir):
    problem = kanpde.load_problem("poisson1d")
    assert problem.domain.names == ("x",)
    for text in _all_hostile(marker_dir):
        with pytest.raises(KanpdeError) as info:
            verify_formula(problem, text, points=8)
        message = str(info.value)
        assert "poisson1d" in message and "accepted" in message
    assert os.listdir(marker_dir) == []


def test_verify_formula_still_reads_a_string():
    problem = kanpde.load_problem("poisson1d")
    result = verify_formula(problem, "x^2 + sin(pi*x)", points=8)
    assert result.checks  # it ran the residual and condition checks on the parsed formula


# a huge integer is built from allowed pieces (each power within the bounds); printing it
# (lambdify, str) then raises Python's int-to-str ValueError, not a KanpdeError
HUGE_INTEGER = "*".join(["10**999"] * 5) + "*x"


@pytest.mark.parametrize("path", ["function_library", "SymbolicOptions", "verify_formula"])
def test_a_huge_integer_is_a_kanpde_error(path):
    with pytest.raises(KanpdeError):
        if path == "function_library":
            function_library(extra={"f": HUGE_INTEGER})
        elif path == "SymbolicOptions":
            SymbolicOptions(extra={"f": HUGE_INTEGER})
        else:
            verify_formula(kanpde.load_problem("poisson1d"), HUGE_INTEGER, points=8)


def test_a_power_of_a_huge_product_is_refused_quickly():
    with pytest.raises(KanpdeError):
        parse_formula("((sqrt(2)*10**999)**1000*sqrt(2))**1000", SYMBOLS, WHAT)


# -- 4. SymbolicOptions checks every option ----------------------------------------------------
BAD_OPTIONS = [
    ("prune_threshold", 1.0), ("prune_threshold", -0.1), ("prune_threshold", float("nan")),
    ("prune_threshold", "0.1"), ("prune_threshold", True),
    ("r2_threshold", 1.5), ("r2_threshold", -0.5), ("r2_threshold", None),
    ("complexity_weight", -1), ("complexity_weight", float("inf")),
    ("snap_rtol", float("inf")), ("snap_rtol", -0.01),
    ("samples", 3), ("samples", 201.0), ("samples", True),
    ("verify_points", 0), ("verify_points", -5), ("verify_points", "10"),
]


@pytest.mark.parametrize("key, value", BAD_OPTIONS, ids=[f"{k}={v!r}" for k, v in BAD_OPTIONS])
def test_bad_numeric_options_name_their_key(key, value):
    with pytest.raises(KanpdeError) as info:
        SymbolicOptions(**{key: value})
    assert f"symbolic.{key}" in str(info.value)
    assert "expected" in str(info.value)


def test_unknown_functions_list_the_known_ones():
    with pytest.raises(KanpdeError) as info:
        SymbolicOptions(functions=["sin", "nosuch"])
    message = str(info.value)
    assert "symbolic.functions" in message and "nosuch" in message
    assert all(name in message for name in DEFAULT_FUNCTIONS)


def test_extra_must_be_a_mapping():
    with pytest.raises(KanpdeError, match="symbolic.extra"):
        SymbolicOptions(extra="notamapping")
    with pytest.raises(KanpdeError, match="symbolic.extra"):
        SymbolicOptions(extra=["x*exp(-x)"])


def test_extra_must_not_clash_with_a_selected_function():
    with pytest.raises(KanpdeError, match=r"symbolic.extra 'sin' clashes"):
        SymbolicOptions(extra={"sin": "x"})
    with pytest.raises(KanpdeError, match=r"symbolic.extra 'exp' clashes"):
        SymbolicOptions(functions=["x", "exp"], extra={"exp": "exp(2*x)"})
    SymbolicOptions(functions=["x"], extra={"sin": "sin(2*x)"})  # not selected: no clash


def test_extra_depending_on_another_variable_names_the_key():
    with pytest.raises(KanpdeError, match="symbolic.extra"):
        SymbolicOptions(extra={"f": "x*y"})


@pytest.mark.parametrize("options", [
    {},
    {"prune_threshold": 0.0, "r2_threshold": 1.0, "snap_rtol": 0.0},
    {"prune_threshold": 0.99, "r2_threshold": 0.0, "complexity_weight": 0.0},
    {"complexity_weight": 2.5, "samples": 8, "verify_points": 1},
    {"functions": ["x", "sin"], "extra": {"xexp": "x*exp(-x)", "sq": ["x^2+1", 3]}},
    {"functions": "sin", "extra": {}},
    {"functions": None, "extra": {"g": sympy.exp(-(X**2) / 2)}},
])
def test_valid_options_construct(options):
    made = SymbolicOptions(**options)
    for key, value in options.items():
        assert getattr(made, key) == value
    assert math.isfinite(made.prune_threshold)
