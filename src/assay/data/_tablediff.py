"""Row- and column-level comparison of two tables (Parquet, CSV, TSV) in bounded memory.

`diff_tables(old, new)` streams both files in batches and reports schema changes, row
counts, rows added / removed (and changed, when matched by key) and per-column summary
deltas. It is what `assay data diff` calls for tabular files.

How rows are matched
    Every row is hashed to 64 bits (splitmix64 over each value's bits; strings by a
    per-byte universal hash over Arrow's buffers; all vectorized with numpy, stable
    across runs and machines). An integral float hashes like the equal int, so an
    int32 -> double column with equal values changes no row. Without a key the two
    multisets of row hashes are compared, so a modified row counts as one removed and
    one added. With `key=[...]` the key columns and the other columns are hashed
    separately: same key, different values is a *changed* row. A key that is not
    unique is reported in `duplicate_keys`; under such a key identical rows pair up
    first, the rest pair up as changed and what is left is added / removed. Only the
    columns both files share are hashed; `notes` says when columns were left out.

Memory
    Row hashes are kept, the rows are not: 8 bytes a row (16 with a key) per file, so a
    2 GB CSV of ~30M rows needs ~240 MB (~480 MB keyed) plus a sort of the same size.
    Column statistics are bounded: quantiles come from a deterministic sample of
    `_QUANTILE_SAMPLE` values (exact below that), top values keep at most `_TOP_CAP`
    distinct values, distinct counts use a k-minimum-values sketch (exact below `_KMV`).
    With 64-bit hashes the chance of any collision among 30M rows is about 2.4e-5.
    Measured on 2 busy cores: ~10 MB/s of CSV, 2M-row Parquet in ~7 s.

CSV
    CSV cells are compared as text (so `1.0` -> `1` is a change); an empty unquoted
    field is null. Column types are inferred over the whole file (int64, double,
    string, or null when empty); `""`, `NA`, `N/A`, `NULL`, `null`, `NaN`... count as missing
    in numeric summaries. A Parquet file compared with a CSV file has its values cast to
    text. A 0-byte file is read as a table with no columns and no rows.

Column summaries
    Integer columns (Parquet int/uint types, CSV columns whose every value parses as an
    int64) are summarised as integers: min, max and every whole-number quantile are
    exact ints (never rounded through float64); the mean is the exact sum / count.
    Numeric summaries leave NaN out (counted in `nan`); infinities are kept: the mean is
    +inf or -inf when infinities of one sign are present (nan with both), the std is inf
    when any value is infinite (the limit as that value grows), and a quantile between a
    finite value and an infinite one is that infinity (so [1, 2, inf] has median 2).
    Distinct counts above `_KMV` are estimates (`distinct_exact` false), never more than
    the non-null count. A column whose Arrow type no summary kernel handles keeps its
    row counts, gets `skipped` with the reason, and a note; the row diff is unaffected.
    In `to_dict()` non-finite floats are written as "nan" / "inf" / "-inf" so the JSON
    stays strict.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InputError

__all__ = ["TableDiff", "diff_tables", "supports"]

_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")

_QUANTILE_SAMPLE = 65_536
_QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
_TOP_CAP = 10_000
_TOP_SHOWN = 10
_CATEGORIES_LISTED = 20
_KMV = 16_384
_MISSING_TOKENS = ["", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "nan", "NaN", "-nan"]

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_NULL_HASH = _U(0x5C3A6F0E2D1B4987)
_TAG_INT = _U(0x1D8E4E27C47D124F)
_TAG_UINT_HIGH = _U(0x4F1BBCDCBFA53E0B)
_TAG_FLOAT = _U(0x7A646E4D1B3C5A99)
_TAG_BOOL = _U(0x2545F4914F6CDD1D)
_TAG_STR = _U(0xD6E8FEB86659FD93)
_TAG_POS = _U(0x2F0F9A6D8B3C41E7)
_TAG_SAMPLE = _U(0x3C6EF372FE94F82B)
_ROW_SEED = _U(0xA54FF53A5F1D36F1)


def supports(path: str | Path) -> bool:
    """True when `diff_tables` can read `path` (by its suffix)."""
    return _format_of(Path(path)) is not None


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


@dataclass
class TableDiff:
    """What changed between two versions of a table. `to_dict()` is JSON-ready."""

    format: str
    rows_old: int
    rows_new: int
    schema: dict[str, Any]
    matched_by: str
    key: list[str] | None
    compared_columns: list[str]
    rows_added: int
    rows_removed: int
    rows_changed: int | None
    rows_unchanged: int
    duplicate_keys: dict[str, Any] | None
    examples: dict[str, list[dict[str, Any]]]
    columns: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """No schema change and no row added, removed or changed."""
        s = self.schema
        return not (
            s["added"] or s["removed"] or s["type_changed"]
            or self.rows_added or self.rows_removed or self.rows_changed
        )

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["identical"] = self.identical
        return _jsonable(out)


def diff_tables(
    old: str | Path,
    new: str | Path,
    *,
    key: Sequence[str] | None = None,
    max_examples: int = 5,
    batch_rows: int = 65_536,
    labels: tuple[str, str] | None = None,
) -> TableDiff:
    """Compare two table files (`.parquet`/`.pq`, `.csv`, `.tsv`, `.csv.gz`, `.tsv.gz`) row by row.

    `key` names the columns that identify a row; without it rows are matched by their
    hash. `max_examples` bounds the example rows / keys reported per category (a second,
    early-stopping read finds them). `batch_rows` is the Parquet batch size; CSV blocks
    are sized from it (about 64 bytes a row). `labels` name the two files in error
    messages (default: their paths), e.g. `("ds@v1:data/t.csv", "ds@v2:data/t.csv")`.

    >>> d = diff_tables("v1/users.parquet", "v2/users.parquet", key=["id"])  # doctest: +SKIP
    >>> d.rows_added, d.rows_removed, d.rows_changed  # doctest: +SKIP
    (12, 3, 40)
    """
    if max_examples < 0:
        raise InputError(f"max_examples must be >= 0, got {max_examples}")
    if batch_rows < 1:
        raise InputError(f"batch_rows must be >= 1, got {batch_rows}")
    label_old, label_new = labels if labels is not None else (None, None)
    src_old = _Source.open(Path(old), batch_rows, label_old)
    src_new = _Source.open(Path(new), batch_rows, label_new)
    key_cols = _check_key(key, src_old, src_new)

    common = sorted(set(src_old.names) & set(src_new.names))
    value_cols = [c for c in common if c not in (key_cols or [])]
    text = "csv" in (src_old.format, src_new.format)
    plan = _Plan(key=key_cols, values=value_cols, text=text)

    side_old = _scan(src_old, plan)
    side_new = _scan(src_new, plan)

    schema = _schema_diff(side_old.types, side_new.types, src_old.names, src_new.names)
    notes = []
    if schema["added"] or schema["removed"]:
        notes.append(
            f"rows compared over the {len(common)} columns both files share; "
            f"{len(schema['added'])} added and {len(schema['removed'])} removed columns ignored"
        )
    if src_old.format != src_new.format:
        notes.append("formats differ: values compared as text")

    examples: dict[str, list[dict[str, Any]]] = {}
    duplicates = None
    if key_cols is None:
        m = _match(side_old.rows, side_new.rows)
        rows_added, rows_removed, rows_changed = int(m.unmatched_new.sum()), int(m.unmatched_old.sum()), None
        rows_unchanged = m.matched
        wanted_old = {"removed": (m.u_old[m.unmatched_old > 0], "row")}
        wanted_new = {"added": (m.u_new[m.unmatched_new > 0], "row")}
        show = common
    else:
        k = _keyed(side_old, side_new)
        rows_added, rows_removed, rows_changed, rows_unchanged = k.added, k.removed, k.changed, k.unchanged
        wanted_old = {"removed": (k.removed_keys, "key"), "duplicate_keys_old": (k.dup_old, "key")}
        wanted_new = {
            "added": (k.added_keys, "key"),
            "changed": (k.changed_keys, "key"),
            "duplicate_keys_new": (k.dup_new, "key"),
        }
        duplicates = {
            "old": int(k.dup_old.size),
            "new": int(k.dup_new.size),
            "extra_rows_old": k.dup_rows_old,
            "extra_rows_new": k.dup_rows_new,
        }
        if k.dup_old.size or k.dup_new.size:
            notes.append("key is not unique: rows sharing a key are paired by value, the rest counted as changed")
        show = key_cols
    if max_examples:
        examples.update(_find_rows(src_old, plan, wanted_old, show, max_examples))
        examples.update(_find_rows(src_new, plan, wanted_new, show, max_examples))
    if duplicates is not None:
        duplicates["examples"] = {
            "old": examples.pop("duplicate_keys_old", []),
            "new": examples.pop("duplicate_keys_new", []),
        }

    columns = {name: _column_delta(side_old.stats[name], side_new.stats[name]) for name in common}
    for name in common:
        for side, st in (("old", side_old.stats[name]), ("new", side_new.stats[name])):
            if st.skipped is not None:
                notes.append(f"column {name!r} ({side}): summary skipped: {st.skipped}")
    fmt = src_old.format if src_old.format == src_new.format else f"{src_old.format}->{src_new.format}"
    return TableDiff(
        format=fmt,
        rows_old=side_old.n_rows,
        rows_new=side_new.n_rows,
        schema=schema,
        matched_by="row_hash" if key_cols is None else "key",
        key=key_cols,
        compared_columns=common,
        rows_added=rows_added,
        rows_removed=rows_removed,
        rows_changed=rows_changed,
        rows_unchanged=rows_unchanged,
        duplicate_keys=duplicates,
        examples=examples,
        columns=columns,
        notes=notes,
    )


# --- reading -----------------------------------------------------------------------


@dataclass
class _Source:
    path: Path
    label: str  # what messages call the file (a dataset path, not a temp file)
    format: str
    names: list[str]
    batch_rows: int
    arrow_schema: Any  # pa.Schema, or None for CSV and empty files

    @classmethod
    def open(cls, path: Path, batch_rows: int, label: str | None = None) -> _Source:
        label = str(path) if label is None else label
        fmt = _format_of(path)
        if fmt is None:
            raise InputError(
                f"{label}: not a table file",
                hint="diff_tables reads .parquet, .pq, .csv, .tsv, .csv.gz and .tsv.gz files",
            )
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from exc
        if size == 0:
            return cls(path, label, fmt, [], batch_rows, None)
        import pyarrow as pa

        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                schema = pq.ParquetFile(path).schema_arrow
                names = list(schema.names)
            else:
                schema = None
                names = list(cls._csv_reader(path, batch_rows, None).schema.names)
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(label, fmt, exc) from exc
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"{label}: duplicate column names {dup}", hint="give every column a distinct name")
        return cls(path, label, fmt, names, batch_rows, schema)

    @staticmethod
    def _csv_reader(path: Path, batch_rows: int, names: list[str] | None) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        read = pacsv.ReadOptions(block_size=max(batch_rows * 64, 16_384))
        parse = pacsv.ParseOptions(delimiter=delimiter)
        if names is None:
            return pacsv.open_csv(path, read_options=read, parse_options=parse)
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        )
        return pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)

    def batches(self) -> Iterator[Any]:
        """Record batches; CSV columns all as strings."""
        if not self.names and self.arrow_schema is None:
            return
        import pyarrow as pa

        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self.path).iter_batches(batch_size=self.batch_rows)
            else:
                yield from self._csv_reader(self.path, self.batch_rows, self.names)
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(self.label, self.format, exc) from exc


def _table_columns(path: str | Path, label: str | None = None) -> list[str]:
    """The column names of a table file (reads only its header / schema)."""
    return _Source.open(Path(path), 1, label).names


def _unreadable(label: str, fmt: str, exc: Exception) -> InputError:
    hint = "check the file is a complete Parquet file" if fmt == "parquet" else (
        "check the delimiter, quoting and that every row has as many fields as the header"
    )
    return InputError(f"{label}: cannot read as {fmt.upper()}: {exc}", hint=hint)


def _check_key(key: Sequence[str] | None, old: _Source, new: _Source) -> list[str] | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = [key]
    cols = list(key)
    if not cols:
        raise InputError("key is empty", hint="name at least one key column, or pass key=None to match by row hash")
    if "" in cols:
        raise InputError(f"key names an empty column: {cols}", hint="name each key column, e.g. key=['id']")
    if len(set(cols)) != len(cols):
        raise InputError(f"key names a column twice: {cols}")
    for src, label in ((old, "old"), (new, "new")):
        missing = [c for c in cols if c not in src.names]
        if missing:
            raise InputError(
                f"key column(s) {missing} not in the {label} file {src.label}",
                hint=f"its columns are: {', '.join(src.names) or '(none)'}",
            )
    return cols


# --- hashing -----------------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a bijection on uint64 with good avalanche; wraps on purpose."""
    x = x + _GOLDEN
    x = (x ^ (x >> _U(30))) * _U(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U(27))) * _U(0x94D049BB133111EB)
    return x ^ (x >> _U(31))


