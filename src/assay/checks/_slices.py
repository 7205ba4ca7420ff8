"""User slices (bins, categories, expressions) as boolean row masks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from assay.checks._expr import evaluate
from assay.checks._suite import SliceSpec
from assay.errors import InputError

__all__ = ["Slice", "expand_slices"]

#: a column slice with no bins or categories gets one slice per value, up to this many
MAX_CATEGORIES = 50


@dataclass
class Slice:
    name: str  # e.g. "age in [30, 50)", "country = FR", or the expression's name
    spec: str  # the SliceSpec it came from
    mask: np.ndarray

    @property
    def n(self) -> int:
        return int(self.mask.sum())


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def expand_slices(specs: list[SliceSpec], columns: Mapping[str, np.ndarray], n: int) -> list[Slice]:
    out: list[Slice] = []
    for spec in specs:
        if spec.where is not None:
            out.append(Slice(spec.name, spec.name, evaluate(spec.where, columns, n)))
            continue
        assert spec.column is not None
        if spec.column not in columns:
            raise InputError(f"slice {spec.name!r}: no column {spec.column!r} in the data",
                             hint=f"columns: {', '.join(list(columns)[:20])}{', …' if len(columns) > 20 else ''}")
        col = columns[spec.column]
        if spec.bins is not None:
            try:
                values = col.astype(np.float64)
            except (TypeError, ValueError):
                raise InputError(f"slice {spec.name!r}: bins need a numeric column, and {spec.column!r} holds "
                                 f"{'text' if col.dtype.kind in 'OUS' else col.dtype} values",
                                 hint="leave bins out for one slice per value, or give categories: [...]") from None
            edges = spec.bins
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                last = i == len(edges) - 2
                mask = (values >= lo) & ((values <= hi) if last else (values < hi))
                out.append(Slice(f"{spec.name} in [{_fmt(lo)}, {_fmt(hi)}{']' if last else ')'}", spec.name, mask))
            continue
        cats = spec.categories
        if cats is None:
            uniq = np.unique(col[~_isnan(col)]) if col.dtype.kind == "f" else np.unique(col.astype(str) if col.dtype == object else col)
            if len(uniq) > MAX_CATEGORIES:
                raise InputError(f"slice {spec.name!r}: column {spec.column!r} has {len(uniq)} distinct values, more than the "
                                 f"{MAX_CATEGORIES} slices one column may make by itself",
                                 hint="give bins: [...] or categories: [...]")
            cats = uniq.tolist()
        for cat in cats:
            mask = np.asarray((col.astype(str) == str(cat)) if col.dtype == object else (col == cat), dtype=bool)
            if spec.categories is not None and not mask.any():
                raise _absent(spec.name, spec.column, cat, col)
            out.append(Slice(f"{spec.name} = {_fmt(cat)}", spec.name, mask))
    return out


def _absent(name: str, column: str, cat: object, col: np.ndarray) -> InputError:
    """A listed category no row has: most often a typo, which would make a slice of no rows that
    no gate can judge (inconclusive, exit 1) rather than the error it is."""
    import difflib

    present = sorted({str(v) for v in (col[~_isnan(col)] if col.dtype.kind == "f" else col).tolist()})
    close = difflib.get_close_matches(str(cat), present, n=3)
    shown = ", ".join(present[:20]) + (f", … ({len(present)} in all)" if len(present) > 20 else "")
    return InputError(f"slice {name!r}: no row has {column} = {cat!r}" + (f"; did you mean {' or '.join(map(repr, close))}?" if close else ""),
                      hint=f"the column's values: {shown or 'none'}; remove the category or correct it")


def _isnan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(len(a), dtype=bool)
