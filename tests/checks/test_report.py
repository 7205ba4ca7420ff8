"""The HTML report: self-contained, escaped, and rendered by a real headless browser; JUnit shape."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from assay.checks import Suite, run_suite
from assay.models import from_function
from assay.report import render_check_html as check_html
from assay.report import render_check_junit as check_junit
from assay.report import render_check_lines as render_lines
from assay.report import write_check_html, write_check_junit

EVIL = '<img src=x onerror="alert(1)"></script>'


def _doc() -> dict:
    rng = np.random.default_rng(0)
    n = 800
    x = rng.normal(size=n)
    y = (x > 0).astype(int)
    data = {"x": x, "label": y, EVIL: rng.integers(0, 2, n)}
    suite = Suite.from_yaml(
        "name: '" + EVIL.replace("'", "''") + "'\ndata: d\ntarget: label\ntask: binary\nfeatures: [x]\n"
        "metrics: [accuracy, brier]\ngates:\n  - {metric: accuracy, non_inferiority: 0.01, slices: all}\n"
        "  - {metric: brier, superiority: 0}\nslices:\n  - column: '" + EVIL.replace("'", "''") + "'\n"
        "robustness:\n  - {generator: gaussian_noise, n: 2000, scale: 0.5}\n")

    def base(X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-4 * X[:, 0]))
        return np.column_stack([1 - p, p])

    def cand(X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-1 * X[:, 0] + 0.3))
        return np.column_stack([1 - p, p])

    r = run_suite(suite, candidate=from_function(cand, name=EVIL, classes=[0, 1]),
                  baseline=from_function(base, name="base", classes=[0, 1]), data=data)
    return r.to_dict()


@pytest.fixture(scope="module")
def doc() -> dict:
    return _doc()


def test_html_is_self_contained_and_escaped(doc: dict) -> None:
    page = check_html(doc)
    assert EVIL not in page and "&lt;img src=x" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<svg" in page and page.count("<script") == 1  # only the JSON payload
    payload = re.search(r'<script type="application/json" id="assay-result">(.*?)</script>', page, re.S).group(1)
    assert json.loads(payload)["gates"] == json.loads(json.dumps(doc["gates"]))
    assert "Counterexamples" in page and "Slice regressions" in page


def test_junit_one_case_per_gate(doc: dict) -> None:
    root = ET.fromstring(check_junit(doc).split("?>", 1)[1])
    cases = root.findall(".//testcase")
    assert len(cases) == len(doc["gates"])
    failing = sum(1 for g in doc["gates"] if g["status"] != "pass")
    assert int(root.find("testsuite").get("failures")) == failing == len([c for c in cases if c.find("failure") is not None])
    # a failing gate shows the evidence of failure too: its pass-side p alone read "p=1"
    from assay.report._junit import _num

    failed = [(g, c) for g, c in zip(doc["gates"], cases, strict=True) if g["status"] == "fail"]
    assert failed
    for g, c in failed:
        said = c.find("failure").get("message")
        assert f"p pass={_num(g['p_value'])} p fail (adj.)={_num(g['p_fail_adjusted'])} — " in said
    assert any(g["p_fail_adjusted"] is not None and g["p_fail_adjusted"] < 0.05 < g["p_value"] for g, _ in failed)


def test_junit_writes_what_xml_1_0_cannot_hold_as_escapes(doc: dict) -> None:
    """Control characters from data or names were written raw; expat rejected the file."""
    odd = json.loads(json.dumps(doc))
    odd["candidate"]["name"] = "cand\x1b[0m"
    odd["suite"]["name"] = "suite\x00"
    odd["gates"][0]["reason"] = "why\x0b\ud800\uffff"
    odd["gates"][0]["slice"] = "size = \x1b[31mred"
    root = ET.fromstring(check_junit(odd).split("?>", 1)[1])
    assert root.find(".//property[@name='candidate']").get("value") == "cand\\x1b[0m"
    assert root.find("testsuite").get("name") == "suite\\x00"
    case = root.findall(".//testcase")[0]
    assert case.get("name").endswith("[size = \\x1b[31mred]")
    assert case.find("system-out").text.endswith("why\\x0b\\ud800\\uffff")


def test_terminal_lines_put_each_interval_beside_what_it_bounds() -> None:
    # `min`/`max` gates bound the candidate's value, relative gates the delta; both with a baseline present
    gate = dict(slice=None, candidate_value=0.9903, baseline_value=0.998, delta=-0.007619, status="pass")
    doc = {"passed": True, "counts": {"pass": 2, "fail": 0, "inconclusive": 0}, "candidate": {"name": "m@v2"},
           "baseline": {"name": "m@v1"}, "data": {"rows": 219},
           "gates": [{**gate, "name": "roc_auc min 0.95", "kind": "min", "ci_low": 0.9822, "ci_high": 0.9985},
                     {**gate, "name": "roc_auc non-inferiority 0.02", "kind": "non_inferiority", "ci_low": -0.012, "ci_high": -0.003}]}
    lines = render_lines(doc)
    assert lines[1] == "  PASS  roc_auc min 0.95: candidate 0.9903, CI [0.9822, 0.9985], baseline 0.998, delta -0.007619"
    assert lines[2] == "  PASS  roc_auc non-inferiority 0.02: candidate 0.9903, baseline 0.998, delta -0.007619, CI [-0.012, -0.003]"


def test_terminal_lines_say_what_slice_discovery_found_even_when_nothing() -> None:
    doc = {"passed": True, "counts": {"pass": 0, "fail": 0, "inconclusive": 0}, "candidate": {"name": "m@v2"},
           "data": {"rows": 219}, "gates": [], "suite": {"discover": {"bins": 4}},
           "notes": ["slice discovery compares with the baseline and was skipped: no baseline given"]}
    assert render_lines(doc)[-1] == "  slice discovery compares with the baseline and was skipped: no baseline given"
    doc.update(baseline={"name": "m@v1"}, notes=[], discovered_slices=[{"slice": "x in [0, 1]", "confirmed": False}] * 3)
    assert render_lines(doc)[-1] == "  slice discovery: 3 regions worse on one half of the rows, none confirmed on the other"
    doc["discovered_slices"] = []
    assert render_lines(doc)[-1] == "  slice discovery: no region where the candidate does worse than on the rest"
    del doc["suite"]["discover"]
    assert not any("discovery" in line for line in render_lines(doc))


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_reports_are_written_with_the_umask_s_mode(doc: dict, tmp_path: Path, umask: int) -> None:
    # a report is a file to share or publish as a CI artifact, made as `open(path, "w")` would make it, not 0600
    old = os.umask(umask)
    try:
        html = write_check_html(doc, tmp_path / "check.html")
        junit = write_check_junit(doc, tmp_path / "junit.xml")
    finally:
        os.umask(old)
    assert html.stat().st_mode & 0o777 == junit.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.html", "junit.xml"]  # no temp file left


@pytest.mark.browser
def test_report_renders_in_a_headless_browser(doc: dict, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium (scripts/services.sh installs it)")
    path = write_check_html(doc, tmp_path / "check.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'id="verdict"' in dom and "NOT PASSED" in dom
    statistical = [g for g in doc["gates"] if g.get("ci_low") is not None and g.get("ci_high") is not None]
    assert len(re.findall(r'<line [^>]*stroke-width="3"', dom)) == len(statistical)  # one interval per gate
    assert "<img" not in dom  # the hostile name stayed text


def test_a_check_report_path_that_cannot_be_written_is_an_input_error(doc: dict, tmp_path: Path) -> None:
    """The check's HTML and JUnit writers said nothing useful (an OSError: exit 3) where the
    drift report already said why; one writer now, for both."""
    from assay.errors import InputError

    (tmp_path / "afile").write_text("")
    for write in (write_check_html, write_check_junit):
        with pytest.raises(InputError, match="afile is a file, not a folder"):
            write(doc, tmp_path / "afile" / "out.xml")
        with pytest.raises(InputError, match="it is a folder"):
            write(doc, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_check_report_path_refuses_what_the_writer_would_and_makes_nothing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from assay.errors import InputError
    from assay.report import check_report_path

    (tmp_path / "afile").write_text("")
    with pytest.raises(InputError, match="afile is a file, not a folder"):
        check_report_path(tmp_path / "afile" / "deeper" / "r.html")
    with pytest.raises(InputError, match="it is a folder"):
        check_report_path(tmp_path)
    with pytest.raises(InputError, match="it names no file"):
        check_report_path("")
    assert check_report_path(tmp_path / "new" / "r.html") == tmp_path / "new" / "r.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the missing folder was not made
    (tmp_path / "locked").mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere: the folder is made to read as locked
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path / "locked" and real(p, mode))
    with pytest.raises(InputError, match="cannot write in the folder .*locked"):
        check_report_path(tmp_path / "locked" / "sub" / "r.html")


def test_a_report_replaces_an_earlier_report_but_no_other_file(doc: dict, tmp_path: Path) -> None:
    """`--report train.parquet` (drift show, check show) replaced the data with HTML."""
    from assay.errors import InputError
    from assay.report import check_output_paths

    data = tmp_path / "train.parquet"
    data.write_bytes(b"PAR1\x15\x04\x00\x00")
    for write, what in ((write_check_html, "report"), (write_check_junit, "JUnit file")):
        with pytest.raises(InputError, match=re.escape(f"cannot write the {what} {data}: the file is there and is no {what} "
                                                       "(it begins 'PAR1....'), which it would replace")):
            write(doc, data)
        assert data.read_bytes() == b"PAR1\x15\x04\x00\x00"
        again = tmp_path / f"again-{what[0]}"
        write(doc, again)
        write(doc, again)  # run again: an earlier report of the same kind is rewritten
        (tmp_path / "empty").write_bytes(b"")
        write(doc, tmp_path / "empty")
        (tmp_path / "empty").unlink()
    with pytest.raises(InputError, match="is no profile"):
        check_output_paths({"profile": data})
    (tmp_path / "p.json").write_text('\n {"kind": "profile"}')
    check_output_paths({"profile": tmp_path / "p.json", "report": tmp_path / "again-r"})
