"""Streaming per-column summaries of a table, and their deltas between two files.

Column summaries
    Integer columns (Parquet int/uint types, CSV columns whose every value parses as an
    int64) are summarised as integers: min, max and every whole-number quantile are
    exact ints (never rounded through float64); the mean is the exact sum / count.
    Numeric summaries leave NaN out (counted in `nan`); infinities are kept: the mean is
    +inf or -inf when infinities of one sign are present (nan with both), the std is inf
    when any value is infinite (the limit as that value grows), and a quantile between a
    finite value and an infinite one is that infinity (so [1, 2, inf] has median 2).
    Every distinct value's 8-byte hash is kept while a file's columns' fit `_EXACT_BYTES`
    (shared among its columns): then distinct counts are exact, and so are the counts of new
    and gone values (`new_categories` / `vanished_categories`), with examples (new values:
    the first met while the new file is read; gone ones: those among the top values or the
    sample). Past it, distinct counts above `_KMV` are estimates (`distinct_exact` false), never more than
    the non-null count. When too many values for the top values to tell which are new or
    gone (`new_categories` / `vanished_categories` None), `new_values_sampled` /
    `vanished_values_sampled` give examples among the `_VALUE_SAMPLE` values of the lowest
    hashes (chosen by value, so both files' samples agree where the values do) and an
    estimate of how many there are. A column whose Arrow type no summary kernel handles keeps its
    row counts, gets `skipped` with the reason, and a note; the row diff is unaffected.
    In `to_dict()` non-finite floats are written as "nan" / "inf" / "-inf" so the JSON
    stays strict.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from typing import Any

import numpy as np

from assay.data._tablehash import _hash_column
from assay.data._tablesource import _parse_numbers

_QUANTILE_SAMPLE = 65_536
_QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
_TOP_CAP = 10_000
_VALUE_KEPT = 200  # characters of a top value kept to be shown
_TOP_SHOWN = 10
_CATEGORIES_LISTED = 20
_KMV = 16_384
_VALUE_SAMPLE = 1_024  # distinct values kept per text column, those of the lowest hashes: examples of new / gone values
_SAMPLE_SHOWN = 10
# Distinct value hashes kept a side, shared among its columns: while a text column's fit, its
# new / gone values are counted exactly (200k distinct values: 1.6 MB).
_EXACT_BYTES = 24 << 20


# --- column summaries --------------------------------------------------------------


class _NumericStats:
    """Streaming count / mean / std, min / max and sampled quantiles of one numeric column.

    Integer columns stay integers (int64, or uint64 for a uint64 column): min, max and
    whole-number quantiles are exact ints, and the mean is an exact sum / count.
    Float columns: mean and std by Chan's parallel update over the finite values, with
    infinities counted apart, so the answer does not depend on batching (see module doc).
    """

    def __init__(self, *, integer: bool) -> None:
        self.integer = integer
        self.count = 0
        self.nan = 0
        self.pos_inf = 0
        self.neg_inf = 0
        self.finite = 0
        self.total = 0  # exact sum while integer
        self.mean = 0.0  # of the finite values
        self.m2 = 0.0
        self.min: int | float | None = None
        self.max: int | float | None = None
        self.sample: np.ndarray | None = None
        self.priority = np.zeros(0, dtype=np.uint64)

    def to_float(self) -> None:
        """A CSV column that looked integral met a non-integer: go on in float64."""
        if not self.integer:
            return
        self.integer = False
        if self.sample is not None:
            self.sample = self.sample.astype(np.float64)
        if self.min is not None:
            self.min, self.max = float(self.min), float(self.max)  # type: ignore[arg-type]

    def update(self, values: np.ndarray, prio: np.ndarray) -> None:
        """Add the non-null `values` (int64 / uint64 when integer, else float64) of rows of sample priority `prio`."""
        if self.integer:
            finite = values
            if values.size:
                self.total += _exact_sum(values)
        else:
            nan = np.isnan(values)
            self.nan += int(nan.sum())
            values, prio = values[~nan], prio[~nan]
            inf = np.isinf(values)
            if inf.any():
                self.pos_inf += int((values[inf] > 0).sum())
                self.neg_inf += int((values[inf] < 0).sum())
            finite = values[~inf]
        if not values.size:
            return
        self.count += values.size
        if finite.size:
            f = finite.astype(np.float64)
            nb = f.size
            with np.errstate(over="ignore", invalid="ignore"):
                mb = float(f.mean())
                m2b = float(((f - mb) ** 2).sum())
                total = self.finite + nb
                delta = mb - self.mean
                self.mean = self.mean + delta * nb / total if self.finite else mb
                self.m2 = self.m2 + m2b + delta * delta * self.finite * nb / total
            self.finite = total
        lo, hi = values.min().item(), values.max().item()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        # Bottom-k by the rows' priority (a hash of their key or content, see _sample_priority):
        # a uniform sample that an unchanged row is in on both sides or on neither.
        if self.sample is None:
            self.sample = values
        else:
            self.sample = np.concatenate((self.sample, values.astype(self.sample.dtype, copy=False)))
        self.priority = np.concatenate((self.priority, prio))
        if self.sample.size > _QUANTILE_SAMPLE:
            keep = np.argpartition(self.priority, _QUANTILE_SAMPLE - 1)[:_QUANTILE_SAMPLE]
            self.sample, self.priority = self.sample[keep], self.priority[keep]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "nan": self.nan}
        if not self.count:
            return out | {"mean": None, "std": None, "min": None, "max": None} | dict.fromkeys(_QUANTILES)
        assert self.sample is not None
        if self.integer:
            mean: float = self.total / self.count  # int / int: correctly rounded, no overflow
        elif self.pos_inf and self.neg_inf:
            mean = math.nan
        elif self.pos_inf or self.neg_inf:
            mean = math.inf if self.pos_inf else -math.inf
        else:
            mean = self.mean
        std = None
        if self.count > 1:
            std = math.inf if self.pos_inf or self.neg_inf else math.sqrt(self.m2 / (self.count - 1))
        out |= {"mean": mean, "std": std, "min": self.min, "max": self.max}
        out |= dict(zip(_QUANTILES, _quantiles(np.sort(self.sample), list(_QUANTILES.values()))))
        out["quantiles_exact"] = self.count <= _QUANTILE_SAMPLE
        return out


def _exact_sum(values: np.ndarray) -> int:
    # Split each 64-bit integer into 32-bit halves: neither half-sum can overflow for a batch.
    if values.dtype == np.uint64:
        hi, lo = values >> np.uint64(32), values & np.uint64(0xFFFFFFFF)
    else:
        hi, lo = values >> np.int64(32), values & np.int64(0xFFFFFFFF)
    return (int(hi.sum()) << 32) + int(lo.sum())


def _quantiles(a: np.ndarray, qs: list[float]) -> list[int | float]:
    """Linear interpolation between closest ranks (NumPy's default), exact for integers and ±inf.

    `a` is sorted. A quantile that lands on a value is that value; between two values it
    is lo + (hi - lo) * g (an exact int for integers when whole), and its limit when one
    of them is infinite (so [1, 2, inf] has median 2 and p75 inf; -inf..inf stays nan).
    """
    integer = a.dtype.kind in "iu"
    out: list[int | float] = []
    for q in qs:
        h = (a.size - 1) * q
        i = math.floor(h)
        g = h - i
        lo = a[i].item()
        hi = a[i + 1].item() if g else lo
        if lo == hi:
            out.append(lo if integer else float(lo))
        elif integer:
            step = (hi - lo) * g  # exact int difference times g: one rounding
            out.append(lo + int(step) if step.is_integer() else lo + step)
        elif math.isinf(lo) or math.isinf(hi):
            out.append(math.nan if (lo, hi) == (-math.inf, math.inf) else (hi if math.isinf(hi) else lo))
        else:
            out.append(lo + (hi - lo) * g)
    return out


class _CategoryStats:
    """Top values (space-bounded: at most `_TOP_CAP` tracked), every distinct value's hash while
    there are at most `limit` (`distinct_limit`), and a KMV distinct-count sketch."""

    def __init__(self, limit: int = 0, against: np.ndarray | None = None) -> None:
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.values: Any = None
        self.complete = True
        self.kmv = np.zeros(0, dtype=np.uint64)
        self.n = 0  # non-null values seen: a bound for the distinct estimate
        # The distinct values of the `_VALUE_SAMPLE` lowest hashes (sorted) and the values:
        # chosen by value, so two files' samples hold the same values where they agree.
        self.sample_hashes = np.zeros(0, dtype=np.uint64)
        self.sample_values: Any = None
        # Every distinct hash (parts, merged now and then) until more than `limit`: then None.
        self.limit = limit
        self._every: list[np.ndarray] | None = [] if limit else None
        self._merged = 0
        self._held = 0
        # `against`: the other file's distinct hashes (sorted). The first `_CATEGORIES_LISTED`
        # values not among them are kept, with how often they occur: examples of new values.
        self.against = against
        self.fresh_hashes = np.zeros(0, dtype=np.uint64)
        self.fresh_counts = np.zeros(0, dtype=np.int64)
        self.fresh_values: list[Any] = []

    def update(self, arr: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = arr.drop_null()
        if not len(arr):
            return
        self.n += len(arr)
        vc = pc.value_counts(arr)
        vals, counts = vc.field("values"), vc.field("counts").to_numpy().astype(np.int64)
        if pa.types.is_string(vals.type):
            vals = vals.cast(pa.large_string())
        h = _hash_column(vals, text=False)
        vals = _shortened(vals)  # told apart by their hashes: only what is shown is kept
        self.kmv = np.union1d(self.kmv, h)[:_KMV]
        self._sample(h, vals)
        self._keep_every(h)
        if self.against is not None:
            self._keep_fresh(h, counts, vals)
        if self.values is not None:
            h = np.concatenate((self.hashes, h))
            counts = np.concatenate((self.counts, counts))
            vals = pa.concat_arrays([self.values, vals.cast(self.values.type)])
        uniq, first, inv = np.unique(h, return_index=True, return_inverse=True)
        summed = np.zeros(uniq.size, dtype=np.int64)
        np.add.at(summed, inv, counts)
        order = np.arange(uniq.size)
        if uniq.size > _TOP_CAP:
            order = np.lexsort((uniq, -summed))[:_TOP_CAP]
            self.complete = False
        self.hashes, self.counts = uniq[order], summed[order]
        self.values = vals.take(first[order])

    def _keep_every(self, h: np.ndarray) -> None:
        """Add a batch's distinct hashes; merged once twice as many are held as were distinct at
        the last merge (so each hash is sorted O(1) times), dropped once more than `limit`."""
        if self._every is None:
            return
        self._every.append(h)
        self._held += h.size
        if self._held > max(2 * self._merged, 1 << 16):
            self.every()

    def every(self) -> np.ndarray | None:
        """Every distinct non-null value hash (sorted), or None when there were more than `limit`."""
        if self._every is None:
            return None
        merged = np.sort(np.concatenate(self._every)) if self._every else np.zeros(0, np.uint64)
        if merged.size > 1:  # unique (np.unique hashes first: several times slower here)
            merged = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
        if merged.size > self.limit:
            self._every = None
            return None
        self._every, self._merged, self._held = [merged], merged.size, merged.size
        return merged

    def _keep_fresh(self, h: np.ndarray, counts: np.ndarray, vals: Any) -> None:
        import pyarrow as pa

        assert self.against is not None
        if self.fresh_hashes.size:
            seen = np.isin(h, self.fresh_hashes)
            if seen.any():
                order = np.argsort(self.fresh_hashes)
                at = order[np.searchsorted(self.fresh_hashes[order], h[seen])]
                np.add.at(self.fresh_counts, at, counts[seen])
            h, counts, keep = h[~seen], counts[~seen], np.flatnonzero(~seen)
        else:
            keep = np.arange(h.size)
        room = _CATEGORIES_LISTED - self.fresh_hashes.size
        if room <= 0 or not h.size:
            return
        pos = np.minimum(np.searchsorted(self.against, h), max(self.against.size - 1, 0))
        new = np.flatnonzero(self.against[pos] != h) if self.against.size else np.arange(h.size)
        new = new[:room]
        if not new.size:
            return
        # In the order met (a batch's value counts list its values in the order they occur).
        self.fresh_values += vals.take(pa.array(keep[new])).to_pylist()
        self.fresh_hashes = np.concatenate((self.fresh_hashes, h[new]))
        self.fresh_counts = np.concatenate((self.fresh_counts, counts[new]))

    def _sample(self, h: np.ndarray, vals: Any) -> None:
        import pyarrow as pa

        full = self.sample_hashes.size >= _VALUE_SAMPLE
        low = np.flatnonzero(h < self.sample_hashes[-1]) if full else np.arange(h.size)
        if not low.size:
            return
        hashes, values = h[low], vals.take(pa.array(low))
        if self.sample_values is not None:
            hashes = np.concatenate((self.sample_hashes, hashes))
            values = pa.concat_arrays([self.sample_values, values.cast(self.sample_values.type)])
        uniq, first = np.unique(hashes, return_index=True)
        self.sample_hashes = uniq[:_VALUE_SAMPLE]
        self.sample_values = values.take(pa.array(first[:_VALUE_SAMPLE]))

    def distinct(self) -> tuple[int, bool]:
        """(distinct count, exact?): exact while every hash is kept or below `_KMV` values, else
        a KMV estimate, clamped to what is certain: at least the `_KMV` distinct hashes seen, at
        most the number of non-null values."""
        every = self.every()
        if every is not None:
            return int(every.size), True
        if self.kmv.size < _KMV:
            return int(self.kmv.size), True
        estimate = round((_KMV - 1) / (float(self.kmv[-1]) / 2.0**64))
        return min(max(estimate, _KMV), self.n), False

    def top(self, hashes: np.ndarray | None = None, limit: int = _TOP_SHOWN) -> list[dict[str, Any]]:
        if self.values is None:
            return []
        idx = np.arange(self.hashes.size) if hashes is None else np.flatnonzero(np.isin(self.hashes, hashes))
        pairs = [(int(self.counts[i]), self.values[int(i)].as_py()) for i in idx]
        pairs.sort(key=lambda p: (-p[0], str(p[1])))
        return [{"value": v, "count": c} for c, v in pairs[:limit]]


def _shortened(vals: Any) -> Any:
    """Strings and bytes longer than `_VALUE_KEPT` characters (bytes) cut to it and marked '…':
    up to `_TOP_CAP` values are kept per column, and of a column of 100 KB documents that was 1 GB."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = vals.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        length, cut, mark = pc.utf8_length(vals), pc.utf8_slice_codeunits(vals, 0, _VALUE_KEPT), "…"
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        length, cut, mark = pc.binary_length(vals), pc.binary_slice(vals, 0, _VALUE_KEPT), "…".encode()
    else:
        return vals
    long = pc.greater(length, _VALUE_KEPT)
    if not pc.any(long).as_py():
        return vals
    marked = pc.binary_join_element_wise(cut, pa.scalar(mark, t), pa.scalar(mark[:0], t))
    return pc.if_else(long, marked, vals)


class _ColumnStats:
    """Everything summarised about one column of one file."""

    def __init__(self, csv: bool, distinct_limit: int = 0, against: np.ndarray | None = None) -> None:
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
        self.skipped: str | None = None  # why this column has no summary

    def numbers(self, arr: Any) -> Any:
        """A CSV batch of the column as the numbers it holds (int64 while every value so far is
        integral, else double; missing tokens null), or None once the column is text: call
        before `update` with the same batch (the type inferred so far moves on with it)."""
        import pyarrow as pa

        if not self.csv or self.numeric is None:
            return None
        if self.numeric.integer:
            try:
                return _parse_numbers(arr, integer=True)
            except pa.ArrowInvalid:
                self.numeric.to_float()
        try:
            return _parse_numbers(arr, integer=False)
        except pa.ArrowInvalid:
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


def _sampled_change(side: _CategoryStats, other: _CategoryStats) -> dict[str, Any]:
    """Values of `side` that `other` lacks, among the values of the lowest hashes: below the
    lower of the two samples' highest hashes both samples hold every value there is, so each
    example is surely new to `side`, and their share of the sample estimates how many there are."""
    cut = min(s.sample_hashes[-1] if s.sample_hashes.size >= _VALUE_SAMPLE else np.uint64(2**64 - 1)
              for s in (side, other))
    in_range = np.flatnonzero(side.sample_hashes <= cut)
    fresh = in_range[~np.isin(side.sample_hashes[in_range], other.sample_hashes)]
    distinct, _ = side.distinct()
    estimate = round(fresh.size / in_range.size * distinct) if in_range.size else 0
    values = [side.sample_values[int(i)].as_py() for i in fresh[:_SAMPLE_SHOWN]]
    return {"examples": values, "count_estimate": estimate, "sample": int(in_range.size), "in_sample": int(fresh.size)}


def _category_change(side: _CategoryStats, other: _CategoryStats) -> dict[str, Any] | None:
    """The values `side` holds and `other` does not: counted exactly when both kept every
    distinct hash, at least those of `side`'s top values when `other`'s top values are all it
    holds, else None (see `_sampled_change`). Listed, most frequent first: those met first while
    read (`fresh_values`) and the top values among them (with counts), then those in `side`'s
    sample (the only ones known of values gone, when the top values did not hold them all)."""
    mine, theirs = side.every(), other.every()
    if mine is not None and theirs is not None:
        fresh = np.setdiff1d(mine, theirs, assume_unique=True)
        found = [{"value": v, "count": int(c)} for h, v, c in
                 zip(side.fresh_hashes, side.fresh_values, side.fresh_counts) if h in fresh]
        found = sorted(found + side.top(fresh, _CATEGORIES_LISTED), key=lambda v: -v["count"])  # stable
        if side.sample_values is not None:
            found += [{"value": side.sample_values[int(i)].as_py()}
                      for i in np.flatnonzero(np.isin(side.sample_hashes, fresh))]
        listed: list[dict[str, Any]] = []
        known = set()
        for v in found:
            if len(listed) < _CATEGORIES_LISTED and repr(v["value"]) not in known:
                known.add(repr(v["value"]))
                listed.append(v)
        return {"count": int(fresh.size), "exact": True, "values": listed}
    if not other.complete:
        return None
    # A value absent from `other`'s tracked set is surely absent: `other` tracked all it holds.
    fresh = side.hashes[~np.isin(side.hashes, other.hashes)]
    return {
        "count": int(fresh.size),
        "exact": side.complete,
        "values": side.top(fresh, _CATEGORIES_LISTED),
    }


def distinct_limit(columns: int) -> int:
    """Distinct hashes each of a file's `columns` may keep: `_EXACT_BYTES` shared among them."""
    return max(_TOP_CAP, _EXACT_BYTES // 8 // max(columns, 1))


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
