"""From an Arrow column to what the tests read: kinds, missing values, finite numbers, category counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CategoricalSide", "NumericSide", "arrow_kind", "categorical_side", "numeric_side"]


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


def to_float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Float64 values with nulls as NaN (times become their integer ticks)."""
    dtype = column.type
    if pa.types.is_dictionary(dtype):
        column = pc.cast(column, dtype.value_type)
        dtype = dtype.value_type
    if pa.types.is_temporal(dtype):
        column = pc.cast(column, pa.int64()) if not pa.types.is_date32(dtype) else pc.cast(column, pa.int32())
    values = pc.cast(column, pa.float64(), safe=False)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values.to_numpy(zero_copy_only=False)


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
    values = to_float(column)
    nan = np.isnan(values)
    posinf = np.isposinf(values)
    neginf = np.isneginf(values)
    finite = values[~(nan | posinf | neginf)]
    finite.sort()
    return NumericSide(rows=int(values.size), missing=int(nan.sum()), posinf=int(posinf.sum()), neginf=int(neginf.sum()), values=finite)


def categorical_side(column: pa.ChunkedArray | pa.Array) -> CategoricalSide:
    text = to_text(column)
    counted = pc.value_counts(text)
    values = counted.field("values")
    counts = counted.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
    keep = values.is_valid().to_numpy(zero_copy_only=False)
    categories = np.asarray(values.to_pylist(), dtype=object)[keep]
    return CategoricalSide(rows=len(text), missing=int(text.null_count), categories=categories, counts=counts[keep])
