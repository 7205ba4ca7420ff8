"""Slice expressions such as ``age < 30 and country == "FR"``: a small, safe subset of Python
evaluated column-wise with numpy. No calls, no attributes, no subscripts: nothing can run."""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.errors import InputError

__all__ = ["evaluate", "parse_expression"]

_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Mod: operator.mod}
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Name,
            ast.Load, ast.Constant, ast.BinOp, ast.List, ast.Tuple, ast.In, ast.NotIn, *_CMP, *_BIN)


def parse_expression(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InputError(f"invalid expression {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise InputError(f"expression {text!r} uses {type(node).__name__}, which slices do not allow",
                             hint="use comparisons, and / or / not, in [...], arithmetic, column names and constants")
    return tree


def evaluate(text: str, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Boolean mask of the rows where ``text`` holds. A column is a condition by itself
    (``flag``, ``not flag``, ``flag and age > 30``) where it holds True/False or 0/1
    values; a missing value in it (None, NaN) is false: the row is not selected by ``flag``
    (though it is by ``not flag``; ``flag == False`` selects only the rows that say False)."""
    tree = parse_expression(text)

    def truth(value: Any, part: ast.AST) -> np.ndarray:
        # a number or a text is not a condition: `age + 3` would otherwise select every row but age == -3
        arr = np.asarray(value)
        if arr.dtype == bool:
            return arr
        if arr.dtype == object:
            # True/False with missing values (a CSV column with blanks, a nullable Parquet boolean):
            # a missing value is false, so the row is not selected (`flag == False` leaves it out of both)
            values = arr.ravel().tolist()
            missing = [_missing(v) for v in values]
            if all(m or isinstance(v, (bool, np.bool_)) for v, m in zip(values, missing, strict=True)) \
                    and not (values and all(missing)):
                return np.array([not m and bool(v) for v, m in zip(values, missing, strict=True)],
                                dtype=bool).reshape(arr.shape)
        if arr.ndim and arr.dtype.kind in "iuf":
            known = ~np.isnan(arr) if arr.dtype.kind == "f" else np.ones(arr.shape, dtype=bool)
            if np.isin(arr[known], (0, 1)).all() and (known.any() or not arr.size):
                return arr == 1  # a 0/1 flag column (`is_member`) is a condition, as it was before; NaN (missing) is false
        shown = ast.unparse(part)
        raise InputError(f"expression {text!r}: {shown!r} is not a condition (it gives {arr.dtype} values, not true/false)",
                         hint=f"a condition compares, e.g. `{shown} > 0` or `{shown} == 1`")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise InputError(f"expression {text!r}: no column {node.id!r}", hint=f"columns: {', '.join(list(columns)[:20])}")
            return columns[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return np.logical_not(truth(v, node.operand)) if isinstance(node.op, ast.Not) else -v
        if isinstance(node, ast.BoolOp):
            vals = [truth(ev(v), v) for v in node.values]
            fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = vals[0]
            for v in vals[1:]:
                out = fn(out, v)
            return out
        if isinstance(node, ast.BinOp):
            return _BIN[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            result = np.ones(n, dtype=bool)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = ev(comp)
                if isinstance(op, (ast.In, ast.NotIn)):
                    hit = np.isin(np.asarray(left), np.asarray(right, dtype=object if any(isinstance(r, str) for r in right) else None))
                    result &= hit if isinstance(op, ast.In) else ~hit
                else:
                    result &= np.asarray(_CMP[type(op)](left, right), dtype=bool)
                left = right
            return result
        raise InputError(f"expression {text!r}: unsupported {type(node).__name__}")

    try:
        mask = truth(ev(tree), tree.body)
    except InputError:
        raise
    except Exception as exc:
        hint = ("a text column compares with text in quotes (`site == \"A\"`), a number column with numbers"
                if isinstance(exc, TypeError) else None)
        raise InputError(f"expression {text!r} cannot be evaluated on the data: {type(exc).__name__}: {exc}", hint=hint) from None
    if mask.shape != (n,):
        mask = np.broadcast_to(mask, (n,)).copy()
    return mask


def _missing(value: object) -> bool:
    """None, NaN, or pandas' NA (told by its type's name: pandas is not imported for it)."""
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"
