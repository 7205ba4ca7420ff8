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


# --- progress, read errors, one-column headers -------------------------------------


def _csv(path, text: bytes):  # type: ignore[no-untyped-def]
    import gzip

    path.write_bytes(gzip.compress(text) if path.name.endswith(".gz") else text)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_table_diff_draws_a_progress_bar_on_a_terminal_only(tmp_path, monkeypatch, capsys, suffix):
    from assay.data._tablediff import diff_tables

    old = _csv(tmp_path / f"old{suffix}", b"id,x\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(3000)))
    new = _csv(tmp_path / f"new{suffix}", b"id,x\n" + b"".join(b"%d,%d\n" % (i, i % 7) for i in range(3000)))
    answers = []
    for shown in ("1", "0"):
        monkeypatch.setenv("ASSAY_PROGRESS", shown)
        d = diff_tables(old, new, batch_rows=256)
        answers.append((d.rows_added, d.rows_removed, d.rows_unchanged))
        err = capsys.readouterr().err
        assert ("table diff" in err) == (shown == "1"), err
    assert answers[0] == answers[1] == (2993, 2993, 7)


def test_csv_read_errors_get_a_hint_for_their_cause(tmp_path):
    from assay.data._tablediff import diff_tables
    from assay.errors import InputError

    good = _csv(tmp_path / "good.csv", b"a,b\n1,2\n")
    cases = {
        _csv(tmp_path / "latin1.csv", "a,b\ncafé,2\n".encode("latin-1")): "iconv",
        _csv(tmp_path / "latin1_header.csv", "café,b\n1,2\n".encode("latin-1")): "iconv",
        _csv(tmp_path / "cut.csv.gz", b"a,b\n" + b"1,2\n" * 1000): "truncated",
        _csv(tmp_path / "ragged.csv", b"a,b\n1,2,3\n"): "delimiter",
    }
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(cut.read_bytes()[:-12])
    for path, word in cases.items():
        with pytest.raises(InputError) as err:
            diff_tables(good, path)
        assert word in (err.value.hint or ""), (path.name, err.value.message, err.value.hint)
    with pytest.raises(InputError) as err:
        diff_tables(good, tmp_path / "latin1.csv")
    assert "not UTF-8" in (err.value.hint or "")


def test_a_one_column_header_holding_a_semicolon_gets_a_note(tmp_path):
    from assay.data._tablediff import diff_tables

    old = _csv(tmp_path / "old.csv", b"id;name\n1;a\n2;b\n")
    new = _csv(tmp_path / "new.csv", b"id;name\n1;a\n2;c\n")
    d = diff_tables(old, new)
    assert d.compared_columns == ["id;name"]
    assert any("looks delimited by ';'" in n and n.startswith("old file") for n in d.to_dict()["notes"])
    assert not [n for n in diff_tables(_csv(tmp_path / "ok.csv", b"a,b\n1,2\n"), old).notes if "old file" in n]


@pytest.mark.parametrize("name", ["h.csv", "h.csv.gz"])
def test_a_header_only_csv_without_a_line_end_is_zero_rows(tmp_path, name):
    from assay.data._tablediff import diff_tables

    bare = _csv(tmp_path / name, b"x")
    rows = _csv(tmp_path / f"rows{name}", b"x\n1\n2\n")
    d = diff_tables(bare, rows)
    assert (d.rows_old, d.rows_new, d.compared_columns, d.rows_added) == (0, 2, ["x"], 2)
    assert diff_tables(_csv(tmp_path / "ab.csv", b"a,b"), _csv(tmp_path / "ab2.csv", b"a,b\n")).identical


# --- assay data diff: key errors and category counts -------------------------------


def test_a_table_without_the_key_on_one_side_still_reports_its_column_changes(ws, cli):  # type: ignore[no-untyped-def]
    from assay.data import add, diff

    d = ws.root / "d"
    d.mkdir()
    for a, b in (("id,x\n1,a\n", "id,v\n1,a\n"), ("ident,x,y\n1,a,2\n", "id,v\n1,b\n")):
        (d / "a.csv").write_text(a)
        (d / "b.csv").write_text(b)
        add(ws, ["d"], name="ds")
    entry = diff(ws, "ds@v1", "ds@v2", key=["id"]).tables["d/a.csv"]
    assert "id" in entry["error"]
    assert entry["schema"] == {"added": [{"name": "ident"}, {"name": "y"}], "removed": [{"name": "id"}]}
    out = cli("data", "diff", "ds@v1", "ds@v2", "--key", "id", cwd=ws.root).stdout
    assert "column added    ident" in out and "column removed  id" in out, out


def test_category_counts_that_are_not_exact_do_not_read_as_exact():
    from assay.cli._table_diff import column_line

    col = {
        "kind": "categorical",
        "old": {"distinct": 100, "distinct_exact": True, "nulls": 0},
        "new": {"distinct": 29731, "distinct_exact": False, "nulls": 0},
        "new_categories": {"count": 9970, "exact": False, "values": [{"value": f"b{i}"} for i in range(3)]},
        "vanished_categories": {"count": 2, "exact": True, "values": [{"value": "a1"}, {"value": "a2"}]},
    }
    line = column_line(col)
    assert "distinct 100 -> ~29731" in line
    assert "new: b0, b1, b2 and at least 9,967 more" in line and "gone: a1, a2" in line, line
    col["new_categories"] = {"count": 2, "exact": False, "values": [{"value": "b0"}, {"value": "b1"}]}
    assert "new: b0, b1 (at least)" in column_line(col)


def test_same_dates_and_times_in_another_width_change_no_row(tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from assay.data._tablediff import diff_tables
    from assay.data._tablehash import _hash_column

    days = pa.array([dt.date(2024, 2, 29), dt.date(1969, 12, 31), None, dt.date(1970, 1, 1)], pa.date32())
    clock = pa.array([dt.time(13, 5, 7, 250_000), dt.time(0, 0), None, dt.time(23, 59, 59)], pa.time32("ms"))
    files = {n: tmp_path / f"{n}.parquet" for n in ("old", "new", "moved")}
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": days, "t": clock}), files["old"])
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": days.cast(pa.date64()), "t": clock.cast(pa.time64("ns"))}),
                   files["new"])
    d = diff_tables(files["old"], files["new"])
    assert (d.rows_added, d.rows_removed, d.rows_unchanged) == (0, 0, 4)
    assert d.schema["type_changed"] == [{"name": "t", "old": "time32[ms]", "new": "time64[ns]"}]
    # Parquet keeps a date64 as days (date32); a table read some other way may hold one.
    assert (_hash_column(days, text=False) == _hash_column(days.cast(pa.date64()), text=False)).all()
    assert (_hash_column(days, text=False) != _hash_column(days.cast(pa.int32()), text=False))[[0, 1, 3]].all()
    later = pa.array([dt.time(13, 5, 7, 250_001), dt.time(0, 0), None, dt.time(23, 59, 59)], pa.time64("us"))
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": days.cast(pa.date64()), "t": later}), files["moved"])
    d = diff_tables(files["old"], files["moved"], key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (1, 3)
    seconds = pa.table({"t": pa.array([0, 1], pa.time32("s"))})  # a time is not a duration nor a date
    pq.write_table(seconds, files["moved"])
    pq.write_table(pa.table({"t": pa.array([0, 1], pa.duration("s"))}), files["new"])
    assert diff_tables(files["moved"], files["new"]).rows_unchanged == 0


@pytest.mark.parametrize("chunk", [5, 1 << 18])
def test_lookup_finds_the_first_row_of_each_wanted_hash(monkeypatch, chunk):
    import assay.data._tablematch as tm

    monkeypatch.setattr(tm, "_CHUNK", chunk)
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 50, 400).astype(np.uint64)  # many rows per hash, across chunks
    keys = rng.permutation(400).astype(np.uint64)
    wanted = np.array([3, 7, 11, 49, 60], dtype=np.uint64)  # 60: no row has it
    first = {int(h): int(keys[i]) for i, h in reversed(list(enumerate(rows)))}
    assert tm._lookup(rows, keys, wanted).tolist() == [first.get(int(h), 0) for h in wanted]
