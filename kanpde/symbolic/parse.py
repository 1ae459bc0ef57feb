"""Formula strings (config values, user input) to sympy expressions, without running Python.

``sympy.parse_expr`` and ``sympy.sympify`` of a string ``eval`` it, so a config value such
as ``__import__("os").system(...)`` would run. Here the text is only *parsed*, with
Python's ``ast`` module, and the tree is walked against a whitelist (numbers, the given
symbols, ``pi`` and ``E``, + - * / ** and unary +/-, calls of whitelisted functions by
name); the sympy expression is built node by node from that tree. Anything else (an
attribute, a subscript, a string, a lambda, a keyword argument, an unknown name) is refused
with a KanpdeError naming the piece.

``^`` reads as a power, as it did with sympy's ``convert_xor``: it is replaced by ``**``
before parsing, because Python's ``^`` binds more loosely than ``+`` (``x^2+1`` would
otherwise be ``x^(2+1)``). Inside a string that would change the text too, but strings are
refused anyway.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

import sympy

from kanpde.errors import KanpdeError

# name -> sympy function of one argument; the aliases follow numpy (arcsin) and Python (abs)
FUNCTIONS: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "log": sympy.log,
    "sqrt": sympy.sqrt, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "asin": sympy.asin, "arcsin": sympy.asin, "acos": sympy.acos, "arccos": sympy.acos,
    "atan": sympy.atan, "arctan": sympy.atan, "asinh": sympy.asinh, "arcsinh": sympy.asinh,
    "acosh": sympy.acosh, "arccosh": sympy.acosh, "atanh": sympy.atanh, "arctanh": sympy.atanh,
    "erf": sympy.erf, "abs": sympy.Abs, "Abs": sympy.Abs, "sign": sympy.sign,
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}

_MAX_LENGTH = 10_000  # characters; bounds the work of building (and the size of numbers)
_MAX_EXPONENT = 1000  # |numeric exponent|: sympy evaluates sqrt(2)**(10**10) to a giant integer
_MAX_DIGITS = 1000  # digits of a rational power such as (10**100)**100, evaluated eagerly by sympy
_SHOWN = 60  # characters of the offending text quoted in a message (it stays one line)

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_KINDS = {  # node type -> how a message names it
    ast.Attribute: "the attribute access", ast.Subscript: "the subscript", ast.Lambda: "the lambda",
    ast.Compare: "the comparison", ast.BoolOp: "the boolean operation", ast.IfExp: "the conditional",
    ast.Tuple: "the tuple", ast.List: "the list", ast.Dict: "the dict", ast.Set: "the set",
    ast.ListComp: "the comprehension", ast.SetComp: "the comprehension", ast.DictComp: "the comprehension",
    ast.GeneratorExp: "the generator", ast.NamedExpr: "the assignment", ast.Starred: "the starred argument",
    ast.JoinedStr: "the f-string", ast.Slice: "the slice",
}


def _digits(expr: sympy.Expr) -> float:
    """log10 of the largest numerator or denominator among the rationals in ``expr`` (about
    its number of decimal digits; math.log10 takes integers of any size)."""
    return max((math.log10(max(abs(int(r.p)), int(r.q), 1)) for r in expr.atoms(sympy.Rational)), default=0.0)


class _Refused(Exception):
    """Why the text is not a formula (turned into a KanpdeError with the context)."""


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def accepted(symbols: Mapping[str, object]) -> str:
    """The grammar in words, for messages."""
    names = ", ".join(symbols) if symbols else "no variables"
    return (f"numbers, {names}, the constants {', '.join(CONSTANTS)}, + - * / ** (^ reads as **), "
            f"and the functions {', '.join(FUNCTIONS)}")


def parse_formula(text: object, symbols: Mapping[str, sympy.Symbol], what: str) -> sympy.Expr:
    """The sympy expression written in ``text``, with the names in ``symbols`` as its
    variables; ``what`` (e.g. "symbolic.extra 'f'") begins the message of a refusal.

    Never evaluates Python; KanpdeError for anything outside the grammar of :func:`accepted`.
    """
    vars_ = ", ".join(symbols) if symbols else "no variables"
    head = f"{what}: cannot read {_short(str(text))!r} as a formula in {vars_}"
    try:
        if not isinstance(text, str):
            raise _Refused(f"it is a {type(text).__name__}, not a string")
        if len(text) > _MAX_LENGTH:
            raise _Refused(f"it is longer than {_MAX_LENGTH} characters")
        source = text.replace("^", "**").strip()  # strip: a leading space is an indent error in eval mode
        if not source:
            raise _Refused("it is empty")
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as err:  # also a too-long number literal or too many nested parentheses
            raise _Refused(f"it is not valid syntax ({err.msg})") from None
        except RecursionError:  # Python's parser nests a chain of ~2500 terms too deeply
            raise _Refused("it is too long a chain of terms, or nested too deeply, for Python's parser") from None
        except (ValueError, MemoryError) as err:
            raise _Refused(f"it cannot be parsed ({type(err).__name__})") from None
        return _Builder(source, symbols).build(tree.body)
    except _Refused as why:
        raise KanpdeError(f"{head}: {why}; accepted: {accepted(symbols)}") from None
    except RecursionError:
        raise KanpdeError(f"{head}: it is nested too deeply; accepted: {accepted(symbols)}") from None


class _Builder:
    """Walks one parsed text; ``source`` is kept to quote the offending pieces."""

    def __init__(self, source: str, symbols: Mapping[str, sympy.Symbol]):
        self.source = source
        self.symbols = symbols

    def piece(self, node: ast.AST) -> str:
        return _short(ast.get_source_segment(self.source, node) or type(node).__name__)

    def refuse(self, node: ast.AST, kind: str | None = None) -> _Refused:
        kind = kind or _KINDS.get(type(node), f"the {type(node).__name__} expression")
        return _Refused(f"{kind} {self.piece(node)} is not allowed")

    def build(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            if node.id in self.symbols:  # a coordinate named like a constant stays the coordinate
                return self.symbols[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise self.refuse(node, "the name")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand)
            raise self.refuse(node, "the operator in")
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.refuse(node)

    def number(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):  # str, bytes, None, complex, ...
            kind = "the string" if isinstance(value, (str, bytes)) else "the constant"
            raise self.refuse(node, kind)
        if isinstance(value, int):
            return sympy.Integer(value)
        if not math.isfinite(value):  # 1e999
            raise self.refuse(node, "the non-finite number")
        return sympy.Float(value)

    def binary(self, node: ast.BinOp) -> sympy.Expr:
        if type(node.op) not in _BINARY:
            raise self.refuse(node, "the operator in")
        if isinstance(node.op, ast.Pow):
            return self.power(node)
        # a long sum or product is a left-deep chain: gather it in a loop, not by recursion,
        # so that the longest chain Python's parser takes (about 2500 terms) is read here too
        additive = isinstance(node.op, (ast.Add, ast.Sub))
        ops = (ast.Add, ast.Sub) if additive else (ast.Mult, ast.Div)
        parts = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp) and isinstance(left.op, ops):
            parts.append((left.op, left.right))
            left = left.left
        terms = [self.build(left)]
        for op, right in reversed(parts):
            term = self.build(right)
            if isinstance(op, ast.Sub):
                term = -term
            elif isinstance(op, ast.Div):
                term = sympy.Pow(term, -1)
            terms.append(term)
        return self.bounded(sympy.Add(*terms) if additive else sympy.Mul(*terms), node)  # quote the whole chain

    def power(self, node: ast.BinOp) -> sympy.Expr:
        base, exponent = self.build(node.left), self.build(node.right)
        if exponent.is_Number:
            if abs(exponent) > _MAX_EXPONENT:
                raise _Refused(f"the exponent in {self.piece(node)} is too large (at most {_MAX_EXPONENT} "
                               "in absolute value)")
            # sympy multiplies out the integers in the base eagerly (10**999 * sqrt(2) too)
            digits = float(abs(exponent)) * _digits(base)
            if digits > _MAX_DIGITS:
                raise _Refused(f"the power {self.piece(node)} has about {digits:.0f} digits (at most "
                               f"{_MAX_DIGITS})")
        return self.bounded(sympy.Pow(base, exponent), node)

    def bounded(self, expr: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """``expr``, unless a number in it has grown past ``_MAX_DIGITS`` digits (a product of
        large powers): such a number makes later steps (printing, lambdify) fail or crawl."""
        digits = _digits(expr)
        if digits > _MAX_DIGITS:
            raise _Refused(f"{self.piece(node)} holds a number of about {digits:.0f} digits (at most "
                           f"{_MAX_DIGITS})")
        return expr

    def call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):  # f(x)(y), x.__class__(), __import__("os").system(...)
            raise self.refuse(node.func) if type(node.func) in _KINDS else self.refuse(node, "the call")
        name = node.func.id
        if name not in FUNCTIONS:
            raise _Refused(f"the call {name}(...) is not allowed")
        if node.keywords:
            raise self.refuse(node.keywords[0], "the keyword argument")
        if len(node.args) != 1:
            raise _Refused(f"{name} takes one argument; got {len(node.args)} in {self.piece(node)}")
        return FUNCTIONS[name](self.build(node.args[0]))
