"""Fixtures for the monitoring pillar: a workspace holding a reference dataset version."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers module next to this file, in any import mode

import socket
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from assay.workspace import Workspace
from tests.monitor.monitor_helpers import Receiver, reference_table


@pytest.fixture
def ref_ws(ws: Workspace) -> Workspace:
    """The ``ws`` workspace with dataset ``ref@v1`` (age, income numeric; country categorical)."""
    from assay.data import add

    (ws.root / "ref").mkdir()
    pq.write_table(reference_table(), ws.root / "ref" / "part.parquet")
    add(ws, [str(ws.root / "ref")], name="ref")
    return ws


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = Receiver(port)
    yield r
    r.down()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ref_ws_any(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """Like ``ref_ws``, once on a SQLite ledger and once on a fresh PostgreSQL database (where one is running)."""
    from assay.data import add

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    if request.param == "sqlite":
        ws = Workspace.init(tmp_path)
    else:
        ws = Workspace.init(tmp_path, ledger=request.getfixturevalue("pg_database"))
    (tmp_path / "ref").mkdir()
    pq.write_table(reference_table(), tmp_path / "ref" / "part.parquet")
    add(ws, [str(tmp_path / "ref")], name="ref")
    yield ws
    ws.close()
