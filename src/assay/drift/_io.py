"""Where drift data comes from: files, folders, data frames and dataset references.

Every input becomes a :class:`Source` that can hand out one column at a time (exact
mode) or stream record batches (binned mode), so neither mode needs the whole table
in memory unless the input itself is in memory (a CSV file or a data frame).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from assay.errors import InputError

__all__ = ["ParquetSource", "Source", "TableSource", "open_source"]

PARQUET = (".parquet", ".pq", ".parq")
CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
IPC = (".arrow", ".feather", ".ipc", ".arrows")


class Source:
    """A table to read from; subclasses implement the reading."""

    label: str = ""
    version: Any = None  # the dataset version (data pillar) this source was checked out from
    schema: pa.Schema
    notes: dict[str, str]  # column -> what happened while reading (e.g. mixed types cast to text)
    empty_text: frozenset[str] = frozenset()  # text columns whose empty fields reading made missing (a CSV)
    # column -> the file of a folder that has it, where the folder's first file does not (read-only
    # here: a folder's source fills its own)
    left_out: Mapping[str, str] = MappingProxyType({})

    @property
    def num_rows(self) -> int:
        raise NotImplementedError

    def read_column(self, name: str) -> pa.ChunkedArray:
        raise NotImplementedError

    def iter_batches(self, columns: list[str], batch_size: int = 262_144) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def partitions(self) -> list[Source]:
        """Independent pieces that can be profiled apart and merged (at least ``[self]``)."""
        return [self]


class TableSource(Source):
    """A table already in memory."""

    def __init__(self, table: pa.Table, label: str, notes: dict[str, str] | None = None) -> None:
        _refuse_repeated_names(table.schema, label)
        self.table = table
        self.schema = table.schema
        self.label = label
        self.notes = notes or {}

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def read_column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def iter_batches(self, columns: list[str], batch_size: int = 262_144) -> Iterator[pa.RecordBatch]:
        yield from self.table.select(columns).to_batches(max_chunksize=batch_size)

    def keeping_empty_text(self, columns: set[str]) -> TableSource:
        """This table with "" back as a category, not missing, in those of ``columns`` where reading made it missing.

        A CSV's text column has no other missing values (pyarrow reads none there), so
        every missing value in it was an empty field.
        """
        import pyarrow.compute as pc

        table = self.table
        for name in sorted(columns & self.empty_text):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), pc.fill_null(table.column(i), ""))
        source = TableSource(table, self.label, self.notes)
        source.version, source.empty_text = self.version, self.empty_text - columns
        return source


class ParquetSource(Source):
    """One Parquet file or a folder of Parquet partitions, read lazily.

    A single file is read with ``pyarrow.parquet`` alone: ``pyarrow.dataset`` imports pandas
    (about half a second of start-up) and is needed only for folders.
    """

    def __init__(self, path: Path, label: str, folder_schema: pa.Schema | None = None) -> None:
        self.path = path
        self.label = label
        self.notes = {}
        self.left_out = {}
        self.dataset = None
        self._folder_schema = folder_schema
        self._casts: dict[str, pa.DataType] = {}
        self._readers = threading.local()
        try:
            if path.is_dir():
                import pyarrow.dataset as ds

                self.dataset = ds.dataset(str(path), format="parquet", exclude_invalid_files=False)
                self._files = sorted(self.dataset.files)
                schema = _folder_schema(self.dataset.schema, self._files, label, self.left_out)
                if not schema.equals(self.dataset.schema):
                    self.dataset = ds.dataset(str(path), format="parquet", schema=schema, exclude_invalid_files=False)
                self.schema = self.dataset.schema
                self._rows = self.dataset.count_rows()
            else:
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(str(path)).metadata
                self._metadata = meta
                self.schema = meta.schema.to_arrow_schema()
                self._rows = meta.num_rows
                self._files = [str(path)]
                self._dictionary = dictionary_columns(meta, self.schema)
                if folder_schema is not None:
                    # one file of a folder (a partition): read with the folder's types, so that
                    # every partition counts int64 and float64, or ms and ns, alike
                    self._casts = {f.name: folder_schema.field(f.name).type for f in self.schema
                                   if f.name in folder_schema.names and not f.type.equals(folder_schema.field(f.name).type)}  # fmt: skip
                    self.schema = pa.schema([folder_schema.field(f.name) if f.name in self._casts else f for f in self.schema])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read {label} as Parquet: {exc}", hint="check that the file is a complete Parquet file") from exc
        _refuse_repeated_names(self.schema, label)

    @property
    def num_rows(self) -> int:
        return self._rows

    def read_column(self, name: str) -> pa.ChunkedArray:
        if self.dataset is not None:
            return self.dataset.to_table(columns=[name]).column(name)
        # one reader per thread: callers read columns on several threads at once
        reader = getattr(self._readers, "reader", None)
        if reader is None:
            import pyarrow.parquet as pq

            reader = self._readers.reader = pq.ParquetFile(str(self.path), metadata=self._metadata, read_dictionary=self._dictionary)
        column = reader.read(columns=[name]).column(0)
        return column.cast(self._casts[name]) if name in self._casts else column

    def iter_batches(self, columns: list[str], batch_size: int = 262_144) -> Iterator[pa.RecordBatch]:
        if self.dataset is None:
            import pyarrow.parquet as pq

            # pre_buffer reads every row group of a file ahead (1.9 GiB measured for a 10M-row file)
            reader = pq.ParquetFile(str(self.path), metadata=self._metadata, pre_buffer=False, read_dictionary=self._dictionary)
            for batch in _row_group_batches(reader, range(self._metadata.num_row_groups), columns, batch_size):
                if self._casts:
                    batch = pa.RecordBatch.from_arrays([batch.column(i).cast(self._casts[n]) if n in self._casts else batch.column(i) for i, n in enumerate(batch.schema.names)],
                                                       names=batch.schema.names)  # fmt: skip
                yield batch
            return
        import pyarrow.dataset as ds

        # pre_buffer (the default) reads every row group of a file ahead: measured 1.9 GiB for a
        # 10M-row file; without it, and with a short read-ahead, the scan stays near 0.2 GiB
        options = ds.ParquetFragmentScanOptions(pre_buffer=False)
        yield from self.dataset.to_batches(columns=columns, batch_size=batch_size, fragment_scan_options=options,
                                           batch_readahead=2, fragment_readahead=1)  # fmt: skip

    def partitions(self) -> list[Source]:
        files = self._files
        if len(files) > 1:
            return [ParquetSource(Path(f), f, self.schema) for f in files]
        import pyarrow.parquet as pq

        groups = pq.ParquetFile(files[0]).metadata.num_row_groups if files else 0
        if groups < 2:
            return [self]
        # one file with several row groups: a few contiguous pieces, so workers share it
        pieces = min(groups, 2 * (os.cpu_count() or 1))
        bounds = np.linspace(0, groups, pieces + 1).astype(int)
        return [ParquetPiece(Path(files[0]), list(range(a, b)), f"{files[0]}[{a}:{b}]") for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def __reduce__(self) -> tuple[Any, ...]:  # workers reopen the file instead of pickling the dataset
        return (ParquetSource, (self.path, self.label, self._folder_schema))


class ParquetPiece(Source):
    """Some row groups of one Parquet file (a partition for the workers)."""

    def __init__(self, path: Path, row_groups: list[int], label: str) -> None:
        import pyarrow.parquet as pq

        self.path, self.row_groups, self.label, self.notes = path, row_groups, label, {}
        meta = pq.ParquetFile(str(path)).metadata
        self.schema = meta.schema.to_arrow_schema()
        # see ParquetSource.iter_batches (pre_buffer) and dictionary_columns
        self._file = pq.ParquetFile(str(path), metadata=meta, pre_buffer=False, read_dictionary=dictionary_columns(meta, self.schema))
        self._rows = sum(self._file.metadata.row_group(i).num_rows for i in row_groups)

    @property
    def num_rows(self) -> int:
        return self._rows

    def read_column(self, name: str) -> pa.ChunkedArray:
        return self._file.read_row_groups(self.row_groups, columns=[name]).column(name)

    def iter_batches(self, columns: list[str], batch_size: int = 262_144) -> Iterator[pa.RecordBatch]:
        yield from _row_group_batches(self._file, self.row_groups, columns, batch_size)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ParquetPiece, (self.path, self.row_groups, self.label))


def dictionary_columns(metadata: Any, schema: pa.Schema) -> list[str]:
    """Text columns stored dictionary-encoded in every row group: read them as Arrow dictionaries.

    Their counts then come from the indices (:func:`~assay.drift._columns.categorical_side`),
    about a quarter of the CPU of materializing and hashing every string (measured 0.34 s
    against 1.47 s for 5 columns of 10M rows).
    """
    leaves = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}  # nested columns have several
    names = []
    for field in schema:
        leaf = leaves.get(field.name)
        if leaf is None or not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)) or metadata.num_row_groups == 0:
            continue
        if all(metadata.row_group(g).column(leaf).has_dictionary_page for g in range(metadata.num_row_groups)):
            names.append(field.name)
    return names


def _row_group_batches(reader: Any, row_groups: Any, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches that never straddle two row groups: each row group is cut into equal batches near ``batch_size``.

    Batches that cross row-group boundaries cost Arrow about three times the CPU to decode
    (measured: 262,144-row batches over 256,000-row groups, 1.5 s against 0.46 s for 2.5M rows).
    """
    metadata = reader.metadata
    for group in row_groups:
        rows = metadata.row_group(group).num_rows
        if rows == 0:
            continue
        pieces = -(-rows // batch_size)
        yield from reader.iter_batches(batch_size=-(-rows // pieces), row_groups=[group], columns=columns)


def _from_pandas(frame: Any, label: str) -> TableSource:
    notes: dict[str, str] = {}
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # object columns holding several Python types: read them as text, and say so
        frame = frame.copy()
        for name in frame.columns:
            try:
                pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                frame[name] = frame[name].map(lambda v: None if v is None or v != v else str(v))
                notes[str(name)] = "mixed types: values read as text"
        table = pa.Table.from_pandas(frame, preserve_index=False)
    return TableSource(table, label, notes)


_MAX_CSV_BLOCK = 1 << 28  # the longest CSV header or row read: 256 MiB


def _read_csv(path: Path, label: str) -> TableSource:
    from pyarrow import csv

    delimiter = "\t" if ".tsv" in path.name else ","
    # Arrow reads in blocks of 1 MiB: a longer header reads as "Empty CSV file or block", a longer
    # row "straddles" two blocks; read again with blocks 4x as large (a file no larger than its
    # block that still reads as empty is empty; a compressed one may hold up to ~20x its size)
    try:
        size = path.stat().st_size * (20 if path.name.lower().endswith((".gz", ".bz2", ".zst")) else 1)
    except OSError:
        size = 0
    block = 1 << 20
    while True:
        try:
            table = csv.read_csv(path, read_options=csv.ReadOptions(block_size=block), parse_options=csv.ParseOptions(delimiter=delimiter))
            break
        except (pa.ArrowInvalid, OSError) as exc:
            said = str(exc)
            if block < _MAX_CSV_BLOCK and ("straddling object" in said or ("Empty CSV file" in said and block < size)):
                block *= 4
                continue
            if "Empty CSV file" in said:
                raise InputError(f"{label} is empty", hint="give a CSV file with a header line and rows") from exc
            raise InputError(f"cannot read {label} as CSV: {exc}") from exc
    table, empty = _empty_text_as_missing(table)
    source = TableSource(table, label)
    source.empty_text = empty
    return source


def _folder_schema(schema: pa.Schema, files: list[str], label: str, left_out: dict[str, str]) -> pa.Schema:
    """The schema to read a folder with: its first file's columns, each of the type that holds
    every file's values (int64 and float64 read as float64, times in the finest unit). A column
    only later files have is not read: it goes into ``left_out`` with the first file that has
    it, for the report to say so.

    Read with the first file's types, a later file failed in the middle of the comparison:
    floats where the first has integers (pandas writes a partition with no missing value as
    int64, one with NaN as float64), or text where it has numbers; text against numbers is
    refused here, naming the column and the file.
    """
    import pyarrow.parquet as pq

    from assay.drift._columns import arrow_kind

    kinds = {field.name: arrow_kind(field.type) for field in schema}
    seen: dict[str, list[pa.Field]] = {name: [] for name in schema.names}
    for file in files:
        try:
            fields = pq.read_schema(file)
        except (pa.ArrowInvalid, OSError) as exc:  # (said "cannot read FOLDER as Parquet", not which of its files)
            raise InputError(f"cannot read {file}, in the folder {label}, as Parquet: {exc}",
                             hint="check that the file is a complete Parquet file, or move it out of the folder") from exc  # fmt: skip
        for field in fields:
            kind = arrow_kind(field.type)
            if field.name in kinds and "null" not in (kind, kinds[field.name]) and kind != kinds[field.name]:
                raise InputError(f"the Parquet files of {label} disagree on column {field.name!r}: {kinds[field.name]} in the first file, {kind} ({field.type}) in {file}",
                                 hint="give a folder whose files share one schema, or compare the files one by one")  # fmt: skip
            if field.name in seen:
                seen[field.name].append(field)
            else:
                left_out.setdefault(field.name, file)
    fields = []
    for field in schema:
        try:
            wide = pa.unify_schemas([pa.schema([f]) for f in [field, *seen[field.name]]], promote_options="permissive").field(0)
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            wide = field  # no common type (a date and a timestamp): read as the first file's, as before
        fields.append(wide.with_metadata(field.metadata))
    return pa.schema(fields, metadata=schema.metadata)


def _refuse_repeated_names(schema: pa.Schema, label: str) -> None:
    """Columns are compared by name: two of one name cannot be told apart."""
    from collections import Counter

    repeated = [name for name, count in Counter(schema.names).items() if count > 1]
    if repeated:
        names = ", ".join(map(repr, repeated))
        raise InputError(f"{label} has more than one column named {names}", hint="give each column its own name")


def _empty_text_as_missing(table: pa.Table) -> tuple[pa.Table, frozenset[str]]:
    """An empty field of a text column is a missing value, as in a numeric column (and in pandas).

    pyarrow reads it as the category "": a CSV that pandas wrote with NaN in a text column
    then showed a new category where Parquet of the same data shows a missing-rate change.
    Also returns the columns where it did so.
    """
    changed = set()
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = empty_text_as_missing(table.column(i))
            if column is not None:
                table = table.set_column(i, field, column)
                changed.add(field.name)
    return table, frozenset(changed)


def empty_text_as_missing(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array | None:
    """A text ``column`` with each empty text "" as a missing value; None where it holds no ""."""
    import pyarrow.compute as pc

    empty = pc.equal(column, "")
    if not pc.any(empty).as_py():
        return None
    return pc.if_else(empty, pa.scalar(None, column.type), column)


def _read_ipc(path: Path, label: str) -> TableSource:
    try:
        source = pa.memory_map(str(path))
        try:
            table = pa.ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source = pa.memory_map(str(path))
            table = pa.ipc.open_stream(source).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {label} as Arrow IPC: {exc}") from exc
    return TableSource(table, label)


def _open_path(path: Path, label: str) -> Source:
    name = path.name.lower()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if any(f.name.lower().endswith(PARQUET) for f in files):
            return ParquetSource(path, label)
        tables = [_open_path(f, f"{label}/{f.relative_to(path)}") for f in files if f.name.lower().endswith(CSV + IPC)]
        if not tables:
            raise InputError(f"{label} is a folder without Parquet, CSV or Arrow files")
        try:
            table = pa.concat_tables([t.table for t in tables if isinstance(t, TableSource)], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError(f"the files in {label} do not share one schema: {exc}") from exc
        return TableSource(table, label)
    if path.stat().st_size == 0:
        raise InputError(f"{label} is empty (0 bytes)", hint="check that the file was written completely")
    if name.endswith(PARQUET):
        return ParquetSource(path, label)
    if name.endswith(CSV):
        return _read_csv(path, label)
    if name.endswith(IPC):
        return _read_ipc(path, label)
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic[:4] == b"PAR1":
        return ParquetSource(path, label)
    if magic == b"ARROW1":
        return _read_ipc(path, label)
    raise InputError(f"cannot tell the format of {label}", hint="use .parquet, .csv, .tsv, .arrow or .feather files, or a folder of Parquet files")


@contextlib.contextmanager
def open_source(data: Any, *, label: str, workspace: Any = None) -> Iterator[Any]:
    """Open ``data`` (path, table, data frame, profile or ``NAME@REF``) as a :class:`Source`.

    Yields a :class:`Source`, or a :class:`~assay.drift.Profile` when ``data`` is one
    (or a path to a saved profile). A dataset reference is checked out into a temporary
    folder that is removed on exit.
    """
    from assay.drift._profile import Profile

    if isinstance(data, (Source, Profile)):
        yield data
        return
    if isinstance(data, pa.Table):
        yield TableSource(data, label)
        return
    if isinstance(data, pa.RecordBatch):
        yield TableSource(pa.Table.from_batches([data]), label)
        return
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        yield _from_pandas(data, label)
        return
    if module == "polars":
        yield TableSource(data.to_arrow(), label)
        return
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"cannot read {label} from a {type(data).__name__}", hint="give a path, a pyarrow Table, or a pandas / polars DataFrame")
    path = Path(data).expanduser()
    if path.exists():
        if path.is_file() and path.name.lower().endswith(".json"):
            yield Profile.load(path)
            return
        if not os.access(path, os.R_OK):
            raise InputError(f"cannot read {data}: permission denied")
        yield _open_path(path, str(data))
        return
    if str(data).startswith("profile:"):
        from assay.drift._record import load_stored_profile

        yield load_stored_profile(workspace, str(data).removeprefix("profile:"))
        return
    if "@" in str(data) and os.sep not in str(data):
        with _checkout(str(data), workspace) as (folder, version):
            source = _open_path(folder, str(data))
            source.version = version
            yield source
        return
    raise InputError(f"{data} does not exist", hint="give a Parquet, CSV or Arrow file, a folder of Parquet files, or a dataset reference NAME@REF")


@contextlib.contextmanager
def _checkout(ref: str, workspace: Any) -> Iterator[tuple[Path, Any]]:
    """Materialize a dataset version (data pillar) into a temporary folder."""
    from assay._warn import warn_user
    from assay.data._checkout import checkout_prepared

    if workspace is None:
        from assay.workspace import Workspace

        workspace = Workspace.open()
    folder = Path(tempfile.mkdtemp(prefix="drift-", dir=workspace.tmp_dir))
    try:
        # (checkout_prepared: checkout itself refuses a folder inside .assay, which this temp folder is)
        result = checkout_prepared(workspace, ref, to=folder)
        warn_user(result.warnings)
        yield folder, result.version
    finally:
        shutil.rmtree(folder, ignore_errors=True)
