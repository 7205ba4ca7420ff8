"""Table diff: one value written two ways by two tools is one value (see :mod:`assay.data._tablediff`):
a timestamp as pandas' or Arrow's text, a date and its midnight timestamp, NaN and null."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv  # noqa: F401 (pa.csv)
import pyarrow.parquet as pq
import pytest

from assay.cli._table_diff import render_table_diff
from assay.data._tablediff import diff_tables


def _times(n: int, start: int = 0) -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01 03:15", periods=start + n, freq="37min", unit="ns")[start:]


@pytest.mark.parametrize("new_format", ["csv", "parquet"])
@pytest.mark.parametrize("added", [0, 40])
def test_a_timestamp_column_renamed_between_pandas_and_arrow_text_is_told(tmp_path, new_format, added):
    # pandas writes "2024-01-01 03:15:00", Arrow "2024-01-01 03:15:00.000000": the same instants,
    # so the same column renamed; compared as text they were two columns.
    n = 400
    pd.DataFrame({"id": range(n), "t": _times(n), "x": range(n)}).to_csv(tmp_path / "old.csv", index=False)
    new = pa.table({"id": pa.array(range(n + added)), "when": pa.array(_times(n + added).to_pydatetime(), pa.timestamp("us")),
                    "x": pa.array(range(n + added))})
    path = tmp_path / f"new.{new_format}"
    pa.csv.write_csv(new, path) if new_format == "csv" else pq.write_table(new, path)
    want = [{"old": "t", "new": "when"} | ({"shared": 1.0} if added else {})]
    for key in (["id"], None):
        assert diff_tables(tmp_path / "old.csv", path, key=key).schema["renamed"] == want, key
    # Other instants are another column.
    moved = pa.table({"id": pa.array(range(n)), "when": pa.array(_times(n, 7).to_pydatetime(), pa.timestamp("us")),
                      "x": pa.array(range(n))})
    pa.csv.write_csv(moved, tmp_path / "moved.csv")
    assert diff_tables(tmp_path / "old.csv", tmp_path / "moved.csv", key=["id"]).schema["renamed"] == []


def test_a_date_equals_the_timestamp_of_its_midnight_with_the_type_change_told(tmp_path, capsys):
    # As a date32 and its midnight timestamp already read alike against a CSV ("2024-01-01"), they
    # do between two Parquet files: the same values (rows unchanged), the type change said, as
    # int32 -> double is. Every row changed before.
    days = [dt.date(2024, 2, 29), dt.date(1969, 12, 31), None, dt.date(1970, 1, 1)]
    midnights = [None if d is None else dt.datetime(d.year, d.month, d.day) for d in days]
    old = tmp_path / "old.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": pa.array(days, pa.date32())}), old)
    for unit in ("s", "us", "ns"):
        new = tmp_path / f"new_{unit}.parquet"
        pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": pa.array(midnights, pa.timestamp(unit))}), new)
        d = diff_tables(old, new, key=["id"])
        assert (d.rows_changed, d.rows_unchanged) == (0, 4), unit
        stored = "ms" if unit == "s" else unit  # Parquet has no seconds: Arrow writes them as ms
        assert d.schema["type_changed"] == [{"name": "d", "old": "date32[day]", "new": f"timestamp[{stored}]"}]
        assert not d.identical
        assert any("'d'" in n and "midnight" in n for n in d.notes), d.notes
        d = diff_tables(new, old)
        assert (d.rows_added, d.rows_removed, d.rows_unchanged) == (0, 0, 4)
    render_table_diff(diff_tables(old, tmp_path / "new_us.parquet", key=["id"]).to_dict())
    out = capsys.readouterr().out
    assert "column type     d: date32[day] -> timestamp[us]" in out and "midnight" in out
    # The same between Parquet and text: a CSV of those dates or of their midnights.
    pa.csv.write_csv(pa.table({"id": [1, 2, 3, 4], "d": pa.array(midnights, pa.timestamp("us"))}), tmp_path / "m.csv")
    assert diff_tables(old, tmp_path / "m.csv", key=["id"]).rows_unchanged == 4
    # A time past midnight is another value; so is a midnight in a zone (an instant, not a wall clock).
    later = [None if m is None else m + dt.timedelta(seconds=1) for m in midnights]
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": pa.array(later, pa.timestamp("us"))}), tmp_path / "later.parquet")
    assert diff_tables(old, tmp_path / "later.parquet", key=["id"]).rows_changed == 3
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "d": pa.array(midnights, pa.timestamp("us", "UTC"))}),
                   tmp_path / "zoned.parquet")
    d = diff_tables(old, tmp_path / "zoned.parquet", key=["id"])
    assert d.rows_changed == 3 and not any("midnight" in n for n in d.notes)


def test_a_date_column_renamed_to_its_midnight_timestamps_is_told(tmp_path):
    days = pd.date_range("2020-01-01", periods=300, freq="D")
    pq.write_table(pa.table({"id": range(300), "day": pa.array(days.date, pa.date32())}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": range(300), "at": pa.array(days.to_pydatetime(), pa.timestamp("us"))}),
                   tmp_path / "b.parquet")
    assert diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet", key=["id"]).schema["renamed"] == \
        [{"old": "day", "new": "at"}]


@pytest.mark.parametrize("key", [["id"], None])
def test_nan_and_null_are_both_missing_and_the_difference_is_said_once(tmp_path, capsys, key):
    # pandas writes a float column's NaN as null, polars and Arrow keep NaN: every such row
    # counted as changed. Both are missing: unchanged, with one note of how each file wrote them.
    nan = float("nan")
    x = [1.5, nan, 2.5, nan, nan, 4.0]
    old = tmp_path / "old.parquet"
    pq.write_table(pa.table({"id": range(6), "x": pa.array(x), "y": pa.array([nan, 1.0, 2.0, 3.0, 4.0, 5.0])}), old)
    pd.DataFrame({"id": range(6), "x": x, "y": [nan, 1.0, 2.0, 3.0, 4.0, 5.0]}).to_parquet(tmp_path / "pandas.parquet")
    assert pq.read_table(tmp_path / "pandas.parquet").column("x").null_count == 3  # pandas wrote them as null
    d = diff_tables(old, tmp_path / "pandas.parquet", key=key)
    assert d.rows_unchanged == 6 and not d.rows_added and not d.rows_removed and not d.rows_changed
    said = [n for n in d.notes if "NaN" in n]
    assert said == ["missing values written differently (NaN / null), both counted as missing, not as a change: "
                    "'x' 3 NaN -> 3 null, 'y' 1 NaN -> 1 null"], d.notes
    if key:
        assert d.rows_changed_by_column == {}
    render_table_diff(d.to_dict())
    assert capsys.readouterr().out.count("note: missing values written differently") == 1
    # The other way: null in the old file, NaN in the new.
    d = diff_tables(tmp_path / "pandas.parquet", old, key=key)
    assert d.rows_unchanged == 6
    assert [n for n in d.notes if "NaN" in n] == ["missing values written differently (NaN / null), both counted as missing, "
                                                  "not as a change: 'x' 3 null -> 3 NaN, 'y' 1 null -> 1 NaN"]
    # A missing value that became a number is still a change, and the same writing says nothing.
    pq.write_table(pa.table({"id": range(6), "x": pa.array([1.5, 9.0, 2.5, nan, nan, 4.0]),
                             "y": pa.array([nan, 1.0, 2.0, 3.0, 4.0, 5.0])}), tmp_path / "filled.parquet")
    d = diff_tables(old, tmp_path / "filled.parquet", key=key)
    assert (d.rows_unchanged, d.rows_changed if key else d.rows_added) == (5, 1)
    assert not [n for n in d.notes if "NaN" in n]


def test_a_nan_key_and_a_null_key_are_one_missing_key(tmp_path):
    old, new = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"k": pa.array([1.0, np.nan]), "v": [1, 2]}), old)
    pq.write_table(pa.table({"k": pa.array([1.0, None], pa.float64()), "v": [1, 3]}), new)
    d = diff_tables(old, new, key=["k"])
    assert (d.rows_changed, d.rows_added, d.rows_removed) == (1, 0, 0)
    assert d.changed_examples == [{"key": {"k": None}, "columns": {"v": {"old": 2, "new": 3}}}]
