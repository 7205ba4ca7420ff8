"""A tiny side gets a small-sample warning: 'no drift' from 2 rows says next to nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from assay.drift import DriftSpec, compare
from tests.conftest import CLI


def _table(rng: np.random.Generator, n: int) -> pa.Table:
    return pa.table({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})


def test_a_tiny_current_sample_is_warned_about() -> None:
    rng = np.random.default_rng(0)
    report = compare(_table(rng, 5000), _table(rng, 2), DriftSpec(multivariate=False))
    finding = next(f for f in report.findings if f.type == "small_sample")
    assert finding.severity == "warning" and finding.details["side"] == "current" and finding.details["rows"] == 2
    assert "2 rows" in finding.message
    # the smallest KS distance that could be significant: the asymptotic critical value, checked against SciPy's
    n, m = 5000, 2
    assert finding.details["smallest_detectable_ks"] == min(1.0, round(math.sqrt(-math.log(0.025) / 2) * math.sqrt((n + m) / (n * m)), 3))
    assert abs(stats.kstwobign.isf(0.05) - math.sqrt(-math.log(0.025) / 2)) < 1e-3
    assert not report.drift


def test_no_warning_at_ordinary_sizes_and_the_reference_is_checked_too() -> None:
    rng = np.random.default_rng(1)
    assert not any(f.type == "small_sample" for f in compare(_table(rng, 500), _table(rng, 100), DriftSpec(multivariate=False)).findings)
    report = compare(_table(rng, 20), _table(rng, 5000), DriftSpec(multivariate=False))
    assert [f.details["side"] for f in report.findings if f.type == "small_sample"] == ["reference"]


def test_cli_text_and_json_carry_it(cli: CLI, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pq.write_table(_table(rng, 5000), tmp_path / "ref.parquet")
    pq.write_table(_table(rng, 2), tmp_path / "cur.parquet")
    proc = cli("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate", check=0)
    assert "warning: the current data has only 2 rows" in proc.stderr
    doc = json.loads(cli("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate", "--json", check=0).stdout)
    assert any(f["type"] == "small_sample" and f["severity"] == "warning" for f in doc["findings"])


def test_binned_ks_on_small_samples_has_the_exact_p_value() -> None:
    """Binned mode (a profile as the reference) read KS's p-value from the asymptotic distribution
    at n m / (n + m) rows: 1 row against 1 with D = 1 was p = 0 and DRIFT (exactly p = 1), 5 against
    5 p = 0 (0.0079). Up to 10,000 rows a side it is now ks_2samp's exact p, as in exact mode."""
    rng = np.random.default_rng(17)
    cases = [([1.0], [2.0]), ([1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10]), (list(rng.normal(size=300)), list(rng.normal(0.3, 1, size=200)))]
    for ref, cur in cases:
        expected = stats.ks_2samp(ref, cur)
        for method in ("exact", "binned"):
            col = compare(pa.table({"x": ref}), pa.table({"x": cur}), DriftSpec(method=method, multivariate=False)).column("x")
            assert (col.statistic, col.p_value) == pytest.approx((expected.statistic, expected.pvalue)), (len(ref), method)
