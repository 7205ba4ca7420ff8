"""A push checks each snapshot it sends once: one that an add stored, or a push checked, is
read for its chunks only while its stored bytes are the ones checked (``_checked``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import zstandard

from assay.data import add, add_remote, pull, push, verify
from assay.data import _checked
from assay.data._checked import CheckedSnapshots
from assay.data._snapshot import Snapshot
from assay.errors import CorruptionError
from assay.workspace import Workspace


def _fill(ws: Workspace, n: int = 6) -> None:
    (ws.root / "d").mkdir(exist_ok=True)
    for i in range(n):
        (ws.root / "d" / f"f{i}.bin").write_bytes(os.urandom(10_000 + i))


def _counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = Snapshot.decode.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Snapshot, "decode", classmethod(lambda cls, *a, **k: calls.append(1) or real(cls, *a, **k)))
    return calls


def _pulled_whole(tmp_path: Path, remote: Path, name: str) -> Workspace:
    clone = Workspace.init(tmp_path / name)
    add_remote(clone, "origin", str(remote))
    pull(clone, checkout=True)
    assert verify(clone, all_objects=True).ok
    return clone


def test_a_push_after_an_add_does_not_check_the_snapshot_again(ws: Workspace, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(ws)
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    decodes = _counting_decodes(monkeypatch)
    result = push(ws)
    assert decodes == [] and result.chunks_transferred == 6
    clone = _pulled_whole(tmp_path, tmp_path / "remote", "clone")
    assert sorted(p.name for p in (clone.root / "d").iterdir()) == [f"f{i}.bin" for i in range(6)]
    for i in range(6):
        assert (clone.root / "d" / f"f{i}.bin").read_bytes() == (ws.root / "d" / f"f{i}.bin").read_bytes()


def test_a_snapshot_not_known_is_checked_once_then_known(ws: Workspace, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(ws)
    add(ws, ["d"], name="ds")
    (ws.dir / "cache" / _checked._FILE).unlink()  # as a workspace made before this cache, or one that lost it
    add_remote(ws, "one", str(tmp_path / "one"))
    add_remote(ws, "two", str(tmp_path / "two"))
    decodes = _counting_decodes(monkeypatch)
    push(ws, remote="one")
    assert len(decodes) == 1
    push(ws, remote="two")
    assert len(decodes) == 1  # checked by the first push
    _pulled_whole(tmp_path, tmp_path / "two", "clone")


@pytest.mark.parametrize("cache", ["garbage", "empty", "truncated"])
def test_a_damaged_cache_only_costs_a_check(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             cache: str) -> None:
    _fill(ws)
    add(ws, ["d"], name="ds")
    path = ws.dir / "cache" / _checked._FILE
    path.write_bytes({"garbage": os.urandom(300), "empty": b"", "truncated": path.read_bytes()[:40]}[cache])
    add_remote(ws, "origin", str(tmp_path / "remote"))
    decodes = _counting_decodes(monkeypatch)
    assert push(ws).chunks_transferred == 6
    assert len(decodes) == 1
    _pulled_whole(tmp_path, tmp_path / "remote", "clone")


def test_a_snapshot_changed_since_it_was_checked_is_checked_and_refused(ws: Workspace, tmp_path: Path) -> None:
    # The stored object rewritten with a manifest that names another chunk, under the same id:
    # its bytes hash to something else than those checked, so it is checked, and refused.
    _fill(ws)
    sid = add(ws, ["d"], name="ds").version.snapshot
    key = ws.dir / "objects" / "snapshots" / sid
    doc = json.loads(zstandard.ZstdDecompressor().decompress(key.read_bytes()))
    path = sorted(doc["files"])[0]
    doc["files"][path][2][0][0] = "00" * 32
    key.chmod(0o644)
    key.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(doc, separators=(",", ":")).encode()))
    assert sid in CheckedSnapshots(ws).known
    add_remote(ws, "origin", str(tmp_path / "remote"))
    with pytest.raises(CorruptionError, match=f"snapshot {sid} is damaged: its content hashes to"):
        push(ws)
    assert not list((tmp_path / "remote").glob("snapshots/*")) and not list((tmp_path / "remote").glob("versions/*/*"))


def test_an_entry_for_other_bytes_does_not_let_damage_through(ws: Workspace, tmp_path: Path) -> None:
    # A record names the bytes that were checked: one naming the damaged bytes' hash cannot be
    # made without writing that hash, and one for other bytes does not match them.
    _fill(ws)
    sid = add(ws, ["d"], name="ds").version.snapshot
    checked = CheckedSnapshots(ws)
    checked.add(sid, b"\x01" * 32)
    checked.save()
    key = ws.dir / "objects" / "snapshots" / sid
    key.chmod(0o644)
    key.write_bytes(zstandard.ZstdCompressor().compress(b'{"format":1,"files":{"../x":[1,420,[]]},"empty_dirs":[]}'))
    add_remote(ws, "origin", str(tmp_path / "remote"))
    with pytest.raises(CorruptionError, match=f"snapshot {sid} is damaged"):
        push(ws)


def test_the_cache_keeps_the_newest_entries(ws: Workspace) -> None:
    checked = CheckedSnapshots(ws)
    for i in range(_checked._KEEP + 10):
        checked.add(f"{i:064x}", bytes(32))
    checked.add("not an id", bytes(32))
    checked.add("ab" * 32, b"short")
    checked.save()
    again = CheckedSnapshots(ws).known
    assert len(again) == _checked._KEEP
    assert f"{_checked._KEEP + 9:064x}" in again and f"{9:064x}" not in again and f"{10:064x}" in again


def test_a_pulled_snapshot_is_checked_once_and_pushed_on_without_a_check(ws: Workspace, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(ws)
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    add_remote(clone, "mirror", str(tmp_path / "mirror"))
    decodes = _counting_decodes(monkeypatch)
    pull(clone, checkout=False)
    assert len(decodes) == 1  # the remote's copy, checked as it came
    assert push(clone, remote="mirror").chunks_transferred == 6
    assert len(decodes) == 1
    _pulled_whole(tmp_path, tmp_path / "mirror", "third")
