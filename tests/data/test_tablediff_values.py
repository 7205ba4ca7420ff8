"""Text columns' values between two files: new and gone values counted exactly while their
hashes fit a budget, and columns told apart from a rename (see :mod:`assay.data._tablevalues`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.cli._table_diff import column_line
from assay.data import _tablevalues
from assay.data._tablediff import diff_tables


def _two_files(tmp_path, fmt: str):  # type: ignore[no-untyped-def]
    # 200k distinct ids; the new file has 30 of them replaced by new values, ids 0..9 in the first block.
    n = 200_000
    old = np.array([f"u{i:07d}" for i in range(n)], dtype=object)
    new = old.copy()
    at = np.concatenate((np.arange(10), np.random.default_rng(3).choice(np.arange(10, n), 20, replace=False)))
    new[at] = [f"fresh{i:02d}" for i in range(30)]
    paths = []
    for name, s in (("a", old), ("b", new)):
        t = pa.table({"s": s, "k": np.arange(n) % 7})
        path = tmp_path / f"{name}.{fmt}"
        pa.csv.write_csv(t, path) if fmt == "csv" else pq.write_table(t, path)
        paths.append(path)
    return paths, set(old[at]), {f"fresh{i:02d}" for i in range(30)}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_few_new_values_among_200k_are_counted_exactly_and_shown(tmp_path, fmt):  # type: ignore[no-untyped-def]
    import pyarrow.csv  # noqa: F401 (pa.csv)

    (a, b), gone, fresh = _two_files(tmp_path, fmt)
    col = diff_tables(a, b, batch_rows=20_000).to_dict()["columns"]["s"]
    assert col["new"]["distinct"] == 200_000 and col["new"]["distinct_exact"] is True
    new, vanished = col["new_categories"], col["vanished_categories"]
    assert (new["count"], new["exact"], vanished["count"], vanished["exact"]) == (30, True, 30, True)
    assert {v["value"] for v in new["values"]} <= fresh and len(new["values"]) == 20  # the first met while read
    assert all(v["count"] == 1 for v in new["values"])
    assert {v["value"] for v in vanished["values"]} <= gone  # those in the sample of lowest hashes
    assert "new_values_sampled" not in col
    line = column_line(col)
    assert "new: fresh00, fresh01, fresh02 and 27 more" in line and "gone: " in line and "~" not in line


def test_past_the_budget_new_values_are_estimated_from_a_sample(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    import pyarrow.csv  # noqa: F401 (pa.csv)

    monkeypatch.setattr(_tablevalues, "_EXACT_BYTES", 8 * 100_000)  # 100k hashes, all for s (k is numeric): too few
    (a, b), _, fresh = _two_files(tmp_path, "parquet")
    col = diff_tables(a, b).to_dict()["columns"]["s"]
    assert col["new"]["distinct_exact"] is False
    assert col["new_categories"] is None and col["vanished_categories"] is None
    sampled = col["new_values_sampled"]
    assert set(sampled["examples"]) <= fresh and sampled["count_estimate"] < 2_000  # ~30, if any in the sample
    assert "new: " not in column_line(col)


def _renamed(tmp_path, old: dict, new: dict, key):  # type: ignore[no-untyped-def]
    pq.write_table(pa.table(old), tmp_path / "a.parquet")
    pq.write_table(pa.table(new), tmp_path / "b.parquet")
    return diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet", key=key).schema["renamed"]


@pytest.mark.parametrize("key", [["id"], None])
@pytest.mark.parametrize("n", [20, 200, 5_000])
def test_unrelated_low_cardinality_columns_are_not_called_renamed(tmp_path, key, n):  # type: ignore[no-untyped-def]
    # The table is otherwise unchanged; x only in the old file, y only in the new one, unrelated.
    for seed in range(4):
        rng = np.random.default_rng(seed)
        same = {"id": np.arange(n), "name": [f"n{i}" for i in range(n)]}
        pairs = [(rng.random(n) < 0.5, rng.random(n) < 0.5),  # booleans
                 (rng.random(n) < 0.03, rng.random(n) < 0.03),  # booleans nearly always False: agree in ~94% of rows
                 (rng.choice(["a", "b", "c"], n), rng.choice(["a", "b", "c"], n))]
        balanced = np.arange(n) % 2 == 0  # as many True in both, so the same values in another order
        pairs.append((balanced, rng.permutation(balanced)))
        for x, y in pairs:
            assert _renamed(tmp_path, same | {"x": x}, same | {"y": y}, key) == [], (seed, x[:5], y[:5])


@pytest.mark.parametrize("key", [["id"], None])
def test_a_renamed_low_cardinality_column_is_still_told_when_the_rows_say_so(tmp_path, key):  # type: ignore[no-untyped-def]
    n = 5_000
    rng = np.random.default_rng(5)
    same = {"id": np.arange(n), "name": [f"n{i}" for i in range(n)]}
    for x in (rng.random(n) < 0.5, rng.random(n) < 0.03, rng.choice(["a", "b", "c"], n)):
        assert _renamed(tmp_path, same | {"x": x}, same | {"y": x}, key) == [{"old": "x", "new": "y"}]
    # Too few rows to tell by (20 booleans): not claimed; 20 distinct amounts: claimed.
    small = {"id": np.arange(20)}
    assert _renamed(tmp_path, small | {"x": np.arange(20) % 2 == 0}, small | {"y": np.arange(20) % 2 == 0}, key) == []
    assert _renamed(tmp_path, small | {"x": np.arange(20) * 1.5}, small | {"y": np.arange(20) * 1.5}, key) \
        == [{"old": "x", "new": "y"}]


def test_the_line_counts_every_new_or_gone_value_when_fewer_are_listed():  # type: ignore[no-untyped-def]
    # Exact counts list the values at hand (top values, the first met, the sample): maybe fewer than 3.
    side = {"kind": "categorical", "count": 10, "distinct": 10, "top": []}
    col = {"kind": "categorical", "old": side, "new": side,
           "new_categories": {"count": 3, "exact": True, "values": [{"value": "u12", "count": 1}]},
           "vanished_categories": {"count": 1_204, "exact": True, "values": []}}
    assert column_line(col) == "new: u12 and 2 more, gone: 1,204 values"
    col["new_categories"] = {"count": 4, "exact": False, "values": [{"value": v} for v in "abcd"]}
    assert column_line(col) == "new: a, b, c and at least 1 more, gone: 1,204 values"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_distinct_budget_is_split_among_the_text_columns_only(tmp_path, monkeypatch, fmt):  # type: ignore[no-untyped-def]
    import pyarrow.csv  # noqa: F401 (pa.csv)

    # 80k hashes a side: split among 4 columns, 20k each, too few for 50k distinct values; but the
    # numeric columns keep none, so the one text column has them all and counts new values exactly.
    monkeypatch.setattr(_tablevalues, "_EXACT_BYTES", 8 * 80_000)
    n = 50_000
    s = np.array([f"u{i:07d}" for i in range(n)], dtype=object)
    s2 = s.copy()
    s2[[5, 7, 40_000]] = ["fresh0", "fresh1", "fresh2"]
    paths = []
    for name, values in (("a", s), ("b", s2)):
        t = pa.table({"id": np.arange(n), "s": values, "x": np.arange(n) * 0.5, "y": np.arange(n) % 9})
        path = tmp_path / f"{name}.{fmt}"
        pa.csv.write_csv(t, path) if fmt == "csv" else pq.write_table(t, path)
        paths.append(path)
    col = diff_tables(*paths, key=["id"]).to_dict()["columns"]["s"]
    assert col["new"]["distinct_exact"] is True
    assert col["new_categories"]["count"] == 3 and col["new_categories"]["exact"] is True
    assert col["vanished_categories"]["count"] == 3
