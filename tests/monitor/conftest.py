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
