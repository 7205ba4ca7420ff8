"""Check an ingested batch against the monitor's schema and turn it into one canonical Arrow table.

A batch is all or nothing: any wrong type, missing or unknown column, or malformed
payload raises :class:`~assay.errors.InputError` naming the first problem, and
nothing of the batch is stored. Canonical columns: float64 for numeric ones,
string for categorical ones, plus the optional string ``event_id``.
"""

from __future__ import annotations

import json
import operator
from typing import Any

import numpy as np
import pyarrow as pa

from assay._wording import noun_for
from assay.errors import InputError

__all__ = ["EVENT_ID", "MAX_BATCH_ROWS", "MalformedPayload", "UnsupportedMediaType", "canonical_schema", "rows_from_arrow", "rows_from_json"]

EVENT_ID = "event_id"
MAX_BATCH_ROWS = 100_000


class MalformedPayload(InputError):
    """The body is not parseable at all (broken JSON or Arrow): HTTP 400."""


class UnsupportedMediaType(InputError):
    """The body is in a format the service does not read: HTTP 415."""


def canonical_schema(schema: dict[str, str]) -> pa.Schema:
    fields = [pa.field(n, pa.float64() if k == "numeric" else pa.string()) for n, k in schema.items()]
    if EVENT_ID not in schema:
        fields.append(pa.field(EVENT_ID, pa.string()))
    return pa.schema(fields)


def _check_rows(count: int) -> None:
    if count == 0:
        raise InputError("the batch has no rows", hint="send at least one row")
    if count > MAX_BATCH_ROWS:
        raise InputError(f"the batch has {count:,} rows, more than {MAX_BATCH_ROWS:,}", hint="split it into smaller batches")


try:  # orjson (in assay[web]) parses batches about 3x faster; the stdlib is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the installed extras
    _loads = json.loads


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        doc = _loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"the body is not valid JSON: {exc}", hint='send {"rows": [{"column": value, ...}, ...]}') from None
    except RecursionError:  # the stdlib parser, without orjson, on [[[[... nested a few thousand deep
        raise MalformedPayload("the body is not valid JSON: it is nested too deeply", hint='send {"rows": [{"column": value, ...}, ...]}') from None
    if not isinstance(doc, dict):
        raise MalformedPayload("the body must be a JSON object", hint='send {"rows": [...], "batch_id": "..."}')
    return doc


def rows_from_json(rows: Any, schema: dict[str, str]) -> pa.Table:
    """Validate JSON ``rows`` (a list of objects) against ``schema``."""
    if not isinstance(rows, list):
        raise InputError('"rows" must be a list of objects', hint='send {"rows": [{"column": value, ...}, ...]}')
    _check_rows(len(rows))
    columns = list(schema)
    wanted = columns if EVENT_ID in schema else [*columns, EVENT_ID]
    # fast path, all in C: every row a dict with exactly the monitored keys (plus event_id);
    # itemgetter pulls the columns out row by row and zip transposes them
    if set(map(type, rows)) == {dict}:
        sizes = set(map(len, rows))
        plain = sizes == {len(columns)}
        if plain or (sizes <= {len(columns), len(columns) + 1} and EVENT_ID not in schema and all(EVENT_ID in r for r in rows if len(r) > len(columns))):
            getter = operator.itemgetter(*columns)
            try:
                values = list(zip(*map(getter, rows))) if len(columns) > 1 else [tuple(map(getter, rows))]
            except KeyError:
                values = None
            if values is not None:
                arrays = [_column(list(v), name, kind) for v, (name, kind) in zip(values, schema.items())]
                if EVENT_ID not in schema:
                    ids = [None] * len(rows) if plain else [r.get(EVENT_ID) for r in rows]
                    arrays.append(_column(ids, EVENT_ID, "id"))
                return _ids_checked(pa.Table.from_arrays(arrays, schema=canonical_schema(schema)), schema)
    # slow path: find the first problem and name it
    expected = set(columns)
    with_id = set(wanted) | {EVENT_ID}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"row {i} is a {type(row).__name__}, not an object")
        keys = row.keys()
        if keys != expected and keys != with_id:
            missing = sorted(expected - set(keys))
            unknown = sorted(set(keys) - with_id)
            if missing:
                raise InputError(f"row {i} has no {noun_for(len(missing), 'column')} {', '.join(map(repr, missing[:10]))}", hint="send every monitored column (null for a missing value)")
            raise InputError(f"row {i} has unknown {noun_for(len(unknown), 'column')} {', '.join(map(repr, unknown[:10]))}", hint=f"the monitor's columns are: {', '.join(columns[:30])}")
    raise InputError("the rows do not match the monitor's columns")  # pragma: no cover - the loop above names the row


_NUMBER_TYPES = {int, float, type(None)}


