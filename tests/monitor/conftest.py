"""Fixtures for the monitoring pillar: a workspace holding a reference dataset version."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers module next to this file, in any import mode

import pyarrow.parquet as pq
import pytest
from tests.monitor.monitor_helpers import reference_table

from assay.workspace import Workspace


@pytest.fixture
def ref_ws(ws: Workspace) -> Workspace:
    """The ``ws`` workspace with dataset ``ref@v1`` (age, income numeric; country categorical)."""
    from assay.data import add

    (ws.root / "ref").mkdir()
    pq.write_table(reference_table(), ws.root / "ref" / "part.parquet")
    add(ws, [str(ws.root / "ref")], name="ref")
    return ws
