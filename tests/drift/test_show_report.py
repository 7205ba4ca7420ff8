"""`assay drift show ID --report FILE`: a recorded drift report drawn as HTML again, as
`assay check show ID --report FILE` does for a check (its charts are recorded with it)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from assay.drift import DriftReport, get_report
from assay.drift._record import drawable_chart
from tests.conftest import CLI
from tests.drift.test_cli import _write


def _recorded(ws: object, verdict: str) -> tuple[str, dict]:
    rid, body = ws.ledger.query("SELECT id, body FROM records WHERE kind = 'drift_report' AND verdict = ?",  # type: ignore[attr-defined]
                                (verdict,))[0]
    return rid, json.loads(body)


@pytest.mark.parametrize("multivariate", [False, True])
def test_the_html_drawn_again_is_the_one_drawn_when_it_ran(ws: object, cli: CLI, tmp_path: Path,
                                                           multivariate: bool) -> None:
    ref, moved = _write(tmp_path, name="ref"), _write(tmp_path, 0.8, name="moved")
    cli("drift", ref.name, moved.name, "--report", "first.html", *([] if multivariate else ["--no-multivariate"]), check=1)
    rid, body = _recorded(ws, "drift")
    assert all(c["chart"]["type"] in ("numeric", "categorical") for c in body["columns"])  # kept in the record
    doc = cli.json("drift", "show", rid[:8], "--report", "out/again.html")  # exit 0 whatever its verdict
    assert doc["report_path"] == str(tmp_path / "out" / "again.html") and doc["notes"] == []
    assert (tmp_path / "out" / "again.html").read_bytes() == (tmp_path / "first.html").read_bytes()
    assert "chart-numeric" in (tmp_path / "first.html").read_text()
    text = cli("drift", "show", rid[:8], "--report", "third.html").stdout
    assert f"report: {tmp_path / 'third.html'}\n" in text and (tmp_path / "third.html").is_file()
    # the JSON document, and the API by default, stay as they were: no charts
    assert all("chart" not in c for c in cli.json("drift", "show", rid[:8])["columns"])
    assert all("chart" not in c for c in get_report(ws, rid)["columns"])  # type: ignore[arg-type]
    again = DriftReport.from_dict(get_report(ws, rid, charts=True))  # type: ignore[arg-type]
    assert again.drifted_columns == ["age"] and again.column("age").chart["type"] == "numeric"


def test_a_report_recorded_before_charts_were_kept_is_drawn_without_them_and_says_so(ws: object, cli: CLI,
                                                                                    tmp_path: Path) -> None:
    ref, same = _write(tmp_path, name="ref"), _write(tmp_path, 0.0, name="same")
    cli("drift", ref.name, same.name, "--no-multivariate")
    rid, body = _recorded(ws, "no_drift")
    for c in body["columns"]:
        del c["chart"]
    ws.ledger.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body), rid))  # type: ignore[attr-defined]
    doc = cli.json("drift", "show", rid[:8], "--report", "old.html")
    assert doc["notes"] == ["this report was recorded before drift reports kept their charts: the HTML report draws none"]
    html = (tmp_path / "old.html").read_text()
    assert "no drift" in html and "chart-numeric" not in html and "no values to draw" in html
    assert "draws none" in cli("drift", "show", rid[:8], "--report", "old.html").stdout


def test_a_recorded_report_that_cannot_be_drawn_is_an_input_error_that_writes_nothing(ws: object, cli: CLI,
                                                                                      tmp_path: Path) -> None:
    # One pulled from a remote that an older or another assay wrote: what the HTML needs is missing.
    ref, same = _write(tmp_path, name="ref"), _write(tmp_path, 0.0, name="same")
    cli("drift", ref.name, same.name, "--no-multivariate")
    rid, body = _recorded(ws, "no_drift")
    del body["method"]["rule"]
    body["imported"] = {"remote": "origin"}
    ws.ledger.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body), rid))  # type: ignore[attr-defined]
    proc = cli("drift", "show", rid[:8], "--report", "bad.html", check=2)
    assert f"drift report {rid[:12]} (pulled from remote origin) cannot be drawn as HTML: it lacks or mistypes 'rule'" \
        in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bad.html").exists()
    assert cli.json("drift", "show", rid[:8])["drift"] is False  # shown as text and JSON all the same


def test_only_charts_that_read_are_drawn() -> None:
    numeric = {"type": "numeric", "edges": [0.0, 1.0, 2.0], "reference": [0.5, 0.5], "current": [0.2, 0.8]}
    categorical = {"type": "categorical", "categories": ["a", "b"], "reference": [0.5, 0.5], "current": [1.0, 0.0]}
    assert drawable_chart(numeric) == numeric and drawable_chart(categorical) == categorical
    for bad in ({**numeric, "edges": [0.0, 1.0]}, {**numeric, "reference": [0.5, math.nan]},
                {**numeric, "current": [0.2, "0.8"]}, {**numeric, "current": [True, 0.8]},
                {**numeric, "reference": [], "current": [], "edges": [0.0]}, {**categorical, "categories": "ab"},
                {**categorical, "current": [1.0]}, {**numeric, "type": "pie"}, [], None):
        assert drawable_chart(bad) is None, bad
