"""From an Arrow column to what the tests read: kinds, missing values, finite numbers, category counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CategoricalSide", "NumericSide", "arrow_kind", "categorical_side", "index_array", "numeric_side", "parse_numbers", "parse_times", "time_tick_us", "to_float", "to_text"]


def arrow_kind(dtype: pa.DataType) -> str:
    """``numeric``, ``categorical``, ``null`` (no values at all) or ``unsupported``."""
    if pa.types.is_null(dtype):
        return "null"
    if pa.types.is_dictionary(dtype):
        return arrow_kind(dtype.value_type) if not pa.types.is_string(dtype.value_type) else "categorical"
    if pa.types.is_boolean(dtype) or pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "categorical"
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(dtype):
        return "categorical"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_temporal(dtype):
        return "numeric"
    return "unsupported"


# Microseconds per tick of each time unit: times are compared in microseconds whatever unit
# each side was stored in (pandas writes Parquet in us, a CSV reads as s, Arrow may hold ns)
_MICROSECONDS = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}


def time_tick_us(dtype: pa.DataType) -> float | None:
    """Microseconds per stored tick of a time or date type (a date32 counts days); None for others."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if not pa.types.is_temporal(dtype):
        return None
    if pa.types.is_date32(dtype):
        return 86_400e6
    if pa.types.is_date64(dtype):
        return 1e3
    return _MICROSECONDS.get(getattr(dtype, "unit", "us"), 1.0)


def to_float(column: pa.ChunkedArray | pa.Array, *, common_time_unit: bool = True) -> np.ndarray:
    """Float64 values with nulls as NaN (times and dates become microseconds, since the epoch or
    midnight; with ``common_time_unit=False`` their own ticks, as profiles keep them)."""
    dtype = column.type
    if pa.types.is_dictionary(dtype):
        column = pc.cast(column, dtype.value_type)
        dtype = dtype.value_type
    scale = 1.0
    if pa.types.is_temporal(dtype):
        # date32 and time32 (a CSV's times of day) are 32-bit: Arrow casts them to int32 only
        narrow = pa.types.is_date32(dtype) or pa.types.is_time32(dtype)
        column = pc.cast(column, pa.int32() if narrow else pa.int64())
        if common_time_unit:
            scale = time_tick_us(dtype) or 1.0
    if dtype != pa.float64():
        column = pc.cast(column, pa.float64(), safe=False)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks:
        return np.empty(0)
    parts = [_float_chunk(chunk) for chunk in chunks]
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return values * scale if scale != 1.0 else values


def _float_chunk(chunk: pa.Array) -> np.ndarray:
    """A float64 Arrow array as NumPy, nulls as NaN; read-only when no copy was needed.

    Read from the buffers directly: pyarrow's ``to_numpy`` imports pandas (~0.2 s) when it
    is installed.
    """
    n = len(chunk)
    validity, data = chunk.buffers()[:2]
    if n == 0 or data is None:
        return np.full(n, np.nan)
    values = np.frombuffer(data, dtype=np.float64, count=n, offset=chunk.offset * 8)
    if chunk.null_count == 0:
        return values
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[chunk.offset : chunk.offset + n]
    return np.where(bits.astype(bool), values, np.nan)


def index_array(indices: np.ndarray) -> pa.Array:
    """Row indices for ``take``, wrapped without ``pa.array`` (which imports pandas when installed)."""
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), indices.size, [None, pa.py_buffer(indices)])


