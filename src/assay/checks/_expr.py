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
    """Boolean mask of the rows where ``text`` holds."""
    tree = parse_expression(text)

    def truth(value: Any, part: ast.AST) -> np.ndarray:
        # a number or a text is not a condition: `age + 3` would otherwise select every row but age == -3
        arr = np.asarray(value)
        if arr.dtype == bool or (arr.dtype == object and all(isinstance(v, (bool, np.bool_)) for v in arr.ravel().tolist())):
            return arr.astype(bool)
        if arr.ndim and arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
            return arr.astype(bool)  # a 0/1 flag column (`is_member`) is a condition, as it was before
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
