"""The dashboard in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.serve_helpers import LiveServer, add_reference, make_rows, reference_table

from assay.monitor import create_monitor, create_token
from assay.workspace import Workspace

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
EVIL = "<img src=x onerror=alert(document.domain)>"


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip("chromium is not installed (scripts/services.sh installs it)")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def dashboard(ref_ws: Workspace, live: LiveServer) -> dict[str, Any]:
    """A live service with a drifting monitor (two windows, alerts on the second) and a script-laden column name."""
    add_reference(ref_ws, "evil", reference_table(names=("age", EVIL, "country")))
    create_monitor(ref_ws, "m", "ref@v1", window="500rows", rules=["drift"])
    create_monitor(ref_ws, "evil", "evil@v1", window="500rows", rules=["drift"])
    ingest = create_token(ref_ws, ["ingest"])["token"]
    read = create_token(ref_ws, ["read"])["token"]
    live.start()
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ingest}"}) as http:
        for i, shift in enumerate((0, 10)):
            assert http.post("/api/v1/monitors/m/events", json={"rows": make_rows(500, seed=i, shift=shift)}).status_code == 201
            rows = make_rows(500, seed=i, shift=shift, names=("age", EVIL, "country"))
            assert http.post("/api/v1/monitors/evil/events", json={"rows": rows}).status_code == 201
        deadline = time.monotonic() + 30
        while len(http.get("/api/v1/alerts", headers={"Authorization": f"Bearer {read}"}).json()["alerts"]) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return {"url": live.url, "token": read}


def _charts_drawn(page: Any, expected: int) -> None:
    page.wait_for_selector(f"body[data-charts-rendered='{expected}']", timeout=15_000)
    assert page.locator("div.chart canvas").count() >= expected


def test_log_in_open_every_page_and_follow_an_alert(browser: Any, dashboard: dict[str, Any]) -> None:
    url = dashboard["url"]
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/monitors/m")
    assert "/login" in page.url
    page.fill("#token", "assay_wrong_token")
    page.click("#login-button")
    assert page.locator("#login-error").is_visible()
    page.fill("#token", dashboard["token"])
    page.click("#login-button")
    page.wait_for_url(f"{url}/monitors/m")
    _charts_drawn(page, 2)  # drift per column and window, share drifted
    # a click on window 1's bar in the share chart opens that window (after the bars' grow-in animation)
    page.wait_for_timeout(1500)
    x, y = page.evaluate("""() => {
        const el = document.getElementById("share-chart-box");
        el.scrollIntoView();
        const chart = echarts.getInstanceByDom(el);
        const bar = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(1);  // window 1's bar
        const box = el.getBoundingClientRect();
        return [box.left + bar.x + bar.width / 2, box.top + bar.y + bar.height / 2];
    }""")
    page.mouse.click(x, y)
    page.wait_for_url(f"{url}/monitors/m/windows/1")
    page.go_back()
    for path, charts in (("/", 0), ("/datasets", 0), ("/datasets/ref", 1), ("/lineage", 1), ("/checks", 0), ("/monitors", 0),
                         ("/alerts", 0), ("/monitors/evil", 2), ("/monitors/evil/windows/1", 3)):  # fmt: skip
        response = page.goto(url + path)
        assert response is not None and response.status == 200, path
        if charts:
            _charts_drawn(page, charts)
    # from an alert to the window that raised it
    page.goto(f"{url}/alerts")
    link = page.locator("a.alert-window", has_text="window 1").first
    link.click()
    page.wait_for_url(f"{url}/monitors/*/windows/1")
    assert "window 1" in page.inner_text("#window-title")
    _charts_drawn(page, 3)
    assert dialogs == [] and errors == []  # the script-laden column name never ran
    page.goto(f"{url}/monitors/evil/windows/1")
    assert EVIL in page.inner_text("main")  # shown as text


def test_password_login(browser: Any, dashboard: dict[str, Any], ref_ws: Workspace) -> None:
    from assay.monitor import add_user

    add_user(ref_ws, "alice", "correct horse")
    page = browser.new_page()
    page.goto(f"{dashboard['url']}/login")
    page.fill("#username", "alice")
    page.fill("#password", "correct horse")
    page.click("#login-button")
    page.wait_for_url(f"{dashboard['url']}/")
    assert "user:alice" in page.inner_text("header")


def test_performance_chart_next_to_the_drift_chart(browser: Any, ref_ws: Workspace, live: LiveServer) -> None:
    create_monitor(ref_ws, "p", "ref@v1", window="500rows", rules=["drift", "accuracy<0.9"], drift={"prediction": "country"}, min_labels=20)
    ingest, read = create_token(ref_ws, ["ingest"])["token"], create_token(ref_ws, ["read"])["token"]
    live.start()
    rows = [{**r, "event_id": f"e{i}"} for i, r in enumerate(make_rows(1500, seed=3))]
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ingest}"}) as http:
        assert http.post("/api/v1/monitors/p/events", json={"rows": rows}).status_code == 201
        deadline = time.monotonic() + 30
        while len(http.get("/api/v1/monitors/p/windows", headers={"Authorization": f"Bearer {read}"}).json()["windows"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # windows 0 and 2 get labels (all right, then half wrong); window 1 none
        labels = [{"event_id": f"e{i}", "label": rows[i]["country"]} for i in range(40)]
        labels += [{"event_id": f"e{i}", "label": rows[i]["country"] if i % 2 else "nowhere"} for i in range(1000, 1040)]
        assert http.post("/api/v1/monitors/p/labels", json={"labels": labels}).status_code == 200
        while not http.get("/api/v1/alerts", headers={"Authorization": f"Bearer {read}"}).json()["alerts"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live.url}/login?next=/monitors/p")
    page.fill("#token", read)
    page.click("#login-button")
    page.wait_for_url(f"{live.url}/monitors/p")
    _charts_drawn(page, 3)  # drift per column, share drifted, and the model's accuracy per window
    drawn = page.evaluate("""() => {
        const chart = echarts.getInstanceByDom(document.getElementById("perf-chart-box"));
        const series = chart.getOption().series;
        const line = series.find(s => s.name === "accuracy");
        return {values: line.data.map(d => d === null ? null : d.value), threshold: line.markLine.data[0].yAxis,
                points: chart.getModel().getSeriesByName("accuracy")[0].getData().count()};
    }""")
    assert drawn == {"values": [1.0, None, 0.5], "threshold": 0.9, "points": 3}
    assert page.locator("#perf-chart-box canvas").count() == 1
    assert "0.5" in page.locator("td.perf").first.inner_text()  # newest window first in the table
    # the alert raised from the labels links to its window, which shows the accuracy and its interval
    page.goto(f"{live.url}/alerts")
    page.locator("a.alert-window", has_text="window 2").first.click()
    page.wait_for_url(f"{live.url}/monitors/p/windows/2")
    assert "Accuracy 0.5" in page.inner_text("#performance") and "Wilson interval" in page.inner_text("#performance")
    assert errors == []


def test_a_check_s_gate_intervals_are_drawn_where_they_lie(browser: Any, ref_ws: Workspace, live: LiveServer) -> None:
    # stacked with ECharts' default, a worse accuracy's interval [-0.071, -0.036] was drawn as [0, 0.036], and its
    # threshold dot at +0.01 (the margin), not at -0.01 (the bound): a failed gate looked next to passing
    import json
    import uuid

    gates = [{"name": "accuracy non-inferiority 0.01", "kind": "non_inferiority", "status": "fail", "threshold": 0.01, "delta": -0.0535,
              "ci_low": -0.0712, "ci_high": -0.0356, "details": {"side": "at_least", "bound": -0.01}},
             {"name": "log_loss non-inferiority 0.05", "kind": "non_inferiority", "status": "fail", "threshold": 0.05, "delta": 0.8975,
              "ci_low": 0.8657, "ci_high": 0.9261, "details": {"side": "at_most", "bound": 0.05}}]  # fmt: skip
    record = uuid.uuid4().hex
    ref_ws.ledger.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, 'check', 'gate', '2026-01-01T00:00:00', 'fail', ?)",
                          (record, json.dumps({"gates": gates})))  # fmt: skip
    read = create_token(ref_ws, ["read"])["token"]
    live.start()
    page = browser.new_page()
    page.goto(f"{live.url}/login?next=/checks/{record}")
    page.fill("#token", read)
    page.click("#login-button")
    page.wait_for_url(f"{live.url}/checks/{record}")
    _charts_drawn(page, 1)
    page.wait_for_timeout(1500)  # the bars' grow-in animation
    drawn = page.evaluate("""() => {
        const chart = echarts.getInstanceByDom(document.getElementById("gates-chart-box"));
        const value = px => chart.convertFromPixel({xAxisIndex: 0}, px);
        const spans = [0, 1].map(i => {
            const bar = chart.getModel().getSeriesByIndex(1).getData().getItemLayout(i);
            return [value(Math.min(bar.x, bar.x + bar.width)), value(Math.max(bar.x, bar.x + bar.width))].map(v => Math.round(v * 1000) / 1000);
        });
        return {spans: spans, thresholds: chart.getOption().series[2].data.map(d => d[0])};
    }""")
    assert drawn == {"spans": [[-0.071, -0.036], [0.866, 0.926]], "thresholds": [-0.01, 0.05]}


def test_a_long_unbroken_text_wraps_inside_the_page(browser: Any, ref_ws: Workspace, live: LiveServer) -> None:
    # a column name or version message of 300 characters without a space stretched its table past the window
    from assay.data import add

    (ref_ws.root / "data-long").mkdir()
    (ref_ws.root / "data-long" / "a.txt").write_text("a")
    add(ref_ws, [str(ref_ws.root / "data-long")], name="long", message="x" * 300)
    read = create_token(ref_ws, ["read"])["token"]
    live.start()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{live.url}/login?next=/datasets/long")
    page.fill("#token", read)
    page.click("#login-button")
    page.wait_for_url(f"{live.url}/datasets/long")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
