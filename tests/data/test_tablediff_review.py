"""Table diff defects found by a second trial of `assay data diff` on CSV / Parquet tables."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.cli._table_diff import column_line, render_table_diff
from assay.data._tablediff import diff_tables


def parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def test_a_change_of_storage_only_is_not_a_schema_change(tmp_path):
    # pandas writes object strings as string, Arrow-backed ones as large_string, categoricals as dictionary.
    old = parquet(tmp_path / "a.parquet", {"s": pa.array(["a", "b"], pa.large_string()),
                                           "c": pa.array(["x", "y"]).dictionary_encode(),
                                           "n": pa.array([1, 2])})
    new = parquet(tmp_path / "b.parquet", {"s": pa.array(["a", "b"]), "c": pa.array(["x", "y"]),
                                           "n": pa.array([1.0, 2.5])})
    d = diff_tables(old, new)
    assert [c["name"] for c in d.schema["type_changed"]] == ["n"]  # int64 -> double is one
    assert d.schema["new"][0] == {"name": "s", "type": "string"}  # the types are still shown as stored
    assert any("storage changed" in n and "'s' large_string -> string" in n and "'c' dictionary" in n for n in d.notes)
    same = diff_tables(old, parquet(tmp_path / "c.parquet", {"s": pa.array(["a", "b"]), "c": pa.array(["x", "y"]),
                                                            "n": pa.array([1, 2])}))
    assert same.identical and same.rows_added == same.rows_removed == 0


def test_a_key_that_became_a_string_still_matches_its_rows(tmp_path):
    old = parquet(tmp_path / "a.parquet", {"id": pa.array([1, 2, 3]), "v": pa.array(["a", "b", "c"])})
    new = parquet(tmp_path / "b.parquet", {"id": pa.array(["1", "2", "4"]), "v": pa.array(["a", "B", "d"])})
    d = diff_tables(old, new, key=["id"])
    assert (d.rows_added, d.rows_removed, d.rows_changed, d.rows_unchanged) == (1, 1, 1, 1)  # was 3, 3, 0, 0
    assert d.schema["type_changed"] == [{"name": "id", "old": "int64", "new": "string"}]
    assert any("compared as text: 'id'" in n for n in d.notes)
    assert d.examples["added"] == [{"id": "4"}] and d.examples["removed"] == [{"id": 3}]
    by_hash = diff_tables(old, new)
    assert (by_hash.rows_added, by_hash.rows_removed) == (2, 2)


def test_the_diff_shows_moved_dates_and_times(tmp_path):
    def table(name: str, last: int) -> Path:
        return parquet(tmp_path / name, {
            "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, last)]),
            "at": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, last, 12)], pa.timestamp("us")),
            "took": pa.array([1, last], pa.duration("s")),
        })

    columns = diff_tables(table("a.parquet", 5), table("b.parquet", 9)).to_dict()["columns"]
    assert column_line(columns["day"]) == "max 2024-01-05 -> 2024-01-09"  # was '' (nothing moved, it said)
    assert column_line(columns["at"]) == "max 2024-01-05T12:00:00 -> 2024-01-09T12:00:00"
    assert column_line(columns["took"]) == "max 0:00:05 -> 0:00:09"


def test_the_diff_shows_a_boolean_or_category_mix_that_moved(tmp_path):
    for suffix in ("parquet", "csv"):
        old, new = tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"
        for path, trues in ((old, 3), (new, 6)):
            t = pa.table({"flag": pa.array([True] * trues + [False] * (10 - trues)),
                          "c": pa.array(["x"] * trues + ["y"] * (10 - trues))})
            if suffix == "csv":
                path.write_text("flag,c\n" + "".join(f"{f},{c}\n" for f, c in zip(*t.to_pydict().values())))
            else:
                pq.write_table(t, path)
        columns = diff_tables(old, new).to_dict()["columns"]
        shown = "True 30.0% -> 60.0%, False 70.0% -> 40.0%"
        assert column_line(columns["flag"]) == f"share: {shown}", suffix  # was '': same two values
        assert column_line(columns["c"]) == "share: x 30.0% -> 60.0%, y 70.0% -> 40.0%"
    unchanged = diff_tables(old, old).to_dict()["columns"]
    assert column_line(unchanged["flag"]) == ""


def test_the_diff_says_when_only_the_column_order_changed(tmp_path, capsys):
    old, new = tmp_path / "a.csv", tmp_path / "b.csv"
    old.write_text("id,a,b,c\n1,2,3,4\n")
    new.write_text("id,b,a,c\n1,3,2,4\n")
    d = diff_tables(old, new)
    assert d.identical and d.schema["order_changed"]
    render_table_diff(d.to_dict())
    out = capsys.readouterr().out
    assert "column order    ..., a, b, ... -> ..., b, a, ... (rows are compared by column name)" in out  # was silent


def test_the_diff_shows_a_moved_count_of_nan(tmp_path):
    nan = float("nan")
    old = parquet(tmp_path / "a.parquet", {"x": pa.array([1.0, 2.0, 3.0, nan]), "all": pa.array([nan, nan, nan, nan])})
    new = parquet(tmp_path / "b.parquet", {"x": pa.array([1.0, 2.0, 3.0, 2.0]), "all": pa.array([nan, nan, nan, 1.0])})
    columns = diff_tables(old, new).to_dict()["columns"]
    assert column_line(columns["x"]) == "nan 1 -> 0"  # was '': the NaN became a value the mean kept
    assert column_line(columns["all"]) == "mean none -> 1, p50 none -> 1, min none -> 1, max none -> 1, nan 4 -> 3"


@pytest.mark.parametrize("blank", [b"\n", b"\n\n\n\n", b"\xef\xbb\xbf\r\n", b" \n"])
def test_a_csv_of_only_line_ends_is_an_empty_table(tmp_path, blank):
    # pandas writes "\n" for DataFrame().to_csv(index=False), "\n" * (n + 1) for n rows without columns.
    empty, full = tmp_path / "a.csv", tmp_path / "b.csv"
    empty.write_bytes(blank)
    full.write_text("id,v\n1,a\n")
    d = diff_tables(empty, full)  # was an InputError: "Empty CSV file or block", check the delimiter
    assert (d.rows_old, d.rows_new, d.rows_added, d.rows_removed) == (0, 1, 1, 0)
    assert [c["name"] for c in d.schema["added"]] == ["id", "v"]
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(blank))
    assert diff_tables(gz, full).rows_old == 0


def test_a_share_from_a_side_that_tracked_only_its_top_values_is_marked_as_an_estimate():
    old = {"kind": "categorical", "count": 100, "top": [{"value": "a", "count": 10}], "top_exact": False}
    new = {"kind": "categorical", "count": 100, "top": [{"value": "a", "count": 40}], "top_exact": True}
    assert column_line({"kind": "categorical", "old": old, "new": new}) == "share: a ~10.0% -> 40.0%"


@pytest.mark.parametrize("t", [pa.string(), pa.large_binary()])
def test_long_values_are_told_apart_but_not_kept_whole(t):
    # A column of documents: up to _TOP_CAP values are kept per column, each was kept whole (1 GB of 100 KB ones).
    from assay.data._tablevalues import _VALUE_KEPT, _CategoryStats, _category_change

    def docs(tail: str) -> pa.Array:
        values = [("x" * 50_000 + f"{i}{tail}") for i in range(200)] + ["short"]
        return pa.array([v.encode() if t == pa.large_binary() else v for v in values], t)

    old, new = _CategoryStats(), _CategoryStats()
    old.update(docs("a"))
    new.update(docs("a"))
    new.update(docs("b"))  # differ only after the kept characters
    assert old.values.nbytes < 201 * (_VALUE_KEPT + 16)  # was 201 * 50 KB
    assert old.distinct() == (201, True) and new.distinct() == (401, True)
    assert _category_change(new, old)["count"] == 200 and _category_change(old, new)["count"] == 0
    shown = [v["value"] if isinstance(v["value"], str) else v["value"].decode() for v in new.top(limit=500)]
    assert "short" in shown and all(v == "short" or (len(v) == _VALUE_KEPT + 1 and v.endswith("…")) for v in shown)


def test_a_renamed_column_is_told_by_its_values(tmp_path, capsys):
    old, new = tmp_path / "a.csv", tmp_path / "b.csv"
    ids = range(1, 10)
    old.write_text("id,amount,flag,gone,x,y\n" + "".join(f"{i},{i}.5,1,,{i + 6},{i + 6}\n" for i in ids))
    new.write_text("id,amount_usd,is_active,empty,z\n"  # rows reordered too
                   + "".join(f"{i},{i}.5,1,,{i + 6}\n" for i in sorted(ids, key=lambda i: -i)))
    d = diff_tables(old, new)
    # x and y hold the same values: which became z is not known; an all-null column tells nothing,
    # nor does a constant one (flag -> is_active: no value to tell it by).
    assert d.schema["renamed"] == [{"old": "amount", "new": "amount_usd"}]
    assert [c["name"] for c in d.schema["removed"]] == ["amount", "flag", "gone", "x", "y"]  # still, by name
    render_table_diff(d.to_dict())
    assert "column renamed? amount -> amount_usd (the same values)" in capsys.readouterr().out  # was not said
    new.write_text("id,amount_usd\n" + "".join(f"{i},{i}.5\n" for i in range(1, 11)))
    # Another row count: not the same values, but all of the old ones (a row added).
    assert diff_tables(old, new).schema["renamed"] == [{"old": "amount", "new": "amount_usd", "shared": 1.0}]


def test_a_column_all_null_on_one_side_is_not_called_text_on_one_side(tmp_path):
    old = parquet(tmp_path / "a.parquet", {"id": pa.array([1, 2]), "n": pa.array([None, None], pa.null())})
    new = parquet(tmp_path / "b.parquet", {"id": pa.array([1, 2]), "n": pa.array([None, "x"])})
    d = diff_tables(old, new, key=["id"])
    assert d.rows_changed == 1 and not any("compared as text" in n for n in d.notes)


def test_a_header_only_csv_has_no_column_types_to_change(tmp_path):
    # Its columns hold no value, so no type: "rows 0 -> 2" says it, once, not "null -> int64" per column.
    old = tmp_path / "h.csv"
    old.write_text("id,x,s\n")
    new = tmp_path / "r.csv"
    new.write_text("id,x,s\n1,2,a\n2,3,b\n")
    d = diff_tables(old, new)
    assert d.schema["type_changed"] == [] and (d.rows_old, d.rows_added) == (0, 2)
    assert [n for n in d.notes if "no rows" in n] == ["the old file has no rows: its columns' types are not compared"]
    assert diff_tables(new, old).schema["type_changed"] == []


def test_a_key_column_gets_no_numeric_summary_line(tmp_path, capsys):
    # Its mean and median move with the keys added or removed: the rows line says that already.
    old = tmp_path / "a.csv"
    old.write_text("id,v\n" + "".join(f"{i},{i % 7}\n" for i in range(1, 101)))
    new = tmp_path / "b.csv"
    new.write_text("id,v\n" + "".join(f"{i},{i % 7}\n" for i in range(11, 131)))
    render_table_diff(diff_tables(old, new, key=["id"]).to_dict())
    out = capsys.readouterr().out
    assert "rows 100 -> 120: +30 -10" in out and "id:" not in out
    assert "v: mean 2.97 -> 3.00833" in out  # other numeric columns keep theirs
