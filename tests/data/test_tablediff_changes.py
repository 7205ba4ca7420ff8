"""Table diff: hash-chosen samples for quantiles (against numpy's exact median)."""

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
