"""Table comparison: real Parquet / CSV files, ground truth computed with plain Python."""

from __future__ import annotations

import collections
import csv
import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.data._tablediff import TableDiff, diff_tables, supports
from assay.errors import InputError

# --- building real files -----------------------------------------------------------


def write(path: Path, rows: list[dict], columns: list[str] | None = None, types: dict | None = None) -> Path:
    """Write rows as Parquet or CSV (by suffix); None is a null / an empty CSV field."""
    columns = columns or list(rows[0])
    name = path.name
    if name.endswith((".parquet", ".pq")):
        fields = [pa.field(c, (types or {}).get(c) or _infer(rows, c)) for c in columns]
        schema = pa.schema(fields)
        table = pa.table({c: [r.get(c) for r in rows] for c in columns}, schema=schema)
        pq.write_table(table, path, row_group_size=max(1, len(rows) // 3 or 1))
        return path
    opener = gzip.open if name.endswith(".gz") else open
    delimiter = "\t" if ".tsv" in name else ","
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in columns])
    return path


def _infer(rows: list[dict], c: str) -> pa.DataType:
    return pa.array([r.get(c) for r in rows]).type


def random_rows(rng: np.random.Generator, n: int, start: int = 0) -> list[dict]:
    cats = ["red", "green", "blue", "ünïcødé", "日本", ""]
    return [
        {
            "id": start + i,
            "x": int(rng.integers(-1000, 1000)),
            "y": float(np.round(rng.normal(), 6)),
            "cat": cats[int(rng.integers(len(cats)))],
        }
        for i in range(n)
    ]


