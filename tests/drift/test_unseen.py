"""The test of categories new to the reference: rare values that switched to other rare values,
which chi-squared pools into one cell and so cannot see (before it, only a warning said so)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from assay.drift import DriftSpec, compare
from assay.drift._columns import CategoricalSide
from assay.drift._evidence import _unseen_moments, unseen_test
from assay.drift._profile import CategoricalSketch
from assay.drift._report import DriftReport
from assay.errors import UsageError
from tests.conftest import CLI


def _side(counts: dict[str, int]) -> CategoricalSide:
    kept = {k: v for k, v in counts.items() if v}
    return CategoricalSide(sum(kept.values()), 0, np.array(list(kept), dtype=object), np.array(list(kept.values()), dtype=np.int64))


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


@pytest.mark.parametrize("rows, n", [("aabcddde", 3), ("abcdefgh", 4), ("aaaabbbc", 5), ("aab", 1), ("abcabcaab", 4)])
def test_the_mean_and_variance_are_those_of_every_split_enumerated(rows: str, n: int) -> None:
    seen = []
    for ref_rows in itertools.combinations(range(len(rows)), n):
        ref = {rows[i] for i in ref_rows}
        seen.append(sum(1 for i, r in enumerate(rows) if i not in ref_rows and r not in ref))
    pooled = np.array(list(_counts(list(rows)).values()), dtype=np.int64)
    mean, var, _, _ = _unseen_moments(pooled, n, len(rows) - n)
    assert mean == pytest.approx(np.mean(seen), abs=1e-9)
    assert var == pytest.approx(np.var(seen), abs=1e-9)


def test_no_drift_alarms_at_the_stated_rate_on_long_tailed_sources() -> None:
    # Zipf-like sources of many rare categories, sides of unequal size: the rate at 0.05 and at
    # 0.01 (the normal tail alone alarmed at 0.023 where 0.01 was stated)
    rng = np.random.default_rng(21)
    for k, n, m, a in [(50, 200, 300, 1.2), (2000, 1000, 1500, 1.1), (100, 30, 40, 1.5), (500, 300, 3000, 1.0)]:
        probs = 1 / np.arange(1, k + 1) ** a
        probs /= probs.sum()
        names = np.array([f"v{i}" for i in range(k)], dtype=object)
        p_values = []
        for _ in range(600):
            ref = np.bincount(rng.choice(k, n, p=probs), minlength=k)
            cur = np.bincount(rng.choice(k, m, p=probs), minlength=k)
            doc = unseen_test(_side(dict(zip(names, ref))), _side(dict(zip(names, cur))), 0.0)
            p_values.append(1.0 if doc["p_value"] is None else doc["p_value"])
        for alpha in (0.05, 0.01):
            alarms = sum(p < alpha for p in p_values)
            assert stats.binom.sf(alarms - 1, 600, alpha) > 1e-3, f"{alarms}/600 alarms at {alpha} for {(k, n, m, a)}"


def test_a_lumpy_unseen_count_is_read_from_draws_of_the_split_not_a_curve() -> None:
    # a small reference that missed one mid-sized category (60 of 1,000 pooled rows) by chance: U is then
    # nearly 60 x Bernoulli(q), whose tail the gamma read as 0.008 where it is C(950, 60) / C(1000, 60)
    ref = _side({"B": 17, "C": 17, "D": 16})
    cur = _side({"A": 60, "B": 283, "C": 283, "D": 324})
    exact = math.comb(950, 60) / math.comb(1000, 60)
    doc = unseen_test(ref, cur, 0.05)
    assert doc["p_value"] == pytest.approx(exact, abs=0.006)
    assert unseen_test(ref, cur, 0.05, seed=3)["p_value"] == pytest.approx(exact, abs=0.006)
    assert unseen_test(ref, cur, 0.05)["p_value"] == doc["p_value"]  # seeded: the same answer every time
    # few categories, a small reference: the stated rate holds
    rng = np.random.default_rng(22)
    for k, n, m, a in [(5, 30, 600, 0.5), (8, 40, 900, 1.0), (30, 10, 2000, 1.5)]:
        probs = 1 / np.arange(1, k + 1) ** a
        probs /= probs.sum()
        names = np.array([f"v{i}" for i in range(k)], dtype=object)
        alarms = 0
        for _ in range(300):
            one = np.bincount(rng.choice(k, n, p=probs), minlength=k)
            two = np.bincount(rng.choice(k, m, p=probs), minlength=k)
            p_value = unseen_test(_side(dict(zip(names, one))), _side(dict(zip(names, two))), 0.0)["p_value"]
            alarms += p_value is not None and p_value < 0.05
        assert stats.binom.sf(alarms - 1, 300, 0.05) > 1e-3, f"{alarms}/300 alarms for {(k, n, m, a)}"


def test_a_tiny_reference_against_a_huge_current_side_stays_small() -> None:
    # the table of log q(c) is bounded (past it, log-gamma): one category of 30 million rows, a reference of 100
    ref = CategoricalSketch({"a": 60, "b": 40}, rows=100)
    cur = CategoricalSketch({"a": 30_000_000, "c": 5}, rows=30_000_005)
    doc = unseen_test(ref, cur, 0.05)
    assert doc["share"] == pytest.approx(5 / 30_000_005) and doc["p_value"] is not None


def _rare_switch(new_prefix: str) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(3)
    common = [f"c{i}" for i in rng.integers(0, 20, 14_000)]
    reference = pa.table({"agent": common + [f"a{i}" for i in range(3000)] * 2})
    current = pa.table({"agent": [f"c{i}" for i in rng.integers(0, 20, 14_000)] + [f"{new_prefix}{i}" for i in range(3000)] * 2})
    return reference, current


def test_rare_values_that_switch_to_other_rare_values_are_drift() -> None:
    # every rare value is seen twice a side: chi-squared pools them all into one cell, which
    # holds as many rows on each side, and finds nothing
    reference, switched = _rare_switch("b")
    column = compare(reference, switched).columns[0]
    assert column.p_adjusted is not None and column.p_adjusted > 0.05  # chi-squared alone: no drift
    assert column.drifted
    assert column.unseen["share"] == pytest.approx(0.3) and column.unseen["expected_share"] == 0.0
    assert column.unseen["p_adjusted"] < 1e-10 and column.unseen["drifted"]
    assert any(r.startswith("new categories 30.00% of current rows, 0.00% expected") for r in column.reasons)
    finding = next(f for f in column.findings if f.type == "unseen_categories")
    assert finding.severity == "drift" and finding.details["p_adjusted"] == column.unseen["p_adjusted"]
    # the same rare values again: no drift
    reference, same = _rare_switch("a")
    column = compare(reference, same).columns[0]
    assert not column.drifted and column.unseen["share"] == 0.0 and not column.unseen["drifted"]


def test_the_threshold_sets_how_large_an_excess_counts() -> None:
    reference, switched = _rare_switch("b")
    column = compare(reference, switched, DriftSpec(unseen_threshold=0.5)).columns[0]
    assert column.unseen["p_adjusted"] < 1e-10 and not column.unseen["drifted"] and not column.drifted
    for bad in (-0.1, 1.5):
        with pytest.raises(UsageError, match="unseen_threshold must be between 0 and 1"):
            DriftSpec(unseen_threshold=bad).validate()
    with pytest.raises(UsageError, match="unseen_threshold must be a number"):
        DriftSpec(unseen_threshold="high").validate()  # type: ignore[arg-type]


def test_an_identifier_whose_values_are_all_new_is_not_tested() -> None:
    reference = pa.table({"id": [f"u{i}" for i in range(5000)]})
    current = pa.table({"id": [f"n{i}" for i in range(5000)]})
    column = compare(reference, current).columns[0]
    assert column.not_judged and column.unseen == {} and not column.drifted
    # distinct values on both sides without the identifier rule: the split cannot change U
    assert unseen_test(_side({"a": 1, "b": 1}), _side({"c": 1, "d": 1}), 0.05)["p_value"] is None


def test_capped_counts_hide_the_rare_categories_so_there_is_no_test() -> None:
    capped = CategoricalSketch({"a": 50, "b": 40}, rows=100, other=10)
    full = CategoricalSketch({"a": 50, "b": 40, "c": 5, "d": 5}, rows=100)
    assert unseen_test(capped, full, 0.05) == {} and unseen_test(full, capped, 0.05) == {}
    assert unseen_test(full, CategoricalSketch({"a": 3, "z": 2}, rows=5), 0.05)["share"] == pytest.approx(0.4)


def test_a_report_keeps_the_test_through_json() -> None:
    reference, switched = _rare_switch("b")
    report = compare(reference, switched)
    doc = report.to_dict()
    assert doc["columns"][0]["unseen"]["drifted"] is True
    assert "new-category tests" in doc["method"]["rule"]
    again = DriftReport.from_dict(doc)
    assert again.columns[0].unseen == report.columns[0].unseen
    old = dict(doc["columns"][0])
    del old["unseen"]  # a report recorded before the test
    assert DriftReport.from_dict({**doc, "columns": [old]}).columns[0].unseen == {}
    assert doc["method"]["family_size"] == 2  # chi-squared and this test (no missing values)


def test_the_text_and_html_reports_say_which_test_found_the_drift(tmp_path: Path, cli: CLI) -> None:
    # the row shows chi-squared's numbers (adjusted p 1): its verdict names the test that found it
    reference, switched = _rare_switch("b")
    rng = np.random.default_rng(8)
    values = rng.normal(size=20_000)
    holes = values.copy()
    holes[:4000] = np.nan  # 20% missing now: the same distribution otherwise
    pq.write_table(reference.append_column("x", pa.array(values)), tmp_path / "ref.parquet")
    pq.write_table(switched.append_column("x", pa.array(holes)), tmp_path / "cur.parquet")
    out = cli("drift", "compare", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate",
              "--report", str(tmp_path / "r.html"), check=1).stdout  # fmt: skip
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  agent") or line.startswith("  x ")}
    assert rows["agent"].endswith("drift (new categories)") and rows["x"].endswith("drift (missing rate)")
    page = (tmp_path / "r.html").read_text()
    assert "<td>drift (new categories)</td>" in page and "<td>drift (missing rate)</td>" in page


def test_a_lumpy_tail_among_many_values_seen_once_draws_them_as_one_group() -> None:
    # 300,000 ids seen once beside one mid-sized category a small reference missed: the draws took
    # 1,000 x 300,001 counts at a time (2.4 GB); those seen once are one group now, drawn exactly
    ref = _side({**{f"r{i}": 1 for i in range(150)}, "B": 50})
    cur = _side({**{f"c{i}": 1 for i in range(300_000)}, "A": 40})
    doc = unseen_test(ref, cur, 0.05)
    assert doc["p_value"] is not None and 0.5 < doc["p_value"] <= 1.0  # A missing from 200 reference rows is no surprise
