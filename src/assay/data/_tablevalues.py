"""Streaming summaries of one text column of a table, and the values new or gone between two
files (see :mod:`assay.data._tablestats`).

Top values: at most `_TOP_CAP` tracked, each cut to `_VALUE_KEPT` characters and told apart by
its full hash. Every distinct value's 8-byte hash is kept while a file's columns' fit
`_EXACT_BYTES` (shared among its text columns: `DistinctBudget`): then distinct counts are exact, and so are the
counts of new and gone values (`new_categories` / `vanished_categories`), with examples (new
values: the first met while the new file is read; gone ones: those among the top values or the
sample). Past it, distinct counts above `_KMV` are estimates (`distinct_exact` false), never
more than the non-null count; and when the top values cannot tell which values are new or gone
either (`new_categories` / `vanished_categories` None), `new_values_sampled` /
`vanished_values_sampled` give examples among the `_VALUE_SAMPLE` values of the lowest hashes
(chosen by value, so both files' samples agree where the values do) and an estimate of how
many there are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from assay.data._tablehash import _hash_column

_TOP_CAP = 10_000
_VALUE_KEPT = 200  # characters of a top value kept to be shown
_TOP_SHOWN = 10
_CATEGORIES_LISTED = 20
_KMV = 16_384
_VALUE_SAMPLE = 1_024  # distinct values kept per text column, those of the lowest hashes: examples of new / gone values
_SAMPLE_SHOWN = 10
# Distinct value hashes kept a side, shared among its text columns: while a text column's fit, its
# new / gone values are counted exactly (200k distinct values: 1.6 MB).
_EXACT_BYTES = 24 << 20


class _CategoryStats:
    """Top values (space-bounded: at most `_TOP_CAP` tracked), every distinct value's hash while
    there are at most `limit` (`distinct_limit`), and a KMV distinct-count sketch."""

    def __init__(self, limit: int | DistinctBudget = 0, against: np.ndarray | None = None) -> None:
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
        self._limit = limit
        self._every: list[np.ndarray] | None = [] if limit else None
        self._merged = 0
        self._held = 0
        # `against`: the other file's distinct hashes (sorted). The first `_CATEGORIES_LISTED`
        # values not among them are kept, with how often they occur: examples of new values.
        self.against = against
        self.fresh_hashes = np.zeros(0, dtype=np.uint64)
        self.fresh_counts = np.zeros(0, dtype=np.int64)
        self.fresh_values: list[Any] = []

    @property
    def limit(self) -> int:
        """Distinct hashes this column may keep (its share of a file's budget, when it has one)."""
        return self._limit.limit() if isinstance(self._limit, DistinctBudget) else self._limit

    def update(self, arr: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = arr.drop_null()
        if not len(arr):
            return
        if isinstance(self._limit, DistinctBudget):
            self._limit.join(self)
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
        if self.kmv.size >= _KMV and self._estimate() > 1.25 * self.limit:
            # The estimate (within ~1% at _KMV values) says surely too many: drop them now, not
            # after holding and sorting up to twice the limit (the same outcome, sooner).
            self._every = None
            return
        self._every.append(h)
        self._held += h.size
        if self._held > max(2 * self._merged, 1 << 16):
            self.every()

    def every(self) -> np.ndarray | None:
        """Every distinct non-null value hash (sorted), or None when there were more than `limit`."""
        if self._every is None:
            return None
        merged = np.concatenate(self._every) if self._every else np.zeros(0, np.uint64)
        self._every = []  # the parts are not held while merged
        merged.sort()  # in place: one copy of the hashes, not two
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
        return min(max(self._estimate(), _KMV), self.n), False

    def _estimate(self) -> int:
        """The KMV estimate of the distinct values so far (`kmv` full)."""
        return round((_KMV - 1) / (float(self.kmv[-1]) / 2.0**64))

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


class DistinctBudget:
    """One file's `_EXACT_BYTES` of distinct hashes, split among the columns that keep them: those
    holding text (a numeric column keeps none), counted as they meet their first value. A column's
    share only shrinks as others join, so one dropped for holding too many would be dropped still."""

    def __init__(self) -> None:
        self._users: set[int] = set()

    def join(self, stats: _CategoryStats) -> None:
        self._users.add(id(stats))

    def leave(self, stats: _CategoryStats) -> None:
        """`stats` is replaced (a CSV column counted again once it turned out to be text)."""
        self._users.discard(id(stats))

    def limit(self) -> int:
        return distinct_limit(len(self._users))


def distinct_limit(columns: int) -> int:
    """Distinct hashes each of a file's `columns` may keep: `_EXACT_BYTES` shared among them."""
    return max(_TOP_CAP, _EXACT_BYTES // 8 // max(columns, 1))
