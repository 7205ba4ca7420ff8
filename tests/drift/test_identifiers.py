"""Identifier-like columns (a distinct value in nearly every reference row) are reported, not judged.

Chi-squared pools categories seen fewer than 5 times, so an identifier became one pooled
cell: total variation 0.994 and "ok", and a complete switch of the id space was "ok"
too. A distribution of unique values has no shape to compare, and new values are what an
identifier is expected to bring; the column is marked as not judged, saying why.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.drift import DriftSpec, compare, profile_source
from assay.report import render_drift_html
from tests.conftest import CLI

SPEC = DriftSpec(multivariate=False)


def _ids(prefix: str, n: int, rng: np.random.Generator) -> pa.Table:
    return pa.table({"id": [f"{prefix}{i}" for i in range(n)], "city": rng.choice(["Oslo", "Lyon", "Pune"], n)})


def test_an_identifier_is_not_judged_and_says_so() -> None:
    rng = np.random.default_rng(0)
    for method in ("exact", "binned"):
        report = compare(_ids("u", 5000, rng), _ids("v", 5000, rng), DriftSpec(multivariate=False, method=method, max_categories=1000))
        col = report.column("id")
        assert col.not_judged and "identifier" in col.not_judged
        assert col.p_value is None and col.effect is None and not col.drifted
        finding = next(f for f in col.findings if f.type == "identifier_like")
        assert finding.severity == "warning" and "not judged" in finding.message and "of current values are new" in finding.message
        if method == "exact":  # capped sketches see only the most frequent categories
            assert finding.details["unseen_share"] == 1.0
        doc = report.to_dict()
        assert next(c for c in doc["columns"] if c["name"] == "id")["not_judged"] == col.not_judged
        assert next(c for c in doc["columns"] if c["name"] == "city")["not_judged"] is None
    html = render_drift_html(report)
    assert "not judged" in html


def test_an_identifier_that_starts_repeating_is_judged_and_warned_about() -> None:
    rng = np.random.default_rng(1)
    cur = pa.table({"id": ["0"] * 4000 + [f"w{i}" for i in range(1000)], "city": rng.choice(["Oslo", "Lyon", "Pune"], 5000)})
    col = compare(_ids("u", 5000, rng), cur, SPEC).column("id")
    finding = next(f for f in col.findings if f.type == "identifier_like")
    assert "repeats" in finding.message and finding.details["current_distinct_share"] < 0.3
    assert col.not_judged is None and col.drifted


def test_distinct_numbers_compared_as_text_are_not_called_ok() -> None:
    """Numbers compared as text (the current side is text) are all distinct: no test of categories can judge them."""
    ref = pa.table({"num": np.arange(1000.0)})
    cur = pa.table({"num": [f"n{i}" for i in range(1000)]})
    report = compare(ref, cur, SPEC)
    col = report.column("num")
    assert col.kind == "categorical" and col.not_judged and not col.drifted
    assert any(f.type == "type_mismatch" for f in report.findings)


def test_high_cardinality_categories_with_repeats_are_still_judged() -> None:
    rng = np.random.default_rng(2)
    ref = pa.table({"zip": rng.choice([f"z{i}" for i in range(300)], 5000)})
    cur = pa.table({"zip": rng.choice([f"z{i}" for i in range(300, 600)], 5000)})
    col = compare(ref, cur, SPEC).column("zip")
    assert col.not_judged is None and col.drifted


def test_a_profile_reference_knows_its_identifiers() -> None:
    rng = np.random.default_rng(3)
    profile, _ = profile_source(_ids("u", 20_000, rng), max_categories=500)
    col = compare(profile, _ids("v", 3000, rng), SPEC).column("id")
    assert col.not_judged and not col.drifted


def test_cli_text_and_json_show_it(cli: CLI, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    pq.write_table(_ids("u", 3000, rng), tmp_path / "ref.parquet")
    pq.write_table(_ids("v", 3000, rng), tmp_path / "cur.parquet")
    proc = cli("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate", check=0)
    line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("id "))
    assert "not judged" in line
    assert "identifier" in proc.stderr
    doc = json.loads(cli("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate", "--json", check=0).stdout)
    assert next(c for c in doc["columns"] if c["name"] == "id")["not_judged"]



def test_a_capped_current_sketch_of_identifiers_is_not_taken_for_repeats() -> None:
    """Binned mode (the default past 2 million rows) estimated a capped sketch's distinct values
    from below: with the 10,000 categories it keeps each seen 3 times, 40,000 ids seen once read as
    13,333, "33% distinct" of 71%, so the identifier was judged as categories (chi-squared p 0).
    Its share of new values, counted on the kept categories only, is not said either."""
    ref = pa.table({"id": [f"u{i}" for i in range(20_000)]})
    cur = pa.table({"id": [f"v{i}" for i in range(10_000)] * 3 + [f"w{i}" for i in range(40_000)]})
    col = compare(ref, cur, DriftSpec(method="binned", multivariate=False)).column("id")
    finding = next(f for f in col.findings if f.type == "identifier_like")
    assert col.not_judged and not finding.details["current_repeats"] and finding.details["current_distinct_share"] == 50_000 / 70_000
    assert finding.message.endswith("(its current sketch was capped, so how many are new is not known)")
    # a capped sketch that repeats its values for sure (at most 40% distinct) is still judged
    repeated = pa.table({"id": [f"v{i}" for i in range(15_000)] * 10})  # (10% distinct: 10,000 kept, 50,000 rows pooled)
    col = compare(ref, repeated, DriftSpec(method="binned", multivariate=False)).column("id")
    assert col.not_judged is None and "(at most 40% distinct)" in next(f for f in col.findings if f.type == "identifier_like").message