def mutate(rng: np.random.Generator, rows: list[dict]) -> list[dict]:
    """Drop ~10%, change ~10% (a value), add ~10% new ids; shuffle."""
    out = []
    next_id = max(r["id"] for r in rows) + 1
    for r in rows:
        u = rng.random()
        if u < 0.1:
            continue
        r = dict(r)
        if u < 0.2:
            r["x"] += 1
        out.append(r)
    for _ in range(len(rows) // 10):
        out.append({"id": next_id, "x": 1, "y": 0.5, "cat": "new"})
        next_id += 1
    rng.shuffle(out)
    return out


def keyed_truth(old: list[dict], new: list[dict], key: str = "id") -> tuple[int, int, int]:
    o = {r[key]: r for r in old}
    n = {r[key]: r for r in new}
    added = len(n.keys() - o.keys())
    removed = len(o.keys() - n.keys())
    changed = sum(1 for k in o.keys() & n.keys() if o[k] != n[k])
    return added, removed, changed


def hash_truth(old: list[dict], new: list[dict]) -> tuple[int, int]:
    co = collections.Counter(tuple(sorted(r.items())) for r in old)
    cn = collections.Counter(tuple(sorted(r.items())) for r in new)
    return sum((cn - co).values()), sum((co - cn).values())


FORMATS = ["parquet", "csv"]


# --- rows --------------------------------------------------------------------------


def test_supports():
    assert supports("a.parquet") and supports(Path("b.PQ")) and supports("c.csv")
    assert supports("d.tsv") and supports("e.csv.gz")
    assert not supports("f.json") and not supports("g.csv.bak")


@pytest.mark.parametrize("fmt", FORMATS)
def test_keyed_diff_matches_ground_truth(tmp_path, fmt):
    rng = np.random.default_rng(1)
    old = random_rows(rng, 2000)
    new = mutate(rng, old)
    a, b = write(tmp_path / f"a.{fmt}", old), write(tmp_path / f"b.{fmt}", new)

    d = diff_tables(a, b, key=["id"], max_examples=3)

    added, removed, changed = keyed_truth(old, new)
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (added, removed, changed)
    assert d.rows_unchanged == len(new) - added - changed
    assert d.matched_by == "key" and d.key == ["id"]
    assert d.rows_old == len(old) and d.rows_new == len(new)
    assert d.duplicate_keys["old"] == 0 and d.duplicate_keys["new"] == 0
    # Examples are real keys of the right category, at most max_examples, in file order.
    old_ids, new_ids = {r["id"] for r in old}, {r["id"] for r in new}
    as_id = int if fmt == "csv" else (lambda v: v)
    got = {cat: [as_id(e["id"]) for e in d.examples[cat]] for cat in ("added", "removed", "changed")}
    assert len(got["added"]) == 3 and set(got["added"]) <= new_ids - old_ids
    assert set(got["removed"]) <= old_ids - new_ids and len(got["removed"]) == 3
    changed_ids = [r["id"] for r in new if r["id"] in old_ids and r != next(o for o in old if o["id"] == r["id"])]
    assert got["changed"] == changed_ids[:3]
    assert got["added"] == [r["id"] for r in new if r["id"] not in old_ids][:3]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hash_diff_matches_multiset_ground_truth(tmp_path, fmt):
    rng = np.random.default_rng(2)
    old = random_rows(rng, 1500)
    old += [dict(old[0]), dict(old[0]), dict(old[5])]  # duplicate rows count with multiplicity
    new = mutate(rng, old) + [dict(old[0])]
    a, b = write(tmp_path / f"a.{fmt}", old), write(tmp_path / f"b.{fmt}", new)

    d = diff_tables(a, b)

    added, removed = hash_truth(old, new)
    assert (d.rows_added, d.rows_removed) == (added, removed)
    assert d.rows_changed is None and d.matched_by == "row_hash" and d.duplicate_keys is None
    assert d.rows_unchanged == len(new) - added
    assert 0 < len(d.examples["added"]) <= 5
    for row in d.examples["added"]:
        assert set(row) == {"id", "x", "y", "cat"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_identical_files(tmp_path, fmt):
    rows = random_rows(np.random.default_rng(3), 300)
    a = write(tmp_path / f"a.{fmt}", rows)
    b = write(tmp_path / f"b.{fmt}", list(reversed(rows)))  # order does not matter
    for key in (None, ["id"], ["cat", "id"]):
        d = diff_tables(a, b, key=key)
        assert d.identical
        assert (d.rows_added, d.rows_removed, d.rows_changed or 0) == (0, 0, 0)
        assert d.examples.get("added", []) == []


def test_streaming_large_file_batch_independent(tmp_path):
    rng = np.random.default_rng(4)
    n = 200_000
    ids = np.arange(n)
    x = rng.integers(0, 10**9, n)
    y = rng.normal(size=n)
    old = pa.table({"id": ids, "x": x, "y": y, "s": pa.array([f"s{v % 977}" for v in x])})
    keep = rng.random(n) > 0.05
    x2 = np.where(rng.random(n) < 0.03, x + 1, x)
    changed_truth = int(((x2 != x) & keep).sum())
    new_ids = np.arange(n, n + 7000)
    new = pa.concat_tables(
        [
            pa.table({"id": ids, "x": x2, "y": y, "s": old["s"]}).filter(pa.array(keep)),
            pa.table({"id": new_ids, "x": new_ids, "y": np.zeros(7000), "s": pa.array(["z"] * 7000)}),
        ]
    )
    for fmt in FORMATS:
        a, b = tmp_path / f"big_a.{fmt}", tmp_path / f"big_b.{fmt}"
        if fmt == "parquet":
            pq.write_table(old, a)
            pq.write_table(new, b)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(old, a)
            pacsv.write_csv(new, b)
        small = diff_tables(a, b, key=["id"], batch_rows=1000)
        big = diff_tables(a, b, key=["id"])
        assert small.rows_added == 7000
        assert small.rows_removed == int((~keep).sum())
        assert small.rows_changed == changed_truth
        hashed = diff_tables(a, b, batch_rows=777)
        assert hashed.rows_added == 7000 + changed_truth
        assert hashed.rows_removed == int((~keep).sum()) + changed_truth
        # Batching changes nothing, statistics included (quantiles are sampled by row number).
        assert _close(small.to_dict(), big.to_dict())
        ystats = small.columns["y"]["old"]
        assert ystats["quantiles_exact"] is False
        assert ystats["mean"] == pytest.approx(y.mean(), abs=1e-9)
        assert ystats["std"] == pytest.approx(y.std(ddof=1), rel=1e-9)
        assert ystats["p50"] == pytest.approx(np.median(y), abs=0.02)
        assert small.columns["s"]["old"]["distinct"] == len({f"s{v % 977}" for v in x})


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_csv_gz_and_tsv(tmp_path):
    rng = np.random.default_rng(5)
    old = random_rows(rng, 400)
    new = mutate(rng, old)
    truth = keyed_truth(old, new)
    for a, b in (("a.csv.gz", "b.csv.gz"), ("a.tsv", "b.tsv"), ("a.csv", "b.csv.gz")):
        d = diff_tables(write(tmp_path / a, old), write(tmp_path / b, new), key=["id"])
        assert (d.rows_added, d.rows_removed, d.rows_changed) == truth
        assert d.format == "csv"


# --- schema ------------------------------------------------------------------------


def test_schema_changes_and_common_column_hashing(tmp_path):
    old = [{"id": i, "a": i * 2, "gone": "x", "f": float(i)} for i in range(50)]
    new = [{"id": i, "a": float(i * 2), "f": float(i), "extra": i % 3} for i in range(50)]
    new[7]["f"] = 99.5
    a = write(tmp_path / "a.parquet", old, types={"a": pa.int32()})
    b = write(tmp_path / "b.parquet", new, types={"a": pa.float64()})

    d = diff_tables(a, b, key=["id"])

    assert d.schema["added"] == [{"name": "extra", "type": "int64"}]
    assert d.schema["removed"] == [{"name": "gone", "type": "string"}]
    assert d.schema["type_changed"] == [{"name": "a", "old": "int32", "new": "double"}]
    assert d.compared_columns == ["a", "f", "id"]
    # int32 -> double with equal values is not a row change; only row 7 changed.
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (0, 0, 1)
    assert d.examples["changed"] == [{"id": 7}]
    assert any("columns both files share" in n for n in d.notes)
    assert not d.identical


def test_csv_type_inference_over_whole_file(tmp_path):
    # The float and the text appear long after the first block; inference must still see them.
    old = [{"n": i, "m": i, "t": i} for i in range(5000)]
    new = [dict(r) for r in old]
    new[4990]["m"] = 1.5
    new[4999]["t"] = "oops"
    a, b = write(tmp_path / "a.csv", old), write(tmp_path / "b.csv", new)
    d = diff_tables(a, b, batch_rows=100)
    assert {(c["name"], c["old"], c["new"]) for c in d.schema["type_changed"]} == {
        ("m", "int64", "double"),
        ("t", "int64", "string"),
    }
    assert d.columns["t"]["kind"] == "numeric->categorical"
    # Categories of a column that turned textual late are counted over the whole file.
    t_new = d.columns["t"]["new"]
    assert (t_new["count"], t_new["distinct"], t_new["distinct_exact"]) == (5000, 5000, True)
    assert d.columns["n"]["delta"]["mean"] == 0
    assert (d.rows_added, d.rows_removed) == (2, 2)


def test_zero_byte_file_is_an_empty_table(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    full = write(tmp_path / "full.csv", [{"a": 1}, {"a": 2}])
    d = diff_tables(empty, full)
    assert (d.rows_old, d.rows_new) == (0, 2)
    assert d.schema["added"] == [{"name": "a", "type": "int64"}]
    assert d.compared_columns == []
    assert d.rows_added == 2  # with no common column every row hashes alike
    header_only = tmp_path / "header.csv"
    header_only.write_text("a\n")
    d = diff_tables(header_only, full, key=["a"])
    assert (d.rows_old, d.rows_added, d.rows_removed) == (0, 2, 0)
    assert diff_tables(empty, tmp_path / "empty.csv").identical


# --- statistics --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_numeric_summary_matches_numpy(tmp_path, fmt):
    rng = np.random.default_rng(6)
    vo = rng.normal(10, 3, 3000)
    vn = rng.normal(11, 2, 2500)
    old = [{"v": float(v)} for v in vo] + [{"v": None}] * 4
    new = [{"v": float(v)} for v in vn] + [{"v": None}] * 9
    d = diff_tables(write(tmp_path / f"a.{fmt}", old), write(tmp_path / f"b.{fmt}", new))
    col = d.columns["v"]
    assert col["kind"] == "numeric"
    for side, v, nulls in (("old", vo, 4), ("new", vn, 9)):
        s = col[side]
        assert s["count"] == v.size and s["nulls"] == nulls and s["quantiles_exact"]
        assert s["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert s["std"] == pytest.approx(v.std(ddof=1), rel=1e-9)
        assert (s["min"], s["max"]) == (v.min(), v.max())
        for name, q in {"p05": 0.05, "p50": 0.5, "p95": 0.95}.items():
            assert s[name] == pytest.approx(np.quantile(v, q), rel=1e-12)
    delta = col["delta"]
    assert delta["mean"] == pytest.approx(vn.mean() - vo.mean(), rel=1e-9)
    assert delta["p50"] == pytest.approx(np.median(vn) - np.median(vo), rel=1e-9)
    assert delta["nulls"] == 5 and delta["count"] == vn.size - vo.size


def test_categorical_summary(tmp_path):
    # Two columns: Python's csv writes a lone empty field as "" (a string, not a null).
    old = [{"c": c, "i": i} for i, c in enumerate(["a"] * 5 + ["b"] * 3 + ["gone"] + [None] * 2)]
    new = [{"c": c, "i": i} for i, c in enumerate(["a"] * 2 + ["b"] * 6 + ["fresh"] * 2 + ["ß✓"])]
    for fmt in FORMATS:
        d = diff_tables(write(tmp_path / f"a.{fmt}", old), write(tmp_path / f"b.{fmt}", new))
        col = d.columns["c"]
        assert col["kind"] == "categorical"
        assert col["old"]["top"][:2] == [{"value": "a", "count": 5}, {"value": "b", "count": 3}]
        assert col["new"]["top"][0] == {"value": "b", "count": 6}
        assert (col["old"]["distinct"], col["new"]["distinct"], col["delta"]["distinct"]) == (3, 4, 1)
        assert (col["old"]["nulls"], col["delta"]["nulls"]) == (2, -2)
        assert [v["value"] for v in col["new_categories"]["values"]] == ["fresh", "ß✓"]
        assert col["vanished_categories"] == {"count": 1, "exact": True, "values": [{"value": "gone", "count": 1}]}


def test_new_and_vanished_categories_exact(tmp_path):
    old = [{"c": c} for c in ["a", "b", "gone"]]
    new = [{"c": c} for c in ["a", "b", "fresh"]]
    d = diff_tables(write(tmp_path / "a.parquet", old), write(tmp_path / "b.parquet", new))
    col = d.columns["c"]
    assert col["new_categories"] == {"count": 1, "exact": True, "values": [{"value": "fresh", "count": 1}]}
    assert col["vanished_categories"] == {"count": 1, "exact": True, "values": [{"value": "gone", "count": 1}]}


def test_high_cardinality_is_bounded(tmp_path, monkeypatch):
    import assay.data._tablevalues as ts

    monkeypatch.setattr(ts, "_TOP_CAP", 50)
    monkeypatch.setattr(ts, "_KMV", 256)
    monkeypatch.setattr(ts, "_EXACT_BYTES", 0)  # no distinct hashes kept past the top values
    old = [{"c": f"v{i}", "k": i} for i in range(5000)] + [{"c": "hot", "k": -1}] * 40
    d = diff_tables(write(tmp_path / "a.parquet", old), write(tmp_path / "b.parquet", old), batch_rows=300)
    s = d.columns["c"]["old"]
    assert s["top_exact"] is False and s["distinct_exact"] is False
    assert s["top"][0] == {"value": "hot", "count": 40}
    assert s["distinct"] == pytest.approx(5001, rel=0.25)
    assert d.columns["c"]["new_categories"] is None


def test_nan_null_unicode_and_empty_strings_parquet(tmp_path):
    old = [
        {"id": 1, "f": float("nan"), "s": ""},
        {"id": 2, "f": None, "s": None},
        {"id": 3, "f": -0.0, "s": "naïve 🎉"},
        {"id": 4, "f": float("inf"), "s": "x"},
    ]
    new = [
        {"id": 1, "f": float("nan"), "s": ""},  # NaN == NaN for diffing
        {"id": 2, "f": None, "s": ""},  # null -> "" is a change
        {"id": 3, "f": 0.0, "s": "naïve 🎉"},  # -0.0 == 0.0
        {"id": 4, "f": float("inf"), "s": "x"},
    ]
    d = diff_tables(write(tmp_path / "a.parquet", old), write(tmp_path / "b.parquet", new), key=["id"])
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (0, 0, 1)
    assert d.examples["changed"] == [{"id": 2}]
    f = d.columns["f"]["old"]
    assert (f["count"], f["nan"], f["nulls"], f["max"]) == (2, 1, 1, math.inf)
    out = json.dumps(d.to_dict(), allow_nan=False)  # strict JSON: no NaN / Infinity literals
    assert '"inf"' in out


def test_csv_empty_field_vs_quoted_empty_string_and_missing_tokens(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text('id,s,v\n1,,1\n2,"",NA\n3,é,2.5\n', encoding="utf-8")
    b.write_text('id,s,v\n1,"",1\n2,"",\n3,é,2.5\n', encoding="utf-8")
    d = diff_tables(a, b, key=["id"])
    # null -> "" is a text change; in the numeric v, "NA" -> empty is null -> null: no change
    assert d.rows_changed == 1 and d.rows_changed_by_column == {"s": 1}
    v = d.columns["v"]["old"]
    assert (v["count"], v["nulls"], v["mean"]) == (2, 1, 1.75)
    assert d.columns["s"]["old"]["nulls"] == 1


def test_mixed_formats_compare_as_text(tmp_path):
    rows = [{"id": i, "name": f"n{i}", "q": i * 10} for i in range(20)]
    d = diff_tables(write(tmp_path / "a.parquet", rows), write(tmp_path / "b.csv", rows), key=["id"])
    assert d.format == "parquet->csv"
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (0, 0, 0)
    assert any("formats differ" in n for n in d.notes)


# --- duplicate keys ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_keys_are_reported(tmp_path, fmt):
    old = [{"id": 1, "v": "a"}, {"id": 1, "v": "b"}, {"id": 2, "v": "c"}, {"id": 3, "v": "d"}]
    new = [{"id": 1, "v": "b"}, {"id": 1, "v": "z"}, {"id": 1, "v": "y"}, {"id": 2, "v": "c"}]
    d = diff_tables(write(tmp_path / f"a.{fmt}", old), write(tmp_path / f"b.{fmt}", new), key=["id"])
    dup = d.duplicate_keys
    assert (dup["old"], dup["new"], dup["extra_rows_old"], dup["extra_rows_new"]) == (1, 1, 1, 2)
    assert dup["examples"] == {"old": [{"id": 1}], "new": [{"id": 1}]}  # a CSV's as its numbers too
    # id 1: "b" pairs with "b"; "a" vs {"z", "y"}: one changed, one added. id 3 removed.
    assert (d.rows_added, d.rows_removed, d.rows_changed, d.rows_unchanged) == (1, 1, 1, 2)
    assert any("not unique" in n for n in d.notes)


def keyed_reference(old: list[tuple], new: list[tuple]) -> tuple[int, int, int]:
    """(added, removed, changed) with the documented rule for duplicate keys."""
    added = removed = changed = 0
    for k in {r[0] for r in old} | {r[0] for r in new}:
        vo = collections.Counter(r[1] for r in old if r[0] == k)
        vn = collections.Counter(r[1] for r in new if r[0] == k)
        uo, un = sum((vo - vn).values()), sum((vn - vo).values())
        c = min(uo, un)
        changed, removed, added = changed + c, removed + uo - c, added + un - c
    return added, removed, changed


rows_strategy = st.lists(
    st.tuples(st.integers(0, 6), st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["a", "é"]))),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=rows_strategy, new=rows_strategy)
def test_property_counts_match_reference(tmp_path_factory, old, new):
    tmp = tmp_path_factory.mktemp("prop")
    to_rows = lambda rs: [{"k": k, "v": v} for k, v in rs]
    types = {"k": pa.int64(), "v": pa.string()}
    a = write(tmp / "a.parquet", to_rows(old), columns=["k", "v"], types=types)
    b = write(tmp / "b.parquet", to_rows(new), columns=["k", "v"], types=types)

    keyed = diff_tables(a, b, key=["k"], batch_rows=4)
    assert (keyed.rows_added, keyed.rows_removed, keyed.rows_changed) == keyed_reference(old, new)
    hashed = diff_tables(a, b, batch_rows=3)
    co, cn = collections.Counter(old), collections.Counter(new)
    assert (hashed.rows_added, hashed.rows_removed) == (sum((cn - co).values()), sum((co - cn).values()))
    assert hashed.rows_unchanged == sum((co & cn).values())


# --- bad input ---------------------------------------------------------------------


def test_bad_input(tmp_path):
    good = write(tmp_path / "good.csv", [{"a": 1, "b": 2}])
    with pytest.raises(InputError, match="cannot read"):
        diff_tables(tmp_path / "missing.csv", good)
    with pytest.raises(InputError, match="not a table file"):
        diff_tables(tmp_path / "x.json", good)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InputError, match="cannot read as CSV"):
        diff_tables(ragged, good)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"this is not parquet at all")
    with pytest.raises(InputError, match="cannot read as PARQUET"):
        diff_tables(junk, good)
    with pytest.raises(InputError, match=r"key column \['nope'\] not in the old file") as err:
        diff_tables(good, good, key=["nope"])
    assert "a, b" in str(err.value)
    with pytest.raises(InputError, match="key is empty"):
        diff_tables(good, good, key=[])
    dup = tmp_path / "dup.csv"
    dup.write_text("a,a\n1,2\n")
    with pytest.raises(InputError, match="duplicate column names"):
        diff_tables(dup, good)
    with pytest.raises(InputError, match="max_examples"):
        diff_tables(good, good, max_examples=-1)


def test_to_dict_is_strict_json_and_bounded_examples(tmp_path):
    rng = np.random.default_rng(7)
    old = random_rows(rng, 500)
    new = mutate(rng, old)
    d = diff_tables(write(tmp_path / "a.parquet", old), write(tmp_path / "b.parquet", new), key=["id"], max_examples=2)
    assert isinstance(d, TableDiff)
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["identical"] is False
    assert all(len(v) <= 2 for v in data["examples"].values())
    none = diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet", key=["id"], max_examples=0)
    assert none.examples == {} and none.rows_changed == d.rows_changed


def test_importing_the_module_does_not_load_pyarrow():
    code = (
        "import sys, assay.data; before = 'pyarrow' in sys.modules; "
        "import assay.data._tablediff; "
        "assert before or 'pyarrow' not in sys.modules, 'pyarrow imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_temporal_boolean_decimal_and_nested_columns(tmp_path):
    import datetime as dt
    import decimal

    def table(shift: int) -> pa.Table:
        return pa.table(
            {
                "id": [1, 2, 3],
                "when": pa.array([dt.datetime(2024, 1, d + shift) for d in (1, 2, 3)], pa.timestamp("us")),
                "day": pa.array([dt.date(2024, 5, 1)] * 3),
                "ok": [True, False, None],
                "price": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("2.5")], pa.decimal128(6, 2)),
                "tags": pa.array([["a"], [], None]),
                "cat": pa.array(["x", "y", "x"]).dictionary_encode(),
            }
        )

    pq.write_table(table(0), tmp_path / "a.parquet")
    pq.write_table(table(0), tmp_path / "same.parquet")
    pq.write_table(table(1), tmp_path / "b.parquet")
    assert diff_tables(tmp_path / "a.parquet", tmp_path / "same.parquet", key=["id"]).identical
    d = diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet", key=["id"])
    assert d.rows_changed == 3
    cols = d.columns
    assert cols["when"]["kind"] == "temporal"
    assert (cols["when"]["old"]["min"], cols["when"]["new"]["max"]) == (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 4))
    assert cols["ok"]["kind"] == "categorical" and cols["ok"]["old"]["nulls"] == 1
    assert cols["price"]["kind"] == "numeric" and cols["price"]["old"]["mean"] == pytest.approx(1.8)
    assert cols["tags"]["kind"] == "other" and cols["tags"]["old"]["nulls"] == 1
    assert cols["cat"]["kind"] == "categorical" and cols["cat"]["old"]["top"][0] == {"value": "x", "count": 2}
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["columns"]["when"]["new"]["max"] == "2024-01-04T00:00:00"
