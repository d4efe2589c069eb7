"""Arithmetic over table cells, carried as intervals.

An expression such as ``{4|1:1|GFLOPs} / (8 * {2|Model A|GFLOPs})`` names cells as
``{table|row|column}``. Each printed number stands for the interval it rounds from (± half its last
digit); the interval is carried through the arithmetic so that "agrees within the precision the
paper printed" is decided by arithmetic, not by a fudge factor. Python's ``ast`` keeps the grammar
small and safe: numbers, + - * / **, parentheses and a few functions.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from collections.abc import Callable, Mapping

from ..errors import ExpressionError

REF = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Interval:
    """A value `mid` known to lie in [lo, hi]."""

    lo: float
    mid: float
    hi: float

    @classmethod
    def exact(cls, value: float) -> Interval:
        return cls(value, value, value)

    @classmethod
    def around(cls, value: float, half_width: float) -> Interval:
        return cls(value - half_width, value, value + half_width)

    def _combine(self, other: Interval, op: Callable[[float, float], float]) -> Interval:
        ends = [op(a, b) for a in (self.lo, self.hi) for b in (other.lo, other.hi)]
        return Interval(min(ends), op(self.mid, other.mid), max(ends))

    def __add__(self, other: Interval) -> Interval:
        return Interval(self.lo + other.lo, self.mid + other.mid, self.hi + other.hi)

    def __sub__(self, other: Interval) -> Interval:
        return Interval(self.lo - other.hi, self.mid - other.mid, self.hi - other.lo)

    def __mul__(self, other: Interval) -> Interval:
        return self._combine(other, lambda a, b: a * b)

    def __truediv__(self, other: Interval) -> Interval:
        if other.lo <= 0.0 <= other.hi:
            if other.mid == 0.0:
                raise ExpressionError("division by zero")
            # The divisor's rounding interval spans zero: the quotient is unbounded.
            return Interval(-math.inf, self.mid / other.mid, math.inf)
        return self._combine(other, lambda a, b: a / b)

    def __pow__(self, other: Interval) -> Interval:
        if other.lo != other.hi:
            raise ExpressionError("an exponent must be a plain number")
        exponent = other.mid
        if self.lo < 0 and exponent != int(exponent):
            raise ExpressionError(f"a number that may be negative raised to the fractional power {exponent:g}")
        if self.lo <= 0 <= self.hi and exponent < 0:
            raise ExpressionError(f"a number that may be zero raised to the negative power {exponent:g}")
        ends = [self.lo**exponent, self.hi**exponent]
        if self.lo < 0.0 < self.hi and exponent > 0:
            ends.append(0.0)
        return Interval(min(ends), self.mid**exponent, max(ends))

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.mid, -self.lo)

    def __abs__(self) -> Interval:
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return -self
        return Interval(0.0, abs(self.mid), max(-self.lo, self.hi))

    def distance(self, other: Interval) -> float:
        """Gap between the two intervals; 0 when they overlap."""
        return max(0.0, self.lo - other.hi, other.lo - self.hi)


def _flatten(args: list) -> list[Interval]:
    out: list[Interval] = []
    for arg in args:
        out.extend(_flatten(arg) if isinstance(arg, list) else [arg])
    return out


def _min(*args: Interval | list) -> Interval:
    items = _flatten(list(args))
    return Interval(min(i.lo for i in items), min(i.mid for i in items), min(i.hi for i in items))


def _max(*args: Interval | list) -> Interval:
    items = _flatten(list(args))
    return Interval(max(i.lo for i in items), max(i.mid for i in items), max(i.hi for i in items))


def _sum(*args: Interval | list) -> Interval:
    total = Interval.exact(0.0)
    for item in _flatten(list(args)):
        total = total + item
    return total


def _mean(*args: Interval | list) -> Interval:
    items = _flatten(list(args))
    return _sum(items) / Interval.exact(float(len(items)))


FUNCTIONS: dict[str, Callable[..., Interval]] = {
    "abs": lambda x: abs(x), "min": _min, "max": _max, "sum": _sum, "mean": _mean,
}
ONE_ARGUMENT = ("abs",)  # the others take one or more numbers or lists
LARGEST_LITERAL = 1e15  # no printed number in a paper is larger; 10**400 is a typo, not a value
LARGEST_EXPONENT = 10

_BINOPS = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__",
           ast.Pow: "__pow__"}


@dataclass(frozen=True)
class Expression:
    """A parsed expression; `refs` are the cell references in order of appearance."""

    text: str
    refs: tuple[tuple[str, str, str], ...]
    tree: ast.Expression

    def evaluate(self, lookup: Mapping[tuple[str, str, str], Interval]) -> Interval:
        """The expression's interval; ExpressionError (never another exception) when it has none."""
        values = {f"_ref{i}": lookup[ref] for i, ref in enumerate(self.refs)}
        try:
            result = _eval(self.tree.body, values, self.text)
        except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
            if isinstance(exc, ExpressionError):
                raise ExpressionError(f"{self.text!r}: {exc}") from None
            raise ExpressionError(f"{self.text!r} cannot be evaluated: {exc}") from None
        if not isinstance(result, Interval) or any(isinstance(x, complex) or x != x for x in (result.lo, result.hi)):
            raise ExpressionError(f"{self.text!r} does not evaluate to one real number")
        return result


