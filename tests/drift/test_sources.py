"""compare_sources and profile_source: what `assay drift` and `assay drift profile` call, used from Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.drift import DriftSpec, LocalExecutor, NumericSketch, compare_sources, profile_source
from assay.errors import InputError, UsageError


def _table(seed: int, shift: float = 0.0, n: int = 2_000) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"x": rng.normal(shift, 1, n), "c": rng.choice(["a", "b"], n)})


def test_compare_sources_hands_back_the_versions_read(tmp_path: Path) -> None:
    pq.write_table(_table(0), tmp_path / "ref.parquet")
    report, versions = compare_sources(tmp_path / "ref.parquet", _table(1, shift=1.0), DriftSpec(multivariate=False))
    assert report.drift and "x" in report.drifted_columns
    assert versions == [None, None]  # a file and a table: no dataset version to record against
    assert (report.reference_label, report.current_label) == (str(tmp_path / "ref.parquet"), "current")


def test_profile_source_and_like(tmp_path: Path) -> None:
    pq.write_table(_table(0), tmp_path / "ref.parquet")
    reference, version = profile_source(tmp_path / "ref.parquet", bins=50, executor=LocalExecutor(1))
    assert version is None and reference.rows == 2_000 and set(reference.columns) == {"x", "c"}
    reference.save(tmp_path / "ref.json")
    today, _ = profile_source(_table(1), like=tmp_path / "ref.json", executor=LocalExecutor(1))
    assert isinstance(today.columns["x"], NumericSketch)
    assert np.array_equal(today.columns["x"].edges, reference.columns["x"].edges)  # counted on the reference's bins
    assert today.label == "data"


def test_profile_source_says_what_is_wrong(tmp_path: Path) -> None:
    pq.write_table(_table(0), tmp_path / "ref.parquet")
    with pytest.raises(InputError, match=r"has no column 'y'"):
        profile_source(tmp_path / "ref.parquet", columns=["y"])
    with pytest.raises(InputError, match="has no rows"):
        profile_source(_table(0).slice(0, 0))
    profile, _ = profile_source(tmp_path / "ref.parquet", bins=20)
    profile.save(tmp_path / "ref.json")
    with pytest.raises(UsageError, match="is already a profile"):
        profile_source(tmp_path / "ref.json")
    with pytest.raises(InputError, match=r"the reference profile .*ref\.json has no column 'z'"):
        profile_source(_table(1).append_column("z", pa.array(np.ones(2_000))), columns=["x", "z"], like=tmp_path / "ref.json")
