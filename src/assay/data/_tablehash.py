"""Stable 64-bit hashes of Arrow columns and rows, vectorized with numpy (see
:mod:`assay.data._tablediff`, "How rows are matched"): splitmix64 over each value's bits,
strings by a per-byte universal hash over Arrow's buffers; the same on every run and machine."""

from __future__ import annotations

from typing import Any

import numpy as np

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
    if body.size <= _ONE_PASS_BYTES:
        pos = np.arange(body.size, dtype=np.int64) - np.repeat(rel[:-1], lengths)
        per_byte = (body.astype(np.uint64) + _U(1)) * _position_weights(int(lengths.max()))[pos]
        sums = np.concatenate(([_U(0)], np.cumsum(per_byte, dtype=np.uint64)))[rel]
    else:
        sums = _prefix_sums(body, rel)
    return _mix((sums[1:] - sums[:-1]) ^ _mix(lengths.astype(np.uint64) ^ _TAG_STR))


# Past this many bytes of text in one batch (a huge cell), the bytes are hashed `_CHUNK_BYTES` at a
# time: in one pass each byte takes ~40 bytes of arrays (a 20 MB cell took 1.3 GB).
_ONE_PASS_BYTES = 1 << 22
_CHUNK_BYTES = 1 << 20


def _prefix_sums(body: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """The running sum of (byte + 1) * R[position in its string] at each string's start
    offset `rel` (mod 2**64), as `_hash_bytes` takes it, `_CHUNK_BYTES` bytes at a time; R
    computed for the chunk (a table as long as the longest string would be 8 bytes a byte)."""
    sums = np.zeros(rel.size, dtype=np.uint64)
    carry = _U(0)
    for a in range(0, body.size, _CHUNK_BYTES):
        b = min(a + _CHUNK_BYTES, body.size)
        at = np.arange(a, b, dtype=np.int64)
        pos = at - rel[np.searchsorted(rel, at, "right") - 1]
        weights = _mix(pos.astype(np.uint64) ^ _TAG_POS)  # = _position_weights(...)[pos]
        running = np.cumsum((body[a:b].astype(np.uint64) + _U(1)) * weights, dtype=np.uint64) + carry
        lo, hi = np.searchsorted(rel, a + 1, "left"), np.searchsorted(rel, b, "right")
        sums[lo:hi] = running[rel[lo:hi] - a - 1]
        carry = running[-1]
    return sums


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
        # NaN is missing, as null is: pandas writes a float column's NaN as null, polars and Arrow
        # keep it, and a reader takes both for "no value" (`_tablediff` says where they moved).
        f = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        h = np.where(np.isnan(f), _NULL_HASH, _hash_floats(f))
    elif pa.types.is_boolean(t):
        vals = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint64)
        h = _mix(vals ^ _TAG_BOOL)
    elif pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date(t) or pa.types.is_time(t):
        h = _hash_instants(arr, t)
    elif pa.types.is_temporal(t) and t.bit_width in (32, 64):
        ints = arr.view(pa.int32() if t.bit_width == 32 else pa.int64()).cast(pa.int64())
        h = _mix(ints.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64) ^ _mix(_hash_str(str(t))))
    else:  # decimals, nested types: through their text form
        h = _hash_bytes(_to_text(arr))
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        h = np.where(valid, h, _NULL_HASH)
    return h


_UNITS = ("s", "ms", "us", "ns")


