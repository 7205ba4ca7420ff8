"""A pull of a version already here whose chunks went missing from this workspace's store (a
pack deleted): it said "nothing to pull: this workspace has ds@v1 already", and only
`pull --repair` looked. Now a pull fetches what the index no longer names, says so, and names
what it cannot mend (an index left without its pack); a version known whole is not decoded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.data import add, add_remote, pull, push, verify
from assay.errors import CorruptionError
from assay.workspace import Workspace


@pytest.fixture
def pulled(ws: Workspace, tmp_path: Path) -> tuple[Workspace, Path]:
    """``ws`` pushes ds@v1 (three files); a clone in ``tmp_path/clone`` pulls it."""
    (ws.root / "d").mkdir()
    for i in range(3):
        (ws.root / "d" / f"f{i}").write_text(f"file {i}\n" * 50)
    add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    assert pull(clone, "ds@v1").versions_transferred == ["ds@v1"]
    clone.close()
    return ws, tmp_path / "clone"


def _packs(root: Path) -> list[Path]:
    return sorted((root / ".assay" / "objects" / "packs").glob("*.pack"))


def test_a_pull_fetches_chunks_a_version_here_lost_with_its_pack(pulled, cli) -> None:  # type: ignore[no-untyped-def]
    _, clone = pulled
    for pack in _packs(clone):  # pack and index gone: the chunks are named nowhere here
        pack.unlink()
        pack.with_suffix(".idx").unlink()
    done = cli("data", "pull", "ds@v1", cwd=clone)
    assert "nothing to pull" not in done.stdout
    assert "fetched 3 chunks" in done.stdout, done.stdout
    assert "ds@v1 lacked 3 chunks here: fetched from origin" in done.stderr + done.stdout
    assert json.loads(cli("data", "verify", "--json", cwd=clone).stdout)["ok"] is True
    assert "nothing to pull: this workspace has origin's ds@v1 already" in cli("data", "pull", "ds@v1", cwd=clone).stdout


def test_a_pull_names_chunks_whose_pack_file_is_gone_and_the_repair_that_mends_them(pulled, cli) -> None:  # type: ignore[no-untyped-def]
    _, clone = pulled
    (pack,) = _packs(clone)
    pack.unlink()  # its index stays: the chunks are named, not held
    refused = cli("data", "pull", "ds@v1", cwd=clone, check=1)
    assert "nothing to pull" not in refused.stdout
    assert (f"ds@v1 lacks 3 chunks here: its pack packs/{pack.stem}.pack is missing from this workspace's store"
            in refused.stderr), refused.stderr
    assert "assay data pull --repair --remote origin" in refused.stderr
    doc = json.loads(cli("data", "pull", "ds@v1", "--json", cwd=clone, check=1).stdout)
    assert doc["error"] == "CorruptionError" and doc["pull"]["versions_already_there"] == ["ds@v1"], doc
    cli("data", "pull", "--repair", cwd=clone)
    assert "nothing to pull: this workspace has origin's ds@v1 already" in cli("data", "pull", "ds@v1", cwd=clone).stdout


def test_a_no_op_pull_does_not_decode_a_snapshot_known_whole(pulled, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import assay.data._pull as pulling

    _, root = pulled
    decoded: list[str] = []
    real = pulling.load_snapshot
    monkeypatch.setattr(pulling, "load_snapshot", lambda store, sid, **kw: decoded.append(sid) or real(store, sid, **kw))
    clone = Workspace.open(root)
    try:
        assert pull(clone, "ds@v1").versions_already_there == ["ds@v1"]
        assert decoded == []  # whole since the pull that brought it
        (pack,) = _packs(root)
        pack.unlink()
        clone.close()
        clone = Workspace.open(root)
        with pytest.raises(CorruptionError, match="ds@v1 lacks 3 chunks here"):
            pull(clone, "ds@v1")
        assert len(decoded) == 1
        assert not verify(clone).ok
    finally:
        clone.close()
