"""Reading a table file for :mod:`assay.data._tablediff`: its format by suffix, its column
names, and its record batches (CSV cells as text), with hints for what cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InputError

_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
# CSV cells that are no value in a numeric column (as pandas reads them).
_MISSING_TOKENS = ["", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "nan", "NaN", "-nan"]


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


@dataclass
class _Source:
    path: Path
    label: str  # what messages call the file (a dataset path, not a temp file)
    format: str
    names: list[str]
    batch_rows: int
    arrow_schema: Any  # pa.Schema, or None for CSV and empty files
    one_line: bytes | None = None  # a CSV that is one line without its end: that line and "\n"
    # CSV columns the scan found numeric: column -> whether integral (int64, else double). Their
    # cells are compared, and shown, as numbers (`typed`).
    numeric: dict[str, bool] = field(default_factory=dict)

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
                if _blank(path):  # what pandas writes for a frame without columns: "\n"
                    return cls(path, label, fmt, [], batch_rows, None)
                one_line = _one_line(path)
                source = pa.BufferReader(one_line) if one_line is not None else path
                while True:  # the first block holds the header and the first row, however long
                    try:
                        names = list(cls._csv_reader(path, source, batch_rows, None).schema.names)
                        break
                    except pa.ArrowInvalid as exc:
                        if not _straddles(exc, batch_rows):
                            raise
                        batch_rows = max(batch_rows, 256) * 4
        except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError) as exc:
            raise _unreadable(label, fmt, exc) from exc
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"{label}: duplicate column names {dup}", hint="give every column a distinct name")
        return cls(path, label, fmt, names, batch_rows, schema, one_line if fmt == "csv" else None)

    @staticmethod
    def _csv_reader(path: Path, source: Any, batch_rows: int, names: list[str] | None) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        read = pacsv.ReadOptions(block_size=max(batch_rows * 64, 16_384))
        parse = pacsv.ParseOptions(delimiter=delimiter)
        if names is None:
            return pacsv.open_csv(source, read_options=read, parse_options=parse)
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        )
        return pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)

    def batches(self, progress: Any = None) -> Iterator[Any]:
        """Record batches; CSV columns all as strings. `progress.update` is told the bytes read."""
        if not self.names and self.arrow_schema is None:
            return
        import pyarrow as pa

        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(self.path)
                per_row = self.path.stat().st_size / max(pf.metadata.num_rows, 1)
                for batch in pf.iter_batches(batch_size=self.batch_rows):
                    if progress is not None:
                        progress.update(round(batch.num_rows * per_row))
                    yield batch
            elif self.one_line is not None:
                yield from self._csv_reader(self.path, pa.BufferReader(self.one_line), self.batch_rows, self.names)
            else:
                yield from self._csv_batches(progress)
        except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError) as exc:
            raise _unreadable(self.label, self.format, exc) from exc

    def _csv_batches(self, progress: Any) -> Iterator[Any]:
        """A CSV's batches. A row longer than Arrow's read block (about 64 bytes a row of
        `batch_rows`) cannot be read in it: the file is read again with blocks 4x larger (kept for
        later reads), its rows already given skipped."""
        import pyarrow as pa

        given = 0
        while True:
            at = 0
            try:
                with _CountedStream(self.path, progress) as source:
                    for batch in self._csv_reader(self.path, source, self.batch_rows, self.names):
                        at += batch.num_rows
                        if at > given:
                            yield batch.slice(batch.num_rows - (at - given)) if at - given < batch.num_rows else batch
                            given = at
                return
            except pa.ArrowInvalid as exc:
                if not _straddles(exc, self.batch_rows):
                    raise
                self.batch_rows = max(self.batch_rows, 256) * 4


    def as_number(self, batch: Any, name: str) -> Any:
        """Column `name` of `batch` as numbers: a CSV column (one in `numeric`) parsed, any other as it is."""
        if self.format == "csv":
            # A column with no value at all (an empty "notes", a header's trailing comma) is in no
            # `numeric`: the scan read it as integers, all null, and hashed it so (a KeyError, exit 3, before).
            return _parse_numbers(batch.column(name), integer=self.numeric.get(name, True))
        return batch.column(name)

    def typed(self, batch: Any) -> Any:
        """`batch` with its CSV columns found numeric as int64 / double (see `numeric`)."""
        import pyarrow as pa

        if self.format != "csv" or not any(n in self.numeric for n in batch.schema.names):
            return batch
        columns = [_parse_numbers(batch.column(n), integer=self.numeric[n]) if n in self.numeric else batch.column(n)
                   for n in batch.schema.names]
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


# Cells Arrow would parse as numbers but a reader (and pandas) takes for codes: a leading zero
# (zip codes 02134, ids 007: as numbers 02134 -> 2134 would be no change, 007 and 7 one key) or hex.
_CODE = r"^[+-]?0[0-9xX]"


def _parse_numbers(arr: Any, *, integer: bool) -> Any:
    """CSV cells (strings) as int64 (`integer`) or double, `_MISSING_TOKENS` as null; raises
    pyarrow.ArrowInvalid at a cell that is no such number, or a code (`_CODE`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.if_else(pc.is_in(arr, value_set=pa.array(_MISSING_TOKENS)), pa.scalar(None, arr.type), arr)
    if pc.any(pc.match_substring_regex(arr, _CODE)).as_py():
        raise pa.ArrowInvalid("a code with a leading zero or in hex, not a number")
    try:
        return arr.cast(pa.int64() if integer else pa.float64())
    except pa.ArrowInvalid:
        if not integer:
            raise
        # Arrow's integer parse refuses "+5" (its float parse takes it).
        return pc.replace_substring_regex(arr, r"^\+", "").cast(pa.int64())


_MAX_BLOCK = 1 << 28  # the longest CSV row read: 256 MB


def _straddles(exc: Exception, batch_rows: int) -> bool:
    """Whether Arrow's CSV reader failed on a row longer than its block (a header longer than the
    first block is "cannot infer number of columns"), and a 4x larger block (up to `_MAX_BLOCK`)
    may hold it."""
    said = str(exc)
    return ("straddling object" in said or "cannot infer number of columns" in said) and max(batch_rows * 64, 16_384) * 4 <= _MAX_BLOCK


def _blank(path: Path) -> bool:
    """Whether a CSV holds only line ends and blanks (and perhaps a BOM): no header, like a 0-byte file."""
    import pyarrow as pa

    with pa.input_stream(str(path), compression="detect") as fh:
        head = fh.read(1 << 16)
    return len(head) < 1 << 16 and not head.removeprefix(b"\xef\xbb\xbf").strip(b" \t\r\n")


def _one_line(path: Path) -> bytes | None:
    """A small CSV's one line and a line end, when it has no line end (Arrow cannot read it
    then: "Empty CSV file or block"); else None."""
    import pyarrow as pa

    with pa.input_stream(str(path), compression="detect") as fh:
        head = fh.read(1 << 20)
    if len(head) >= 1 << 20 or b"\n" in head or b"\r" in head:
        return None
    return head + b"\n"


class _CountedStream:
    """The file as a stream for Arrow's CSV reader (decompressed by its suffix), telling
    `progress` how many of its bytes were read."""

    def __init__(self, path: Path, progress: Any) -> None:
        self.path, self.progress = path, progress

    def __enter__(self) -> Any:
        import pyarrow as pa

        if self.progress is None:
            self.raw = None
            return self.path
        self.raw = open(self.path, "rb")
        progress, read = self.progress, self.raw.read

        def counting_read(n: int = -1) -> bytes:
            data = read(n)
            progress.update(len(data))
            return data

        self.raw.read = counting_read  # type: ignore[method-assign]
        stream = pa.PythonFile(self.raw, mode="r")
        return pa.CompressedInputStream(stream, "gzip") if self.path.name.lower().endswith(".gz") else stream

    def __exit__(self, *exc: object) -> None:
        if self.raw is not None:
            self.raw.close()


def _table_columns(path: str | Path, label: str | None = None) -> list[str]:
    """The column names of a table file (reads only its header / schema)."""
    return _Source.open(Path(path), 1, label).names


def _unreadable(label: str, fmt: str, exc: Exception) -> InputError:
    said = str(exc).lower()
    if fmt == "parquet":
        hint = "check the file is a complete Parquet file"
    elif "utf8" in said or "utf-8" in said:
        hint = ("the file is not UTF-8 text: convert it and add it again, "
                "e.g. iconv -f LATIN1 -t UTF-8 FILE > FILE.utf8 (name its real encoding after -f)")
    elif label.lower().endswith(".gz") and ("compress" in said or "gzip" in said or "zlib" in said
                                            or isinstance(exc, EOFError)):
        hint = "the .gz file is truncated or damaged (gzip -t FILE says where): add a complete copy"
    elif "\x00" in said:  # UTF-16 text reads as rows of NUL-split fields, a ragged-row error
        hint = ("the file holds NUL bytes: UTF-16 (or UTF-32) text? convert it to UTF-8 and add it again, "
                "e.g. iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8")
    elif "straddling object" in said:
        hint = f"a row is longer than {_MAX_BLOCK >> 20} MB: is the file one line, or its line ends not \\n?"
    else:
        hint = "check the delimiter, quoting and that every row has as many fields as the header"
    return InputError(f"{label}: cannot read as {fmt.upper()}: {exc}", hint=hint)


def check_key_names(cols: list[str]) -> None:
    """Refuse a key that names no column, an empty one, or one column twice (before any table is read)."""
    if not cols:
        raise InputError("key is empty", hint="name at least one key column, or none to match rows by hash")
    if any(not isinstance(c, str) for c in cols):
        raise InputError(f"key columns are named by strings: {cols}", hint="name each key column, e.g. ['id']")
    if "" in cols:
        raise InputError(f"key names an empty column: {cols}",
                         hint="name each key column: --key id,region (key=['id', 'region'] in Python)")
    twice = sorted({c for c in cols if cols.count(c) > 1})
    if twice:
        raise InputError(f"key names a column twice: {', '.join(twice)}", hint="name each key column once")
