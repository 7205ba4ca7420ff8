"""Table diff: which columns changed rows differ in (against pandas), hash-chosen samples for
quantiles (against numpy's exact median) and for examples of new / gone text values."""

from __future__ import annotations

import collections
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.cli._table_diff import column_line, render_table_diff
from assay.data import _tablechanged
from assay.data._tablediff import diff_tables


def _frames(seed: int, n: int, *, dup: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n * 3 // 4, n) if dup else rng.permutation(n)
    old = pd.DataFrame({
        "id": ids.astype(float),
        "x": rng.integers(0, 4, n),
        "y": pd.array(rng.choice(["a", "b", "c"], n), dtype=object),
        "z": rng.normal(size=n).round(2),
    })
    old.loc[rng.choice(n, 1 if not dup else 7, replace=False), "id"] = np.nan  # NULL keys
    old.loc[rng.choice(n, n // 20, replace=False), "y"] = None
    new = old.sample(frac=0.9, random_state=seed).reset_index(drop=True)  # rows removed, order changed
    edit = rng.random(len(new))
    new.loc[edit < 0.2, "x"] = rng.integers(0, 4, int((edit < 0.2).sum()))
    new.loc[(edit > 0.1) & (edit < 0.15), "y"] = "d"
    new.loc[edit > 0.97, "z"] = np.nan
    added = old.sample(n=n // 20, random_state=seed + 1).assign(id=np.arange(n, n + n // 20, dtype=float))
    return old, pd.concat([new, added], ignore_index=True)


def _write(tmp_path, old: pd.DataFrame, new: pd.DataFrame) -> tuple:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "old.parquet", tmp_path / "new.parquet"
    old.to_parquet(a, index=False)
    new.to_parquet(b, index=False)
    return a, b


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    return ~((a == b) | (a.isna() & b.isna()))


@pytest.mark.parametrize("n", [300, 20_000])
def test_per_column_counts_of_changed_rows_match_a_pandas_merge(tmp_path, n):  # type: ignore[no-untyped-def]
    old, new = _frames(n, n, dup=False)
    d = diff_tables(*_write(tmp_path, old, new), key=["id"])
    m = old.merge(new, on="id", suffixes=("_o", "_n"))  # pandas pairs the NULL keys too
    cols = ["x", "y", "z"]
    differs = {c: _differs(m[f"{c}_o"], m[f"{c}_n"]) for c in cols}
    changed = differs["x"] | differs["y"] | differs["z"]
    assert d.rows_changed == int(changed.sum())
    want = {c: int(differs[c].sum()) for c in cols if differs[c].sum()}
    assert d.rows_changed_by_column == want
    assert list(want) != [] and d.rows_changed_by_column_exact is True
    assert list(d.rows_changed_by_column.values()) == sorted(want.values(), reverse=True)
    # Examples: changed keys showing every column that changed (here 5 can), each differing column old -> new.
    assert len(d.changed_examples) == 5
    assert {c for e in d.changed_examples for c in e["columns"]} == set(want)
    by_id = m.set_index("id", drop=False)
    for e in d.changed_examples:
        key = e["key"]["id"]
        row = m[m["id"].isna()].iloc[0] if key is None else by_id.loc[key]
        want_cols = [c for c in cols if differs[c][row.name if key is None else m.index[m["id"] == key][0]]]
        assert sorted(e["columns"]) == want_cols
        for c in want_cols:
            for side, suffix in (("old", "_o"), ("new", "_n")):
                got, exp = e["columns"][c][side], row[c + suffix]
                assert (got is None and pd.isna(exp)) or got == exp
    out = json.dumps(d.to_dict())  # additive JSON, strict
    assert '"rows_changed_by_column"' in out and '"changed_examples"' in out


def _reference(old: pd.DataFrame, new: pd.DataFrame, cols: list[str]) -> tuple[int, dict[str, int]]:
    """Rows under a key pair with identical rows first; the rest pair up as changed; a column
    counts per key the changed pairs its values cannot pair up in (plain Python, no hashing)."""
    def norm(v):  # type: ignore[no-untyped-def]
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    groups: dict = collections.defaultdict(lambda: ([], []))
    for side, frame in enumerate((old, new)):
        for rec in frame.to_dict("records"):
            groups[norm(rec["id"])][side].append(tuple(norm(rec[c]) for c in cols))
    changed, per = 0, dict.fromkeys(cols, 0)
    for rows_o, rows_n in groups.values():
        co, cn = collections.Counter(rows_o), collections.Counter(rows_n)
        lo, ln = list((co - cn).elements()), list((cn - co).elements())
        pairs = min(len(lo), len(ln))
        changed += pairs
        for j, c in enumerate(cols):
            same = collections.Counter(r[j] for r in lo) & collections.Counter(r[j] for r in ln)
            per[c] += pairs - sum(same.values())
    return changed, {c: v for c, v in per.items() if v}


@pytest.mark.parametrize("n", [400, 20_000])
def test_per_column_counts_with_duplicate_and_null_keys_match_the_pairing(tmp_path, n):  # type: ignore[no-untyped-def]
    old, new = _frames(n + 1, n, dup=True)
    d = diff_tables(*_write(tmp_path, old, new), key=["id"])
    assert d.duplicate_keys["old"] > 0
    changed, per = _reference(old, new, ["x", "y", "z"])
    assert d.rows_changed == changed
    assert d.rows_changed_by_column == per and d.rows_changed_by_column_exact


def test_past_the_memory_bound_counts_come_from_a_sample_of_keys(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    old, new = _frames(7, 60_000, dup=False)
    paths = _write(tmp_path, old, new)
    exact = diff_tables(*paths, key=["id"])
    monkeypatch.setattr(_tablechanged, "_KEPT_BYTES", 8 * 5 * 2_000)  # 2,000 rows of 3 columns a side
    d = diff_tables(*paths, key=["id"], batch_rows=4_096)
    assert d.rows_changed == exact.rows_changed and d.rows_changed_by_column_exact is False
    kept = 6_000 // 3
    assert d.to_dict()["rows_changed_by_column_exact"] is False
    for c, want in exact.rows_changed_by_column.items():
        got = d.rows_changed_by_column.get(c, 0)
        share = want / exact.rows_changed  # binomial error of a share estimated on ~kept/2 rows
        assert abs(got - want) <= 5 * math.sqrt(share * (1 - share) / (kept / 4)) * exact.rows_changed + 1, (c, got, want)
    render_table_diff(d.to_dict())


def test_changed_rows_render_as_text(capsys):  # type: ignore[no-untyped-def]
    t = {"rows_old": 3, "rows_new": 3, "rows_added": 0, "rows_removed": 0, "rows_changed": 1204, "matched_by": "key",
         "columns": {"x": {"kind": "numeric", "old": {"mean": 1.0}, "new": {"mean": 2.0}},
                     "note": {"kind": "categorical", "old": {}, "new": {}}, "same": {"kind": "numeric"}},
         "rows_changed_by_column": {"x": 1204, "note": 3}, "rows_changed_by_column_exact": True,
         "changed_examples": [{"key": {"id": 7}, "columns": {"x": {"old": 1.5, "new": None},
                                                           "note": {"old": "a\nb", "new": "c"}}}]}
    render_table_diff(t)
    out = capsys.readouterr().out
    assert "    x: 1,204 rows changed, mean 1 -> 2\n" in out and "    note: 3 rows changed\n" in out
    assert "same" not in out
    assert '    changed id=7: x 1.5 -> null; note "a\\nb" -> "c"\n' in out
    render_table_diff(t | {"rows_changed_by_column_exact": False})
    out = capsys.readouterr().out
    assert "    x: ~1,204 rows changed, mean 1 -> 2\n" in out and "    note: ~3 rows changed\n" in out


def test_csv_changed_rows_show_old_and_new_text(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "a.csv").write_text("id,x,y\n1,a,1\n2,b,2\n3,c,3\n")
    (tmp_path / "b.csv").write_text("id,y,x\n3,3,C\n1,1,a\n2,20,b\n")
    d = diff_tables(tmp_path / "a.csv", tmp_path / "b.csv", key=["id"])
    assert d.rows_changed_by_column == {"x": 1, "y": 1}
    assert d.changed_examples == [{"key": {"id": 3}, "columns": {"x": {"old": "c", "new": "C"}}},
                                  {"key": {"id": 2}, "columns": {"y": {"old": 2, "new": 20}}}]
    same = diff_tables(tmp_path / "a.csv", tmp_path / "a.csv", key=["id"])
    assert same.rows_changed_by_column == {} and same.changed_examples == []
    assert diff_tables(tmp_path / "a.csv", tmp_path / "b.csv").rows_changed_by_column is None  # no key


def test_data_diff_prints_changed_rows_and_their_columns(ws, cli):  # type: ignore[no-untyped-def]
    from assay.data import add

    d = ws.root / "d"
    d.mkdir()
    (d / "t.csv").write_text("id,x,name\n1,10,ann\n2,20,bob\n3,30,cy\n")
    add(ws, ["d"], name="ds")
    (d / "t.csv").write_text('id,x,name\n1,10,ann\n2,21,bob\n3,30,"cy\nz"\n4,1,dee\n')
    out = cli("data", "diff", "ds@v1", "--key", "id", cwd=ws.root).stdout  # against the files on disk
    assert "    rows 3 -> 4: +1 -0 ~2 (matched by key)\n" in out
    assert '    changed id=2: x 20 -> 21\n    changed id=3: name "cy" -> "cy\\nz"\n' in out
    assert "    x: 1 row changed, mean 20 -> 15.5" in out and "    name: 1 row changed, " in out
    add(ws, ["d"], name="ds")
    t = json.loads(cli("data", "diff", "ds@v1", "ds@v2", "--key", "id", "--json", cwd=ws.root).stdout)["tables"]["d/t.csv"]
    assert t["rows_changed_by_column"] == {"name": 1, "x": 1} and t["rows_changed_by_column_exact"] is True
    assert t["changed_examples"][0] == {"key": {"id": 2}, "columns": {"x": {"old": 20, "new": 21}}}
    assert t["examples"]["changed"] == [{"id": 2}, {"id": 3}]


# --- hash-chosen samples ------------------------------------------------------------


def _z_quantiles_barely_move(d) -> dict:  # type: ignore[no-untyped-def]
    old, new = d.columns["z"]["old"], d.columns["z"]["new"]
    assert old["quantiles_exact"] is False
    # At most the five rows removed left the sample of 65,536: each quantile moves a rank or two.
    for q in _QUANTILES:
        assert abs(old[q] - new[q]) < 5e-4, (q, old[q], new[q])
    return old


_QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


def test_sampled_quantiles_do_not_move_when_rows_move_or_a_few_go(tmp_path):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    n = 1_000_000
    c = rng.integers(0, 50, n)
    z = rng.normal(size=n)
    pq.write_table(pa.table({"c": c, "z": z}), tmp_path / "a.parquet")
    keep = np.ones(n, bool)
    keep[rng.choice(n, 5, replace=False)] = False
    order = rng.permutation(int(keep.sum()))  # the same rows, less five, in another order
    pq.write_table(pa.table({"c": c[keep][order], "z": z[keep][order]}), tmp_path / "b.parquet")
    d = diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet")
    old = _z_quantiles_barely_move(d)
    assert d.columns["c"]["old"]["p50"] == d.columns["c"]["new"]["p50"] == np.median(c) == 25
    assert "p50" not in column_line(d.to_dict()["columns"]["c"])
    # Within the stated error: a sampled quantile's rank is off by about sqrt(q(1-q)/65,536).
    for q, p in _QUANTILES.items():
        rank = np.count_nonzero(z < old[q]) / n
        assert abs(rank - p) < 5 * math.sqrt(p * (1 - p) / 65_536), (q, rank)
    assert abs(old["p50"] - np.median(z)) < 0.02


def test_keyed_samples_follow_the_key_and_copies_of_a_row_keep_their_share(tmp_path):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    n = 200_000
    # Few distinct values: copies of one row are told apart by rank, so the sample follows their shares.
    v = rng.choice([1.0, 2.0, 3.0, 10.0], n, p=[0.45, 0.25, 0.2, 0.1])
    z = rng.normal(size=n)
    pq.write_table(pa.table({"id": np.arange(n), "v": v, "z": z}), tmp_path / "a.parquet")
    keep = np.ones(n, bool)
    keep[rng.choice(n, 5, replace=False)] = False
    order = rng.permutation(int(keep.sum()))
    pq.write_table(pa.table({"id": np.arange(n)[keep][order], "v": v[keep][order], "z": z[keep][order]}),
                   tmp_path / "b.parquet")
    pq.write_table(pa.table({"v": v[rng.permutation(n)]}), tmp_path / "v.parquet")
    for key in (None, ["id"]):
        d = diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet", key=key, batch_rows=50_000)
        _z_quantiles_barely_move(d)
        old = d.columns["v"]["old"]
        assert old["quantiles_exact"] is False
        assert [old[q] for q in _QUANTILES] == list(np.quantile(v, list(_QUANTILES.values())))
    d = diff_tables(tmp_path / "a.parquet", tmp_path / "v.parquet")  # one column, few distinct rows
    old, new = d.columns["v"]["old"], d.columns["v"]["new"]
    assert [old[q] for q in _QUANTILES] == [new[q] for q in _QUANTILES] == list(np.quantile(v, list(_QUANTILES.values())))


def test_a_high_cardinality_text_column_shows_examples_of_new_and_gone_values(tmp_path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    from assay.data import _tablevalues

    monkeypatch.setattr(_tablevalues, "_EXACT_BYTES", 8 * 50_000)  # past the budget: examples from a sample
    n = 100_000
    s = np.array([f"s{i:07d}" for i in range(n)], dtype=object)
    s2 = s.copy()
    changed = np.random.default_rng(1).choice(n, n // 10, replace=False)
    s2[changed] = [f"t{i:07d}" for i in changed]
    pq.write_table(pa.table({"s": s}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"s": s2}), tmp_path / "b.parquet")
    col = diff_tables(tmp_path / "a.parquet", tmp_path / "b.parquet").to_dict()["columns"]["s"]
    assert col["new_categories"] is None and col["vanished_categories"] is None  # too many to list
    new, gone = col["new_values_sampled"], col["vanished_values_sampled"]
    assert new["examples"] and all(v.startswith("t") and int(v[1:]) in set(changed) for v in new["examples"])
    assert gone["examples"] and all(int(v[1:]) in set(changed) for v in gone["examples"])
    assert not set(new["examples"]) & set(s)
    for sampled in (new, gone):  # 10,000 of each, estimated from ~100 of ~1,000 sampled values (sd ~10%)
        assert abs(sampled["count_estimate"] - n // 10) < 0.35 * n // 10, sampled
    line = column_line(col)
    assert "new ~" in line and "e.g. " + new["examples"][0] in line and "gone ~" in line
    same = diff_tables(tmp_path / "a.parquet", tmp_path / "a.parquet").to_dict()["columns"]["s"]
    assert same["new_values_sampled"]["examples"] == [] and same["new_values_sampled"]["count_estimate"] == 0
    assert "new" not in column_line(same)


def test_added_and_removed_rows_render_with_a_few_examples(capsys):  # type: ignore[no-untyped-def]
    # Found by a new-user trial: the text said "+30 -20" and named none of them (the JSON did).
    keyed = {"rows_old": 40, "rows_new": 50, "rows_added": 30, "rows_removed": 1, "rows_changed": 0,
             "matched_by": "key", "examples": {"added": [{"id": 7}, {"id": 8}, {"id": 9}, {"id": 10}],
                                               "removed": [{"id": "x\ty"}]}}
    render_table_diff(keyed)
    out = capsys.readouterr().out
    assert "    added   3 of 30: id=7; id=8; id=9\n" in out
    assert '    removed 1: id="x\\ty"\n' in out
    by_hash = {"rows_old": 2, "rows_new": 2, "rows_added": 1, "rows_removed": 1, "matched_by": "row_hash",
               "examples": {"added": [{f"c{i}": i for i in range(8)}], "removed": [{"a": None, "b": "s"}]}}
    render_table_diff(by_hash)
    out = capsys.readouterr().out
    assert "    added   1:\n      c0=0, c1=1, c2=2, c3=3, c4=4, c5=5, ...\n" in out
    assert '    removed 1:\n      a=null, b="s"\n' in out


def test_a_changed_value_shows_the_digits_that_changed(capsys):  # type: ignore[no-untyped-def]
    # Found by a new-user trial: a double column saved as float32 showed "price 84.5845 -> 84.5845".
    t = {"rows_old": 1, "rows_new": 1, "rows_added": 0, "rows_removed": 0, "rows_changed": 1, "matched_by": "key",
         "changed_examples": [{"key": {"id": 0}, "columns": {"price": {"old": 84.58451234, "new": 84.58451080322266},
                                                           "n": {"old": 1.5, "new": 2.5}}}]}
    render_table_diff(t)
    assert "    changed id=0: price 84.58451234 -> 84.58451080322266; n 1.5 -> 2.5\n" in capsys.readouterr().out
