"""Table diff defects found by a second trial of `assay data diff` on CSV / Parquet tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

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
