"""One read of a table file for :mod:`assay.data._tablediff`: each row's hashes (see "How rows
are matched" there), each column's summary, and the prints of the columns only it has; and,
with a CSV on either side, which columns both files hold as numbers (see "CSV" there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.data._tablehash import _combine, _hash_column, _hash_text, _mix, _Priorities
from assay.data._tablerenamed import _ColumnPrint
from assay.data._tablesource import _Source
from assay.data._tablestats import _ColumnStats
from assay.data._tablevalues import _CategoryStats, DistinctBudget


@dataclass
class _Plan:
    key: list[str] | None
    values: list[str]
    text: bool  # every column compared as text (a CSV file on either side) but those in `numbers`
    as_text: set[str] = field(default_factory=set)  # these columns compared as text
    # A CSV on either side: the columns numeric in both files, compared as numbers (1.0 is 1, NA is
    # null), decided once both files were read (`_agree`); while reading, each file's numeric-looking ones.
    numbers: set[str] = field(default_factory=set)
    # A CSV on either side: columns a Parquet file holds as float32, compared at its precision (its
    # 0.1 is written to CSV as "0.1", which as a double is not the float32 widened, 0.10000000149...).
    single: set[str] = field(default_factory=set)
    # A CSV on either side: columns a Parquet file holds as booleans, compared as lower-case text
    # (pandas writes True / False, Arrow's text of a boolean is true / false: `_boolean_text`; a
    # column only one file has is printed so, whatever it holds, as its partner is not known).
    booleans: set[str] = field(default_factory=set)
    # Compared as text: per column, what its text cells held, in any read of either file: "naive"
    # or "zoned" timestamps (or dates), "text" (see `_hash_text`).
    instants: dict[str, set[str]] = field(default_factory=dict)

    def hashes(self, batch: Any, src: Any = None, numbers: dict[str, Any] | None = None) -> tuple[np.ndarray | None, np.ndarray]:
        """(key hash or None, hash of the compared non-key values) for each row: the columns in
        `numbers` (name -> their values as numbers) by number, else those of `self.numbers` as
        `src` reads them as numbers, the rest as text when `text`."""
        n = batch.num_rows
        names = (self.key or []) + self.values
        if numbers is None:
            numbers = {c: src.as_number(batch, c) for c in names if c in self.numbers}

        def one(c: str) -> np.ndarray:
            if c in numbers:
                return _hash_column(_compared(numbers[c], single=c in self.single), text=False)
            return self._text_hash(batch.column(c), c)

        values = _combine([one(c) for c in self.values], n)
        if self.key is None:
            return None, values
        return _combine([one(c) for c in self.key], n), values

    def column_hash(self, src: Any, batch: Any, name: str) -> np.ndarray:
        """One compared column's hash, as `hashes` takes it."""
        if name in self.numbers:
            return _hash_column(_compared(src.as_number(batch, name), single=name in self.single), text=False)
        return self._text_hash(batch.column(name), name)

    def _text_hash(self, arr: Any, name: str) -> np.ndarray:
        if name in self.booleans:
            arr = _boolean_text(arr)
        if self.text or name in self.as_text:  # dates and timestamps, as values or as text, by instant
            return _hash_text(arr, self.instants.setdefault(name, set()))
        return _hash_column(arr, text=False)


def _boolean_text(arr: Any) -> Any:
    """Text cells that spell a boolean, in any case, as Arrow's text of one: pandas writes True /
    False, Arrow true / false (a Parquet boolean compared as text is cast to that)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    lower = pc.utf8_lower(arr)
    return pc.if_else(pc.is_in(lower, pa.array(["true", "false"], arr.type)), lower, arr)


def _compared(arr: Any, *, single: bool) -> Any:
    """Numbers as a CSV is compared with them: NaN is no value (a CSV's "NaN", "nan" and "" are
    all null, so a Parquet NaN against a CSV is too), rounded to float32 when `single`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if single:
        arr = arr.cast(pa.float32(), safe=False).cast(pa.float64())
    if pa.types.is_floating(arr.type) and arr.null_count < len(arr):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
    return arr


@dataclass
class _Side:
    n_rows: int
    types: dict[str, str]
    rows: np.ndarray  # row hash (hash mode) or value hash (key mode)
    keys: np.ndarray | None
    stats: dict[str, Any]
    prints: dict[str, _ColumnPrint] = field(default_factory=dict)  # a column only here: a print of its values
    # A CSV on either side: per compared column, how its batches holding a value were hashed ("number", "text").
    hashed_as: dict[str, set[str]] = field(default_factory=dict)