def _column(values: list[Any], name: str, kind: str) -> pa.Array:
    types = set(map(type, values))
    if kind == "numeric":
        if types <= _NUMBER_TYPES:
            try:
                # numpy converts a list of floats ~25x faster than pa.array; None becomes NaN, which
                # turns into null (drift counts both as missing)
                return _float_array(np.array(values, dtype=np.float64))
            except OverflowError:
                bad = next((i, v) for i, v in enumerate(values) if isinstance(v, int) and abs(v) > 1e308)
                raise InputError(f"column {name!r}, row {bad[0]}: {_show(bad[1])} is too large for a 64-bit float") from None
        bad = next((i, v) for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
        what = "a boolean" if isinstance(bad[1], bool) else f"{type(bad[1]).__name__} {_show(bad[1])}"
        raise InputError(f"column {name!r}, row {bad[0]}: expected a number, got {what}")
    if kind != "id" and bool in types:
        values = ["true" if v is True else "false" if v is False else v for v in values]
        types = set(map(type, values))
    if types <= {str, type(None)}:
        return pa.array(values, type=pa.string())
    bad = next((i, v) for i, v in enumerate(values) if v is not None and not isinstance(v, str))
    what = "a string event id" if kind == "id" else "a string"
    raise InputError(f"column {name!r}, row {bad[0]}: expected {what}, got {type(bad[1]).__name__} {_show(bad[1])}")


def _float_array(values: np.ndarray) -> pa.Array:
    """A float64 Arrow array over ``values`` (no copy), NaN as null.

    Built from buffers because ``pa.array`` on a NumPy array imports pandas when it is
    installed: half a second, paid by the first batch a fresh service acknowledges.
    """
    missing = np.isnan(values)
    nulls = int(missing.sum())
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.float64(), len(values), [validity, pa.py_buffer(values)], null_count=nulls)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def rows_from_arrow(body: bytes, schema: dict[str, str]) -> pa.Table:
    """Validate an Arrow IPC stream (or file) against ``schema``."""
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(body))
        table = reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        try:
            table = pa.ipc.open_file(pa.py_buffer(body)).read_all()
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
            raise MalformedPayload(f"the body is not a readable Arrow IPC stream: {exc}", hint="send an Arrow IPC stream (pyarrow.ipc.new_stream)") from None
    _check_rows(table.num_rows)
    twice = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if twice:  # which of the two would be the column? (table.column(name) raised KeyError: a 500)
        raise InputError(f"the batch has {noun_for(len(twice), 'column')} {', '.join(map(repr, twice[:10]))} more than once", hint="send each column once")
    present = set(table.column_names)
    missing = [n for n in schema if n not in present]
    if missing:
        raise InputError(f"the batch has no {noun_for(len(missing), 'column')} {', '.join(map(repr, missing[:10]))}", hint="send every monitored column (null for a missing value)")
    unknown = [n for n in table.column_names if n not in schema and n != EVENT_ID]
    if unknown:
        raise InputError(f"the batch has unknown {noun_for(len(unknown), 'column')} {', '.join(map(repr, unknown[:10]))}", hint=f"the monitor's columns are: {', '.join(list(schema)[:30])}")
    arrays = []
    target = canonical_schema(schema)
    for field in target:
        if field.name not in present:
            arrays.append(pa.nulls(table.num_rows, pa.string()))
            continue
        column = table.column(field.name)
        dtype = column.type
        kind = schema.get(field.name, "id")
        ok = (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype) or pa.types.is_null(dtype)) if kind == "numeric" \
            else (pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype)
                  or (pa.types.is_dictionary(dtype) and pa.types.is_string(dtype.value_type))
                  or (kind == "categorical" and pa.types.is_boolean(dtype)))  # fmt: skip
        if not ok:
            raise InputError(f"column {field.name!r} has Arrow type {dtype}, expected {'a number' if kind == 'numeric' else 'a string'}")
        try:
            arrays.append(column.cast(field.type).combine_chunks())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"column {field.name!r} cannot be read as {field.type}: {exc}") from None
    return _ids_checked(pa.Table.from_arrays(arrays, schema=target), schema)


def _ids_checked(table: pa.Table, schema: dict[str, str]) -> pa.Table:
    """Refuse an event id no label could name (empty, or past MAX_EVENT_ID characters): the
    event was stored, and its prediction could never be joined with a label."""
    if EVENT_ID in schema or EVENT_ID not in table.column_names:
        return table
    import pyarrow.compute as pc

    from assay.monitor._performance import MAX_EVENT_ID

    ids = table.column(EVENT_ID)
    if ids.null_count == len(ids):
        return table
    lengths = pc.utf8_length(ids)
    bad = pc.or_(pc.equal(lengths, 0), pc.greater(lengths, MAX_EVENT_ID))
    if pc.any(bad).as_py():
        i = pc.index(bad, True).as_py()
        said = "is empty" if lengths[i].as_py() == 0 else f"has {lengths[i].as_py()} characters"
        raise InputError(f"row {i}: the event id {said}; an event id is 1 to {MAX_EVENT_ID} characters, as a label names it",
                         hint="send a unique id per event (or none: null or leave it out, if no label will follow)")
    return table


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
