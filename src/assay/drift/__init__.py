"""Drift: has the data a model sees moved away from the data it learned from?

Compare a current table with a reference, column by column (KS, Wasserstein, energy,
PSI, Jensen–Shannon, Hellinger, chi-squared, G-test, total variation) with multiple-testing
control and effect-size thresholds, plus multivariate tests; profile large data into
mergeable sketches.

Example::

    from assay.drift import DriftSpec, compare
    report = compare("train.parquet", "today.parquet", DriftSpec(target="label"))
    print(report.drift, report.drifted_columns)

In a workspace, :func:`compare_sources` also says which dataset versions it read, so that
:func:`record_report` ties the report to them (what `assay drift` does)::

    report, versions = compare_sources("customers@v1", "customers@v2", DriftSpec(), workspace=ws)
    record_report(ws, report, versions)
"""

from __future__ import annotations

from assay.drift._detector import DriftDetector, compare
from assay.drift._io import empty_text_as_missing
from assay.compute import LocalExecutor, RayExecutor, get_executor
from assay.drift._profile import CategoricalSketch, NumericSketch, Profile, build_profile
from assay.drift._record import get_report, list_reports, record_report, save_profile, write_recorded_report_html
from assay.drift._registry import StatTest, TestOutcome, get_stat_test, register_stat_test, stat_test_names
from assay.drift._report import ColumnResult, DriftReport, Finding
from assay.drift._sources import compare_sources, profile_source
from assay.drift._spec import ColumnRule, DriftSpec

__all__ = [
    "CategoricalSketch",
    "ColumnResult",
    "ColumnRule",
    "DriftDetector",
    "DriftReport",
    "DriftSpec",
    "Finding",
    "LocalExecutor",
    "NumericSketch",
    "Profile",
    "RayExecutor",
    "StatTest",
    "TestOutcome",
    "build_profile",
    "compare",
    "compare_sources",
    "empty_text_as_missing",
    "get_executor",
    "get_report",
    "get_stat_test",
    "list_reports",
    "profile_source",
    "record_report",
    "register_stat_test",
    "save_profile",
    "stat_test_names",
    "write_recorded_report_html",
]
