"""The HTML report: self-contained, escaped, and rendered by a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from assay.drift import DriftSpec, compare
from assay.report import render_drift_html, write_drift_html

EVIL = '<img src=x onerror="alert(1)">'


def _report() -> object:
    rng = np.random.default_rng(0)
    n = 3000
    ref = pa.table({"age": rng.normal(size=n), EVIL: rng.normal(size=n), "city": rng.choice(["a", "<script>b</script>"], n), "y": rng.integers(0, 2, n)})
    cur = pa.table({"age": rng.normal(0.5, 1, n), EVIL: rng.normal(size=n), "city": rng.choice(["a", "<script>b</script>", "c&d"], n), "y": rng.integers(0, 2, n)})
    return compare(ref, cur, DriftSpec(target="y"))


def test_report_is_self_contained_and_escaped() -> None:
    report = _report()
    text = render_drift_html(report)  # type: ignore[arg-type]
    assert "<script" not in text and "onerror=\"" not in text
    assert "&lt;script&gt;b&lt;/script&gt;" in text and "c&amp;d" in text
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)  # no network fetches
    assert text.count('class="dist-ref"') == 2  # the two numeric features
    assert "Holm" in text and "Domain classifier" in text and "Label and prediction drift" in text
    # summary first, then columns sorted by effect (drifted first)
    assert text.index("columns drifted") < text.index("<table")
    order = re.findall(r'<td><a href="#col-([^"]+)">', text)
    import html

    expected = sorted(report.columns, key=lambda c: (not c.drifted, -(c.effect or 0)))  # type: ignore[attr-defined]
    assert [html.unescape(o) for o in order] == [c.name for c in expected]
    assert {c.name for c in expected[:2]} == {"age", "city"}


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
def test_report_renders_its_charts_in_a_headless_browser(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium (scripts/services.sh installs it)")
    path = write_drift_html(_report(), tmp_path / "report.html")  # type: ignore[arg-type]
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # the browser parsed the SVG into elements with their geometry
    paths = re.findall(r'<path class="dist-(ref|cur)" d="M[0-9.]+,[0-9.]+L', dom)
    assert len(paths) == 4
    assert len(re.findall(r'<rect class="bar-(ref|cur)"', dom)) >= 8  # city and y, both sides
    assert 'class="chart chart-drivers"' in dom
    assert "<img" not in dom  # the column name stayed text
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2400", path.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000  # a blank page is a few KB


def test_a_report_that_cannot_be_written_leaves_no_temp_file(tmp_path: Path) -> None:
    # A folder where the report should go: the rename fails (as a full disk would), and the
    # temp file beside it was left there for good.
    (tmp_path / "drift.html").mkdir()
    from assay.errors import InputError

    with pytest.raises(InputError, match="cannot write the report .*drift.html: it is a folder"):  # exit 2, with what to do
        write_drift_html(_report(), tmp_path / "drift.html")  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["drift.html"]
    assert write_drift_html(_report(), tmp_path / "new.html").read_text().startswith("<!doctype html>")  # type: ignore[arg-type]


def test_an_empty_report_path_is_an_input_error(tmp_path: Path) -> None:
    """`--report ""` (an unset shell variable) was an internal error: 'PosixPath('.') has an empty name'."""
    from assay.errors import InputError

    with pytest.raises(InputError, match="cannot write the report '': it names no file"):
        write_drift_html(_report(), "")  # type: ignore[arg-type]
