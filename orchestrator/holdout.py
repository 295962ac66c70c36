"""A backtest's hold-out condition: `n_params >= 1e9`, `width == 1024 and tokens > 2e10`, ...

A small, closed grammar read with Python's `ast` (never evaluated): comparisons (`==`, `!=`, `<`, `<=`, `>`,
`>=`, chained like `64 <= width < 512`) between a column name and a number, joined by `and`, `or`, `not`
and parentheses. Columns are the imported table's axes (a held-out set is a set of whole cells); a name
that is not one of them, or anything else in the text, is a `HoldOutError` saying what is allowed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, Sequence

Row = Mapping[str, float | None]

_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class HoldOutError(ValueError):
    """The condition cannot be read; the message says what is allowed."""


def parse_hold_out(text: str, columns: Sequence[str]) -> Callable[[Row], bool]:
    """A predicate over a run's values on `columns` (module docstring for the grammar)."""
    allowed = ", ".join(columns)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise HoldOutError(
            f"hold-out {text!r} is not a condition ({exc.msg}); write e.g. 'n_params >= 1e9' or "
            f"'width == 1024', with columns from: {allowed}"
        ) from None
    return _compile(tree.body, text, list(columns))


def _compile(node: ast.expr, text: str, columns: list[str]) -> Callable[[Row], bool]:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, text, columns) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _compile(node.operand, text, columns)
        return lambda row: not inner(row)
    if isinstance(node, ast.Compare):
        ops = [_op(o, text) for o in node.ops]
        terms = [_term(t, text, columns) for t in [node.left, *node.comparators]]
        if not any(isinstance(t, str) for t in terms):
            raise HoldOutError(
                f"hold-out {text!r}: each comparison must name a column ({', '.join(columns)})"
            )

        def compare(row: Row) -> bool:
            values = [row.get(t) if isinstance(t, str) else t for t in terms]
            if any(v is None for v in values):
                return False  # a run without this column is never held out by it
            return all(op(a, b) for op, a, b in zip(ops, values, values[1:], strict=False))

        return compare
    raise HoldOutError(
        f"hold-out {text!r}: only comparisons of columns with numbers, joined by and/or/not, are allowed"
    )


def _term(node: ast.expr, text: str, columns: list[str]) -> str | float:
    if isinstance(node, ast.Name):
        if node.id not in columns:
            raise HoldOutError(
                f"hold-out {text!r}: {node.id!r} is not one of the study's axes ({', '.join(columns)})"
            )
        return node.id
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _term(node.operand, text, columns)
        if isinstance(value, float):
            return -value
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    raise HoldOutError(f"hold-out {text!r}: {ast.unparse(node)!r} is neither a column nor a number")


def _op(node: ast.cmpop, text: str) -> Callable[[float, float], bool]:
    op = _COMPARE.get(type(node))
    if op is None:
        raise HoldOutError(f"hold-out {text!r}: use ==, !=, <, <=, > or >=")
    return op
