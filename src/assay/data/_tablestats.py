"""Streaming per-column summaries of a table, and their deltas between two files.

Column summaries
    A numeric column (Parquet int / float / decimal types, a CSV column whose every value
    parses as a number) gets count, mean, std, min, max and quantiles
    (:mod:`assay.data._tablenumeric`); a text column its top values, distinct count and the
    values new or gone (:mod:`assay.data._tablevalues`); a temporal one its min and max.
    A column whose Arrow type no summary kernel handles keeps its row counts, gets `skipped`
    with the reason, and a note; the row diff is unaffected. In `to_dict()` non-finite
    floats are written as "nan" / "inf" / "-inf" so the JSON stays strict.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from typing import Any

import numpy as np

from assay.data._tablenumeric import _QUANTILES, _NumericStats
from assay.data._tablesource import _MISSING_TOKENS, _parse_numbers
from assay.data._tablevalues import _CategoryStats, _category_change, _sampled_change, DistinctBudget


def _whole_numbers(arr: Any) -> bool:
    """Whether every CSV cell of `arr` that is not a missing token is a whole number (digits)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = arr.filter(pc.invert(pc.is_in(arr, value_set=pa.array(_MISSING_TOKENS))))
    return bool(pc.all(pc.match_substring_regex(cells, r"^\s*[+-]?\d+\s*$")).as_py() is not False)


def _past_double(ints: Any) -> bool:
    """Whether an int64 array holds a value past 2**53, where doubles no longer hold every integer."""
    import pyarrow.compute as pc

    mm = pc.min_max(ints)
    return mm["min"].is_valid and (mm["min"].as_py() < -(2**53) or mm["max"].as_py() > 2**53)


def _whole_past_double(cells: Any, floats: Any) -> bool:
    """Whether a CSV cell written as a whole number (digits) parsed to a double past 2**53: a
    17-digit id in a column with fractions, which a double would round (ids 1 apart equal)."""
    import pyarrow.compute as pc

    big = pc.greater(pc.abs(floats), 2.0**53)
    if not pc.any(big).as_py():
        return False
    return bool(pc.any(pc.match_substring_regex(cells.filter(big), r"^\s*[+-]?\d+\s*$")).as_py())


