"""Judge a window's sketches against the reference profile with the drift pillar's rules.

A monitor holds each window's sketches, counted batch by batch on the reference
profile's edges as events arrived; :meth:`DriftDetector.compare_profile` judges them
with the same tests, corrections and thresholds as `assay drift`, reading no data.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from assay.drift import (
    CategoricalSketch,
    DriftDetector,
    DriftReport,
    DriftSpec,
    NumericSketch,
    Profile,
    empty_text_as_missing,
)

__all__ = ["SketchJudge", "empty_sketches"]


def empty_sketches(reference: Profile, columns: list[str]) -> dict[str, Any]:
    """Sketches shaped like the reference's (same bin edges, same category cap), with no counts."""
    out: dict[str, Any] = {}
    for name in columns:
        ref = reference.columns[name]
        out[name] = NumericSketch.empty(ref.edges, ref.tick_us) if isinstance(ref, NumericSketch) else CategoricalSketch(cap=ref.cap)
    return out


class SketchJudge:
    """Fitted once on the reference profile; :meth:`judge` compares one window's sketches."""

    def __init__(self, reference: Profile, columns: list[str], drift: dict[str, Any] | None = None) -> None:
        spec = DriftSpec(**{**(drift or {}), "columns": tuple(columns), "method": "binned", "multivariate": False})
        self.detector_ = DriftDetector(spec).fit(reference)
        self.reference_ = reference
        self.columns_ = columns
        # The drift pillar reads an empty text field of a CSV as missing, so a reference built from
        # a CSV has no "" category: an event's "" is then that missing value, not a new category
        # (which made every window drift). A reference that holds "" (from Parquet) keeps counting it.
        self.empty_is_missing_ = frozenset(n for n in columns if isinstance(reference.columns[n], CategoricalSketch) and not reference.columns[n].counts_empty_text)

    def add(self, sketches: dict[str, Any], table: pa.Table) -> None:
        """Count one batch of events into a window's ``sketches``."""
        for name, sketch in sketches.items():
            column = table.column(name)
            if name in self.empty_is_missing_:
                missing = empty_text_as_missing(column)
                column = column if missing is None else missing
            sketch.add(column)

    def judge(self, rows: int, sketches: dict[str, Any], label: str) -> DriftReport:
        return self.detector_.compare_profile(Profile(rows, {n: sketches[n] for n in self.columns_}, label))