def _hash_bytes(arr: Any) -> np.ndarray:
    """Hash each string: sum over its bytes of (byte + 1) * R[position], then mix with length.

    R is a fixed table of splitmix64 outputs, so this is a universal (polynomial-style)
    hash: two different strings of one length collide with probability about 2**-56.
    """
    import pyarrow as pa

    arr = arr.cast(pa.large_binary())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    rel = offsets - offsets[0]
    body = data[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    pos = np.arange(body.size, dtype=np.int64) - np.repeat(rel[:-1], lengths)
    weights = _position_weights(int(lengths.max()))[pos]
    per_byte = (body.astype(np.uint64) + _U(1)) * weights
    sums = np.concatenate(([_U(0)], np.cumsum(per_byte, dtype=np.uint64)))
    return _mix((sums[rel[1:]] - sums[rel[:-1]]) ^ _mix(lengths.astype(np.uint64) ^ _TAG_STR))


_WEIGHTS = np.zeros(0, dtype=np.uint64)


def _position_weights(length: int) -> np.ndarray:
    # A pure function of the position (a cache, not state): grown on demand, never changed.
    global _WEIGHTS
    if _WEIGHTS.size < length:
        size = max(length, 2 * _WEIGHTS.size, 256)
        _WEIGHTS = _mix(np.arange(size, dtype=np.uint64) ^ _TAG_POS)
    return _WEIGHTS


def _hash_ints(v: np.ndarray) -> np.ndarray:
    """int64 or uint64 values; equal integers hash equal whatever their type."""
    if v.dtype != np.uint64:
        return _mix(v.astype(np.int64, copy=False).view(np.uint64) ^ _TAG_INT)
    # Below 2**63 a uint64 has the bits of the equal int64; above, no int64 equals it.
    return np.where(v >= _U(2**63), _mix(v ^ _TAG_UINT_HIGH), _mix(v ^ _TAG_INT))


def _hash_floats(f: np.ndarray) -> np.ndarray:
    # Integral floats hash like the int they equal, so int32 -> double keeps rows equal.
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(f) & (f == np.trunc(f))
        integral = whole & (f >= -(2.0**63)) & (f < 2.0**63)
        high = whole & (f >= 2.0**63) & (f < 2.0**64)
        as_int = np.where(integral, f, 0.0).astype(np.int64)
        as_uint = np.where(high, f, 2.0**63).astype(np.uint64)
    canon = np.where(np.isnan(f), np.nan, f)
    h = np.where(integral, _hash_ints(as_int), _mix(canon.view(np.uint64) ^ _TAG_FLOAT))
    return np.where(high, _hash_ints(as_uint), h)


def _to_text(arr: Any) -> Any:
    import pyarrow as pa

    try:
        return arr.cast(pa.large_string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else repr(v) for v in arr.to_pylist()], pa.large_string())


