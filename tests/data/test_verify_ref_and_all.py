"""`data verify REF --all` checked every object and never read REF: a mistyped one passed."""

from __future__ import annotations

import pytest

from assay.data import add, verify
from assay.errors import UsageError
from assay.workspace import Workspace


def test_verify_refuses_a_ref_with_all(ws: Workspace, cli) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a").write_text("a")
    add(ws, ["d"], name="ds")
    with pytest.raises(UsageError, match="not both"):
        verify(ws, "ds@v1", all_objects=True)
    proc = cli("data", "verify", "nosuch@v9", "--all", check=2, cwd=ws.root)
    assert "not both" in proc.stderr
    assert verify(ws, "ds@v1").ok and verify(ws, all_objects=True).ok
    cli("data", "verify", "--all", cwd=ws.root)
    cli("data", "verify", "ds", cwd=ws.root)
