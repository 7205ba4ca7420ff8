"""Table diff: hash-chosen samples for quantiles (against numpy's exact median) and for
examples of new / gone text values."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.cli._table_diff import column_line
from assay.data._tablediff import diff_tables


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


def test_a_high_cardinality_text_column_shows_examples_of_new_and_gone_values(tmp_path, capsys):  # type: ignore[no-untyped-def]
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