class _ColumnStats:
    """Everything summarised about one column of one file."""

    def __init__(self, csv: bool, distinct_limit: int | DistinctBudget = 0, against: np.ndarray | None = None) -> None:
        self.csv = csv
        self.rows = 0
        self.nulls = 0
        self.type: Any = None
        # CSV: integer until a value says otherwise; Parquet: decided by the type.
        self.numeric: _NumericStats | None = _NumericStats(integer=True)
        self.categories: _CategoryStats | None = _CategoryStats(distinct_limit, against)
        self.lo: int | None = None  # temporal min / max, as the type's underlying integer
        self.hi: int | None = None
        self.seen_value = False
        self.minmax = False
        self.late = False  # CSV: turned out textual after numeric-looking batches
        self.past_double = False  # CSV: held a whole number a double cannot hold exactly (past 2**53)
        self.skipped: str | None = None  # why this column has no summary

    def numbers(self, arr: Any) -> Any:
        """A CSV batch of the column as the numbers it holds (int64 while every value so far is
        integral, else double; missing tokens null), or None once the column is text: call
        before `update` with the same batch (the type inferred so far moves on with it)."""
        import pyarrow as pa

        if not self.csv or self.numeric is None:
            return None
        text = False
        if self.numeric.integer:
            try:
                ints = _parse_numbers(arr, integer=True)
                self.past_double = self.past_double or _past_double(ints)
                return ints
            except pa.ArrowInvalid:
                self.numeric.to_float()
                # Whole numbers past int64 (20-digit ids): text, not rounded through double,
                # which would make ids that differ in their last digits equal; so too whole
                # numbers past 2**53 met before (as int64) in a column now of doubles.
                text = self.past_double or _whole_numbers(arr)
        if not text:
            try:
                floats = _parse_numbers(arr, integer=False)
                if not _whole_past_double(arr, floats):
                    return floats
            except pa.ArrowInvalid:
                pass
        self.numeric = None
        # Text from here on: count categories; earlier batches need a second look.
        self.late = self.seen_value
        return None

    def update(self, arr: Any, prio: np.ndarray, numbers: Any = None) -> None:
        """Add a batch of the column; `prio` is each row's sample priority (`_sample_priority`);
        `numbers`: what `numbers(arr)` gave (CSV)."""
        import pyarrow as pa

        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if self.type is None:
            self.type = arr.type
            self._choose_kind(arr.type)
        if numbers is None and self.csv:
            numbers = self.numbers(arr)
        self.rows += len(arr)
        self.nulls += arr.null_count
        self.seen_value = self.seen_value or arr.null_count < len(arr)
        if self.skipped is not None:
            return
        try:
            self._summarise(arr, prio, numbers)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # An Arrow type no summary kernel handles: lose this column's summary, not the diff.
            self.skip(f"{type(exc).__name__}: {exc}")

    def skip(self, reason: str) -> None:
        self.skipped = reason
        self.numeric = self.categories = None
        self.minmax = self.late = False

    def _summarise(self, arr: Any, prio: np.ndarray, numbers: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.numeric is not None:
            if self.csv:
                num = numbers
            elif pa.types.is_integer(arr.type):
                # Integers stay integers: through float64 they would round above 2**53.
                num = arr.cast(pa.uint64() if pa.types.is_uint64(arr.type) else pa.int64())
            else:
                num = arr.cast(pa.float64())  # floats, decimals
            if self.numeric is not None:
                valid = num.is_valid().to_numpy(zero_copy_only=False)
                vals = num.fill_null(0).to_numpy(zero_copy_only=False)
                self.numeric.update(vals[valid], prio[valid])
        if self.categories is not None and not (self.csv and self.numeric is not None):
            self.categories.update(arr)
        if self.minmax and arr.null_count < len(arr):
            # Through the underlying integer: min_max has no kernel for some types (durations).
            mm = pc.min_max(arr.view(pa.int32() if self.type.bit_width == 32 else pa.int64()))
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)

    def _choose_kind(self, t: Any) -> None:
        import pyarrow as pa

        if self.csv:
            return  # text: both kinds until the values decide
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        textual = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)
        textual = textual or pa.types.is_binary(t) or pa.types.is_large_binary(t)
        self.numeric = _NumericStats(integer=pa.types.is_integer(t)) if numeric else None
        if not textual:
            self.categories = None
        temporal = pa.types.is_temporal(t) and not pa.types.is_interval(t) and t.bit_width in (32, 64)
        self.minmax = temporal and not numeric and not textual

    @property
    def inferred_type(self) -> str:
        if not self.seen_value:
            return "null"
        if self.numeric is not None:
            return "int64" if self.numeric.integer else "double"
        return "string"

    @property
    def kind(self) -> str:
        if self.numeric is not None and (not self.csv or self.seen_value):
            return "numeric"
        if self.categories is not None:
            return "categorical"
        if self.minmax:
            return "temporal"
        return "other"

    def _temporal(self, value: int | None) -> Any:
        import pyarrow as pa

        if value is None:
            return None
        ints = pa.array([value], pa.int32() if self.type.bit_width == 32 else pa.int64())
        arr = ints.view(self.type)
        try:
            return arr[0].as_py()
        except (ValueError, OverflowError):  # e.g. nanoseconds without pandas: keep Arrow's text
            return arr.cast(pa.string())[0].as_py()

    def summary(self) -> dict[str, Any]:
        kind = self.kind
        out: dict[str, Any] = {"kind": kind, "rows": self.rows, "nulls": self.nulls}
        if kind == "numeric":
            assert self.numeric is not None
            out |= self.numeric.summary()
            if self.csv:  # missing tokens ("NA", ...) are nulls too
                out["nulls"] = self.rows - out["count"] - out["nan"]
        elif kind == "categorical":
            assert self.categories is not None
            distinct, exact = self.categories.distinct()
            out |= {"count": self.rows - self.nulls, "distinct": distinct, "distinct_exact": exact}
            out |= {"top": self.categories.top(), "top_exact": self.categories.complete}
        else:
            out |= {"count": self.rows - self.nulls}
            if kind == "temporal":
                out |= {"min": self._temporal(self.lo), "max": self._temporal(self.hi)}
        if self.skipped is not None:
            out["skipped"] = self.skipped
        return out


_NUMERIC_DELTAS = ("count", "nulls", "nan", "mean", "std", "min", "max", *_QUANTILES)


def _column_delta(old: _ColumnStats, new: _ColumnStats) -> dict[str, Any]:
    so, sn = old.summary(), new.summary()
    out: dict[str, Any] = {"kind": so["kind"] if so["kind"] == sn["kind"] else f"{so['kind']}->{sn['kind']}"}
    out |= {"old": so, "new": sn}
    names = ["rows", "nulls", "count"]
    if so["kind"] == sn["kind"] == "numeric":
        names = ["rows", *_NUMERIC_DELTAS]
    elif so["kind"] == sn["kind"] == "categorical":
        names = ["rows", "nulls", "count", "distinct"]
    delta = {}
    for name in names:
        a, b = so.get(name), sn.get(name)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            with np.errstate(invalid="ignore"):
                delta[name] = b - a if not (math.isinf(a) and a == b) else 0.0
        else:
            delta[name] = None
    out["delta"] = delta
    if so["kind"] == sn["kind"] == "categorical":
        co, cn = old.categories, new.categories
        assert co is not None and cn is not None
        out["new_categories"] = _category_change(cn, co)
        out["vanished_categories"] = _category_change(co, cn)
        # Too many values to list them all: examples from the values of the lowest hashes.
        if out["new_categories"] is None:
            out["new_values_sampled"] = _sampled_change(cn, co)
        if out["vanished_categories"] is None:
            out["vanished_values_sampled"] = _sampled_change(co, cn)
    return out


# --- JSON --------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    """Plain JSON values; non-finite floats become "nan" / "inf" / "-inf" (strict JSON has none)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, (_dt.date, _dt.time, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, (_dt.timedelta, decimal.Decimal)):
        return str(v)
    return repr(v)
