"""What a pull reads of the remote's snapshots: each one it lacks, once, stored from the bytes
it checked; none it already has. And gc keeps the rule that lets it skip those: a snapshot
in a store always has every chunk it names there."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.data import add, add_remote, gc, pull, push, verify
from assay.data._versions import all_versions
from assay.store import LocalStore
from assay.workspace import Workspace


def _add(ws: Workspace, name: str, files: dict[str, bytes]) -> None:
    folder = ws.root / name
    folder.mkdir(exist_ok=True)
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    add(ws, [folder], name=name)


def _snapshot_reads(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    """The snapshot keys read from the folder store at ``root`` from now on."""
    reads: list[str] = []
    real = LocalStore.get_bytes

    def counted(self: LocalStore, key: str) -> bytes:
        if key.startswith("snapshots/") and Path(self.root).resolve() == root.resolve():
            reads.append(key)
        return real(self, key)

    monkeypatch.setattr(LocalStore, "get_bytes", counted)
    return reads


@pytest.fixture
def team(ws: Workspace, tmp_path: Path) -> tuple[Workspace, Workspace, Path]:
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(remote))
    return ws, clone, remote


def test_each_snapshot_travels_once_and_is_stored_as_checked(team, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The bytes stored are the ones checked: a remote copy damaged after the check (a
    rewrite there, a flaky read) cannot land in the workspace, and is not read again."""
    import assay.data._pull as pulling

    ws, clone, remote = team
    for v in range(3):
        _add(ws, "ds", {"a": b"a%d" % v, "b": b"b"})
    push(ws)
    reads = _snapshot_reads(monkeypatch, remote)
    real = pulling.load_snapshot_object

    def then_damaged(store, sid, **kw):  # type: ignore[no-untyped-def]
        snap, data = real(store, sid, **kw)
        if Path(getattr(store, "root", "")).resolve() == remote.resolve():
            (remote / "snapshots" / sid).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        return snap, data

    monkeypatch.setattr(pulling, "load_snapshot_object", then_damaged)
    result = pull(clone, checkout=True)
    assert len(result.versions_transferred) == 3 and result.checked_out == ["ds@v3"]
    assert sorted(reads) == sorted(f"snapshots/{v.snapshot}" for v in all_versions(ws))  # each once
    assert verify(clone, all_objects=True).ok
    assert (clone.root / "ds" / "a").read_bytes() == b"a2"
    assert not list(clone.tmp_dir.iterdir())  # the spool is gone


def test_a_pull_reads_only_the_snapshots_this_workspace_lacks(team, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    ws, clone, remote = team
    for v in range(4):
        _add(ws, "ds", {"a": b"a%d" % v})
    push(ws)
    pull(clone)
    _add(ws, "ds", {"a": b"new"})
    push(ws)
    reads = _snapshot_reads(monkeypatch, remote)
    again = pull(clone, checkout=True)
    assert again.versions_transferred == ["ds@v5"] and again.checked_out == ["ds@v5"]
    assert reads == [f"snapshots/{all_versions(ws)[-1].snapshot}"]
    reads.clear()
    nothing = pull(clone, checkout=True)
    assert nothing.versions_transferred == [] and reads == []
    assert verify(clone, all_objects=True).ok


def test_a_new_version_of_a_snapshot_already_here_is_recorded_without_reading_the_remote(  # type: ignore[no-untyped-def]
        team, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same data added in two workspaces: two versions, one snapshot. The teammate's
    version is recorded, with where it was added from, from the snapshot here."""
    ws, clone, remote = team
    _add(ws, "ds", {"a": b"same", "b": b"bytes"})
    _add(clone, "ds", {"a": b"same", "b": b"bytes"})
    push(ws)
    reads = _snapshot_reads(monkeypatch, remote)
    result = pull(clone)
    assert reads == []
    assert result.versions_transferred == ["ds@v2"] and result.renumbered
    mine, theirs = all_versions(clone)
    assert mine.snapshot == theirs.snapshot and mine.id != theirs.id
    assert verify(clone, all_objects=True).ok


def test_a_pull_restores_a_snapshot_missing_here(team) -> None:  # type: ignore[no-untyped-def]
    ws, clone, _ = team
    _add(ws, "ds", {"a": b"a"})
    push(ws)
    pull(clone)
    (v,) = all_versions(clone)
    (clone.store.root / "snapshots" / v.snapshot).unlink()
    assert not verify(clone).ok
    pull(clone)
    assert verify(clone, all_objects=True).ok


def test_gc_deletes_dead_snapshots_before_any_of_their_packs(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gc killed midway leaves no snapshot whose chunks are gone: a push or a pull that
    finds a snapshot skips its chunks."""
    _add(ws, "old", {"x": b"x" * 5000})
    from assay.data._versions import load_snapshot

    ws.ledger.execute("DELETE FROM versions WHERE dataset = 'old'")  # (no command removes a version yet)
    _add(ws, "ds", {"a": b"kept"})
    deleted: list[str] = []
    real = LocalStore.delete

    def recorded(self: LocalStore, key: str) -> None:
        deleted.append(key)
        real(self, key)

    monkeypatch.setattr(LocalStore, "delete", recorded)
    result = gc(ws)
    assert result.snapshots_deleted == 1 and result.packs_deleted + result.packs_rewritten >= 1
    kinds = [key.split("/")[0] for key in deleted if key.startswith(("snapshots/", "packs/"))]
    assert kinds and kinds[0] == "snapshots" and "packs" in kinds
    assert kinds.index("packs") > max(i for i, k in enumerate(kinds) if k == "snapshots")
    for v in all_versions(ws):
        load_snapshot(ws.store, v.snapshot)
    assert verify(ws, all_objects=True).ok


def test_a_new_version_of_a_snapshot_here_whose_chunks_are_gone_gets_them(team) -> None:  # type: ignore[no-untyped-def]
    """A snapshot here does not vouch for its chunks everywhere: an older assay's gc deleted
    dead packs before dead snapshots, and one killed between the two left snapshots whose
    chunks are gone. A pull that records a new version of one fetches what is missing."""
    ws, clone, _ = team
    _add(clone, "ds", {"a": b"same" * 3000, "b": b"bytes" * 3000})
    clone.ledger.execute("DELETE FROM versions WHERE dataset = 'ds'")  # a dead snapshot (no command removes a version yet)
    for pack in (clone.store.root / "packs").iterdir():  # the older gc, killed after its packs went
        pack.unlink()
    _add(ws, "ds", {"a": b"same" * 3000, "b": b"bytes" * 3000})
    push(ws)
    result = pull(clone, checkout=True)
    assert result.versions_transferred == ["ds@v1"] and result.chunks_transferred == 2
    assert verify(clone, all_objects=True).ok
    assert (clone.root / "ds" / "a").read_bytes() == b"same" * 3000
