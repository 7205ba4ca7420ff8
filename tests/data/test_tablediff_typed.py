"""A CSV read as the types its columns hold: numeric cells compared and shown as numbers, so a
CSV and the same table as Parquet read alike (see :mod:`assay.data._tablediff`, "CSV")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv  # noqa: F401 (pa.csv)
import pyarrow.parquet as pq
import pytest

from assay.data._tablediff import diff_tables


def csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_numeric_csv_column_compares_numbers_and_a_text_one_compares_text(tmp_path):  # type: ignore[no-untyped-def]
    # x is numeric in both files: 1.0 -> 1, 2 -> 2.00 and NA -> (empty) are the same numbers (or no
    # number); v is text ("beta" in it): "1.0" -> "1" is a change of its text.
    a = csv(tmp_path / "a.csv", "id,x,v\n1,1.0,1.0\n2,2,beta\n3,NA,x\n4,3.5,y\n")
    b = csv(tmp_path / "b.csv", "id,x,v\n1,1,1\n2,2.00,beta\n3,,x\n4,3.25,y\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (2, 2)
    assert d.rows_changed_by_column == {"v": 1, "x": 1}
    assert d.changed_examples == [{"key": {"id": 1}, "columns": {"v": {"old": "1.0", "new": "1"}}},
                                  {"key": {"id": 4}, "columns": {"x": {"old": 3.5, "new": 3.25}}}]
    assert d.examples["changed"] == [{"id": 1}, {"id": 4}]
    unkeyed = diff_tables(a, b)  # by row hash: the same two rows differ
    assert (unkeyed.rows_added, unkeyed.rows_removed) == (2, 2)
    assert unkeyed.examples["removed"][0] == {"id": 1, "v": "1.0", "x": 1.0}


def test_csv_examples_read_like_the_same_table_as_parquet(tmp_path):  # type: ignore[no-untyped-def]
    old = {"id": [20, 21, 22, 23], "n": [1.5, 2.0, None, 4.0], "s": ["a", "b", "c", "d"]}
    new = {"id": [20, 21, 22, 24], "n": [1.5, 2.5, 3.0, 4.0], "s": ["a", "b", "C", "d"]}
    got = {}
    for fmt in ("csv", "parquet"):
        paths = []
        for name, cols in (("a", old), ("b", new)):
            path, table = tmp_path / f"{name}.{fmt}", pa.table(cols)
            if fmt == "csv":
                pa.csv.write_csv(table, path)
            else:
                pq.write_table(table, path)
            paths.append(path)
        d = diff_tables(*paths, key=["id"])
        got[fmt] = (d.changed_examples, d.examples, d.rows_changed_by_column)
    assert got["csv"] == got["parquet"]
    assert got["csv"][0][0] == {"key": {"id": 21}, "columns": {"n": {"old": 2.0, "new": 2.5}}}
    assert got["csv"][1]["removed"] == [{"id": 23}]


def test_a_column_numeric_in_one_file_and_text_in_the_other_compares_text(tmp_path):  # type: ignore[no-untyped-def]
    # Old x is numeric, new x holds text: compared as text, so 1.0 -> 1 is a change there; each
    # side shows its values in its own type (the schema says double -> string).
    a = csv(tmp_path / "a.csv", "id,x\n1,1.0\n2,2.5\n3,3\n")
    b = csv(tmp_path / "b.csv", "id,x\n1,1\n2,2.5\n3,n/a?\n")
    for old, new in ((a, b), (b, a)):
        d = diff_tables(old, new, key=["id"])
        assert d.rows_changed_by_column == {"x": 2} and d.rows_unchanged == 1
    d = diff_tables(a, b, key=["id"])
    assert d.changed_examples[0] == {"key": {"id": 1}, "columns": {"x": {"old": 1.0, "new": "1"}}}
    assert d.schema["type_changed"] == [{"name": "x", "old": "double", "new": "string"}]


def test_a_csv_column_that_meets_text_late_compares_text_throughout(tmp_path):  # type: ignore[no-untyped-def]
    # x looks numeric for the first blocks of both files, then holds text: its earlier cells are
    # compared as text too (1.0 -> 1 a change), as if the type had been known from the start.
    rows = [f"{i},{i}.0" for i in range(3000)]
    a = csv(tmp_path / "a.csv", "id,x\n" + "\n".join(rows + ["3000,text"]) + "\n")
    rows[5] = "5,5"
    b = csv(tmp_path / "b.csv", "id,x\n" + "\n".join(rows + ["3000,text"]) + "\n")
    for key in (["id"], None):
        d = diff_tables(a, b, key=key, batch_rows=256)
        assert d.schema["new"][1]["type"] == "string"
        if key:
            assert d.rows_changed == 1 and d.changed_examples[0]["columns"] == {"x": {"old": "5.0", "new": "5"}}
        else:
            assert (d.rows_added, d.rows_removed) == (1, 1)


def test_parquet_against_csv_compares_numbers_as_numbers(tmp_path):  # type: ignore[no-untyped-def]
    pq.write_table(pa.table({"id": [1, 2, 3], "x": [1.0, 2.5, 0.1]}), tmp_path / "a.parquet")
    b = csv(tmp_path / "b.csv", "id,x\n1,1\n2,2.50\n3,0.10000\n")
    d = diff_tables(tmp_path / "a.parquet", b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (0, 3)
    assert d.identical


def _alike(a: dict, b: dict) -> None:
    """Two `columns` of a diff are the same summaries (means and stds to rounding: summed in other batches)."""
    assert a.keys() == b.keys()
    for name in a:
        for side in ("old", "new"):
            sa, sb = dict(a[name][side]), dict(b[name][side])
            for stat in ("mean", "std"):
                if stat in sa or stat in sb:
                    assert sa.pop(stat) == pytest.approx(sb.pop(stat), rel=1e-12), (name, side, stat)
            assert sa == sb, (name, side)


@pytest.mark.parametrize("key", [None, ["id"]])
def test_sampled_summaries_do_not_depend_on_how_the_file_was_read(tmp_path, key):  # type: ignore[no-untyped-def]
    # 150k rows, many of them alike (no key): quantiles come from a 65,536-row sample. The same
    # rows as CSV (blocks of ~4 MB) and as Parquet (batches of 10,000) give the same summaries.
    n = 150_000
    for name, seed in (("a", 1), ("b", 2)):
        rng = np.random.default_rng(seed)
        t = pa.table({"id": np.arange(n), "x": rng.integers(0, 40, n), "y": rng.integers(0, 5, n) * 0.5,
                      "s": rng.choice(["a", "b", "c"], n)})
        if key is None:
            t = t.drop(["id"])
        pa.csv.write_csv(t, tmp_path / f"{name}.csv")
        pq.write_table(t, tmp_path / f"{name}.parquet", row_group_size=50_000)
    by_csv = diff_tables(tmp_path / "a.csv", tmp_path / "b.csv", key=key)
    by_parquet = diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet", key=key, batch_rows=10_000)
    assert by_csv.columns["x"]["new"]["quantiles_exact"] is False
    _alike(by_csv.columns, by_parquet.columns)
    _alike(by_csv.columns, diff_tables(tmp_path / "a.csv", tmp_path / "b.csv", key=key, batch_rows=3_000).columns)


def test_whole_numbers_past_int64_stay_text_not_rounded(tmp_path):  # type: ignore[no-untyped-def]
    # 20-digit ids: through double, ids differing in their last digits would be one number.
    a = csv(tmp_path / "a.csv", "id,v\n12345678901234567890,1\n12345678901234567891,2\n")
    b = csv(tmp_path / "b.csv", "id,v\n12345678901234567890,1\n12345678901234567892,2\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_added, d.rows_removed, d.rows_unchanged) == (1, 1, 1)
    assert d.examples["added"] == [{"id": "12345678901234567892"}]
    assert d.schema["new"][0] == {"name": "id", "type": "string"}


def test_timestamps_against_their_pandas_csv_compare_as_instants(tmp_path):  # type: ignore[no-untyped-def]
    import pandas as pd

    # pandas writes "2024-01-02 10:30:00" (and "2024-01-01" when every time is midnight, "+01:00"
    # with a zone) where Arrow's text is "2024-01-02 10:30:00.000000": no row changed.
    df = pd.DataFrame({
        "id": [1, 2, 3],
        "t": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-02 10:30:00", "2024-01-03 00:00:00.250"], format="ISO8601"),
        "day": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "utc": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-02 10:30:00", None]).tz_localize("Europe/Paris"),
    })
    df.to_parquet(tmp_path / "a.parquet", index=False)
    df.to_csv(tmp_path / "a.csv", index=False)
    for key in (["id"], ["t"], None):
        d = diff_tables(tmp_path / "a.parquet", tmp_path / "a.csv", key=key)
        assert (d.rows_added, d.rows_removed, d.rows_changed or 0) == (0, 0, 0), key
        assert d.schema["type_changed"] == [] and d.identical
        assert any("'t' timestamp[" in n and "'day' timestamp[" in n for n in d.notes)  # pandas: ns or us
    moved = df.assign(t=df.t + pd.Timedelta(seconds=1))
    moved.to_csv(tmp_path / "b.csv", index=False)
    d = diff_tables(tmp_path / "a.parquet", tmp_path / "b.csv", key=["id"])
    assert d.rows_changed == 3 and d.rows_changed_by_column == {"t": 3}


def test_two_csvs_writing_timestamps_differently_compare_as_instants(tmp_path):  # type: ignore[no-untyped-def]
    a = csv(tmp_path / "a.csv", "id,t\n1,2024-01-01T00:00:00\n2,2024-01-02T10:30:00.500\n3,x\n4,2024-01-01T00:00:00Z\n")
    b = csv(tmp_path / "b.csv", "id,t\n1,2024-01-01 00:00:00\n2,2024-01-02 10:30:00.500000\n3,x\n4,2024-01-01 01:00:00+01:00\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (0, 4)
    # A wall-clock time is not equal to the instant of that time in UTC (nor is text that looks
    # like a time but is none equal to another writing of it).
    c = csv(tmp_path / "c.csv", "id,t\n1,2024-01-01T00:00:00+00:00\n2,2024-01-02 10:30:00.5\n3,X\n4,2024-01-01 00:00:00\n")
    d = diff_tables(a, c, key=["id"])
    assert d.rows_changed_by_column == {"t": 3}
    assert [e["key"]["id"] for e in d.changed_examples] == [1, 3, 4]


def test_a_naive_timestamp_is_not_its_utc_instant_between_parquet_and_csv(tmp_path):  # type: ignore[no-untyped-def]
    t = pa.array([1_704_067_200_000_000], pa.timestamp("us"))
    pq.write_table(pa.table({"id": [1], "t": t}), tmp_path / "a.parquet")
    b = csv(tmp_path / "b.csv", "id,t\n1,2024-01-01 00:00:00+00:00\n")
    d = diff_tables(tmp_path / "a.parquet", b, key=["id"])
    assert d.rows_changed == 1 and d.schema["type_changed"] == [{"name": "t", "old": "timestamp[us]", "new": "string"}]
    pq.write_table(pa.table({"id": [1], "t": t.cast(pa.timestamp("us", "UTC"))}), tmp_path / "z.parquet")
    d = diff_tables(tmp_path / "z.parquet", b, key=["id"])
    assert d.rows_changed == 0 and d.schema["type_changed"] == []


def test_numbers_a_csv_holds_alike_are_a_storage_note_not_a_type_change(tmp_path):  # type: ignore[no-untyped-def]
    # A CSV says no type: float32 reads back as double, an int32 as int64, whole doubles as int64.
    t = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "f": pa.array([1.5, 2.25, 0.1], pa.float32()),
                  "w": pa.array([1.0, 2.0, float("nan")]), "x": pa.array([1.5, 2.0, 3.0])})
    pq.write_table(t, tmp_path / "a.parquet")
    b = csv(tmp_path / "b.csv", "id,f,w,x\n1,1.5,1,1.5\n2,2.25,2,2\n3,0.1,,3\n")
    d = diff_tables(tmp_path / "a.parquet", b, key=["id"])
    assert (d.rows_changed, d.schema["type_changed"]) == (0, []) and d.identical
    assert any("'id' int32 -> int64; 'f' float -> double; 'w' double -> int64" in n for n in d.notes)
    # Numbers that differ: a double holding 1.5 against a CSV of whole numbers is a change of type.
    c = csv(tmp_path / "c.csv", "id,f,w,x\n1,1.5,1,2\n2,2.25,2,2\n3,0.1,,3\n")
    d = diff_tables(tmp_path / "a.parquet", c, key=["id"])
    assert d.schema["type_changed"] == [{"name": "x", "old": "double", "new": "int64"}]
    assert d.rows_changed_by_column == {"x": 1}
    # Two CSVs: 1.0 -> 1 is the same number, 1.5 -> 2 a change of type too.
    assert diff_tables(csv(tmp_path / "d.csv", "id,w\n1,1.0\n2,2.0\n"), csv(tmp_path / "e.csv", "id,w\n1,1\n2,2\n")).identical
    d = diff_tables(csv(tmp_path / "g.csv", "id,w\n1,1.5\n"), csv(tmp_path / "h.csv", "id,w\n1,2\n"))
    assert d.schema["type_changed"] == [{"name": "w", "old": "double", "new": "int64"}]
