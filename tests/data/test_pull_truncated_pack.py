"""A pull of a version already here whose pack file in this workspace's store is truncated
(shorter than its index says: a crash before it was synced, a full disk, a copy cut short)
said "nothing to pull", and the damage showed only at checkout or verify. Now a pull tells
it by a stat of each pack, names the chunks cut off as it names those of a pack whose file
is gone, and `pull --repair` mends them. A pack damaged in place (its length unchanged) is
still left to verify: telling that takes reading every chunk."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from assay.data import _checkout, _checkout_write, add, add_remote, pull, push, verify
from assay.data._packs import PACK_MAGIC, decode_index, workspace_packs
from assay.errors import CorruptionError
from assay.workspace import Workspace


@pytest.fixture(params=["folder", "s3"])
def remote_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict]:
    """The remote the clone pulls from and repairs from: a folder, then a bucket on the S3 test server."""
    if request.param == "folder":
        return str(tmp_path / "remote"), {}
    return request.getfixturevalue("s3_bucket"), {"endpoint_url": request.getfixturevalue("s3_server")}


def _filled(ws: Workspace, url: str, options: dict, tmp_path: Path) -> Path:
    """``ws`` pushes ds@v1 (three files of one chunk each) to ``url``; a clone in
    ``tmp_path/clone`` pulls it (and records it whole)."""
    (ws.root / "d").mkdir()
    for i in range(3):
        (ws.root / "d" / f"f{i}").write_bytes(random.Random(i).randbytes(20_000))  # stored raw: 20,000 bytes each
    add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", url, options=options or None)
    push(ws)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", url, options=options or None)
    assert pull(clone, "ds@v1").versions_transferred == ["ds@v1"]
    clone.close()
    return tmp_path / "clone"


@pytest.fixture
def pulled(ws: Workspace, tmp_path: Path) -> Path:
    return _filled(ws, str(tmp_path / "remote"), {}, tmp_path)


def _pack(root: Path) -> Path:
    (pack,) = sorted((root / ".assay" / "objects" / "packs").glob("*.pack"))
    return pack


def _cut_last_chunk(pack: Path) -> None:
    """Truncate ``pack`` one byte into its last chunk: the others stay whole."""
    entries = decode_index(pack.with_suffix(".idx").read_bytes(), "idx")
    last = max(offset for _, offset, *_ in entries)
    with open(pack, "r+b") as fh:
        fh.truncate(last + 1)


def test_a_pull_names_the_chunks_a_truncated_pack_cut_off_and_the_repair_mends_them(
        ws: Workspace, tmp_path: Path, remote_url: tuple[str, dict], cli) -> None:  # type: ignore[no-untyped-def]
    clone = _filled(ws, *remote_url, tmp_path)
    pack = _pack(clone)
    _cut_last_chunk(pack)
    refused = cli("data", "pull", "ds@v1", cwd=clone, check=1)
    assert "nothing to pull" not in refused.stdout
    assert (f"ds@v1 lacks 1 chunk here: its pack packs/{pack.stem}.pack is truncated in this workspace's store "
            "(shorter than its index says), so this pull could not fetch them" in refused.stderr), refused.stderr
    assert "assay data pull --repair --remote origin" in refused.stderr
    doc = json.loads(cli("data", "pull", "ds@v1", "--json", cwd=clone, check=1).stdout)
    assert doc["error"] == "CorruptionError" and doc["pull"]["versions_already_there"] == ["ds@v1"], doc
    mended = cli.json("data", "pull", "--repair", cwd=clone)
    assert mended["ok"] is True and mended["chunks_copied"] == 1, mended
    assert cli.json("data", "verify", "--all", cwd=clone)["ok"] is True
    assert "nothing to pull: this workspace has origin's ds@v1 already" in cli("data", "pull", "ds@v1", cwd=clone).stdout
    pulled = Workspace.open(clone)
    try:
        assert verify(pulled).ok and not workspace_packs(pulled).truncated()
        assert pull(pulled, "ds@v1").versions_already_there == ["ds@v1"]
    finally:
        pulled.close()


def test_a_pack_missing_and_a_pack_truncated_are_named_apart(ws: Workspace, pulled: Path) -> None:
    (ws.root / "e").mkdir()
    (ws.root / "e" / "g").write_bytes(random.Random(9).randbytes(20_000))
    add(ws, [ws.root / "e"], name="other")
    push(ws)
    clone = Workspace.open(pulled)
    try:
        pull(clone, "other@v1")
        first, second = sorted((pulled / ".assay" / "objects" / "packs").glob("*.pack"))
        first.unlink()
        with open(second, "r+b") as fh:
            fh.truncate(len(PACK_MAGIC))
        clone.close()
        clone = Workspace.open(pulled)
        with pytest.raises(CorruptionError) as caught:
            pull(clone)
        assert (f"their packs packs/{first.stem}.pack is missing from this workspace's store (its index is still "
                f"there) and packs/{second.stem}.pack is truncated in this workspace's store (shorter than its index "
                "says)") in caught.value.message, caught.value.message
    finally:
        clone.close()


def test_a_pack_damaged_in_place_is_left_to_verify(pulled: Path) -> None:
    pack = _pack(pulled)
    data = bytearray(pack.read_bytes())
    data[-1] ^= 0xFF  # same length: telling it takes reading the chunk
    pack.write_bytes(bytes(data))
    clone = Workspace.open(pulled)
    try:
        assert pull(clone, "ds@v1").versions_already_there == ["ds@v1"]
        assert not verify(clone).ok
    finally:
        clone.close()


def test_a_pull_reads_no_pack_byte_to_tell_a_truncation(pulled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data._packs import PackStore

    _cut_last_chunk(_pack(pulled))
    monkeypatch.setattr(PackStore, "read_stored", lambda *a, **k: pytest.fail("a pull read a pack of this workspace"))
    clone = Workspace.open(pulled)
    try:
        with pytest.raises(CorruptionError, match="ds@v1 lacks 1 chunk here"):
            pull(clone, "ds@v1")
    finally:
        clone.close()


@pytest.mark.parametrize("when", ["staging", "checkout"])
def test_a_pack_truncated_during_pull_checkout_is_named_with_the_repair(
        ws: Workspace, pulled: Path, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """The pack is whole when the pull looks, and cut short as its checkout reads it: by the
    staging of a big file (read by chunk), or by the checkout of the small ones (read together)."""
    # staging: f0..f2 are big enough to be staged; checkout: nothing is, the checkout reads every file
    monkeypatch.setattr(_checkout_write, "_BIG_FILE", 16 << 10 if when == "staging" else 1 << 30)
    (ws.root / "d" / "new.txt").write_text("new\n")
    add(ws, [ws.root / "d"], name="ds")
    push(ws)
    pack = _pack(pulled)
    name = "stage_big_files" if when == "staging" else "checkout_prepared"
    real = getattr(_checkout, name)

    def cut_then(*args: object, **kwargs: object) -> object:
        with open(pack, "r+b") as fh:
            fh.truncate(len(PACK_MAGIC) + 1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_checkout, name, cut_then)
    clone = Workspace.open(pulled)
    try:
        with pytest.raises(CorruptionError) as caught:
            pull(clone, "ds@v2", checkout=True)
        recorded = clone.ledger.query("SELECT number FROM versions WHERE dataset = 'ds' ORDER BY number")
        assert recorded == ([(1,)] if when == "staging" else [(1,), (2,)])  # staged before the pull records it
    finally:
        clone.close()
    assert f"pack packs/{pack.stem}.pack is truncated: chunk " in caught.value.message, caught.value.message
    assert "cannot check out d/f" in caught.value.message
    if when == "staging":  # before the pull recorded anything
        assert "`assay data pull --repair`" in (caught.value.hint or "")
    else:  # the pull is done: said so, and how to finish the checkout from that remote
        assert caught.value.message.startswith("pulled 1 version from "), caught.value.message
        assert "but did not check out ds@v2: " in caught.value.message
        assert re.search(r"`assay data pull --repair --remote \S+` .* then `assay data checkout ds@v2`",
                         caught.value.hint or ""), caught.value.hint
        assert caught.value.details["pull"]["versions_sent"] == ["ds@v2"]  # (the --json key)


def test_a_version_found_whole_beside_a_cut_is_not_trusted_while_its_pack_stays_short(ws: Workspace,
                                                                                       tmp_path: Path) -> None:
    """One pack holds ds@v1's chunks and, past them, one only ds@v2 uses: cut after v1's
    chunks, v1 is found whole and v2 is not; cut again into v1's last chunk, a pull of v1
    says so (the record of v1 whole names the pack, which is still short)."""
    from assay.data._versions import load_snapshot, resolve

    (ws.root / "d").mkdir()
    for i in range(10):
        (ws.root / "d" / f"f{i}").write_bytes(random.Random(i).randbytes(20_000))
    add(ws, [ws.root / "d"], name="ds")
    (ws.root / "d" / "new").write_bytes(random.Random(10).randbytes(20_000))
    add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    v1_chunks = load_snapshot(ws.store, resolve(ws, "ds@v1").snapshot).chunk_digests()
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    try:
        pull(clone, jobs=1)  # one pack
        pack = _pack(clone.root)
        entries = decode_index(pack.with_suffix(".idx").read_bytes(), "idx")
        end = max(offset + stored for digest, offset, stored, *_ in entries if digest in v1_chunks)
        assert pack.stat().st_size > end  # the chunk only v2 uses lies past v1's
        with open(pack, "r+b") as fh:
            fh.truncate(end)
        clone.close()
        clone = Workspace.open(clone.root)
        with pytest.raises(CorruptionError, match=r"^ds@v2 lacks 1 chunk here: its pack"):
            pull(clone)  # v1 is found whole
        with open(pack, "r+b") as fh:
            fh.truncate(end - 1)
        clone.close()
        clone = Workspace.open(clone.root)
        with pytest.raises(CorruptionError, match="ds@v1 lacks 1 chunk here"):
            pull(clone, "ds@v1")
    finally:
        clone.close()
