"""Dashboard pages in-process: login, every page, and user text that must stay inert."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from typing import Any

import pyarrow as pa
import pytest
from tests.server.serve_helpers import add_reference, bearer, make_rows, reference_table

from assay.monitor import add_user, create_monitor, create_token

EVIL = ("<script>alert(1)</script>", "</script><img src=x onerror=alert(2)>", "\"'><svg onload=alert(3)>")
PAGES = ["/", "/datasets", "/datasets/ref", "/lineage", "/checks", "/monitors", "/monitors/m", "/monitors/m/windows/0", "/alerts"]


def _login(client: Any, **form: str) -> Any:
    return client.post("/login", data={"next": "/", **form}, follow_redirects=False)


def test_pages_need_a_login(client: Any, tokens: dict[str, str]) -> None:
    for page in PAGES:
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/login").status_code == 200
    assert _login(client, token="assay_nope_nope").status_code == 401
    assert _login(client, token=tokens["ingest"]).status_code == 401  # ingest-only tokens cannot read
    assert _login(client, username="alice", password="wrong password").status_code == 401
    ok = _login(client, token=tokens["read"])
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower() and "samesite=strict" in ok.headers["set-cookie"].lower()
    assert client.get("/monitors").status_code == 200
    client.post("/logout")
    assert client.get("/monitors", follow_redirects=False).status_code == 303


def test_password_login_and_open_redirects_refused(client: Any, ref_ws: Any) -> None:
    add_user(ref_ws, "alice", "correct horse")
    response = client.post("/login", data={"username": "alice", "password": "correct horse", "next": "//evil.example.com/x"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/").status_code == 200
    assert "user:alice" in client.get("/").text


def test_a_session_does_not_outlive_its_token(client: Any, ref_ws: Any) -> None:
    from assay.monitor import revoke_token

    made = create_token(ref_ws, ["read"])
    _login(client, token=made["token"])
    assert client.get("/monitors", follow_redirects=False).status_code == 200
    revoke_token(ref_ws, made["id"])
    assert client.get("/monitors", follow_redirects=False).status_code == 303
    client.cookies.set("assay_session", "forged.cafe")
    assert client.get("/monitors", follow_redirects=False).status_code == 303


def _fill(client: Any, ref_ws: Any, tokens: dict[str, str], shifts: tuple[float, ...] = (0, 10), rules: tuple[str, ...] = ("drift", "column:age")) -> None:
    """Monitor m, a window of 500 events per shift of age, each window processed."""
    create_monitor(ref_ws, "m", "ref@v1", window="500rows", rules=list(rules))
    for i, shift in enumerate(shifts):
        response = client.post("/api/v1/monitors/m/events", json={"rows": make_rows(500, seed=i, shift=shift)}, headers=bearer(tokens["ingest"]))
        assert response.status_code == 201
    deadline = time.monotonic() + 20
    while len(client.get("/api/v1/monitors/m/windows", headers=bearer(tokens["read"])).json()["windows"]) < len(shifts):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_every_page_renders_with_its_chart(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    _fill(client, ref_ws, tokens)
    _login(client, token=tokens["read"])
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "script-src 'self'" in response.headers["content-security-policy"]
    monitor_page = client.get("/monitors/m").text
    assert 'data-option="drift-chart"' in monitor_page and "/static/echarts.min.js" in monitor_page
    assert 'href="/monitors/m/windows/1"' in client.get("/alerts").text
    assert """data-links='["/monitors/m/windows/0", "/monitors/m/windows/1"]'""" in monitor_page
    window = client.get("/monitors/m/windows/1").text
    assert "drift in age" in window and 'data-option="dist-1"' in window
    assert client.get("/static/echarts.min.js").status_code == 200
    assert client.get("/monitors/nope").status_code == 404
    one = client.get("/alerts?monitor=m")
    assert one.status_code == 200 and "Alerts of" in one.text and 'href="/monitors/m/windows/1"' in one.text
    assert client.get("/alerts?monitor=nope").status_code == 404  # as /api/v1/alerts?monitor=nope answers
    assert client.get("/monitors/m/windows/99").status_code == 404


def test_user_text_stays_inert(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    names = (EVIL[0], EVIL[1], EVIL[2])
    add_reference(ref_ws, "evil", reference_table(names=names))
    from assay.data import add

    (ref_ws.root / "data-evil" / "note.txt").write_text("x")
    add(ref_ws, [str(ref_ws.root / "data-evil")], name="evil", message=EVIL[0])
    create_monitor(ref_ws, "evil", "evil@v1", window="500rows", rules=["drift", f"column:{EVIL[0]}"])
    ref_ws.ledger.execute(
        "INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, 'check', ?, '2026-01-01T00:00:00', 'fail', ?)",
        (uuid.uuid4().hex, EVIL[1], json.dumps({"gates": [{"name": EVIL[2], "metric": EVIL[0], "slice": EVIL[1], "ci_low": 0.1, "ci_high": 0.2,
                                                           "threshold": 0.15, "status": "fail"}]})),
    )  # fmt: skip
    rows = make_rows(1000, seed=1, shift=10, names=names)
    h = {**bearer(tokens["ingest"]), "content-type": "application/vnd.apache.arrow.stream"}
    from assay.monitor._schema import to_ipc

    assert client.post("/api/v1/monitors/evil/events", content=to_ipc(pa.Table.from_pylist(rows)), headers=h).status_code == 201
    deadline = time.monotonic() + 20
    while not client.get("/api/v1/alerts", headers=bearer(tokens["read"])).json()["alerts"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _login(client, token=tokens["read"])
    check_id = ref_ws.ledger.query("SELECT id FROM records WHERE kind = 'check'")[0][0]
    pages = ["/", "/datasets", "/datasets/evil", "/lineage", "/checks", f"/checks/{check_id}", "/monitors", "/monitors/evil",
             "/monitors/evil/windows/0", "/monitors/evil/windows/1", "/alerts"]  # fmt: skip
    for page in pages:
        html = client.get(page).text
        for evil in EVIL:
            assert evil not in html, (page, evil)
        # the only <script> elements are ours: the chart library, the chart code and JSON data blocks
        for tag in html.split("<script")[1:]:
            head = tag.split(">", 1)[0]
            assert head in (' src="/static/echarts.min.js"', ' src="/static/charts.js"') or head.startswith(' type="application/json"'), (page, head)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/monitors/evil").text


@pytest.mark.parametrize("page", ["/login?next=javascript:alert(1)", "/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"])
def test_login_page_escapes_next(client: Any, page: str) -> None:
    html = client.get(page).text
    assert "<script>alert(1)</script>" not in html and "javascript:alert" not in html


def test_a_check_pulled_from_a_remote_says_so_on_its_page(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    ids = [uuid.uuid4().hex for _ in range(2)]
    for rid, body in zip(ids, ({"gates": []}, {"gates": [], "imported": {"remote": EVIL[0], "refs": {}}}), strict=True):
        ref_ws.ledger.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) "
                              "VALUES (?, 'check', 'gate', '2026-01-01T00:00:00', 'pass', ?)", (rid, json.dumps(body)))
    _login(client, token=tokens["read"])
    here, pulled = (client.get(f"/checks/{rid}").text for rid in ids)
    assert "pulled from remote" not in here
    assert "pulled from remote &lt;script&gt;alert(1)&lt;/script&gt;: run in another workspace" in pulled


def test_signing_out_revokes_the_session_not_only_the_cookie(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    # A trial kept a copy of the cookie before signing out: it still opened every page (it was only deleted in the browser).
    _login(client, token=tokens["read"])
    copy = client.cookies.get("assay_session")
    assert client.get("/monitors", follow_redirects=False).status_code == 200
    assert client.get("/api/v1/monitors").status_code == 200  # a session reads the API from the browser
    client.post("/logout")
    client.cookies.set("assay_session", copy)
    assert client.get("/monitors", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/monitors").status_code == 401
    # kept across a restart of the service (what a new one on the same workspace reads)
    from assay.server._auth import SessionSigner

    assert SessionSigner(ref_ws).verify(copy) is None
    client.cookies.clear()
    _login(client, token=tokens["read"])  # a new sign-in is a new session
    assert client.get("/monitors", follow_redirects=False).status_code == 200
    assert SessionSigner(ref_ws).verify(client.cookies.get("assay_session")) is not None


def test_a_session_reads_the_api_only_while_its_token_stands(client: Any, ref_ws: Any) -> None:
    from assay.monitor import revoke_token

    made = create_token(ref_ws, ["read"])
    _login(client, token=made["token"])
    assert client.get("/api/v1/monitors").status_code == 200
    revoke_token(ref_ws, made["id"])
    assert client.get("/api/v1/monitors").status_code == 401  # as the pages: it no longer opens them


def test_the_monitor_page_says_which_alerts_its_webhooks_get(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    create_monitor(ref_ws, "quiet", "ref@v1", window="500rows", webhooks=["https://hooks.example.com/secret-path"], notify="change")
    create_monitor(ref_ws, "loud", "ref@v1", window="500rows", webhooks=["https://hooks.example.com/secret-path"])
    _login(client, token=tokens["read"])
    quiet, loud = client.get("/monitors/quiet").text, client.get("/monitors/loud").text
    assert "1 webhook gets the first alert of each streak" in quiet and "1 webhook gets every alert" in loud
    assert "secret-path" not in quiet + loud  # a webhook's URL may hold its credential: never shown


def test_a_monitors_alerts_page_says_when_it_shows_only_the_latest(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    monitor = create_monitor(ref_ws, "many", "ref@v1", window="500rows")
    rows = [(uuid.uuid4().hex, monitor.id, i, "drift", f"drift in window {i}", f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}", "{}") for i in range(501)]
    with ref_ws.ledger.transaction() as tx:
        tx.executemany("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    _login(client, token=tokens["read"])
    assert "all of them" not in client.get("/monitors/many").text  # 501 alerts: the link leads to the latest 500
    page = client.get("/alerts?monitor=many").text
    assert page.count('class="alert-window"') == 500 and "The latest 500" in page


def test_the_monitor_page_lists_the_ends_of_streaks(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    monitor = create_monitor(ref_ws, "ended", "ref@v1", window="500rows", webhooks=["https://hooks.example.com/h"])
    body = json.dumps({"kind": "resolved", "streak_start": 2, "last_window": 4})
    ref_ws.ledger.execute("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (uuid.uuid4().hex, monitor.id, 5, "drift", "drift passes in window 5", "2026-01-01T00:00:00", body, "resolved"))  # fmt: skip
    _login(client, token=tokens["read"])
    page = client.get("/monitors/ended").text
    assert "<h2>Resolved</h2>" in page and "windows 2 to 4" in page and "window 5</a>" in page
    assert "1 webhook gets every alert and the end of each streak" in page
    assert "No alerts." in page  # an end is not an alert


def test_the_monitor_page_says_when_a_streak_began(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    monitor = create_monitor(ref_ws, "timed", "ref@v1", window="60s")
    began = (datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
             + datetime.timedelta(microseconds=monitor.created_us + 60_000_000)).strftime("%Y-%m-%d %H:%M:%S")
    rows = [(uuid.uuid4().hex, monitor.id, 3, "drift", "drift in window 3", "2026-01-01T00:00:00", json.dumps({"streak_start": 1}), "alert"),
            (uuid.uuid4().hex, monitor.id, 4, "drift", "drift passes in window 4", "2026-01-01T00:01:00",
             json.dumps({"kind": "resolved", "streak_start": 1, "last_window": 3}), "resolved")]  # fmt: skip
    with ref_ws.ledger.transaction() as tx:
        tx.executemany("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    _login(client, token=tokens["read"])
    page = client.get("/monitors/timed").text
    assert f"(breaching since window 1, which began {began} UTC)" in page  # a time window's start
    assert f"windows 1 to 3 <span class=\"muted\">(began {began} UTC)</span>" in page


def test_a_window_page_names_the_streaks_it_ended(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    # a resolved post's url leads to the window that passed: its page says which streak ended there
    _fill(client, ref_ws, tokens, shifts=(0, 10, 0), rules=("drift",))
    _login(client, token=tokens["read"])
    page = client.get("/monitors/m/windows/2").text
    assert "Streaks this window ended" in page and "drift passes in window 2, after breaching in window 1" in page
    assert "Streaks this window ended" not in client.get("/monitors/m/windows/1").text


def test_an_empty_window_is_not_called_free_of_drift(client: Any, ref_ws: Any, tokens: dict[str, str], cli: Any) -> None:
    # a traffic stop (windows 1 and 2 of 1m hold no event) read "no drift" in green, and "ordinals -1–-1", where nothing was judged
    from tests.monitor.monitor_helpers import traffic_gap

    traffic_gap(ref_ws)
    _login(client, token=tokens["read"])
    window = client.get("/monitors/gap/windows/1").text
    assert "no events" in window and "drift not judged" in window and "no drift" not in window and "ordinals -1" not in window
    assert "no drift" in client.get("/monitors/gap/windows/0").text
    rows = [r for r in client.get("/monitors/gap").text.split("<tr>") if r.startswith("<td><a href=\"/monitors/gap/windows/")]
    assert [("not judged" in r, ">ok<" in r) for r in rows] == [(False, True), (True, False), (True, False), (False, True)]  # newest first
    with ref_ws.ledger.transaction() as tx:  # the last window closed is empty: the traffic stopped
        tx.execute("DELETE FROM monitor_windows WHERE monitor = (SELECT id FROM monitors WHERE name = 'gap') AND window_idx = 3")
    assert "no events: drift not judged" in client.get("/").text
    lines = cli("monitor", "show", "gap").stdout.splitlines()
    assert "  window 1: 0 rows, drift not judged" in lines and "  window 0: 400 rows, no drift" in lines


def test_the_overview_says_which_rules_breach_not_only_the_drift_verdict(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    # a window breaching rows<100 (or an accuracy rule) with drift-free events read "no drift" in green, and nothing else
    from assay.monitor import breaching_rules, get_monitor
    from tests.monitor.monitor_helpers import traffic_gap

    traffic_gap(ref_ws)  # rows<100 breached in windows 1 and 2, passed in 3
    _login(client, token=tokens["read"])
    monitor = get_monitor(ref_ws, "gap")
    assert breaching_rules(ref_ws, monitor) == []
    row = next(r for r in client.get("/").text.split("<tr>") if "/monitors/gap" in r)
    assert "no rule breaching" in row and "breaching since" not in row
    with ref_ws.ledger.transaction() as tx:  # as if window 3 had not come yet: the streak is open
        tx.execute("DELETE FROM monitor_alerts WHERE monitor = ? AND kind = 'resolved'", (monitor.id,))
    assert breaching_rules(ref_ws, monitor) == [{"rule": "rows<100", "window": 2, "streak_start": 1}]
    row = next(r for r in client.get("/").text.split("<tr>") if "/monitors/gap" in r)
    assert '<span class="bad">rows&lt;100 breaching since window 1</span>' in row and "no rule breaching" not in row


def test_counts_read_as_words_and_an_empty_lineage_says_what_fills_it(client: Any, ref_ws: Any, tokens: dict[str, str]) -> None:
    # "1 dataset(s) · 0 check result(s) · 0 monitor(s)" counted models as datasets; an empty lineage was a blank chart and table
    _login(client, token=tokens["read"])
    page = client.get("/").text
    assert "1 dataset · 0 models · 0 check results · 0 monitors" in page
    lineage = client.get("/lineage").text
    assert "No lineage yet" in lineage and "lineage-chart" not in lineage
    create_monitor(ref_ws, "m", "ref@v1", window="500rows", webhooks=["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"])
    monitor = client.get("/monitors/m").text
    assert "0 events · 0 windows shown" in monitor and "2 webhooks get every alert" in monitor
    assert "1 dataset · 0 models · 0 check results · 1 monitor" in client.get("/").text
    assert "1 edge: datasets" in client.get("/lineage").text