def _hash_column(arr: Any, *, text: bool) -> np.ndarray:
    """A stable uint64 hash of every value; equal values hash equal across batches and files."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if text and not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
        arr, t = _to_text(arr), pa.large_string()
    n = len(arr)
    if pa.types.is_null(t):
        return np.full(n, _NULL_HASH, dtype=np.uint64)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        h = _hash_bytes(arr)
    elif pa.types.is_integer(t):
        wide = pa.uint64() if pa.types.is_uint64(t) else pa.int64()
        h = _hash_ints(arr.cast(wide).fill_null(0).to_numpy(zero_copy_only=False))
    elif pa.types.is_floating(t):
        h = _hash_floats(arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False))
    elif pa.types.is_boolean(t):
        vals = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint64)
        h = _mix(vals ^ _TAG_BOOL)
    elif pa.types.is_temporal(t) and t.bit_width in (32, 64):
        ints = arr.view(pa.int32() if t.bit_width == 32 else pa.int64()).cast(pa.int64())
        h = _mix(ints.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64) ^ _mix(_hash_str(str(t))))
    else:  # decimals, nested types: through their text form
        h = _hash_bytes(_to_text(arr))
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        h = np.where(valid, h, _NULL_HASH)
    return h


def _hash_str(s: str) -> np.ndarray:
    import pyarrow as pa

    return _hash_bytes(pa.array([s]))


def _combine(hashes: list[np.ndarray], n: int) -> np.ndarray:
    h = np.full(n, _ROW_SEED, dtype=np.uint64)
    for ch in hashes:
        h = _mix(h ^ ch)
    return h


# --- one pass over a file ----------------------------------------------------------


@dataclass
class _Plan:
    key: list[str] | None
    values: list[str]
    text: bool

    def hashes(self, batch: Any) -> tuple[np.ndarray | None, np.ndarray]:
        """(key hash or None, hash of the compared non-key values) for each row."""
        n = batch.num_rows
        cols = {name: batch.column(name) for name in (self.key or []) + self.values}
        values = _combine([_hash_column(cols[c], text=self.text) for c in self.values], n)
        if self.key is None:
            return None, values
        return _combine([_hash_column(cols[c], text=self.text) for c in self.key], n), values


@dataclass
class _Side:
    n_rows: int
    types: dict[str, str]
    rows: np.ndarray  # row hash (hash mode) or value hash (key mode)
    keys: np.ndarray | None
    stats: dict[str, Any]


def _scan(src: _Source, plan: _Plan) -> _Side:
    # Every column is summarised (not only the common ones) so CSV types are inferred for all.
    stats = {name: _ColumnStats(src.format == "csv") for name in src.names}
    key_parts: list[np.ndarray] = []
    row_parts: list[np.ndarray] = []
    n_rows = 0
    for batch in src.batches():
        k, v = plan.hashes(batch)
        if k is not None:
            key_parts.append(k)
        row_parts.append(v)
        for name, st in stats.items():
            st.update(batch.column(name), n_rows)
        n_rows += batch.num_rows
    late = [name for name, st in stats.items() if st.late]
    if late:
        # Rare: a numeric-looking CSV column met text after the first batches. Categories
        # are only counted for textual columns (the costly part), so count these again.
        recount = {name: _CategoryStats() for name in late}
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
    empty = np.zeros(0, dtype=np.uint64)
    rows = np.concatenate(row_parts) if row_parts else empty
    keys = (np.concatenate(key_parts) if key_parts else empty) if plan.key is not None else None
    if keys is not None:
        rows = _mix(keys ^ _mix(rows))  # a row is (key, values)
    return _Side(n_rows, types, rows, keys, stats)


def _schema_diff(t_old: dict[str, str], t_new: dict[str, str], n_old: list[str], n_new: list[str]) -> dict[str, Any]:
    for n in n_old:
        t_old.setdefault(n, "string")
    for n in n_new:
        t_new.setdefault(n, "string")
    return {
        "old": [{"name": n, "type": t_old[n]} for n in n_old],
        "new": [{"name": n, "type": t_new[n]} for n in n_new],
        "added": [{"name": n, "type": t_new[n]} for n in n_new if n not in t_old],
        "removed": [{"name": n, "type": t_old[n]} for n in n_old if n not in t_new],
        "type_changed": [
            {"name": n, "old": t_old[n], "new": t_new[n]} for n in n_new if n in t_old and t_old[n] != t_new[n]
        ],
        "order_changed": [n for n in n_old if n in t_new] != [n for n in n_new if n in t_old],
    }


# --- matching ----------------------------------------------------------------------


@dataclass
class _Match:
    u_old: np.ndarray
    unmatched_old: np.ndarray
    u_new: np.ndarray
    unmatched_new: np.ndarray
    first_old: np.ndarray
    first_new: np.ndarray
    matched: int


def _match(old: np.ndarray, new: np.ndarray) -> _Match:
    """Multiset difference of two hash arrays, per distinct hash."""
    uo, fo, co = np.unique(old, return_index=True, return_counts=True)
    un, fn, cn = np.unique(new, return_index=True, return_counts=True)
    _, ia, ib = np.intersect1d(uo, un, assume_unique=True, return_indices=True)
    both = np.minimum(co[ia], cn[ib])
    co = co.copy()
    cn = cn.copy()
    co[ia] -= both
    cn[ib] -= both
    return _Match(uo, co, un, cn, fo, fn, int(both.sum()))


@dataclass
class _Keyed:
    added: int
    removed: int
    changed: int
    unchanged: int
    added_keys: np.ndarray
    removed_keys: np.ndarray
    changed_keys: np.ndarray
    dup_old: np.ndarray
    dup_new: np.ndarray
    dup_rows_old: int
    dup_rows_new: int


def _keyed(old: _Side, new: _Side) -> _Keyed:
    # Pair identical (key, values) rows first; what is left under a key on both sides is
    # "changed" (as many as pair up), the rest added / removed. Unique keys reduce to the
    # usual definition; duplicate keys get a defined, order-independent answer.
    assert old.keys is not None and new.keys is not None
    m = _match(old.rows, new.rows)

    def per_key(keys: np.ndarray, first: np.ndarray, unmatched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        left = unmatched > 0
        uk, inv = np.unique(keys[first[left]], return_inverse=True)
        counts = np.zeros(uk.size, dtype=np.int64)
        np.add.at(counts, inv, unmatched[left])
        return uk, counts

    ko, co = per_key(old.keys, m.first_old, m.unmatched_old)
    kn, cn = per_key(new.keys, m.first_new, m.unmatched_new)
    _, ia, ib = np.intersect1d(ko, kn, assume_unique=True, return_indices=True)
    changed_per = np.minimum(co[ia], cn[ib])
    removed_per = co.copy()
    removed_per[ia] -= changed_per
    added_per = cn.copy()
    added_per[ib] -= changed_per

    def dups(keys: np.ndarray) -> tuple[np.ndarray, int]:
        uk, counts = np.unique(keys, return_counts=True)
        return uk[counts > 1], int((counts[counts > 1] - 1).sum())

    dup_old, extra_old = dups(old.keys)
    dup_new, extra_new = dups(new.keys)
    return _Keyed(
        added=int(added_per.sum()),
        removed=int(removed_per.sum()),
        changed=int(changed_per.sum()),
        unchanged=m.matched,
        added_keys=kn[added_per > 0],
        removed_keys=ko[removed_per > 0],
        changed_keys=ko[ia][changed_per > 0],
        dup_old=dup_old,
        dup_new=dup_new,
        dup_rows_old=extra_old,
        dup_rows_new=extra_new,
    )


def _find_rows(
    src: _Source, plan: _Plan, wanted: dict[str, tuple[np.ndarray, str]], show: list[str], limit: int
) -> dict[str, list[dict[str, Any]]]:
    """The first `limit` rows (in file order) whose row or key hash is wanted, per label."""
    found: dict[str, list[dict[str, Any]]] = {label: [] for label in wanted}
    seen: dict[str, set[int]] = {label: set() for label in wanted}
    todo = {label: np.sort(h) for label, (h, _) in wanted.items() if h.size}
    if not todo:
        return found
    for batch in src.batches():
        k, v = plan.hashes(batch)
        row = v if k is None else _mix(k ^ _mix(v))
        for label in list(todo):
            h = k if wanted[label][1] == "key" else row
            assert h is not None
            hits = np.flatnonzero(np.isin(h, todo[label]))
            fresh = []
            for i in hits:
                if int(h[i]) not in seen[label]:
                    seen[label].add(int(h[i]))
                    fresh.append(int(i))
                if len(found[label]) + len(fresh) >= limit:
                    break
            if fresh:
                found[label].extend(_rows_as_py(batch.select(show).take(fresh)))
            if len(found[label]) >= limit or len(seen[label]) >= todo[label].size:
                del todo[label]
        if not todo:
            break
    return found


def _rows_as_py(batch: Any) -> list[dict[str, Any]]:
    columns = {}
    for name in batch.schema.names:
        try:
            columns[name] = batch.column(name).to_pylist()
        except (ValueError, OverflowError):  # e.g. nanoseconds without pandas: Arrow's text
            columns[name] = _to_text(batch.column(name)).to_pylist()
    return [{name: values[i] for name, values in columns.items()} for i in range(batch.num_rows)]


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

    def update(self, values: np.ndarray, rows: np.ndarray) -> None:
        """Add the non-null `values` (int64 / uint64 when integer, else float64) of `rows`."""
        if self.integer:
            finite = values
            if values.size:
                self.total += _exact_sum(values)
        else:
            nan = np.isnan(values)
            self.nan += int(nan.sum())
            values, rows = values[~nan], rows[~nan]
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
        # Bottom-k by a hash of the row number: a uniform sample that does not depend on batching.
        prio = _mix(rows.astype(np.uint64) ^ _TAG_SAMPLE)
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
    """Top values (space-bounded: at most `_TOP_CAP` tracked) and a KMV distinct-count sketch."""

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.values: Any = None
        self.complete = True
        self.kmv = np.zeros(0, dtype=np.uint64)
        self.n = 0  # non-null values seen: a bound for the distinct estimate

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
        self.kmv = np.union1d(self.kmv, h)[:_KMV]
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

    def distinct(self) -> tuple[int, bool]:
        """(distinct count, exact?): exact below `_KMV` values, else a KMV estimate.

        The estimate is clamped to what is certain: at least the `_KMV` distinct hashes
        seen, at most the number of non-null values.
        """
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


class _ColumnStats:
    """Everything summarised about one column of one file."""

    def __init__(self, csv: bool) -> None:
        self.csv = csv
        self.rows = 0
        self.nulls = 0
        self.type: Any = None
        # CSV: integer until a value says otherwise; Parquet: decided by the type.
        self.numeric: _NumericStats | None = _NumericStats(integer=True)
        self.categories: _CategoryStats | None = _CategoryStats()
        self.lo: int | None = None  # temporal min / max, as the type's underlying integer
        self.hi: int | None = None
        self.seen_value = False
        self.minmax = False
        self.late = False  # CSV: turned out textual after numeric-looking batches
        self.skipped: str | None = None  # why this column has no summary

    def update(self, arr: Any, row0: int) -> None:
        import pyarrow as pa

        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if self.type is None:
            self.type = arr.type
            self._choose_kind(arr.type)
        self.rows += len(arr)
        self.nulls += arr.null_count
        had_values = self.seen_value
        self.seen_value = self.seen_value or arr.null_count < len(arr)
        if self.skipped is not None:
            return
        try:
            self._summarise(arr, row0, had_values)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # An Arrow type no summary kernel handles: lose this column's summary, not the diff.
            self.skip(f"{type(exc).__name__}: {exc}")

    def skip(self, reason: str) -> None:
        self.skipped = reason
        self.numeric = self.categories = None
        self.minmax = self.late = False

    def _summarise(self, arr: Any, row0: int, had_values: bool) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.numeric is not None:
            rows = np.arange(row0, row0 + len(arr), dtype=np.int64)
            num = arr
            if self.csv:
                num = pc.if_else(pc.is_in(arr, value_set=pa.array(_MISSING_TOKENS)), pa.scalar(None, arr.type), arr)
                if self.numeric.integer:
                    try:
                        num = num.cast(pa.int64())
                    except pa.ArrowInvalid:
                        self.numeric.to_float()
                if not self.numeric.integer:
                    try:
                        num = num.cast(pa.float64())
                    except pa.ArrowInvalid:
                        self.numeric = None
                        # Text from here on: count categories; earlier batches need a second look.
                        self.late = had_values
            elif pa.types.is_integer(num.type):
                # Integers stay integers: through float64 they would round above 2**53.
                num = num.cast(pa.uint64() if pa.types.is_uint64(num.type) else pa.int64())
            else:
                num = num.cast(pa.float64())  # floats, decimals
            if self.numeric is not None:
                valid = num.is_valid().to_numpy(zero_copy_only=False)
                vals = num.fill_null(0).to_numpy(zero_copy_only=False)
                self.numeric.update(vals[valid], rows[valid])
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
        # A value absent from a side's tracked set is surely absent only if that side is complete.
        out["new_categories"] = _category_change(cn, co) if co.complete else None
        out["vanished_categories"] = _category_change(co, cn) if cn.complete else None
    return out


def _category_change(side: _CategoryStats, other: _CategoryStats) -> dict[str, Any]:
    fresh = side.hashes[~np.isin(side.hashes, other.hashes)]
    return {
        "count": int(fresh.size),
        "exact": side.complete,
        "values": side.top(fresh, _CATEGORIES_LISTED),
    }


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
