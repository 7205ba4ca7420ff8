"""A UTF-16 CSV reads as ragged rows of NUL-split fields: the diff's hint names the encoding,
not the delimiter and quoting (which sent the user after the wrong cause)."""

from __future__ import annotations

from assay.data import add, diff
from assay.workspace import Workspace


def test_a_utf16_csv_that_cannot_be_compared_is_said_to_be_utf16(ws: Workspace) -> None:
    (ws.root / "t").mkdir()
    path = ws.root / "t" / "a.csv"
    path.write_text("id,v\n1,a\n2,b\n", encoding="utf-16")
    add(ws, ["t"], name="t")
    path.write_text("id,v\n1,a\n2,c\n", encoding="utf-16")
    add(ws, ["t"], name="t")
    entry = diff(ws, "t@v1", "t@v2", key=["id"]).tables["t/a.csv"]
    assert entry["unreadable"] and "cannot read as CSV" in entry["error"]
    assert "UTF-16" in entry["hint"] and "iconv -f UTF-16" in entry["hint"]
