"""Loading the evaluation data: a file or a registered ``NAME@REF``, as named numpy columns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["Table", "load_table"]

_SUFFIXES = (".parquet", ".pq", ".csv", ".feather", ".arrow")


@dataclass
class Table:
    columns: dict[str, np.ndarray]
    hash: str
    ref: str
    version: str | None = None  # ledger version id, for lineage

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def describe(self) -> dict[str, Any]:
        return {"ref": self.ref, "hash": self.hash, "rows": self.n_rows, "version": self.version}


def _read(path: Path) -> dict[str, np.ndarray]:
    import pyarrow as pa

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(path)
        else:
            import pyarrow.feather as feather

            table = feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        # a parser's message may quote the bytes it choked on (a Parquet file named .csv): printable, and short
        said = "".join(ch if ch.isprintable() else "?" for ch in str(exc))
        ragged = re.match(r"CSV parse error: Expected (\d+) columns, got (\d+)", said) if suffix == ".csv" else None
        line = _first_ragged_line(path, int(ragged.group(1))) if ragged else None
        if ragged and line:
            raise InputError(f"{path}:{line}: this row has {ragged.group(2)} fields where the header has {ragged.group(1)}",
                             hint="every row of a CSV needs as many fields as its header (quote a field that holds a comma)") from None
        raise InputError(f"{path}: cannot read the data ({said[:300]}{'…' if len(said) > 300 else ''})",
                         hint="check that the file is what its name says (.parquet, .csv, .arrow/.feather)") from None
    # a CSV header's trailing commas name empty columns '' (one per comma): nothing there to read
    empty = [i for i, (name, col) in enumerate(zip(table.column_names, table.columns, strict=True)) if name == "" and col.null_count == len(col)]
    for i in reversed(empty):
        table = table.remove_column(i)
    _refuse_repeated_names(table.column_names, str(path))
    out: dict[str, np.ndarray] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        # numeric columns with nulls come back as float with NaN; text as object arrays
        out[name] = col.to_numpy(zero_copy_only=False)
    return out


def _first_ragged_line(path: Path, fields: int) -> int | None:
    """The line number (from 1, the header's) of the first CSV record whose field count is not
    ``fields``: Arrow's parse error quotes the row but not where it is. Read again only on error."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            for record in reader:
                if len(record) != fields and record:  # a blank line is no record to Arrow either
                    return reader.line_num
    except (OSError, csv.Error):
        return None
    return None


def _refuse_repeated_names(names: list[str], where: str) -> None:
    """Two columns of one name: the second silently replaced the first in the table read."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(f"{where}: two columns are named {name!r} (columns {seen[name] + 1} and {i + 1})",
                             hint="rename one: assay finds columns by name")
        seen[name] = i


def table_from_memory(data: Any, ref: str = "<memory>") -> Table:
    """A table from in-memory columns: a mapping of name → array, a pyarrow Table, or a DataFrame."""
    from assay.models._hashing import hash_bytes

    if hasattr(data, "to_pydict") and hasattr(data, "column_names"):  # pyarrow
        _refuse_repeated_names(data.column_names, ref)
        columns = {name: col.to_numpy(zero_copy_only=False) for name, col in zip(data.column_names, data.columns, strict=True)}
    elif hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "dtypes"):  # pandas / polars
        _refuse_repeated_names([str(c) for c in data.columns], ref)
        columns = {str(name): np.asarray(data[name]) for name in data.columns}
    elif isinstance(data, dict):
        columns = {str(k): np.asarray(v) for k, v in data.items()}
    else:
        raise InputError(f"cannot use a {type(data).__name__} as evaluation data", hint="pass a file, NAME@REF, a dict of arrays or a table")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InputError(f"columns have different lengths: {sorted(lengths)}")
    digest = hash_bytes(b"".join(k.encode() + b"\0" + (v.tobytes() if v.dtype != object else repr(v.tolist()).encode())
                                 for k, v in columns.items()))
    return Table(columns, digest, ref)


def load_table(ref: str, *, ws: Workspace | None = None, base_dir: str | Path | None = None) -> Table:
    """Read ``ref``: a data file (relative to ``base_dir`` if not found as given) or ``NAME@REF``."""
    from assay.models._hashing import hash_path

    if not isinstance(ref, (str, Path)):
        return table_from_memory(ref)
    candidates = [Path(ref)]
    if base_dir is not None and not Path(ref).is_absolute():
        candidates.append(Path(base_dir) / ref)
    odd: InputError | None = None  # a path that is there but no data file: said unless REF names a dataset
    for path in candidates:
        if odd is None and path.exists() and not path.is_file():
            what = "a folder" if path.is_dir() else "not a regular file (a device, a pipe or a socket)"
            odd = InputError(f"{path}: is {what}, not a data file", hint=f"give a data file ({', '.join(_SUFFIXES)}) or NAME@REF")
        elif odd is None and path.is_symlink() and not path.exists():
            odd = InputError(f"{path}: is a symlink that leads to no file (or round in a loop)", hint="give the data file it should lead to")
        if path.is_file():
            if path.suffix.lower() not in _SUFFIXES:
                raise InputError(f"{path}: unknown data format", hint=f"use one of {', '.join(_SUFFIXES)}")
            return Table(_read(path), hash_path(path), str(ref))
    if ws is None or Path(ref).suffix.lower() in _SUFFIXES:
        raise odd or NotFoundError(f"{ref}: no such data file" + ("" if ws else ", and no workspace to look up NAME@REF in"))
    from assay import data as _data

    try:
        version = _data.resolve(ws, ref, kind="dataset")
    except (NotFoundError, InputError):
        if odd is not None:  # no dataset by that name either: what the path is says more
            raise odd from None
        raise
    folder = ws.cache_dir / "data" / version.snapshot
    if not folder.exists():
        tmp = ws.tmp_dir / f"data-{version.snapshot}"
        from assay._warn import warn_user
        from assay.data._checkout import checkout_prepared

        # the version resolved, though @latest moves; checkout_prepared: checkout itself refuses a
        # folder inside .assay, which this temp folder is
        warn_user(checkout_prepared(ws, version.ref, to=tmp, force=True).warnings)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(folder)
        except OSError:
            if not folder.exists():
                raise
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)
    if len(files) != 1:
        raise InputError(
            f"{ref} holds {len(files)} data files ({', '.join(p.name for p in files[:5])}); a check reads exactly one",
            hint="register the evaluation table as its own dataset",
        )
    return Table(_read(files[0]), version.snapshot, version.ref, version.id)  # as NAME@vN: what was read