def _hash_instants(arr: Any, t: Any) -> np.ndarray:
    """Timestamps, durations, dates and times of day by the value they stand for, not by their
    unit, width or time zone.

    Each value is taken to the coarsest unit that holds it exactly (2_000_000 us is 2 s),
    so one instant saved as ns and as us hashes equal; a date32 (days) is taken as the ms a
    date64 holds, and a time32 and a time64 of one time of day hash equal. A date hashes as the
    zone-less timestamp of its midnight, as it does compared as text (`_hash_text`, where
    pandas writes such timestamps as dates): a date -> timestamp column keeps its values, and
    its rows, as int32 -> double does. A zoned timestamp is stored as UTC whatever its zone:
    zoned values hash by instant, apart from zone-less (wall clock) ones.
    """
    import pyarrow as pa

    ints = arr.view(pa.int32() if t.bit_width == 32 else pa.int64()).cast(pa.int64())
    v = ints.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=True)
    unit = "ms" if pa.types.is_date(t) else t.unit
    if pa.types.is_date32(t):
        v *= 86_400_000  # days as ms: |v| < 2**31 days fits in int64 ms
    level = np.full(v.size, _UNITS.index(unit), dtype=np.uint64)
    for _ in range(_UNITS.index(unit)):
        coarser = (level > 0) & (v % 1000 == 0)
        v = np.where(coarser, v // 1000, v)
        level = level - coarser.astype(np.uint64)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        kind = "timestamp" if pa.types.is_date(t) or t.tz is None else "timestamp[zoned]"
    else:
        kind = "duration" if pa.types.is_duration(t) else "time"
    return _mix(v.view(np.uint64) ^ _mix(level ^ _mix(_hash_str(kind))))


# A date or a timestamp as ISO 8601 text: "2024-01-01", "2024-01-01 00:00:00" (pandas),
# "2024-01-01T00:00:00.000000" (Arrow, other tools), with a zone offset or Z, or without.
_INSTANT_TEXT = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
_ZONED_TEXT = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$"


def _hash_text(arr: Any, kinds: set[str] | None = None) -> np.ndarray:
    """A value's hash as text (`_hash_column(text=True)`), but a date or timestamp, or a cell
    that is one as ISO text (`_INSTANT_TEXT`), hashes as its instant: the same whether Arrow
    wrote it ("2024-01-01 00:00:00.000000"), pandas ("2024-01-01 00:00:00", or "2024-01-01"
    when every time is midnight) or another tool ("2024-01-01T00:00:00"). A date is the
    instant of its midnight. Text without a zone is a wall-clock time, with one (Z, +01:00) an
    instant in UTC: they never hash equal, as zone-less and zoned timestamps do not. Decided
    cell by cell, so a cell hashes alike in any file. `kinds` is told what the text cells held:
    "naive", "zoned" and / or "text" (a value that is no instant)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_timestamp(t):
        return _hash_column(arr, text=False)
    if pa.types.is_date(t):
        return _hash_column(arr.cast(pa.timestamp("ms")), text=False)
    h = _hash_column(arr, text=True)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)) or arr.null_count == len(arr):
        return h
    looks = pc.match_substring_regex(arr, _INSTANT_TEXT).fill_null(False).to_numpy(zero_copy_only=False)
    if kinds is not None and np.count_nonzero(looks) < len(arr) - arr.null_count:
        kinds.add("text")
    if not looks.any():
        return h
    at = np.flatnonzero(looks)
    cells = arr.take(pa.array(at))
    zoned = pc.match_substring_regex(cells, _ZONED_TEXT).to_numpy(zero_copy_only=False)
    for flag, tz in ((False, None), (True, "UTC")):
        part = np.flatnonzero(zoned == flag)
        if not part.size:
            continue
        hashes, ok = _hash_instant_cells(cells.take(pa.array(part)), tz)
        h[at[part[ok]]] = hashes[ok]
        if kinds is not None:
            kinds.update((["zoned" if flag else "naive"] if ok.any() else []) + ([] if ok.all() else ["text"]))
    return h


def _hash_instant_cells(cells: Any, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(the instant hash of each ISO text cell, whether it parsed); parsed as ns, a cell out of
    its range (before 1677, after 2262) as us; one that is no date (2024-13-45) not at all."""
    import pyarrow as pa

    try:
        return _hash_column(cells.cast(pa.timestamp("ns", tz)), text=False), np.ones(len(cells), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    hashes, ok = np.zeros(len(cells), dtype=np.uint64), np.zeros(len(cells), dtype=bool)
    for i in range(len(cells)):  # rare: a cell no timestamp holds, found one by one
        for unit in ("ns", "us"):
            try:
                hashes[i] = _hash_column(cells.slice(i, 1).cast(pa.timestamp(unit, tz)), text=False)[0]
                ok[i] = True
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return hashes, ok


def _hash_str(s: str) -> np.ndarray:
    import pyarrow as pa

    return _hash_bytes(pa.array([s]))


def _sample_priority(ident: np.ndarray, earlier: np.ndarray | None = None) -> np.ndarray:
    """A row's priority for the hash-chosen samples (bottom-k: the lowest are kept), from its
    key hash or content hash `ident`, not its position: an unchanged row stays in or out of a
    sample on both sides, whatever rows were added or removed before it. Copies of one `ident`
    are told apart by their rank among them (plus `earlier`: copies counted before these), so a
    value held by half the rows still fills about half the sample (the copies being alike,
    which of them is kept does not matter)."""
    order = np.argsort(ident, kind="stable")
    ordered = ident[order]
    rank = np.empty(ident.size, dtype=np.uint64)
    rank[order] = (np.arange(ident.size) - np.searchsorted(ordered, ordered, "left")).astype(np.uint64)
    if earlier is not None:
        rank += earlier.astype(np.uint64)
    return _mix(ident ^ _mix(rank ^ _TAG_SAMPLE))


_RANK_ROWS = 1 << 16


class _Priorities:
    """The sample priorities of one file's rows, given batch by batch. Copies of an ident are
    ranked among the copies in the same block of `_RANK_ROWS` rows (by row number), not in the
    same batch: a CSV and a Parquet file are cut into batches differently, and the same rows
    must get the same priorities, so the same samples, whichever was read."""

    def __init__(self) -> None:
        self.rows = 0
        self.block = np.zeros(0, dtype=np.uint64)  # the idents of the current block so far, sorted

    def __call__(self, ident: np.ndarray) -> np.ndarray:
        out = np.empty(ident.size, dtype=np.uint64)
        lo = 0
        while lo < ident.size:
            part = ident[lo : lo + _RANK_ROWS - self.rows % _RANK_ROWS]
            earlier = np.searchsorted(self.block, part, "right") - np.searchsorted(self.block, part, "left")
            out[lo : lo + part.size] = _sample_priority(part, earlier)
            self.rows += part.size
            lo += part.size
            self.block = np.sort(np.concatenate((self.block, part))) if self.rows % _RANK_ROWS else self.block[:0]
        return out


def _combine(hashes: list[np.ndarray], n: int) -> np.ndarray:
    h = np.full(n, _ROW_SEED, dtype=np.uint64)
    for ch in hashes:
        h = _mix(h ^ ch)
    return h


# --- one pass over a file ----------------------------------------------------------
