"""Row- and column-level comparison of two tables (Parquet, CSV, TSV) in bounded memory.

`diff_tables(old, new)` streams both files in batches and reports schema changes, row
counts, rows added / removed (and changed, when matched by key) and per-column summary
deltas. It is what `assay data diff` calls for tabular files.

How rows are matched
    Every row is hashed to 64 bits (splitmix64 over each value's bits; strings by a
    per-byte universal hash over Arrow's buffers; all vectorized with numpy, stable
    across runs and machines). An integral float hashes like the equal int, so an
    int32 -> double column with equal values changes no row; a timestamp hashes by its
    instant, whatever its unit (ns -> us) or zone, and a date as the zone-less timestamp of its
    midnight (as compared as text, where pandas writes midnights as dates): date32 ->
    timestamp[us] is a type change, named in the schema and a note, its values the same. NaN is
    missing, as null is (pandas writes a float's NaN as null, polars and Arrow keep it): a
    note says, with counts, where one file wrote NaN and the other null. Without a key the two
    multisets of row hashes are compared, so a modified row counts as one removed and
    one added. With `key=[...]` the key columns and the other columns are hashed
    separately: same key, different values is a *changed* row. `rows_changed_by_column`
    counts, per column, the changed rows that differ in it, and `changed_examples` shows a
    few with each differing column's old and new value. A key that is not unique is
    reported in `duplicate_keys`; under such a key identical rows pair up first, the rest
    pair up as changed and what is left is added / removed. Only the
    columns both files share are hashed; `notes` says when columns were left out. A
    column only the old file has and one only the new file has, with the same values in
    any row order (a sum of their hashes), or mostly the same values when rows were added
    or removed too ("shared": the share of values in both), are named in `schema["renamed"]`:
    a likely rename (:mod:`assay.data._tablerenamed`).

Memory
    Row hashes are kept, the rows are not: 8 bytes a row (16 with a key) per file, grown
    in place, sorted in place to match (:mod:`assay.data._tablematch`; with a key the row
    hashes are sorted in a copy, 8 bytes a row more) and freed before examples are read.
    Besides them the CSV reader's buffers and the column statistics take ~300-500 MB.
    Measured peak RSS for two CSVs of N rows each: 5M rows (180 MB files) ~560 MB, keyed
    ~600 MB (np.unique matching took 800 / 920); 20M rows (730 MB files) 742 MB, keyed
    1255 MB (was 2659 / 3173 MB). So two 2 GB CSVs of ~50M rows need ~1.3 GB (~2.9 GB keyed).
    Column statistics are bounded: quantiles come from a sample of `_QUANTILE_SAMPLE`
    values (exact below that), chosen by a hash of each row's key (keyed) or content, not
    its position (`_sample_priority`): an unchanged table gives the same estimates in any
    row order, and an edit of a few rows moves them by a rank or two of the sample. Copies
    of one row are told apart by their rank in a block of 65,536 rows (`_Priorities`), not
    in a batch, so the same rows as CSV or as Parquet give the same sample (means and stds
    can still differ in their last bits: summed in other batches). A
    sampled quantile's rank is off by about sqrt(q(1-q)/65,536): 0.2% of the rows for the
    median (one standard deviation). Top values keep at most `_TOP_CAP`
    distinct values (each cut to `_VALUE_KEPT` characters, told apart by hash), distinct
    counts use a k-minimum-values sketch (exact below `_KMV`).
    A keyed diff with changed rows reads both files a third time to tell which columns
    they differ in (:mod:`assay.data._tablechanged`, bounded by a sample of the changed
    keys): two 2M-row CSVs with 1M rows changed took ~16 s, not ~13, at the same peak RSS.
    With 64-bit hashes the chance of any collision among 30M rows is about 2.4e-5.
    Measured on 2 busy cores: ~10 MB/s of CSV, 2M-row Parquet in ~7 s.

CSV
    Column types are inferred over the whole file (int64, double, string, or null when
    empty; whole numbers past int64, such as 20-digit ids, are strings, not rounded through
    double, and so are whole numbers past 2**53 in a column with fractions; so is a column holding codes: a leading zero, as in zip codes 02134, or hex 0x1F,
    so 02134 -> 2134 is a change and 007 and 7 are two keys); an empty unquoted field is null, and in a numeric column so are `NA`, `N/A`,
    `NULL`, `null`, `NaN`... A column numeric in both files is compared as numbers, as a
    user reads them: `1.0` -> `1` or `NA` -> (empty) is no change there (in a text column it
    is a change of text), and its values are shown as numbers, keys too (`id=20`, not
    `id="20"`), so a CSV and the same table as Parquet read alike. Each file's columns are
    hashed as numbers while they look numeric; a file read otherwise than both files' types
    say (a column text in the other file, or one that met text late) is hashed again, one
    more read. A Parquet file compared with a CSV file has its values cast to text, but for
    its int and float columns numeric in the CSV too: there its NaN is no value, as a CSV's
    "NaN" is, and a float32 column is compared at float32 precision (its 0.1 is written to
    CSV as "0.1"); a boolean column is compared with the CSV's text in lower case (pandas
    writes True / False), and so is, to tell a renamed column, a column only one file has. Dates and timestamps, and text cells that are one in ISO form, are
    compared as instants (`_hash_text`): pandas' "2024-01-01 00:00:00" (or "2024-01-01"), another
    tool's "2024-01-01T00:00:00" and Arrow's "2024-01-01 00:00:00.000000" are one value; a
    wall-clock time never equals an instant in a zone. A timestamp column against text whose
    every cell held one, zoned as the column is, is a change of storage, not of type; so are, in
    a column compared as numbers, float32 -> double, int32 -> int64 and a double of whole
    numbers -> int64 (as a CSV reads them back: `_written_alike`). A 0-byte file, or a CSV of only line ends (as pandas writes a frame without
    columns), is read as a table with no columns and no rows, a header without a line end
    as its columns and no rows. A header that is one column holding ';', '|'
    (or a tab) gets a note: the file looks delimited by it, but is read by its suffix.

Progress
    A bar on a terminal over the bytes of both files read (`assay.progress.bar`).

Reading
    One read of each file hashes its rows and summarises its columns: :mod:`assay.data._tableread`.

Column summaries
    Per-column summaries and their deltas: :mod:`assay.data._tablestats` (numeric columns:
    :mod:`assay.data._tablenumeric`, text columns: :mod:`assay.data._tablevalues`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay._wording import noun_for
from assay.data._tablechanged import ChangedColumns, _rows_as_py, changed_columns
from assay.data._tablehash import _mix
from assay.data._tablematch import _keyed, _match
from assay.data._tableread import _agree, _keyed_rows, _Plan, _scan, _text_columns
from assay.data._tablerenamed import renamed
from assay.data._tablesource import _CSV_SUFFIXES, _PARQUET_SUFFIXES, _format_of, _Source  # noqa: F401 (suffixes: read here)
from assay.data._tablesource import _table_columns  # noqa: F401 (what _diff imports from here)
from assay.data._tablesource import check_key_names
from assay.data._tablestats import _column_delta, _jsonable
from assay.errors import InputError

__all__ = ["TableDiff", "diff_tables", "supports"]

def supports(path: str | Path) -> bool:
    """True when `diff_tables` can read `path` (by its suffix)."""
    return _format_of(Path(path)) is not None


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
    rows_added: int | None
    rows_removed: int | None
    rows_changed: int | None
    rows_unchanged: int | None  # None where no value could be compared (no column but the key in both)
    duplicate_keys: dict[str, Any] | None
    examples: dict[str, list[dict[str, Any]]]
    columns: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    # Keyed only (None otherwise): per compared column, the changed rows that differ in it (only
    # columns that do; estimates when not `rows_changed_by_column_exact`); a few changed rows as
    # {"key": {...}, "columns": {column: {"old": ..., "new": ...}}}, each column that differs.
    rows_changed_by_column: dict[str, int] | None = None
    rows_changed_by_column_exact: bool | None = None
    changed_examples: list[dict[str, Any]] | None = None

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
    # A column that is text on one side only (int64 -> string ids) is compared as text: 1 and "1"
    # are one key, one value; the schema still names the type change.
    as_text = [] if text else [c for c in common if _text_on_one_side(src_old.arrow_schema.field(c).type,
                                                                      src_new.arrow_schema.field(c).type)]
    plan = _Plan(key=key_cols, values=value_cols, text=text, as_text=set(as_text))
    if text:
        stored = [(c, str(src.arrow_schema.field(c).type)) for c in common for src in (src_old, src_new)
                  if src.arrow_schema is not None]
        plan.single = {c for c, t in stored if t == "float"}
        plan.booleans = {c for c, t in stored if t == "bool"}

    from assay.progress import bar

    sizes = [src.path.stat().st_size for src in (src_old, src_new)]
    with bar(total=sum(sizes), desc="table diff", unit="B") as progress:
        side_old = _scan(src_old, plan, progress, _text_columns(src_new))
        side_new = _scan(src_new, plan, progress, _text_columns(src_old, side_old), side_old)
    _agree(plan, [(src_old, side_old), (src_new, side_new)])
    for side in (side_old, side_new):
        _keyed_rows(side)

    # A CSV column with no value (a header-only file) has no type to change from or to.
    untyped = {(side, name) for side, s in (("old", side_old), ("new", side_new))
               for name, st in s.stats.items() if st.csv and not st.seen_value}
    alike = {c for c in common if _written_alike(plan, c, side_old.types.get(c, "string"), side_new.types.get(c, "string"),
                                                 side_old.stats[c].numeric, side_new.stats[c].numeric)}
    schema = _schema_diff(side_old.types, side_new.types, src_old.names, src_new.names, untyped, alike)
    schema["renamed"] = renamed(side_old.prints, side_new.prints,
                                {n: st.kind for n, st in side_old.stats.items()},
                                {n: st.kind for n, st in side_new.stats.items()}, same_rows=side_old.n_rows == side_new.n_rows)
    notes = []
    for side, s, src in (("old", side_old, src_old), ("new", side_new, src_new)):
        if src.format == "csv" and not s.n_rows and src.names:
            notes.append(f"the {side} file has no rows: its columns' types are not compared")
    if schema["added"] or schema["removed"]:
        notes.append(
            f"rows compared over the {len(common)} columns both files share; "
            f"{len(schema['added'])} added and {len(schema['removed'])} removed columns ignored"
        )
    if src_old.format != src_new.format:
        notes.append("formats differ: values compared as text" + (", numbers as numbers" if plan.numbers else ""))
    if as_text:
        notes.append(f"a string on one side only, so compared as text: {', '.join(map(repr, as_text))}")
    stored = _storage_changed(schema, alike)
    if stored:
        notes.append(f"storage changed, not the type (not a schema change): {'; '.join(stored)}")
    midnights = [c["name"] for c in schema["type_changed"] if _date_and_timestamp(c["old"], c["new"])]
    if midnights:
        notes.append("a date is compared as the timestamp of its midnight (2024-01-01 equals 2024-01-01 00:00:00): "
                     + ", ".join(map(repr, midnights)))
    for side, src in (("old", src_old), ("new", src_new)):
        sep = next((c for c in ";|\t" if len(src.names) == 1 and c in src.names[0]), None) if src.format == "csv" else None
        if sep is not None:
            delimiter = "a tab" if ".tsv" in src.path.name.lower() else "','"
            notes.append(f"{side} file: its header is one column {src.names[0]!r}: it looks delimited by {sep!r}, "
                         f"but is read as delimited by {delimiter}")

    examples: dict[str, list[dict[str, Any]]] = {}
    duplicates = None
    changed_keys = None
    if key_cols is None:
        m = _match(side_old.rows, side_new.rows, in_place=True)  # the hashes are not needed in order again
        rows_added, rows_removed, rows_changed = int(m.added_counts.sum()), int(m.removed_counts.sum()), None
        rows_unchanged = m.matched
        wanted_old = {"removed": (m.removed, "row")}
        wanted_new = {"added": (m.added, "row")}
        show = common
    else:
        assert side_old.keys is not None and side_new.keys is not None
        k = _keyed(side_old.rows, side_old.keys, side_new.rows, side_new.keys)
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
        changed_keys = k.changed_keys
    for side in (side_old, side_new):  # matched: the hashes are not needed while examples are read
        side.rows, side.keys = np.zeros(0, np.uint64), None
    if max_examples:
        examples.update(_find_rows(src_old, plan, wanted_old, show, max_examples))
        examples.update(_find_rows(src_new, plan, wanted_new, show, max_examples))
    by_column = None
    if changed_keys is not None and value_cols:
        if rows_changed:  # a third read: which columns the changed rows differ in
            by_column = changed_columns(src_old, src_new, plan, changed_keys, rows_changed, max_examples=max_examples)
        else:
            by_column = ChangedColumns({}, True, 0)
    if not value_cols and set(src_old.names) - set(key_cols or []) and set(src_new.names) - set(key_cols or []):
        # Both tables have values, but only the key (or nothing) in common: none was compared.
        rows_changed = rows_unchanged = None
        if key_cols is None:
            rows_added = rows_removed = None  # type: ignore[assignment]
        notes.append("no value column is in both tables: which rows changed is not known"
                     + ("" if key_cols is not None else ", nor which were added or removed"))
    if duplicates is not None:
        duplicates["examples"] = {
            "old": examples.pop("duplicate_keys_old", []),
            "new": examples.pop("duplicate_keys_new", []),
        }

    columns = {name: _column_delta(side_old.stats[name], side_new.stats[name]) for name in common}
    missing = [f"{name!r} {moved}" for name in common if not (side_old.stats[name].csv or side_new.stats[name].csv)
               and (moved := _missing_moved(columns[name]["old"], columns[name]["new"]))]
    if missing:
        notes.append("missing values written differently (NaN / null), both counted as missing, not as a change: "
                     + ", ".join(missing))
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
        rows_changed_by_column=None if by_column is None else by_column.counts,
        rows_changed_by_column_exact=None if by_column is None else by_column.exact,
        changed_examples=None if by_column is None else by_column.examples,
    )


def _check_key(key: Sequence[str] | None, old: _Source, new: _Source) -> list[str] | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = [key]
    cols = list(key)
    check_key_names(cols)
    for src, label in ((old, "old"), (new, "new")):
        missing = [c for c in cols if c not in src.names]
        if missing:
            raise InputError(
                f"key {noun_for(len(missing), 'column')} {missing} not in the {label} file {src.label}",
                hint=f"its columns are: {', '.join(src.names) or '(none)'}",
            )
    return cols


def _schema_diff(t_old: dict[str, str], t_new: dict[str, str], n_old: list[str], n_new: list[str],
                 untyped: Collection[tuple[str, str]] = (), alike: Collection[str] = ()) -> dict[str, Any]:
    """`untyped`: (side, column) of CSV columns holding no value: no type, so no type change;
    `alike`: columns whose types differ only in how a file stores their values (`_written_alike`)."""
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
            {"name": n, "old": t_old[n], "new": t_new[n]}
            for n in n_new if n in t_old and _logical_type(t_old[n]) != _logical_type(t_new[n])
            and ("old", n) not in untyped and ("new", n) not in untyped and n not in alike
        ],
        "order_changed": [n for n in n_old if n in t_new] != [n for n in n_new if n in t_old],
    }


def _storage_changed(schema: dict[str, Any], alike: Collection[str] = ()) -> list[str]:
    """Columns whose Arrow type name changed but not the values it holds (string -> large_string,
    a dictionary-encoded column -> plain, and the `alike`): a change of storage, not of type."""
    old = {c["name"]: c["type"] for c in schema["old"]}
    return [f"{c['name']!r} {old[c['name']]} -> {c['type']}" for c in schema["new"]
            if c["name"] in old and old[c["name"]] != c["type"]
            and (_logical_type(old[c["name"]]) == _logical_type(c["type"]) or c["name"] in alike)]


_INTEGERS = {f"{u}int{n}" for u in ("", "u") for n in (8, 16, 32, 64)}


def _written_alike(plan: _Plan, name: str, a: str, b: str, num_a: Any = None, num_b: Any = None) -> bool:
    """Whether types `a` and `b` of a column differ only as a CSV writes its values (which says
    no type, but what its cells read as): a date or timestamp against text whose every cell held
    one, in or out of a zone as the type is; and, among columns compared as numbers, a float32
    against a double (compared at float32 precision), an int against another, or a column of
    whole numbers only (`num_a` / `num_b`: each side's `_NumericStats`) against an int."""
    if not plan.text:
        return False
    if name in plan.numbers and num_a is not None and num_b is not None:
        if {a, b} == {"float", "double"}:
            return True
        floats = [t for t in (a, b) if t not in _INTEGERS]
        return not floats or (set(floats) <= {"float", "double", "halffloat"} and len(floats) == 1
                              and all(n.integer or n.whole for n in (num_a, num_b)))
    kinds = plan.instants.get(name, set())
    for typed, other in ((a, b), (b, a)):
        if other == "string" and (typed.startswith("timestamp[") or typed.startswith("date")):
            return kinds == {"zoned" if "tz=" in typed else "naive"}
    return False


def _date_and_timestamp(a: str, b: str) -> bool:
    """Whether one type is a date and the other a zone-less timestamp (a date hashes as its midnight)."""
    return any(x.startswith("date") and y.startswith("timestamp[") and "tz=" not in y for x, y in ((a, b), (b, a)))


def _missing_moved(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """How a numeric column's missing values moved between NaN and null ("3 NaN -> 3 null"), by
    the two summaries' counts, when one file wrote as NaN what the other wrote as null; else None."""
    if "nan" not in old or "nan" not in new:
        return None
    if not (old["nan"] > new["nan"] and new["nulls"] > old["nulls"] or old["nulls"] > new["nulls"] and new["nan"] > old["nan"]):
        return None

    def said(s: dict[str, Any]) -> str:
        return " and ".join(f"{s[k]} {w}" for k, w in (("nan", "NaN"), ("nulls", "null")) if s[k]) or "none"

    return f"{said(old)} -> {said(new)}"


def _text_on_one_side(a: Any, b: Any) -> bool:
    """One type is text and the other is not, nor null (an all-null column is null as text too)."""
    kinds = [_logical_type(str(t)) for t in (a, b)]
    return "null" not in kinds and sum(k in ("string", "binary") for k in kinds) == 1


_STORAGE_TYPES = {"large_string": "string", "string_view": "string", "large_binary": "binary", "binary_view": "binary"}


def _logical_type(name: str) -> str:
    """An Arrow type name without its storage choices: pandas' object strings are written as
    string, its Arrow-backed ones as large_string, its categoricals as dictionary<...>."""
    if name.startswith("dictionary<values=") and name.endswith(">"):
        name = name[len("dictionary<values="):].rsplit(", indices=", 1)[0]
    return _STORAGE_TYPES.get(name, name)


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
        k, v = plan.hashes(batch, src)
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
                found[label].extend(_rows_as_py(src.typed(batch.select(show).take(fresh))))
            if len(found[label]) >= limit or len(seen[label]) >= todo[label].size:
                del todo[label]
        if not todo:
            break
    return found