def _scan(src: _Source, plan: _Plan, progress: Any = None, text_there: set[str] | frozenset[str] = frozenset(),
          before: _Side | None = None) -> _Side:
    """Hash and summarise every row of `src`. A CSV on either side: a column numeric so far in
    `src` is hashed by number unless the other file has it as text (`text_there`, where known).
    `before`: the other file, read already: its text columns' distinct values, to find new ones."""
    # Every column is summarised (not only the common ones) so CSV types are inferred for all.
    budget = DistinctBudget()  # split among the columns holding text, numeric ones keep no distinct hashes
    against = {} if before is None else {n: st.categories.every() for n, st in before.stats.items()
                                        if st.kind == "categorical" and st.categories is not None}
    stats = {name: _ColumnStats(src.format == "csv", budget, against.get(name)) for name in src.names}
    key_buf = _HashBuffer() if plan.key is not None else None
    row_buf = _HashBuffer()
    n_rows = 0
    compared = (plan.key or []) + plan.values
    hashed_as: dict[str, set[str]] = {c: set() for c in compared} if plan.text else {}
    # A column only this file has: a print of its values, to tell a renamed column by them.
    prints = {name: _ColumnPrint() for name in src.names if name not in compared}
    priorities = _Priorities()
    for batch in src.batches(progress):
        parsed = {name: st.numbers(batch.column(name)) for name, st in stats.items()} if src.format == "csv" else {}
        numbers: dict[str, Any] = {}
        for c in hashed_as:
            col = batch.column(c)
            if c not in text_there and (parsed[c] is not None if src.format == "csv" else _numeric_type(col.type)):
                numbers[c] = parsed[c] if src.format == "csv" else col
            if col.null_count < len(col):
                hashed_as[c].add("number" if c in numbers else "text")
        k, v = plan.hashes(batch, numbers=numbers)
        prio = priorities(v if k is None else k)
        for name, p in prints.items():
            # As its values are compared: numbers as numbers (12.0 and 12 one value), dates and
            # timestamps as instants (pandas' and Arrow's text of one are one value), the rest as text.
            col = batch.column(name)
            num = parsed.get(name) if src.format == "csv" else col if plan.text and _numeric_type(col.type) else None
            if num is not None:
                p.update(_hash_column(_compared(num, single=False), text=False), prio)
            else:  # (a boolean's text as a shared column's: `_Plan.booleans`, here in any column)
                p.update(_hash_text(_boolean_text(col), p.instants) if plan.text else _hash_column(col, text=False), prio)
        if key_buf is not None:
            assert k is not None
            key_buf.extend(k)
        row_buf.extend(v)
        for name, st in stats.items():
            st.update(batch.column(name), prio, parsed.get(name))
        n_rows += batch.num_rows
        del parsed, numbers  # not held while the next batch is read
    late = [name for name, st in stats.items() if st.late]
    if late:
        # Rare: a numeric-looking CSV column met text after the first batches. Categories
        # are only counted for textual columns (the costly part), so count these again.
        for name in late:
            if stats[name].categories is not None:
                budget.leave(stats[name].categories)
        recount = {name: _CategoryStats(budget, against.get(name)) for name in late}
        for batch in src.batches():
            for name, cats in recount.items():
                cats.update(batch.column(name))
        for name, cats in recount.items():
            stats[name].categories = cats
    if src.arrow_schema is not None:
        types = {f.name: str(f.type) for f in src.arrow_schema}
    else:
        types = {n: "string" for n in src.names}
    types.update({name: st.inferred_type for name, st in stats.items() if st.csv})
    if src.format == "csv":
        src.numeric = {n: st.numeric.integer for n, st in stats.items() if st.numeric is not None and st.seen_value}
    keys = key_buf.array() if key_buf is not None else None
    return _Side(n_rows, types, row_buf.array(), keys, stats, prints, hashed_as)


def _numeric_type(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def _text_columns(src: _Source, side: _Side | None = None) -> set[str]:
    """The columns of `src` that are not numbers (a CSV's as far as known: all numeric before `side` is read)."""
    if src.format == "csv":
        return set() if side is None else {n for n, st in side.stats.items() if st.numeric is None}
    if src.arrow_schema is None:
        return set()
    return {f.name for f in src.arrow_schema if not _numeric_type(f.type)}


def _agree(plan: _Plan, sides: list[tuple[_Source, _Side]]) -> None:
    """Compare as numbers the columns numeric in both files; a file hashed some other way while
    read (a column text in the other file, or one that met text late) has its rows hashed again."""
    if not plan.text:
        return
    text = set().union(*(_text_columns(src, side) for src, side in sides))
    plan.numbers = {c for c in (plan.key or []) + plan.values if c not in text}
    for src, side in sides:
        if any(used - {"number" if c in plan.numbers else "text"} for c, used in side.hashed_as.items()):
            _rehash(src, plan, side)


def _rehash(src: _Source, plan: _Plan, side: _Side) -> None:
    """Hash every row of `src` again, as `plan` now says, in place."""
    lo = 0
    for batch in src.batches():
        k, v = plan.hashes(batch, src)
        side.rows[lo : lo + batch.num_rows] = v
        if side.keys is not None:
            assert k is not None
            side.keys[lo : lo + batch.num_rows] = k
        lo += batch.num_rows


def _keyed_rows(side: _Side) -> None:
    """With a key, a row's hash is of (key, values); in place, a slice at a time."""
    rows, keys = side.rows, side.keys
    if keys is None:
        return
    for lo in range(0, rows.size, 1 << 18):
        part = rows[lo : lo + (1 << 18)]
        part[:] = _mix(keys[lo : lo + (1 << 18)] ^ _mix(part))


class _HashBuffer:
    """A growing uint64 array. Grown by `ndarray.resize` (realloc: large blocks move by
    remapping pages on Linux), not by concatenating parts, which would hold every hash twice."""

    def __init__(self) -> None:
        self._data = np.zeros(1 << 16, dtype=np.uint64)
        self._n = 0

    def extend(self, values: np.ndarray) -> None:
        end = self._n + values.size
        if end > self._data.size:
            self._data.resize(max(end, self._data.size * 3 // 2), refcheck=False)
        self._data[self._n : end] = values
        self._n = end

    def array(self) -> np.ndarray:
        self._data.resize(self._n, refcheck=False)
        return self._data
