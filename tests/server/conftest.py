"""Fixtures for the service: a reference dataset, tokens, the app in-process, and a live `assay serve`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers module next to this file, in any import mode

from collections.abc import Iterator
from typing import Any

import pytest
from tests.server.serve_helpers import LiveServer, add_reference, free_port

from assay.workspace import Workspace

pytest.importorskip("fastapi")


@pytest.fixture
def ref_ws(ws: Workspace) -> Workspace:
    add_reference(ws)
    return ws


@pytest.fixture
def tokens(ref_ws: Workspace) -> dict[str, str]:
    from assay.monitor import create_token

    return {scope: create_token(ref_ws, [scope])["token"] for scope in ("ingest", "read", "admin")}


@pytest.fixture
def client(ref_ws: Workspace) -> Iterator[Any]:
    """The app in-process (starlette's TestClient runs the lifespan, so the service starts and stops)."""
    from fastapi.testclient import TestClient

    from assay.server import ServerSettings, create_app

    app = create_app(ref_ws, ServerSettings(max_body=1 << 20, webhook_base_delay=0.05))
    with TestClient(app, base_url="http://127.0.0.1:8765") as test_client:
        yield test_client


@pytest.fixture
def live(ref_ws: Workspace) -> Iterator[LiveServer]:
    server = LiveServer(ref_ws.root, free_port())
    yield server
    server.stop()