def split_ref(inner: str) -> tuple[str, str, str]:
    parts = [part.strip() for part in inner.split("|")]
    if len(parts) != 3 or not all(parts):
        raise ExpressionError(f"a cell reference is {{table|row|column}}, got {{{inner}}}")
    return parts[0], parts[1], parts[2]


def parse(text: str) -> Expression:
    """Parse an expression, raising ExpressionError that says what is wrong."""
    refs: list[tuple[str, str, str]] = []

    def substitute(match: re.Match) -> str:
        refs.append(split_ref(match.group(1)))
        return f"_ref{len(refs) - 1}"

    body = REF.sub(substitute, str(text))
    if "{" in body or "}" in body:
        raise ExpressionError(f"unbalanced braces in {text!r}")
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not an arithmetic expression: {text!r} ({exc.msg})") from None
    _check(tree.body, len(refs), text)
    return Expression(text=str(text), refs=tuple(refs), tree=tree)


def _check(node: ast.AST, n_refs: int, text: str, in_call: bool = False) -> None:
    """What an expression may contain: numbers up to LARGEST_LITERAL, cell references, + - * /, powers by a
    plain number up to LARGEST_EXPONENT, and the FUNCTIONS with their arity; lists only as their arguments."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, n_refs, text)
        _check(node.right, n_refs, text)
        if isinstance(node.op, ast.Pow):
            exponent = node.right.operand if isinstance(node.right, ast.UnaryOp) else node.right
            if not isinstance(exponent, ast.Constant) or abs(exponent.value) > LARGEST_EXPONENT:
                raise ExpressionError(f"{text!r}: an exponent must be a plain number within "
                                      f"±{LARGEST_EXPONENT}, got {ast.unparse(node.right)!r}")
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, n_refs, text)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        if not abs(node.value) <= LARGEST_LITERAL:  # also refuses inf and nan
            raise ExpressionError(f"{text!r}: the number {ast.unparse(node)[:20]}... is larger than any printed "
                                  f"value (at most {LARGEST_LITERAL:g})")
    elif isinstance(node, ast.Name) and re.fullmatch(r"_ref\d+", node.id):
        pass
    elif isinstance(node, (ast.List, ast.Tuple)) and in_call:
        for item in node.elts:
            _check(item, n_refs, text)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in FUNCTIONS and not node.keywords:
        name, count = node.func.id, len(node.args)
        if (name in ONE_ARGUMENT and count != 1) or count == 0 or any(isinstance(a, ast.Starred) for a in node.args):
            takes = "one number" if name in ONE_ARGUMENT else "one or more numbers or lists"
            raise ExpressionError(f"{text!r}: {name}() takes {takes}, got {count} argument{'s' if count != 1 else ''}")
        if any(isinstance(a, (ast.List, ast.Tuple)) and not a.elts for a in node.args):
            raise ExpressionError(f"{text!r}: {name}() of an empty list")
        for arg in node.args:
            _check(arg, n_refs, text, in_call=name not in ONE_ARGUMENT)
    else:
        shown = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
        raise ExpressionError(
            f"{text!r}: {shown!r} is not allowed; use numbers, {{table|row|column}}, + - * / **, "
            f"parentheses and {', '.join(sorted(FUNCTIONS))} (lists only inside them)")


def _eval(node: ast.AST, values: dict[str, Interval], text: str):
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, values, text), _eval(node.right, values, text)
        return getattr(left, _BINOPS[type(node.op)])(right)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Constant):
        return Interval.exact(float(node.value))
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(item, values, text) for item in node.elts]
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*[_eval(arg, values, text) for arg in node.args])
    raise ExpressionError(f"cannot evaluate {text!r}")  # unreachable after _check
