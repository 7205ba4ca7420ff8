"""The public surface of assay.drift, and the light-import promise."""

from __future__ import annotations

import subprocess
import sys

import assay.drift


def test_all_is_sorted_and_exact() -> None:
    assert assay.drift.__all__ == sorted(assay.drift.__all__)
    assert assay.drift.__all__ == [
        "CategoricalSketch", "ColumnResult", "ColumnRule", "DriftDetector", "DriftReport", "DriftSpec", "Finding",
        "LocalExecutor", "NumericSketch", "Profile", "RayExecutor", "StatTest", "TestOutcome", "build_profile",
        "compare", "get_executor", "get_stat_test", "register_stat_test", "stat_test_names",
    ]  # fmt: skip
    for name in assay.drift.__all__:
        assert getattr(assay.drift, name) is not None


def test_registered_tests() -> None:
    assert assay.drift.stat_test_names() == ["chi2", "energy", "hellinger", "jensenshannon", "ks", "psi", "tv", "wasserstein"]


def test_import_stays_light() -> None:
    code = (
        "import sys, assay, assay.drift, assay.cli._drift, assay.report._drift_html\n"
        "heavy = [m for m in ('pandas', 'polars', 'ray', 'sklearn', 'torch', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
