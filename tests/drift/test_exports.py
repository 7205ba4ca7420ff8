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
        "compare", "compare_sources", "empty_text_as_missing", "get_executor", "get_report", "get_stat_test", "list_reports", "profile_source",
        "record_report", "register_stat_test", "save_profile", "stat_test_names", "write_recorded_report_html",
    ]  # fmt: skip
    for name in assay.drift.__all__:
        assert getattr(assay.drift, name) is not None


def test_registered_tests() -> None:
    assert assay.drift.stat_test_names() == ["chi2", "energy", "gtest", "hellinger", "jensenshannon", "ks", "psi", "tv", "wasserstein"]


def test_import_stays_light() -> None:
    code = (
        "import sys, assay, assay.drift, assay.cli._drift, assay.report\n"
        "heavy = [m for m in ('pandas', 'polars', 'ray', 'sklearn', 'torch', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_plugins_register_through_entry_points(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.metadata
    import sys
    import types

    from assay.drift import _registry
    from assay.drift._registry import StatTest, TestOutcome

    module = types.ModuleType("drift_plugin_example")

    class MeanGap(StatTest):
        name = "meangap"
        kinds = frozenset({"numeric"})
        default_threshold = 0.5

        def numeric(self, cmp):  # type: ignore[no-untyped-def]
            gap = abs(float(cmp.ref_values.mean() - cmp.cur_values.mean()))
            return TestOutcome(gap, None, gap)

    module.MeanGap = MeanGap  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "drift_plugin_example", module)
    ep = importlib.metadata.EntryPoint("drift_test.meangap", "drift_plugin_example:MeanGap", "assay.plugins")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [ep] if group == "assay.plugins" else [])
    monkeypatch.setattr(_registry, "_loaded", False)
    assay.drift.stat_test_names()  # built-ins registered first
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    assert "meangap" in assay.drift.stat_test_names()
    import numpy as np
    import pyarrow as pa

    report = assay.drift.compare(pa.table({"x": np.zeros(50)}), pa.table({"x": np.ones(50)}), assay.drift.DriftSpec(numeric={"test": "meangap"}, multivariate=False))
    assert report.column("x").test == "meangap" and report.drift
