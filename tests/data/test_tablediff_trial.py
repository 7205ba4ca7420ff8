"""Table diff defects found by a trial of `assay data diff` on CSV / Parquet tables."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from assay.data._tablematch import _duplicates, _keyed, _match

# --- matching in bounded memory ----------------------------------------------------


def reference_match(old: np.ndarray, new: np.ndarray) -> tuple[dict[int, int], dict[int, int], int]:
    """What the np.unique-based matcher answered: leftover copies per hash on each side."""
    uo, co = np.unique(old, return_counts=True)
    un, cn = np.unique(new, return_counts=True)
    a, b = dict(zip(uo.tolist(), co.tolist())), dict(zip(un.tolist(), cn.tolist()))
    both = {h: min(c, b.get(h, 0)) for h, c in a.items()}
    removed = {h: c - both[h] for h, c in a.items() if c > both[h]}
    added = {h: c - both.get(h, 0) for h, c in b.items() if c > both.get(h, 0)}
    return removed, added, sum(both.values())


@pytest.mark.parametrize("chunk", [3, 1 << 18])
@pytest.mark.parametrize("seed", range(6))
def test_match_equals_the_multiset_difference_with_duplicates(monkeypatch, seed, chunk):
    import assay.data._tablematch as tm

    monkeypatch.setattr(tm, "_CHUNK", chunk)  # runs of a hash cross chunk borders
    rng = np.random.default_rng(seed)
    old = rng.integers(0, 40, 500).astype(np.uint64)
    new = rng.integers(20, 60, 450).astype(np.uint64)
    removed, added, matched = reference_match(old, new)
    m = _match(old, new)
    assert dict(zip(m.removed.tolist(), m.removed_counts.tolist())) == removed
    assert dict(zip(m.added.tolist(), m.added_counts.tolist())) == added
    assert m.matched == matched
    keys = np.sort(rng.integers(0, 100, 300).astype(np.uint64))
    u, c = np.unique(keys, return_counts=True)
    dups, extra = _duplicates(keys)
    assert dups.tolist() == u[c > 1].tolist() and extra == int((c[c > 1] - 1).sum())


def test_keyed_match_pairs_rows_and_counts_duplicate_keys():
    keys_old = np.array([1, 2, 3, 3, 4], dtype=np.uint64)
    rows_old = np.array([10, 20, 30, 31, 40], dtype=np.uint64)
    keys_new = np.array([2, 3, 3, 4, 5], dtype=np.uint64)
    rows_new = np.array([20, 30, 32, 41, 50], dtype=np.uint64)
    k = _keyed(rows_old, keys_old, rows_new, keys_new)
    assert (k.added, k.removed, k.changed, k.unchanged) == (1, 1, 2, 2)
    assert k.added_keys.tolist() == [5] and k.removed_keys.tolist() == [1]
    assert k.changed_keys.tolist() == [3, 4]
    assert k.dup_old.tolist() == [3] and k.dup_new.tolist() == [3] and k.dup_rows_old == 1


def test_matching_two_million_hashes_allocates_less_than_the_hashes_themselves():
    # np.unique(return_index, return_counts) on both sides peaked at ~6.5x the input here.
    rng = np.random.default_rng(0)
    old = rng.integers(0, 2**63, 2_000_000, dtype=np.uint64)
    new = old.copy()
    new[::1000] += np.uint64(1)
    bound = old.nbytes + new.nbytes
    tracemalloc.start()
    try:
        m = _match(old, new, in_place=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (int(m.removed_counts.sum()), int(m.added_counts.sum()), m.matched) == (2000, 2000, 1_998_000)
    assert peak < bound, f"matching peaked at {peak / 2**20:.0f} MiB for {bound / 2**20:.0f} MiB of hashes"


# --- timestamps in another unit ----------------------------------------------------


def test_same_instants_in_another_unit_or_zone_change_no_row_but_the_type_is_reported(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assay.data._tablediff import diff_tables

    ns = pa.array([1_700_000_000_123_456_000, 0, None, -86_400_000_000_000], pa.timestamp("ns"))
    old, new, utc, paris, other = (tmp_path / f"{n}.parquet" for n in ("old", "new", "utc", "paris", "other"))
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "t": ns}), old)
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "t": ns.cast(pa.timestamp("us"))}), new)
    d = diff_tables(old, new)
    assert (d.rows_added, d.rows_removed, d.rows_unchanged) == (0, 0, 4)
    assert d.schema["type_changed"] == [{"name": "t", "old": "timestamp[ns]", "new": "timestamp[us]"}]

    pq.write_table(pa.table({"t": ns.cast(pa.timestamp("us", tz="UTC"))}), utc)
    pq.write_table(pa.table({"t": ns.cast(pa.timestamp("ns", tz="Europe/Paris"))}), paris)
    assert diff_tables(utc, paris).rows_unchanged == 4  # one instant, two zones
    moved = pa.array([1_700_000_000_123_457_000, 0, None, -86_400_000_000_000], pa.timestamp("ns"))
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "t": moved.cast(pa.timestamp("us"))}), other)
    d = diff_tables(old, other, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (1, 3)
    assert diff_tables(old, utc).rows_unchanged == 1  # wall clock is not an instant: only the null matches