def to_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Values as text (nulls stay null); floats that are whole numbers print without '.0'."""
    dtype = column.type
    if pa.types.is_dictionary(dtype):
        column = pc.cast(column, dtype.value_type)
        dtype = dtype.value_type
    if pa.types.is_floating(dtype):
        values = to_float(column)
        whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2**53)
        text = np.where(whole, np.char.mod("%d", np.where(whole, values, 0).astype(np.int64)), values.astype(str))
        return pa.array(text, mask=np.isnan(values), type=pa.string())
    out = pc.cast(column, pa.string())
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out


@dataclass
class NumericSide:
    """One side of a numeric column: finite values (sorted) and the counts of what is not."""

    rows: int
    missing: int  # null or NaN
    posinf: int
    neginf: int
    values: np.ndarray


@dataclass
class CategoricalSide:
    """One side of a categorical column: counts per category (text) and missing values."""

    rows: int
    missing: int
    categories: np.ndarray  # object array of str
    counts: np.ndarray  # int64


def numeric_side(column: pa.ChunkedArray | pa.Array) -> NumericSide:
    # NumPy sorts -inf first and +inf, then NaN, last: one sort, then three binary searches
    ordered = np.sort(to_float(column))
    neginf = int(np.searchsorted(ordered, -np.inf, side="right"))
    posinf_at = int(np.searchsorted(ordered, np.inf, side="left"))
    nan_at = int(np.searchsorted(ordered, np.inf, side="right"))
    return NumericSide(rows=int(ordered.size), missing=int(ordered.size - nan_at), posinf=nan_at - posinf_at, neginf=neginf, values=ordered[neginf:posinf_at])


def categorical_side(column: pa.ChunkedArray | pa.Array) -> CategoricalSide:
    if pa.types.is_dictionary(column.type) and (pa.types.is_string(column.type.value_type) or pa.types.is_large_string(column.type.value_type)):
        return _dictionary_side(column)
    text = to_text(column)
    counted = pc.value_counts(text)
    names = counted.field("values").to_pylist()
    tallies = counted.field("counts")  # int64 without nulls; read from its buffer (to_numpy imports pandas)
    counts = np.frombuffer(tallies.buffers()[1], dtype=np.int64, count=len(tallies), offset=tallies.offset * 8)
    keep = np.array([name is not None for name in names], dtype=bool)
    categories = np.asarray(names, dtype=object)[keep] if names else np.empty(0, dtype=object)
    return CategoricalSide(rows=len(text), missing=int(text.null_count), categories=categories, counts=counts[keep].astype(np.int64))


_INDEX_DTYPES = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}


def _dictionary_side(column: pa.ChunkedArray | pa.Array) -> CategoricalSide:
    """Counts of a dictionary-encoded text column from its indices, without decoding the text.

    Parquet stores text columns dictionary-encoded; reading them as dictionaries and
    counting indices costs about a quarter of decoding every string and hashing it again.
    """
    totals: dict[str, int] = {}
    rows = missing = 0
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        rows += len(chunk)
        indices, dictionary = chunk.indices, chunk.dictionary
        width = indices.type.bit_width
        codes = np.frombuffer(indices.buffers()[1], dtype=_INDEX_DTYPES[width], count=len(indices), offset=indices.offset * width // 8)
        if indices.null_count:
            bits = np.unpackbits(np.frombuffer(indices.buffers()[0], dtype=np.uint8), bitorder="little")[indices.offset : indices.offset + len(indices)]
            codes = codes[bits.astype(bool)]
        counts = np.bincount(codes, minlength=len(dictionary))
        missing += len(chunk) - int(codes.size)
        for name, count in zip(dictionary.to_pylist(), counts.tolist()):
            if not count:
                continue
            if name is None:  # a null inside the dictionary is a missing value too
                missing += count
            else:
                totals[name] = totals.get(name, 0) + count
    categories = np.empty(len(totals), dtype=object)
    categories[:] = list(totals)
    return CategoricalSide(rows=rows, missing=missing, categories=categories, counts=np.fromiter(totals.values(), dtype=np.int64, count=len(totals)))


# a decimal number as text (with an exponent, or infinity or NaN), which Arrow's cast to float reads
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|infinity|nan)$"


def parse_numbers(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, int, list[str]]:
    """Text values as float64 where each parses as a number (surrounding blanks allowed), else
    null: the values, how many non-null values did not parse, and up to three of those, distinct."""
    try:  # every value a number: one cast (the pattern costs about as much again)
        return pc.cast(to_text(column), pa.float64()), 0, []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = pc.utf8_trim_whitespace(to_text(column))
    parses = pc.match_substring_regex(text, _NUMBER, ignore_case=True)
    values = pc.cast(pc.if_else(parses, text, pa.scalar(None, pa.string())), pa.float64())
    unparsed = pc.filter(text, pc.invert(parses))  # (a null's match is null: dropped)
    examples = pc.unique(unparsed).slice(0, 3).to_pylist() if len(unparsed) else []
    return values, len(unparsed), examples


# an ISO 8601 date or time, as Arrow's cast to a timestamp reads it: without a zone (read as UTC, as
# Arrow reads a CSV's times), or with Z or an offset
_NAIVE_TIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
_ZONED_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})$"


def _times(text: pa.Array, dtype: pa.DataType) -> pa.Array:
    """Microsecond ticks of ISO times, null where ``text`` is; a day or an hour out of range (2024-13-45) null too."""
    try:
        return pc.cast(pc.cast(text, dtype), pa.int64())
    except pa.ArrowInvalid:  # (one such value fails the whole cast: read one by one)
        def one(value: str | None) -> int | None:
            try:
                return None if value is None else pc.cast(pc.cast(pa.array([value]), dtype), pa.int64())[0].as_py()
            except pa.ArrowInvalid:
                return None

        return pa.array([one(v) for v in text.to_pylist()], pa.int64())


def parse_times(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, int, list[str]]:
    """Text values as microseconds since the epoch (float64, as :func:`to_float` reads times) where
    each is an ISO 8601 date or time, else null; with how many did not parse and up to three of them."""
    text = pc.utf8_trim_whitespace(to_text(column))
    none = pa.scalar(None, pa.string())
    naive, zoned = pc.match_substring_regex(text, _NAIVE_TIME), pc.match_substring_regex(text, _ZONED_TIME)
    ticks = pc.coalesce(_times(pc.if_else(naive, text, none), pa.timestamp("us")), _times(pc.if_else(zoned, text, none), pa.timestamp("us", "UTC")))
    unparsed = pc.filter(text, pc.invert(pc.and_(pc.or_(naive, zoned), pc.is_valid(ticks))))
    examples = pc.unique(unparsed).slice(0, 3).to_pylist() if len(unparsed) else []
    return pc.cast(ticks, pa.float64()), len(unparsed), examples
