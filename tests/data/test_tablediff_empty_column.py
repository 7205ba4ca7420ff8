"""A CSV column with no value at all (an empty "notes" column, or the unnamed one a header's
trailing comma makes) crashed the row diff with KeyError (exit 3) once rows changed."""

from __future__ import annotations

import pytest

from assay.data import add, diff
from assay.workspace import Workspace


@pytest.mark.parametrize(("header", "blank"), [("id,notes,v", "notes"), ("id,v,", "")])
@pytest.mark.parametrize("key", [None, ["id"]])
def test_rows_of_a_csv_with_a_column_of_no_values_are_compared(ws: Workspace, cli, header: str, blank: str,
                                                                key: list[str] | None) -> None:
    (ws.root / "t").mkdir()
    path = ws.root / "t" / "x.csv"

    def row(i: int, v: str) -> str:
        return f"{i},,{v}" if blank else f"{i},{v},"

    path.write_text("\n".join([header, row(1, "a"), row(2, "b")]) + "\n")
    add(ws, ["t"], name="t")
    path.write_text("\n".join([header, row(1, "a"), row(2, "c"), row(3, "d")]) + "\n")
    entry = diff(ws, "t", key=key).tables["t/x.csv"]
    assert "error" not in entry, entry
    if key:
        assert (entry["rows_added"], entry["rows_removed"], entry["rows_changed"]) == (1, 0, 1)
    else:
        assert (entry["rows_added"], entry["rows_removed"]) == (2, 1)
    cli("data", "diff", "t", *(["--key", "id"] if key else []), cwd=ws.root)  # exit 0, not 3
