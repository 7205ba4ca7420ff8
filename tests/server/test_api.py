"""The JSON API in-process: authentication, scopes, validation, idempotency, windows and alerts."""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa
import pytest
from tests.server.serve_helpers import bearer, make_rows

from assay.monitor._schema import to_ipc


def _create(client: Any, tokens: dict[str, str], **extra: Any) -> Any:
    doc = {"name": "m", "reference": "ref@v1", "window": "1000rows", "rules": ["drift"], **extra}
    return client.post("/api/v1/monitors", json=doc, headers=bearer(tokens["admin"]))


def _wait_windows(client: Any, token: str, count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        windows = client.get("/api/v1/monitors/m/windows", headers=bearer(token)).json()["windows"]
        if len(windows) >= count:
            return windows
        assert time.monotonic() < deadline, f"only {len(windows)} windows"
        time.sleep(0.05)


def test_every_call_needs_a_token_with_the_right_scope(client: Any, tokens: dict[str, str]) -> None:
    assert client.get("/api/v1/health").json() == {"ok": True}
    assert client.get("/api/v1/monitors").status_code == 401
    assert client.get("/api/v1/monitors", headers=bearer("assay_x_y")).status_code == 401
    assert client.get("/api/v1/monitors", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
    assert _create(client, {"admin": tokens["read"]}).status_code == 403
    assert _create(client, {"admin": tokens["ingest"]}).status_code == 403
    assert _create(client, tokens).status_code == 201
    assert client.get("/api/v1/monitors", headers=bearer(tokens["ingest"])).status_code == 403
    assert client.get("/api/v1/monitors", headers=bearer(tokens["read"])).json()["monitors"][0]["name"] == "m"
    rows = {"rows": make_rows(2, seed=0)}
    assert client.post("/api/v1/monitors/m/events", json=rows).status_code == 401
    assert client.post("/api/v1/monitors/m/events", json=rows, headers=bearer(tokens["read"])).status_code == 403
    assert client.post("/api/v1/monitors/m/events", json=rows, headers=bearer(tokens["ingest"])).status_code == 201
    assert client.post("/api/v1/monitors/m/events", json=rows, headers=bearer(tokens["admin"])).status_code == 201
    made = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=bearer(tokens["admin"]))
    assert made.status_code == 201 and made.json()["token"].startswith("assay_")
    assert client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=bearer(tokens["read"])).status_code == 403


def test_monitor_creation_is_validated(client: Any, tokens: dict[str, str]) -> None:
    h = bearer(tokens["admin"])
    assert client.post("/api/v1/monitors", content=b"{", headers={**h, "content-type": "application/json"}).status_code == 400
    assert client.post("/api/v1/monitors", json={"name": "m"}, headers=h).status_code == 422
    assert client.post("/api/v1/monitors", json={"name": "m", "reference": "ref@v1", "bogus": 1}, headers=h).status_code == 422
    assert client.post("/api/v1/monitors", json={"name": "m", "reference": "ref@v1", "columns": "age"}, headers=h).status_code == 422
    assert client.post("/api/v1/monitors", json={"name": "m", "reference": "nope@v1"}, headers=h).status_code == 404
    assert client.post("/api/v1/monitors", json={"name": "m", "reference": "ref@v1", "window": "often"}, headers=h).status_code == 400
    assert _create(client, tokens).status_code == 201
    assert _create(client, tokens).status_code == 400  # exists already
    assert client.get("/api/v1/monitors/nope", headers=bearer(tokens["read"])).status_code == 404


def _count(client: Any, tokens: dict[str, str]) -> int:
    return client.get("/api/v1/monitors/m", headers=bearer(tokens["read"])).json()["events"]


