"""No mark of older data (``ledgers/unregistered-ID.json``) where a store holds only what its
own ledger, a shared ledger or a refill put there: gc must not refuse in normal use."""

from __future__ import annotations

from pathlib import Path

from assay.data import add, add_remote, gc, push, repair
from assay.workspace import Workspace


def _forget_registrations(ws: Workspace) -> None:
    for key in list(ws.store.list("ledgers/")):
        ws.store.delete(key)
    (ws.dir / "cache" / "registered").unlink(missing_ok=True)


def _marks(ws: Workspace) -> list[str]:
    return [k for k in ws.store.list("ledgers/") if "unregistered" in k]


def _opens_unmarked_and_gcs(root: Path) -> None:
    """The workspace at ``root``, opened and locked (which registers it in its store), marks
    nothing as an older assay's data, and gc runs there."""
    ws = Workspace.open(root)
    try:
        with ws.lock():
            pass
        assert _marks(ws) == []
        gc(ws)
    finally:
        ws.close()


def test_an_upgraded_workspace_on_its_own_store_marks_nothing(tmp_path: Path, store_url) -> None:  # type: ignore[no-untyped-def]
    url, opts = store_url
    ws = Workspace.init(tmp_path / "w", store=url, store_options=opts)
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f").write_text("x")
    add(ws, [ws.root / "d"], name="ds")
    (ws.root / "d" / "f").write_text("y")
    add(ws, [ws.root / "d"], name="ds")
    _forget_registrations(ws)
    ws.close()
    _opens_unmarked_and_gcs(tmp_path / "w")


def test_a_second_workspace_on_a_shared_ledger_marks_nothing(tmp_path: Path, pg_database: str, store_url) -> None:  # type: ignore[no-untyped-def]
    url, opts = store_url
    a = Workspace.init(tmp_path / "a", ledger=pg_database, store=url, store_options=opts)
    (a.root / "d").mkdir()
    (a.root / "d" / "f").write_text("x")
    add(a, [a.root / "d"], name="ds")
    _forget_registrations(a)
    b = Workspace.init(tmp_path / "b", ledger=pg_database, store=url, store_options=opts)
    with b.lock():
        pass
    assert _marks(b) == []
    a.close()
    b.close()


def test_a_store_refilled_by_pull_repair_is_not_marked(tmp_path: Path, pg_database: str) -> None:
    ws = Workspace.init(tmp_path / "w", ledger=pg_database, store=str(tmp_path / "store"))
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f").write_text("x")
    add(ws, [ws.root / "d"], name="ds")
    (ws.root / "d" / "f").write_text("y")
    add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    ws.close()
    import shutil
    shutil.rmtree(tmp_path / "store")
    (tmp_path / "store").mkdir()
    (tmp_path / "w" / ".assay" / "cache" / "registered").unlink(missing_ok=True)
    ws = Workspace.open(tmp_path / "w")
    assert repair(ws, remote="origin").ok
    ws.close()
    _opens_unmarked_and_gcs(tmp_path / "w")



def test_a_look_kept_while_registering_failed_is_not_reused_once_it_succeeded(tmp_path: Path) -> None:
    """``cache/unregistered`` spares a user who cannot write the store a look per command; a
    workspace that registered looks afresh if its registration is ever gone again."""
    store = str(tmp_path / "store")
    here = Workspace.init(tmp_path / "here", store=store)  # registers, having looked at an empty store
    here.close()
    old = Workspace.init(tmp_path / "old", store=store)
    (old.root / "d").mkdir()
    (old.root / "d" / "f").write_text("older data")
    add(old, [old.root / "d"], name="ds")
    _forget_registrations(old)
    old.close()
    here = Workspace.open(tmp_path / "here")
    (here.dir / "cache" / "registered").unlink(missing_ok=True)
    with here.lock():
        pass
    assert len(_marks(here)) == 1
    here.close()
