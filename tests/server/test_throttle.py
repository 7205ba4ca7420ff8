"""Failed sign-ins are throttled per client address; legitimate clients are never slowed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.serve_helpers import LiveServer, bearer, make_rows

from assay.monitor import add_user, create_monitor, create_token
from assay.server._throttle import Throttle
from assay.workspace import Workspace


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_and_is_forgotten() -> None:
    clock = Clock()
    throttle = Throttle(free=3, base=2.0, cap=30.0, forget=600.0, clock=clock)
    assert [throttle.failed("a") for _ in range(3)] == [0, 0, 0]
    assert throttle.retry_after("a") == 0
    assert [throttle.failed("a") for _ in range(6)] == [2, 4, 8, 16, 30, 30]
    assert throttle.retry_after("a") == 30 and throttle.retry_after("b") == 0  # per address
    clock.now += 29.5
    assert throttle.retry_after("a") == 1
    clock.now += 0.5
    assert throttle.retry_after("a") == 0
    assert throttle.failed("a") == 30  # still counted: the next failure waits the longest again
    clock.now += 631
    assert throttle.failed("a") == 0 and throttle.retry_after("a") == 0  # quiet long enough: forgotten


def test_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = Throttle(free=1, max_clients=100, forget=10.0, clock=clock)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        clock.now += 0.001
    assert len(throttle._state) <= 100
    assert throttle.retry_after("10.0.3.231") == 0 and throttle.failed("10.0.3.231") == 1  # the latest address is still tracked


@pytest.fixture
def app(ref_ws: Workspace) -> Any:
    from assay.server import ServerSettings, create_app

    return create_app(ref_ws, ServerSettings(auth_free_failures=3, auth_base_delay=60.0))  # a lock-out outlasts any test


@pytest.fixture
def clients(app: Any) -> Iterator[tuple[Any, Any]]:
    """Two clients of one app, from two different addresses."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8765", client=("192.0.2.1", 40000)) as one:
        two = TestClient(app, base_url="http://127.0.0.1:8765", client=("192.0.2.2", 40000))
        yield one, two


def _login(client: Any, **form: str) -> Any:
    return client.post("/login", data={"next": "/", **form}, follow_redirects=False)


def test_dashboard_login_is_throttled_per_address(clients: tuple[Any, Any], ref_ws: Workspace) -> None:
    one, two = clients
    add_user(ref_ws, "alice", "correct horse")
    read = create_token(ref_ws, ["read"])["token"]
    ingest = create_token(ref_ws, ["ingest"])["token"]
    assert _login(one, token=read).status_code == 303  # this token is now known to be valid
    assert _login(one, token=ingest).status_code == 401  # a valid token without the read scope is no guess: not counted
    for _ in range(3):
        assert _login(one, username="alice", password="wrong").status_code == 401
    assert _login(one, username="alice", password="wrong").status_code == 401  # the 4th failure starts the lock-out
    locked = _login(one, username="alice", password="correct horse")  # not even checked now
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 60 and "Too many failed sign-ins" in locked.text
    assert _login(one, token="assay_abc_guess").status_code == 429
    assert _login(one, token=read).status_code == 303  # a token seen valid still signs in from the same address
    assert _login(two, username="alice", password="correct horse").status_code == 303  # other addresses are not affected


def test_failed_bearer_tokens_are_throttled_without_slowing_valid_ones(clients: tuple[Any, Any], ref_ws: Workspace) -> None:
    one, two = clients
    create_monitor(ref_ws, "m", "ref@v1", window="1000rows")
    ingest = create_token(ref_ws, ["ingest"])["token"]
    read = create_token(ref_ws, ["read"])["token"]
    rows = make_rows(10, seed=1)
    assert one.post("/api/v1/monitors/m/events", json={"rows": rows}, headers=bearer(ingest)).status_code == 201
    assert one.get("/api/v1/monitors", headers={}).status_code == 401  # no credentials at all: not a guess
    for i in range(4):
        assert one.get("/api/v1/monitors", headers=bearer(f"assay_bad{i}_guess")).status_code == 401
    refused = one.get("/api/v1/monitors", headers=bearer("assay_bad9_guess"))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60" and refused.json()["error"] == "TooManyRequests"
    # the client with a valid token at the same address goes on, every batch acknowledged
    for _ in range(20):
        assert one.post("/api/v1/monitors/m/events", json={"rows": rows}, headers=bearer(ingest)).status_code == 201
    # a valid token this server never saw is not checked from the locked address, but is from another
    assert one.get("/api/v1/monitors", headers=bearer(read)).status_code == 429
    assert two.get("/api/v1/monitors", headers=bearer(read)).status_code == 200
    assert two.get("/api/v1/monitors", headers=bearer("assay_bad1_guess")).status_code == 401


def test_live_server_throttles_a_guesser_while_a_producer_streams(ref_ws: Workspace, live: LiveServer) -> None:
    """Over loopback with uvicorn: the guesser is shut out, the producer's batches are all acknowledged."""
    create_monitor(ref_ws, "m", "ref@v1", window="100000rows")
    ingest = create_token(ref_ws, ["ingest"])["token"]
    live.start()
    statuses: list[int] = []
    retry_after: list[str] = []
    stop = threading.Event()

    def guess() -> None:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for i in range(40):
                response = http.get("/api/v1/monitors", headers=bearer(f"assay_guess{i}_x"))
                statuses.append(response.status_code)
                if response.status_code == 429:
                    retry_after.append(response.headers["Retry-After"])
                if stop.is_set():
                    return

    with httpx.Client(base_url=live.url, headers=bearer(ingest), timeout=30) as http:
        assert http.post("/api/v1/monitors/m/events", json={"rows": make_rows(10, seed=0)}).status_code == 201
        guesser = threading.Thread(target=guess)
        guesser.start()
        acked = 0
        for k in range(30):
            response = http.post("/api/v1/monitors/m/events", json={"rows": make_rows(100, seed=k)})
            assert response.status_code == 201, response.text
            acked += 1
        guesser.join(timeout=60)
        stop.set()
    assert acked == 30
    # 5 free failures, the 6th starts a lock-out of 1 s that doubles with each failure checked after it expires
    # (each expiry lets one more 401 through: at most 6 of them in a run shorter than 64 s)
    assert statuses[:6] == [401] * 6 and 429 in statuses and statuses.count(401) <= 12
    assert all(int(r) >= 1 for r in retry_after)
