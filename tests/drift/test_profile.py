"""Profiles: mergeable sketches, saved and loaded, used as a reference; partitions through executors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.drift import DriftDetector, DriftSpec, LocalExecutor, NumericSketch, Profile, build_profile, compare
from assay.drift._io import ParquetSource, TableSource
from assay.drift._profile import count_like, count_partitions, quantile_edges
from assay.errors import InputError
from tests.conftest import CLI


def _table(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.01] = np.nan
    return pa.table({"x": x, "k": rng.integers(0, 30, n), "c": rng.choice(["a", "b", "c", None], n), "f": rng.exponential(size=n)})


def test_partition_sketches_merge_exactly() -> None:
    table = _table(30_000, 0)
    whole = build_profile(TableSource(table, "t"), bins=200)
    shapes = {n: ((s.edges, s.tick_us) if isinstance(s, NumericSketch) else None) for n, s in whole.columns.items()}
    pieces = [TableSource(table.slice(i, 7_000), f"p{i}") for i in range(0, 30_000, 7_000)]
    rows, merged, _ = count_partitions(pieces, shapes, 10_000, LocalExecutor(1))
    assert rows == 30_000
    for name, sketch in whole.columns.items():
        got = merged[name]
        if isinstance(sketch, NumericSketch):
            assert np.array_equal(got.counts, sketch.counts)
            assert (got.rows, got.missing, got.low, got.high) == (sketch.rows, sketch.missing, sketch.low, sketch.high)
            assert got.total == pytest.approx(sketch.total) and got.total_sq == pytest.approx(sketch.total_sq)
        else:
            assert got.to_dict() == sketch.to_dict()
    assert whole.columns["x"].missing == int(np.isnan(table.column("x").to_numpy()).sum()) > 0


def test_profile_merge_adds_counts_and_refuses_other_columns() -> None:
    a = build_profile(TableSource(_table(5000, 1), "a"), bins=50)
    b_source = TableSource(_table(3000, 2), "b")
    shapes = {n: ((s.edges, s.tick_us) if isinstance(s, NumericSketch) else None) for n, s in a.columns.items()}
    rows, sketches, _ = count_partitions([b_source], shapes, 10_000, LocalExecutor(1))
    b = Profile(rows, sketches, "b")
    both = a.merge(b)
    assert both.rows == 8000
    assert both.columns["x"].counts.sum() == a.columns["x"].counts.sum() + b.columns["x"].counts.sum()
    assert both.columns["c"].values["a"] == a.columns["c"].values["a"] + b.columns["c"].values["a"]
    with pytest.raises(InputError):
        a.merge(Profile(1, {"x": a.columns["x"]}))


def test_profile_round_trip_and_use_as_reference(tmp_path: Path) -> None:
    ref, cur = _table(20_000, 3), _table(20_000, 4, shift=0.4)
    profile = build_profile(TableSource(ref, "ref"), bins=500)
    path = tmp_path / "ref.json"
    profile.save(path)
    loaded = Profile.load(path)
    assert loaded.to_dict() == profile.to_dict()
    from_profile = compare(path, cur, DriftSpec())
    exact = compare(ref, cur, DriftSpec(multivariate=False))
    assert from_profile.method["mode"] == "binned"
    assert from_profile.drifted_columns == exact.drifted_columns == ["x"]
    assert from_profile.column("x").statistic == pytest.approx(exact.column("x").statistic, abs=3e-3)
    assert from_profile.multivariate is not None and "skipped" in from_profile.multivariate
    (tmp_path / "junk.json").write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="profile"):
        compare(tmp_path / "junk.json", cur)
    with pytest.raises(InputError, match="current profile needs a reference profile"):
        compare(ref, path)


def test_quantile_edges_are_data_values() -> None:
    sample = np.array([1.0, 1.0, 1.0, 2.0, 3.0, 3.0])
    edges = quantile_edges(sample, 4)
    assert set(edges) <= set(sample) and np.all(np.diff(edges) > 0)
    assert quantile_edges(np.empty(0), 10).size == 0


def _write_partitions(folder: Path, table: pa.Table, parts: int) -> None:
    folder.mkdir()
    step = table.num_rows // parts
    for i in range(parts):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i}.parquet", row_group_size=step // 2)


def test_local_process_pool_gives_the_same_profile(tmp_path: Path) -> None:
    table = _table(40_000, 5)
    _write_partitions(tmp_path / "d", table, 4)
    source = ParquetSource(tmp_path / "d", "d")
    assert len(source.partitions()) == 4
    inline = build_profile(source, bins=100, executor=LocalExecutor(1), split_min_rows=0)
    pooled = build_profile(source, bins=100, executor=LocalExecutor(2), split_min_rows=0)
    whole = build_profile(source, bins=100, executor=LocalExecutor(1))
    assert inline.to_dict() == pooled.to_dict()
    # the same counts as one pass over the whole table (edges differ only by the per-partition sample seeds)
    assert inline.rows == whole.rows and inline.columns["c"].values == whole.columns["c"].values


def test_single_file_splits_by_row_groups(tmp_path: Path) -> None:
    table = _table(20_000, 6)
    pq.write_table(table, tmp_path / "one.parquet", row_group_size=2_000)
    pieces = ParquetSource(tmp_path / "one.parquet", "one").partitions()
    assert len(pieces) > 1 and sum(p.num_rows for p in pieces) == 20_000
    x = table.column("x").to_numpy()
    shapes = {"x": (quantile_edges(x[np.isfinite(x)], 100), None), "c": None}
    rows, merged, _ = count_partitions(pieces, shapes, 10_000, LocalExecutor(1))
    _, whole, _ = count_partitions([TableSource(table, "t")], shapes, 10_000, LocalExecutor(1))
    assert rows == 20_000 and np.array_equal(merged["x"].counts, whole["x"].counts) and merged["c"].values == whole["c"].values


@pytest.mark.slow
def test_ray_executor_on_a_local_instance(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from assay.drift import RayExecutor

    table = _table(40_000, 7)
    _write_partitions(tmp_path / "d", table, 4)
    source = ParquetSource(tmp_path / "d", "d")
    try:
        on_ray = build_profile(source, bins=100, executor=RayExecutor(num_cpus=2), split_min_rows=0)
    finally:
        ray.shutdown()
    assert on_ray.to_dict() == build_profile(source, bins=100, executor=LocalExecutor(1), split_min_rows=0).to_dict()


def test_compare_profile_judges_sketches_counted_elsewhere() -> None:
    ref, cur = _table(20_000, 8), _table(20_000, 9, shift=0.5)
    reference = build_profile(TableSource(ref, "ref"), bins=300)
    detector = DriftDetector(DriftSpec(multivariate=False)).fit(reference)
    halves = [TableSource(cur.slice(0, 10_000), "a"), TableSource(cur.slice(10_000), "b")]
    parts = [count_like(reference, h, list(reference.columns))[:2] for h in halves]
    merged = Profile(parts[0][0], parts[0][1], "window").merge(Profile(parts[1][0], parts[1][1], "window"))
    from_sketches = detector.compare_profile(merged)
    from_data = detector.compare(cur)
    for a, b in zip(from_sketches.columns, from_data.columns):
        assert (a.name, a.statistic, a.p_value, a.effect, a.drifted) == (b.name, b.statistic, b.p_value, b.effect, b.drifted)
        assert a.current["missing"] == b.current["missing"]
    assert from_sketches.drifted_columns == ["x"] and from_sketches.current_rows == 20_000
    other = build_profile(TableSource(cur, "cur"), bins=300)  # its own edges: cannot be compared bin by bin
    with pytest.raises(InputError, match="bins"):
        detector.compare_profile(other)


def test_a_profile_that_cannot_be_saved_leaves_no_temp_file(tmp_path: Path) -> None:
    profile = build_profile(TableSource(_table(1_000, 5), "ref"), bins=50)
    (tmp_path / "ref.json").mkdir()  # where the profile should go: the rename fails
    with pytest.raises(OSError):
        profile.save(tmp_path / "ref.json")
    assert [p.name for p in tmp_path.iterdir()] == ["ref.json"]


def test_a_profile_keeps_a_time_column_in_its_own_ticks() -> None:
    """Saved profiles and monitors' reference profiles hold edges in a time column's own
    ticks (days for a date): counting new data in microseconds would move every count."""
    from assay.drift import profile_source

    days = np.arange(19_700, 19_730, dtype=np.int32).repeat(20)
    profile, _ = profile_source(pa.table({"day": pa.array(days).cast(pa.date32())}), bins=10)
    sketch = profile.columns["day"]
    assert sketch.edges.min() >= 19_700 and sketch.edges.max() <= 19_730, sketch.edges


def test_partitions_of_one_folder_may_differ_in_type(tmp_path: Path) -> None:
    """A folder past SPLIT_MIN_ROWS is profiled file by file, each read with its own types: the
    row samples then failed to concatenate (exit 3, 'Schema at index 1 was different') when
    a text column was dictionary-encoded in one file only (a writer falls back to plain
    encoding for many distinct values) or held int64 in one file and float64 in another."""
    folder = tmp_path / "d"
    folder.mkdir()
    pq.write_table(pa.table({"c": ["a", "b"] * 50, "x": pa.array([1, 2] * 50)}), folder / "a.parquet")
    pq.write_table(pa.table({"c": ["a", "c"] * 50, "x": pa.array([1.5, None] * 50)}), folder / "b.parquet", use_dictionary=False)
    profile = build_profile(ParquetSource(folder, "d"), bins=10, executor=LocalExecutor(1), split_min_rows=0)
    assert profile.columns["c"].values == {"a": 100, "b": 50, "c": 50}  # type: ignore[union-attr]
    assert (profile.columns["x"].rows, profile.columns["x"].missing) == (200, 50)  # type: ignore[union-attr]
    # each file is read with the folder's types: a timestamp[ms] file counts on the edges in ns
    folder = tmp_path / "t"
    folder.mkdir()
    pq.write_table(pa.table({"t": pa.array(np.arange(100) * 1000, pa.timestamp("ms"))}), folder / "a.parquet")
    pq.write_table(pa.table({"t": pa.array(np.arange(100) * 10**9 + 5, pa.timestamp("ns"))}), folder / "b.parquet")
    source = ParquetSource(folder, "t")
    split = build_profile(source, bins=10, executor=LocalExecutor(1), split_min_rows=0)
    whole = build_profile(source, bins=10, executor=LocalExecutor(1))
    assert split.columns["t"].counts.tolist() == whole.columns["t"].counts.tolist()  # type: ignore[union-attr]


def _damaged(doc: dict, column: str | None = None, **change: object) -> dict:
    if column is None:
        return {**doc, **change}
    return {**doc, "columns": {**doc["columns"], column: {**doc["columns"][column], **change}}}


def test_a_damaged_profile_is_refused_naming_what_is_wrong(tmp_path: Path, cli: CLI) -> None:
    # edited by hand or cut short: a usage error (exit 2) that says what, not an internal one
    rng = np.random.default_rng(4)
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)}), data)
    doc = build_profile(ParquetSource(data, "d")).to_dict()
    no_kind = {k: v for k, v in doc["columns"]["x"].items() if k != "kind"}
    cases = {
        "left_out is a list, not a mapping": _damaged(doc, left_out=["x"]),
        "it lacks 'columns'": {k: v for k, v in doc.items() if k != "columns"},
        "rows is 'many', not a count": _damaged(doc, rows="many"),
        "column 'x' is not a numeric or categorical sketch": _damaged(doc, columns={**doc["columns"], "x": no_kind}),
        "column 'c': its values are not a mapping": _damaged(doc, "c", values=[1, 2]),
        "column 'x' has 1 bin counts for": _damaged(doc, "x", counts=[1]),
        "column 'x' has bin edges that are not finite and ascending": _damaged(doc, "x", edges=doc["columns"]["x"]["edges"][::-1]),
        "column 'c' counts 500 values in 400 rows": _damaged(doc, "c", rows=400),
        "column 'c' has a negative count": _damaged(doc, "c", values={"a": -1, "b": 501}),
        "unsupported holds something other than text": _damaged(doc, unsupported={"y": 3}),
        "column 'x' lacks 'posinf'": _damaged(doc, columns={**doc["columns"], "x": {k: v for k, v in doc["columns"]["x"].items() if k != "posinf"}}),
        "column 'x' has a negative count": _damaged(doc, "x", posinf=-1, neginf=1),
    }
    for said, bad in cases.items():
        with pytest.raises(InputError, match="a damaged drift profile: .*" + said.replace("(", r"\(")):
            Profile.from_dict(bad)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        result = cli("drift", "compare", str(path), str(data), check=2)
        assert f"bad.json: a damaged drift profile: {said}" in result.stderr and "assay drift profile DATA --out" in result.stderr
    assert Profile.from_dict(doc).rows == 500  # the profile as written stays good
    edges = np.array([-1.7e308, 0.0, 1.7e308])  # edges whose differences overflow: still in order
    wide = _damaged(doc, "x", edges=edges.tolist(), counts=[0, 250, 250, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Profile.from_dict(wide).columns["x"].edges[-1] == 1.7e308


def test_a_column_gone_from_the_current_profile_is_said(tmp_path: Path) -> None:
    """Against data, a reference column the current data lacks is a warning (an error when --columns
    names it); against a profile counted with --like it was left out without a word."""
    ref, cur = _table(2000, 8), _table(2000, 9)
    reference = build_profile(TableSource(ref, "ref"), bins=50)
    current = Profile(*count_like(reference, TableSource(cur.drop_columns(["x"]), "cur"), [n for n in reference.columns if n != "x"])[:2], "window")
    report = DriftDetector(DriftSpec(multivariate=False)).fit(reference).compare_profile(current)
    assert [(f.type, f.message) for f in report.findings if f.column == "x"] == [("column_missing", "column 'x' is in the reference but not in the current profile")]
    with pytest.raises(InputError, match="the current profile has no column 'x'"):
        DriftDetector(DriftSpec(columns=("x", "c"), multivariate=False)).fit(reference).compare_profile(current)