def test_bad_batches_get_4xx_and_nothing_is_stored(client: Any, tokens: dict[str, str]) -> None:
    _create(client, tokens)
    h = {**bearer(tokens["ingest"]), "content-type": "application/json"}
    good = make_rows(5, seed=1)
    cases = [
        (b'{"rows": [', 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (json.dumps({"rows": good[:4] + [{**good[4], "age": "old"}]}).encode(), 422, "column 'age', row 4"),
        (json.dumps({"rows": good[:4] + [{"age": 1.0, "income": 2.0}]}).encode(), 422, "row 4 has no column 'country'"),
        (json.dumps({"rows": good, "extra": 1}).encode(), 422, "unknown field"),
        (json.dumps({"batch_id": "b"}).encode(), 422, 'no "rows"'),
        (json.dumps({"rows": good, "batch_id": "x" * 500}).encode(), 422, "batch id"),
    ]
    for body, status, text in cases:
        response = client.post("/api/v1/monitors/m/events", content=body, headers=h)
        assert response.status_code == status, (body[:60], response.text)
        assert text in response.json()["message"]
    big = json.dumps({"rows": make_rows(20000, seed=2)}).encode()  # > the 1 MiB limit of this app
    response = client.post("/api/v1/monitors/m/events", content=big, headers=h)
    assert response.status_code == 413 and "limit" in response.json()["message"]
    response = client.post("/api/v1/monitors/m/events", content=b"a,b\n1,2", headers={**h, "content-type": "text/csv"})
    assert response.status_code == 415
    arrow_h = {**bearer(tokens["ingest"]), "content-type": "application/vnd.apache.arrow.stream"}
    assert client.post("/api/v1/monitors/m/events", content=b"not arrow", headers=arrow_h).status_code == 400
    wrong = to_ipc(pa.table({"age": ["x"], "income": [1.0], "country": ["DE"]}))
    assert client.post("/api/v1/monitors/m/events", content=wrong, headers=arrow_h).status_code == 422
    assert _count(client, tokens) == 0


def test_batches_are_idempotent_by_batch_id(client: Any, tokens: dict[str, str]) -> None:
    _create(client, tokens)
    h = bearer(tokens["ingest"])
    rows = make_rows(10, seed=3)
    first = client.post("/api/v1/monitors/m/events", json={"rows": rows, "batch_id": "k1"}, headers=h)
    again = client.post("/api/v1/monitors/m/events", json={"rows": rows, "batch_id": "k1"}, headers=h)
    header = client.post("/api/v1/monitors/m/events", json={"rows": rows}, headers={**h, "Idempotency-Key": "k2"})
    header_again = client.post("/api/v1/monitors/m/events", json={"rows": rows}, headers={**h, "Idempotency-Key": "k2"})
    assert (first.status_code, again.status_code, header.status_code, header_again.status_code) == (201, 200, 201, 200)
    assert again.json() == {**first.json(), "duplicate": True}
    assert _count(client, tokens) == 20


def test_arrow_and_json_batches_feed_windows_and_alerts(client: Any, tokens: dict[str, str]) -> None:
    _create(client, tokens)
    h = bearer(tokens["ingest"])
    for i in range(2):
        assert client.post("/api/v1/monitors/m/events", json={"rows": make_rows(500, seed=i), "batch_id": f"j{i}"}, headers=h).status_code == 201
    for i in range(2):
        table = pa.Table.from_pylist(make_rows(500, seed=10 + i, shift=10))
        response = client.post("/api/v1/monitors/m/events", content=to_ipc(table),
                               headers={**h, "content-type": "application/vnd.apache.arrow.stream", "Idempotency-Key": f"a{i}"})  # fmt: skip
        assert response.status_code == 201, response.text
    windows = _wait_windows(client, tokens["read"], 2)
    assert [w["drift"] for w in windows] == [False, True]
    detail = client.get("/api/v1/monitors/m/windows/1", headers=bearer(tokens["read"])).json()
    assert "age" in detail["drifted"] and detail["report"]["columns"]
    alerts = client.get("/api/v1/alerts?monitor=m", headers=bearer(tokens["read"])).json()["alerts"]
    assert [(a["window"], a["rule"]) for a in alerts] == [(1, "drift")]
    assert client.get(f"/api/v1/alerts/{alerts[0]['id']}/deliveries", headers=bearer(tokens["read"])).json() == {"deliveries": []}
    unknown = client.get("/api/v1/alerts/0123456789abcdef/deliveries", headers=bearer(tokens["read"]))  # it answered [] as if not yet delivered
    assert unknown.status_code == 404 and unknown.json()["message"] == "no alert '0123456789abcdef'"
    assert client.get("/api/v1/monitors/m/windows/7", headers=bearer(tokens["read"])).status_code == 404


def test_labels_are_joined_by_event_id_and_idempotent(client: Any, tokens: dict[str, str], ref_ws: Any) -> None:
    _create(client, tokens)
    h = bearer(tokens["ingest"])
    rows = [{**r, "event_id": f"e{i}"} for i, r in enumerate(make_rows(3, seed=4))]
    assert client.post("/api/v1/monitors/m/events", json={"rows": rows}, headers=h).status_code == 201
    labels = {"labels": [{"event_id": "e0", "label": 1}, {"event_id": "e1", "label": "churned"}]}
    assert client.post("/api/v1/monitors/m/labels", json=labels, headers=h).json() == {"stored": 2}
    assert client.post("/api/v1/monitors/m/labels", json=labels, headers=h).json() == {"stored": 2}
    assert ref_ws.ledger.query("SELECT event_id, label FROM monitor_labels ORDER BY event_id") == [("e0", "1"), ("e1", '"churned"')]
    assert client.post("/api/v1/monitors/m/labels", json={"labels": [{"event_id": 3, "label": 1}]}, headers=h).status_code == 422
    assert client.post("/api/v1/monitors/m/labels", json={"labels": []}, headers=h).status_code == 422
    assert client.post("/api/v1/monitors/m/labels", json=labels, headers=bearer(tokens["read"])).status_code == 403


def test_revoked_tokens_stop_working(client: Any, tokens: dict[str, str], ref_ws: Any) -> None:
    from assay.monitor import create_token, revoke_token

    made = create_token(ref_ws, ["read"])
    assert client.get("/api/v1/monitors", headers=bearer(made["token"])).status_code == 200
    revoke_token(ref_ws, made["id"])
    client.app.state.tokens._cache.clear()  # the cache holds verdicts for a few seconds
    assert client.get("/api/v1/monitors", headers=bearer(made["token"])).status_code == 401


def test_a_dashboard_session_can_read_but_never_write_the_api(client: Any, tokens: dict[str, str]) -> None:
    assert client.post("/login", data={"token": tokens["admin"], "next": "/"}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/monitors").status_code == 200  # the session cookie reads
    response = client.post("/api/v1/monitors", json={"name": "m", "reference": "ref@v1"})
    assert response.status_code == 401  # but writing needs the bearer token itself
    assert client.post("/login", content=b"x" * (2 << 20), headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413


def test_labels_join_a_closed_window_by_event_id(client: Any, tokens: dict[str, str]) -> None:
    assert _create(client, tokens, drift={"prediction": "country"}).status_code == 201
    rows = [{**r, "event_id": f"e{i}"} for i, r in enumerate(make_rows(1000, seed=6))]
    assert client.post("/api/v1/monitors/m/events", json={"rows": rows}, headers=bearer(tokens["ingest"])).status_code == 201
    _wait_windows(client, tokens["read"], 1)
    # ground truth for 10 events arrives later: 6 agree with the prediction, 4 do not
    labels = [{"event_id": f"e{i}", "label": rows[i]["country"] if i < 6 else "nowhere"} for i in range(10)]
    labels.append({"event_id": "not-an-event", "label": "DE"})
    assert client.post("/api/v1/monitors/m/labels", json={"labels": labels}, headers=bearer(tokens["ingest"])).status_code == 200
    joined = client.get("/api/v1/monitors/m/windows/0/labels", headers=bearer(tokens["read"])).json()
    assert joined["events"] == 1000 and joined["with_event_id"] == 1000 and joined["labelled"] == 10
    assert joined["labels"]["nowhere"] == 4 and joined["agreement"] == pytest.approx(0.6)
    assert client.post("/login", data={"token": tokens["read"], "next": "/"}, follow_redirects=False).status_code == 303
    assert "agrees with the label for 60.0%" in client.get("/monitors/m/windows/0").text


def test_performance_per_window_over_the_api_pages_and_cli(client: Any, tokens: dict[str, str], cli: Any) -> None:
    created = _create(client, tokens, drift={"prediction": "country"}, rules=["drift", "accuracy<0.8"], min_labels=20)
    assert created.status_code == 201 and created.json()["task"] == "classification" and created.json()["min_labels"] == 20
    assert _create(client, tokens, name="x", rules=["accuracy<0.8"]).status_code == 400  # no prediction column to judge
    assert _create(client, tokens, name="y", notify="change").json()["notify"] == "change"
    assert _create(client, tokens, name="z", notify="often").json()["error"] == "UsageError"
    assert _create(client, tokens, name="z", notify=1).status_code == 422
    empty = _create(client, tokens, name="z", notify="")  # not taken for the default
    assert empty.status_code == 400 and empty.json()["error"] == "UsageError" and "''" in empty.json()["message"], empty.json()
    rows = [{**r, "event_id": f"e{i}"} for i, r in enumerate(make_rows(2000, seed=6))]
    assert client.post("/api/v1/monitors/m/events", json={"rows": rows}, headers=bearer(tokens["ingest"])).status_code == 201
    _wait_windows(client, tokens["read"], 2)
    # window 0: 40 labels, 30 right (0.75 < 0.8: alert); window 1: 40 labels, all right
    labels = [{"event_id": f"e{i}", "label": rows[i]["country"] if i % 4 else "nowhere"} for i in range(40)]
    labels += [{"event_id": f"e{i}", "label": rows[i]["country"]} for i in range(1000, 1040)]
    assert client.post("/api/v1/monitors/m/labels", json={"labels": labels}, headers=bearer(tokens["ingest"])).json() == {"stored": 80}
    deadline = time.monotonic() + 20
    while not all(w["performance"] for w in _wait_windows(client, tokens["read"], 2)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first, second = (w["performance"] for w in _wait_windows(client, tokens["read"], 2))
    assert (first["n"], first["correct"], first["accuracy"]) == (40, 30, 0.75)
    assert (second["n"], second["accuracy"]) == (40, 1.0)
    deadline = time.monotonic() + 20
    while not client.get("/api/v1/alerts", headers=bearer(tokens["read"])).json()["alerts"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    alerts = client.get("/api/v1/alerts", headers=bearer(tokens["read"])).json()["alerts"]
    assert [(a["window"], a["rule"]) for a in alerts] == [(0, "accuracy<0.8")]
    assert client.get("/api/v1/monitors/m/windows/0", headers=bearer(tokens["read"])).json()["performance"]["accuracy"] == 0.75
    shown = cli.json("monitor", "show", "m")
    assert [w["performance"]["accuracy"] for w in shown["windows"]] == [0.75, 1.0]
    assert "accuracy 0.750 [" in cli("monitor", "show", "m").stdout
    assert client.post("/login", data={"token": tokens["read"], "next": "/"}, follow_redirects=False).status_code == 303
    page = client.get("/monitors/m").text
    assert 'id="perf-chart"' in page and "Model performance per window" in page
    option = json.loads(page.split('<script type="application/json" id="perf-chart">')[1].split("</script>")[0])
    assert [p["value"] for p in option["series"][2]["data"]] == [0.75, 1.0]
    assert option["series"][2]["markLine"]["data"] == [{"yAxis": 0.8}]
    assert "Accuracy <strong>0.75</strong>" in client.get("/monitors/m/windows/0").text


def test_delete_a_monitor_over_the_api(client: Any, tokens: dict[str, str], ref_ws: Any) -> None:
    assert _create(client, tokens, drift={"prediction": "country"}).status_code == 201
    rows = [{**r, "event_id": f"e{i}"} for i, r in enumerate(make_rows(1000, seed=6))]
    h = bearer(tokens["ingest"])
    assert client.post("/api/v1/monitors/m/events", json={"rows": rows}, headers=h).status_code == 201
    _wait_windows(client, tokens["read"], 1)
    assert client.post("/api/v1/monitors/m/labels", json={"labels": [{"event_id": "e1", "label": "DE"}]}, headers=h).status_code == 200
    assert client.delete("/api/v1/monitors/m", headers=bearer(tokens["read"])).status_code == 403
    assert client.delete("/api/v1/monitors/m", headers=h).status_code == 403
    done = client.delete("/api/v1/monitors/m", headers=bearer(tokens["admin"]))
    assert done.status_code == 200 and done.json()["deleted"] and done.json()["events"] == 1000 and done.json()["labels"] == 1
    refused = client.post("/api/v1/monitors/m/events", json={"rows": rows[:5]}, headers=h)
    assert refused.status_code == 404 and "no monitor named 'm'" in refused.json()["message"]
    assert client.post("/api/v1/monitors/m/labels", json={"labels": [{"event_id": "e1", "label": "DE"}]}, headers=h).status_code == 404
    assert client.get("/api/v1/monitors/m", headers=bearer(tokens["read"])).status_code == 404
    assert client.delete("/api/v1/monitors/m", headers=bearer(tokens["admin"])).status_code == 404
    assert client.post("/api/v1/monitors/never/events", json={"rows": rows[:5]}, headers=h).status_code == 404  # never existed: 404 too
    assert ref_ws.ledger.query("SELECT COUNT(*) FROM monitor_batches")[0][0] == 0
    # created again under the same name, it takes events at once
    assert _create(client, tokens).status_code == 201
    assert client.post("/api/v1/monitors/m/events", json={"rows": rows[:5]}, headers=h).json()["first_event"] == 0


def test_a_bad_path_or_query_parameter_answers_in_the_api_s_error_shape(client: Any, tokens: dict[str, str]) -> None:
    assert _create(client, tokens).status_code == 201
    bad = client.get("/api/v1/monitors/m/windows/abc", headers=bearer(tokens["read"]))
    assert bad.status_code == 422 and bad.json() == {"error": "InputError", "hint": None,
        "message": "path parameter 'index': input should be a valid integer, unable to parse string as an integer, got 'abc'"}  # fmt: skip
    assert client.get("/api/v1/alerts?limit=x", headers=bearer(tokens["read"])).json()["message"].startswith("query parameter 'limit': ")
    page = client.get("/monitors/m/windows/abc")
    assert page.status_code == 422 and "text/html" in page.headers["content-type"] and "path parameter &#39;index&#39;" in page.text


def test_a_window_index_past_64_bits_is_not_found_not_a_crash(client: Any, tokens: dict[str, str]) -> None:
    # the ledger overflowed on windows/99999999999999999999: a 500 "Internal Server Error" in plain text, and a traceback in the log
    assert _create(client, tokens).status_code == 201
    huge = "99999999999999999999"
    for path in (f"/api/v1/monitors/m/windows/{huge}", f"/api/v1/monitors/m/windows/-{huge}", f"/api/v1/monitors/m/windows/{huge}/labels"):
        response = client.get(path, headers=bearer(tokens["read"]))
        assert response.status_code == 404 and response.json()["message"].startswith("monitor 'm' has no closed window"), (path, response.text)
    client.post("/login", data={"token": tokens["read"]})
    page = client.get(f"/monitors/m/windows/{huge}")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "has no closed window" in page.text


def test_an_arrow_batch_with_a_column_twice_is_refused_not_a_crash(client: Any, tokens: dict[str, str]) -> None:
    assert _create(client, tokens).status_code == 201
    twice = pa.Table.from_arrays([pa.array([40.0]), pa.array([41.0]), pa.array([1.0]), pa.array(["DE"])], names=["age", "age", "income", "country"])
    response = client.post("/api/v1/monitors/m/events", content=to_ipc(twice),
                           headers={**bearer(tokens["ingest"]), "content-type": "application/vnd.apache.arrow.stream"})  # fmt: skip
    assert response.status_code == 422 and response.json()["message"] == "the batch has column 'age' more than once", response.text
    assert _count(client, tokens) == 0


def test_no_such_address_or_method_answers_in_the_api_s_error_shape(client: Any, tokens: dict[str, str]) -> None:
    # they were {"detail": "Not Found"}: no "message" for a client to show, and JSON on the dashboard's side too
    h = bearer(tokens["read"])
    for method, path, status, error in (("GET", "/api/v1/nope", 404, "NotFound"), ("PUT", "/api/v1/monitors", 405, "MethodNotAllowed")):
        response = client.request(method, path, headers=h)
        assert response.status_code == status and response.json() == {
            "error": error, "message": f"{method} is not allowed on {path}" if status == 405 else f"no such address: {path}",
            "hint": "/api/v1/openapi.json lists the API's addresses and their methods"}, response.text  # fmt: skip
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "no such address: /no/such/page" in page.text
    form = client.post("/login", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=zz"})
    assert form.status_code == 400 and "text/html" in form.headers["content-type"]


def test_a_limit_out_of_range_is_refused_not_clamped(client: Any, tokens: dict[str, str]) -> None:
    # ?limit=0 or -5 answered one window or alert, ?limit=10000 quietly 5000: the caller could not tell
    assert _create(client, tokens).status_code == 201
    h = bearer(tokens["read"])
    for path in ("/api/v1/monitors/m/windows", "/api/v1/alerts"):
        for limit, bound in (("0", "greater than or equal to 1"), ("-5", "greater than or equal to 1"), ("10000", "less than or equal to 5000")):
            response = client.get(f"{path}?limit={limit}", headers=h)
            assert response.status_code == 422 and response.json()["message"] == f"query parameter 'limit': input should be {bound}, got '{limit}'", response.text
        assert client.get(f"{path}?limit=5000", headers=h).status_code == 200


def test_windows_page_back_through_a_long_history(client: Any, tokens: dict[str, str], ref_ws: Any) -> None:
    # only the newest 5000 windows could be fetched: there was no way to page further back
    from tests.monitor.monitor_helpers import traffic_gap

    traffic_gap(ref_ws)  # windows 0 to 3
    h = bearer(tokens["read"])
    got = client.get("/api/v1/monitors/gap/windows?limit=2", headers=h).json()
    assert [w["window"] for w in got["windows"]] == [2, 3] and got["next_before"] == 2
    got = client.get("/api/v1/monitors/gap/windows?limit=2&before=2", headers=h).json()
    assert [w["window"] for w in got["windows"]] == [0, 1] and got["next_before"] is None
    got = client.get("/api/v1/monitors/gap/windows?before=1", headers=h).json()
    assert [w["window"] for w in got["windows"]] == [0] and got["next_before"] is None
    assert client.get("/api/v1/monitors/gap/windows?before=99999999999999999999999", headers=h).json()["next_before"] is None
    assert client.get("/api/v1/monitors/gap/windows?before=0", headers=h).json() == {"monitor": "gap", "windows": [], "next_before": None}


def test_json_nested_too_deeply_is_a_400_not_a_crash(client: Any, tokens: dict[str, str]) -> None:
    # the stdlib parser's RecursionError escaped as a plain-text 500 from POST /monitors, /labels and /tokens
    assert _create(client, tokens).status_code == 201
    deep = b"[" * 100_000 + b"]" * 100_000
    for path, token, body in (("/api/v1/monitors", "admin", b'{"name": "d", "reference": "ref@v1", "drift": ' + deep + b"}"),
                              ("/api/v1/monitors/m/labels", "ingest", b'{"labels": ' + deep + b"}"),
                              ("/api/v1/tokens", "admin", b'{"scopes": ' + deep + b"}")):  # fmt: skip
        response = client.post(path, content=body, headers={**bearer(tokens[token]), "content-type": "application/json"})
        assert response.status_code == 400 and response.json()["message"] == "the body is not valid JSON: it is nested too deeply", (path, response.text)


def test_a_token_s_name_must_be_text_and_unknown_fields_are_refused(client: Any, tokens: dict[str, str]) -> None:
    # {"name": null} was stored as "None", {"name": []} as "[]", and a misspelt field dropped without a word
    h = bearer(tokens["admin"])
    for doc, message in (({"scopes": ["read"], "name": None}, '"name" must be a string of at most 200 characters'),
                         ({"scopes": ["read"], "name": ["x"]}, '"name" must be a string of at most 200 characters'),
                         ({"scopes": ["read"], "name": "x" * 201}, '"name" must be a string of at most 200 characters'),
                         ({"scopes": ["read"], "nmae": "ci"}, "unknown field nmae")):  # fmt: skip
        response = client.post("/api/v1/tokens", json=doc, headers=h)
        assert response.status_code == 422 and response.json()["message"] == message, (doc, response.text)
    made = client.post("/api/v1/tokens", json={"scopes": ["read"], "name": "dashboard"}, headers=h)
    assert made.status_code == 201 and made.json()["name"] == "dashboard"


def test_a_batch_id_used_for_another_batch_is_refused_not_taken_for_a_retry(client: Any, tokens: dict[str, str]) -> None:
    # the second batch was answered 200 "duplicate" with the first one's count, and its rows were dropped without a word
    _create(client, tokens)
    h = {**bearer(tokens["ingest"]), "Idempotency-Key": "k1"}
    assert client.post("/api/v1/monitors/m/events", json={"rows": make_rows(3, seed=1)}, headers=h).status_code == 201
    again = client.post("/api/v1/monitors/m/events", json={"rows": make_rows(3, seed=1)}, headers=h)
    assert again.status_code == 200 and again.json()["duplicate"] is True  # a retry
    other = client.post("/api/v1/monitors/m/events", json={"rows": make_rows(5, seed=2)}, headers=h)
    assert other.status_code == 422 and other.json()["message"] == "the batch id 'k1' was used for a batch of 3 rows; this one has 5", other.text
    assert _count(client, tokens) == 3


def test_an_idempotency_key_and_a_batch_id_that_differ_are_refused(client: Any, tokens: dict[str, str]) -> None:
    # the header won without a word: a retry sent with the body's id alone was stored twice
    _create(client, tokens)
    rows = make_rows(3, seed=1)
    response = client.post("/api/v1/monitors/m/events", json={"rows": rows, "batch_id": "b1"}, headers={**bearer(tokens["ingest"]), "Idempotency-Key": "k1"})
    assert response.status_code == 422 and response.json()["message"] == "the Idempotency-Key header 'k1' and the body's batch_id 'b1' differ", response.text
    same = client.post("/api/v1/monitors/m/events", json={"rows": rows, "batch_id": "b1"}, headers={**bearer(tokens["ingest"]), "Idempotency-Key": "b1"})
    assert same.status_code == 201 and same.json()["batch_id"] == "b1"
    assert _count(client, tokens) == 3
