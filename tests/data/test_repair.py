"""`assay data pull --repair` and `push --repair`: damaged or missing objects replaced with
checked good copies from the other side, on a folder remote and on an S3-compatible server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from assay.data import add, add_remote, checkout, gc, log, pull, push, repair, verify
from assay.data._packs import FLAG_ZSTD, decode_index, workspace_packs
from assay.data._versions import load_snapshot, resolve
from assay.errors import CorruptionError
from assay.store import ObjectStore, open_store
from assay.workspace import Workspace


@pytest.fixture(params=["folder", "s3"])
def remote_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict]:
    if request.param == "folder":
        return str(tmp_path / "remote"), {}
    return request.getfixturevalue("s3_bucket"), {"endpoint_url": request.getfixturevalue("s3_server")}


def fill(ws: Workspace) -> dict[str, bytes]:
    d = ws.root / "d"
    d.mkdir(exist_ok=True)
    files = {f"d/f{i}.bin": os.urandom(30_000 + i) for i in range(6)}
    files["d/big.bin"] = os.urandom(3 << 20)
    files["d/table.csv"] = b"".join(b"%d,%d\n" % (i, i * 7) for i in range(40_000))  # compressible: stored zstd
    for rel, data in files.items():
        (ws.root / rel).write_bytes(data)
    return files


def pushed(ws: Workspace, url: str, options: dict | None = None) -> dict[str, bytes]:
    """The test data added as ds@v1 and pushed to the remote "origin" at ``url``; the files."""
    files = fill(ws)
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", url, options=options or {})
    push(ws)
    return files


def chunk_of(ws: Workspace, rel: str, ref: str = "ds") -> bytes:
    return load_snapshot(ws.store, resolve(ws, ref).snapshot).files[rel].chunks[0][0]


def locate(store: ObjectStore, digest: bytes) -> tuple[str, int, int]:
    """(pack id, offset, stored size) of ``digest`` in ``store``."""
    for key in sorted(store.list("packs/")):
        if key.endswith(".idx"):
            for e in decode_index(store.get_bytes(key), key):
                if e[0] == digest:
                    return key[len("packs/"):-len(".idx")], e[1], e[2]
    raise AssertionError(f"{digest.hex()} is in no pack")


def flip(store: ObjectStore, digest: bytes) -> str:
    """Flip one bit in the middle of ``digest``'s stored bytes; the pack's id."""
    pack_id, offset, size = locate(store, digest)
    key = f"packs/{pack_id}.pack"
    data = bytearray(store.get_bytes(key))
    data[offset + size // 2] ^= 0x10
    store.put_bytes(key, bytes(data))
    return pack_id


def store_twice(ws: Workspace, digest: bytes) -> tuple[str, str]:
    """Store ``digest`` again, in a pack of its own; the ids of the two packs that hold it."""
    from assay.data._packs import PackWriter

    packs = workspace_packs(ws)
    loc = packs.index[digest]
    stored = bytes(packs.read_stored(loc))
    packs.index.pop(digest)
    writer = PackWriter(packs, ws.tmp_dir)
    writer.add_stored(digest, stored, loc.raw, loc.flags)
    [second] = writer.flush()
    return loc.pack, second


def remote_store(ws: Workspace, url: str, options: dict) -> ObjectStore:
    return open_store(url, ws.root, **options)


def good_somewhere(ws: Workspace) -> set[bytes]:
    """Every chunk that some pack of the workspace's store holds good, whichever the index names."""
    from assay.data._packs import ChunkLocation, PackStore

    packs = PackStore(ws.store)
    good: set[bytes] = set()
    for key in ws.store.list("packs/"):
        if key.endswith(".idx"):
            pack_id = key[len("packs/"):-len(".idx")]
            items = [(e[0], ChunkLocation(pack_id, *e[1:])) for e in decode_index(ws.store.get_bytes(key), key)]
            good.update(d for d, _ in packs.read_pack(pack_id, items, errors=[]))
    packs.close()
    return good


def damaged_chunks(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {d.object.split()[1] for d in report.damaged if d.object.startswith("chunk ")}


def test_pull_repair_replaces_a_damaged_chunk_and_keeps_the_rest(ws: Workspace, remote_url: tuple[str, dict]) -> None:
    url, options = remote_url
    files = pushed(ws, url, options)
    small, table = chunk_of(ws, "d/f2.bin"), chunk_of(ws, "d/table.csv")
    assert workspace_packs(ws).index[table].flags  # a compressed chunk, checked by decoding
    packs_before = {k for k in ws.store.list("packs/") if k.endswith(".idx")}
    flip(ws.store, small)
    flip(ws.store, table)
    before = verify(Workspace(ws.root), all_objects=True)
    assert damaged_chunks(before) == {small.hex(), table.hex()}

    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok and result.after is not None and result.after.checked_chunks == before.checked_chunks + 2  # counted once good
    assert sorted(result.repaired) == sorted([f"chunk {small.hex()}", f"chunk {table.hex()}"])
    assert result.chunks_copied == 2 and result.packs_rewritten == 1
    assert {k for k in ws.store.list("packs/") if k.endswith(".idx")} != packs_before  # the damaged pack is gone
    fresh = Workspace(ws.root)
    assert verify(fresh, all_objects=True).ok
    for rel in files:
        (ws.root / rel).unlink()
    checkout(fresh, "ds@v1")
    assert all((ws.root / rel).read_bytes() == data for rel, data in files.items())
    again = repair(Workspace(ws.root), remote="origin")  # nothing left to do
    assert again.ok and again.repaired == [] and again.packs_rewritten == 0 and again.chunks_copied == 0


def test_pull_repair_restores_a_missing_pack_and_a_damaged_snapshot(ws: Workspace, tmp_path: Path) -> None:
    files = pushed(ws, str(tmp_path / "remote"))
    snapshot = resolve(ws, "ds").snapshot
    objects = ws.dir / "objects"
    for pack in (objects / "packs").glob("*.pack"):
        pack.unlink()
    (objects / "snapshots" / snapshot).write_bytes(b"not a snapshot")
    assert not verify(Workspace(ws.root), all_objects=True).ok
    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok, result.after.to_dict() if result.after else None
    assert f"snapshot snapshots/{snapshot}" in result.repaired
    assert result.chunks_copied == len(load_snapshot(ws.store, snapshot).chunk_digests())
    fresh = Workspace(ws.root)
    for rel in files:
        (ws.root / rel).unlink()
    checkout(fresh, "ds@v1")
    assert all((ws.root / rel).read_bytes() == data for rel, data in files.items())


def test_a_damaged_local_index_is_salvaged_without_fetching_what_it_still_names(ws: Workspace, tmp_path: Path) -> None:
    pushed(ws, str(tmp_path / "remote"))
    idx = next((ws.dir / "objects" / "packs").glob("*.idx"))
    data = bytearray(idx.read_bytes())
    data[-1] ^= 0xFF  # the index's own checksum: every entry is still right
    idx.write_bytes(bytes(data))
    assert not verify(Workspace(ws.root), all_objects=True).ok
    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok and result.chunks_copied == 0 and result.packs_rewritten == 1
    assert decode_index(idx.read_bytes(), "x")  # the same entries, so the same pack id: the index is whole again
    # Entries damaged too: those chunks come from the remote; the rest are kept.
    idx = next((ws.dir / "objects" / "packs").glob("*.idx"))
    entries = len(decode_index(idx.read_bytes(), "x"))
    data = bytearray(idx.read_bytes())
    data[16 + 3] ^= 0xFF  # the first entry's digest
    idx.write_bytes(bytes(data))
    result = repair(Workspace(ws.root), remote="origin")
    # The garbled entry names no chunk; the chunk it named is found in the pack by its content.
    assert result.ok and result.chunks_copied == 0 and result.found_in_place == 1
    assert result.checked_chunks == entries
    assert verify(Workspace(ws.root), all_objects=True).ok


def test_push_repair_mends_the_remote_from_the_workspace(ws: Workspace, tmp_path: Path,
                                                         remote_url: tuple[str, dict]) -> None:
    url, options = remote_url
    files = pushed(ws, url, options)
    store = remote_store(ws, url, options)
    big = chunk_of(ws, "d/big.bin")
    flip(store, big)
    assert push(ws).chunks_transferred == 0  # a plain push trusts what the remote's index lists
    snapshot = resolve(ws, "ds").snapshot
    store.put_bytes(f"snapshots/{snapshot}", b"damaged")
    report = verify(ws, remote="origin")
    assert big.hex() in damaged_chunks(report) and any(d.object.startswith("snapshot ") for d in report.damaged)

    result = repair(ws, remote="origin", on_remote=True)
    assert result.ok and result.store == "remote origin"
    assert f"chunk {big.hex()}" in result.repaired and f"snapshot snapshots/{snapshot}" in result.repaired
    assert verify(ws, remote="origin").ok
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", url, options=options)
    pull(clone, checkout=True)
    assert all((clone.root / rel).read_bytes() == data for rel, data in files.items())


def test_push_repair_puts_back_a_damaged_index_from_the_workspace_s_cache(ws: Workspace, s3_bucket: str,
                                                                          s3_server: str) -> None:
    options = {"endpoint_url": s3_server}
    pushed(ws, s3_bucket, options)
    push(ws)  # the remote's indexes are now in the workspace's cache
    store = remote_store(ws, s3_bucket, options)
    key = next(k for k in store.list("packs/") if k.endswith(".idx"))
    good = store.get_bytes(key)
    store.put_bytes(key, good[:40])
    assert not verify(ws, remote="origin").ok
    result = repair(ws, remote="origin", on_remote=True)
    assert result.ok and result.repaired == [f"pack index {key}"] and result.packs_rewritten == 0
    assert store.get_bytes(key) == good


def test_damage_with_no_good_copy_is_kept_and_named(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    pushed(ws, str(tmp_path / "remote"))
    (ws.root / "d" / "new.bin").write_bytes(os.urandom(50_000))
    add(ws, ["d"], name="ds")  # v2 is not on the remote
    lost, fixable = chunk_of(ws, "d/new.bin", "ds@v2"), chunk_of(ws, "d/f1.bin")
    flip(ws.store, lost)
    flip(ws.store, fixable)
    proc = cli("data", "pull", "--repair", "--json", check=1)
    import json

    doc = json.loads(proc.stdout)
    assert not doc["ok"] and doc["repaired"] == [f"chunk {fixable.hex()}"]
    after = doc["after"]
    # The chunk with no good copy keeps its bytes: still damaged (not missing), and named with its file.
    [left] = [d for d in after["damaged"]]
    assert left["object"].split()[1] == lost.hex() and "missing" not in left["reason"]
    assert left["affected"] == [{"dataset": "ds", "version": "v2", "ref": "ds@v2", "path": "d/new.bin"}]
    text = cli("data", "pull", "--repair", check=1).stdout
    assert "still DAMAGED: 1 object " in text and lost.hex() in text
    # A second remote that has it: the next repair finds it there.
    other = Workspace.init(tmp_path / "other")
    (other.root / "d").mkdir()
    (other.root / "d" / "new.bin").write_bytes((ws.root / "d" / "new.bin").read_bytes())
    add(other, [other.root / "d"], name="x")
    add_remote(other, "spare", str(tmp_path / "spare"))
    push(other)
    add_remote(ws, "spare", str(tmp_path / "spare"))
    doc = cli.json("data", "pull", "--repair", "--remote", "spare")
    assert doc["ok"] and doc["repaired"] == [f"chunk {lost.hex()}"]
    assert cli.json("data", "verify")["ok"]


def test_a_repair_interrupted_before_the_old_pack_went_is_finished_by_a_rerun(
        ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.store import LocalStore

    pushed(ws, str(tmp_path / "remote"))
    target = chunk_of(ws, "d/f4.bin")
    flip(ws.store, target)

    def crash(self, key):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # killed after the new pack was published, before the old one went

    with monkeypatch.context() as m:
        m.setattr(LocalStore, "delete", crash)
        with pytest.raises(KeyboardInterrupt):
            repair(Workspace(ws.root), remote="origin")
    idx = [k for k in ws.store.list("packs/") if k.endswith(".idx")]
    assert len(idx) == 2  # old and new: every chunk there, some twice
    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok and result.chunks_copied == 0 and result.packs_rewritten == 1
    assert len([k for k in ws.store.list("packs/") if k.endswith(".idx")]) == 1
    assert gc(Workspace(ws.root)).chunks_deleted == 0


def test_repair_cli_refuses_a_version_and_other_options(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    pushed(ws, str(tmp_path / "remote"))
    assert "leave out NAME@REF" in cli("data", "pull", "ds@v1", "--repair", check=2).stderr
    assert "--checkout" in cli("data", "pull", "--repair", "--checkout", check=2).stderr
    assert "--repair does not take --allow-overlap" in cli("data", "pull", "--repair", "--allow-overlap", check=2).stderr
    assert "--jobs" in cli("data", "push", "--repair", "-j", "2", check=2).stderr
    out = cli("data", "push", "--repair").stdout
    assert "repaired 0 objects" in out and "ok:" in out
    flip(ws.store, chunk_of(ws, "d/f0.bin"))
    text = cli("data", "verify", check=1).stdout
    assert "assay data pull --repair" in text
    cli("remote", "add", "empty", str(tmp_path / "empty"))
    proc = cli("data", "push", "--repair", "--remote", "empty", check=2)  # no folder there: say so, not "ok"
    assert "folder" in proc.stderr and "does not exist" in proc.stderr
    assert "assay data push --remote empty" in proc.stderr and not (tmp_path / "empty").exists()
    (tmp_path / "empty").mkdir()
    proc = cli("data", "push", "--repair", "--remote", "empty", check=2)  # an empty folder: say so, not "ok"
    assert "holds no versions" in proc.stderr and "assay data push --remote empty" in proc.stderr


def test_push_repair_writes_a_damaged_version_ref_again(ws: Workspace, tmp_path: Path,
                                                       remote_url: tuple[str, dict]) -> None:
    import json

    url, options = remote_url
    pushed(ws, url, options)
    store = remote_store(ws, url, options)
    version = resolve(ws, "ds")
    key = f"versions/ds/{version.id}.json"
    good = store.get_bytes(key)
    store.put_bytes(key, good[:good.index(b'"snapshot"')])  # cut short after its number
    report = verify(ws, remote="origin")  # named as damage, not an input error
    assert not report.ok and [d.object for d in report.damaged] == [f"version ref {key}"]
    # A push reads back, once, each ref it finds there that it has not seen whole (here: as from
    # another workspace, which has no memory of this remote's refs): damage, not "complete there".
    (ws.cache_dir / "remotes" / "origin" / "refs-read").unlink()
    with pytest.raises(CorruptionError, match="damaged") as err:
        push(ws, remote="origin")
    assert key in err.value.message and "push --repair" in (err.value.hint or "")
    assert "pushed, but 1 version ref already on remote origin is damaged: " in err.value.message  # not "ref(s) ... are"
    result = repair(ws, remote="origin", on_remote=True)
    assert result.ok and result.repaired == [f"ref {key}"]
    assert push(ws, remote="origin").versions == ["ds@v1"]  # mended: a push is clean again
    mended, before = json.loads(store.get_bytes(key)), json.loads(good)
    assert {k: v for k, v in mended.items() if k != "pushed_at"} == {k: v for k, v in before.items() if k != "pushed_at"}
    # A ref whose number is lost takes this workspace's number for the version, if no other
    # ref holds it; one of a version this workspace does not know is left and named.
    store.put_bytes(key, b'{"id": "trunc')
    store.put_bytes("versions/other/abc.json", b"[]")
    result = repair(ws, remote="origin", on_remote=True)
    assert not result.ok and result.after is None
    assert result.unmended_refs == ["versions/other/abc.json"] and result.repaired == [f"ref {key}"]
    assert json.loads(store.get_bytes(key))["number"] == version.number
    store.delete("versions/other/abc.json")
    imposter = json.loads(good)
    imposter.update(id="f" * 32, snapshot=imposter["snapshot"])
    store.put_bytes(f"versions/ds/{'f' * 32}.json", json.dumps(imposter).encode())  # another ref holds number 1
    store.put_bytes(key, b'{"id": "trunc')
    result = repair(ws, remote="origin", on_remote=True)
    assert result.unmended_refs == [key]  # its number would be doubtful: left


def test_push_repair_keeps_the_remote_s_number_of_a_version_renumbered_here(tmp_path: Path) -> None:
    import json

    remote = str(tmp_path / "remote")
    them = Workspace.init(tmp_path / "them")
    (them.root / "d").mkdir()
    for i in (1, 2):
        (them.root / "d" / "x.txt").write_text(f"theirs {i}\n")
        add(them, [them.root / "d"], name="ds")
    add_remote(them, "origin", remote)
    push(them)
    us = Workspace.init(tmp_path / "us")
    (us.root / "d").mkdir()
    (us.root / "d" / "x.txt").write_text("ours\n")
    add(us, [us.root / "d"], name="ds")  # our own v1: theirs is renumbered when pulled
    add_remote(us, "origin", remote)
    pull(us)
    theirs_v1 = resolve(them, "ds@v1")
    assert us.ledger.query("SELECT number FROM versions WHERE id = ?", (theirs_v1.id,)) == [(2,)]  # renumbered here
    store = remote_store(us, remote, {})
    key = f"versions/ds/{theirs_v1.id}.json"
    good = store.get_bytes(key)
    store.put_bytes(key, good[:good.index(b'"snapshot"')])
    result = repair(us, remote="origin", on_remote=True)
    assert result.ok and result.repaired == [f"ref {key}"]
    assert json.loads(store.get_bytes(key))["number"] == 1
    assert sorted(json.loads(store.get_bytes(k))["number"] for k in store.list("versions/ds/")) == [1, 2]


def test_damage_met_in_a_pull_says_how_to_mend_the_remote(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    pushed(ws, str(tmp_path / "remote"))
    flip(remote_store(ws, str(tmp_path / "remote"), {}), chunk_of(ws, "d/f1.bin"))
    clone = tmp_path / "clone"
    Workspace.init(clone).close()
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=clone)
    doc = cli.json("data", "pull", cwd=clone, check=1)
    assert doc["message"].startswith("the copy on remote origin is damaged: chunk")
    assert "assay data push --repair --remote origin" in doc["hint"]
    assert cli.json("data", "push", "--repair")["ok"]
    assert cli.json("data", "pull", cwd=clone)["versions"] == ["ds@v1"]
    flip(ws.store, chunk_of(ws, "d/f1.bin"))  # damage here: the hint says how to mend this store
    proc = cli("data", "checkout", "ds@v1", "--force", "--to", str(tmp_path / "out"), check=1)
    assert "assay data pull --repair" in proc.stderr


@pytest.mark.parametrize("damaged_copy", ["first", "second"])
def test_gc_keeps_the_good_copy_of_a_chunk_stored_twice(ws: Workspace, damaged_copy: str) -> None:
    files = fill(ws)
    add(ws, ["d"], name="ds")
    target = chunk_of(ws, "d/f3.bin")
    both = sorted(store_twice(ws, target))
    victim = both[0] if damaged_copy == "first" else both[1]
    key = f"packs/{victim}.pack"
    entry = next(e for e in decode_index(ws.store.get_bytes(f"packs/{victim}.idx"), "x") if e[0] == target)
    data = bytearray(ws.store.get_bytes(key))
    data[entry[1] + entry[2] // 2] ^= 0x01
    ws.store.put_bytes(key, bytes(data))
    result = gc(Workspace(ws.root))
    assert result.chunks_deleted == 1  # the damaged copy
    fresh = Workspace(ws.root)
    assert verify(fresh, all_objects=True).ok
    (ws.root / "d" / "f3.bin").unlink()
    checkout(fresh, "ds@v1")
    assert (ws.root / "d" / "f3.bin").read_bytes() == files["d/f3.bin"]


def _only_version_here(ws: Workspace, tmp_path: Path) -> Path:
    """ds@v1 pushed; ds@v2 (six new files, one compressible) only here. The index of v2's own pack."""
    pushed(ws, str(tmp_path / "remote"))
    before = set((ws.dir / "objects" / "packs").glob("*.idx"))
    for i in range(5):
        (ws.root / "d" / f"new{i}.bin").write_bytes(os.urandom(40_000))
    (ws.root / "d" / "new.csv").write_bytes(b"".join(b"%d,%d\n" % (i, i * 3) for i in range(20_000)))  # zstd
    add(ws, ["d"], name="ds")
    [idx] = set((ws.dir / "objects" / "packs").glob("*.idx")) - before
    return idx


@pytest.mark.parametrize("damage", ["truncated", "bad header"])
def test_what_a_damaged_index_no_longer_names_is_found_in_its_pack(ws: Workspace, tmp_path: Path,
                                                                  damage: str) -> None:
    # v2's chunks have no copy on the remote: only their pack holds them.
    idx = _only_version_here(ws, tmp_path)
    data = idx.read_bytes()
    entries = decode_index(data, "x")
    idx.write_bytes(data[:16 + 2 * 57] if damage == "truncated" else b"NOTANIDX" + data[8:])
    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok and result.chunks_copied == 0 and result.kept_aside == []
    assert result.found_in_place == (len(entries) - 2 if damage == "truncated" else len(entries))
    assert not (ws.dir / "objects" / "lost").exists()
    out = tmp_path / "out"
    checkout(Workspace(ws.root), "ds@v2", to=out)
    assert all((out / "d" / name).read_bytes() == (ws.root / "d" / name).read_bytes()
               for name in [*(f"new{i}.bin" for i in range(5)), "new.csv"])
    assert any(e[4] & FLAG_ZSTD for e in entries)  # a compressed chunk among them, found as a zstd frame


@pytest.mark.parametrize("damage", ["truncated", "bad header"])
def test_a_pack_whose_salvaged_index_leaves_bytes_unplaced_is_kept_aside(ws: Workspace, tmp_path: Path,
                                                                         damage: str) -> None:
    idx = _only_version_here(ws, tmp_path)
    pack = idx.with_suffix(".pack")
    data = idx.read_bytes()
    entries = decode_index(data, "x")
    third = entries[2]  # not named by the truncated index, and now damaged too: nothing can place it
    raw = bytearray(pack.read_bytes())
    raw[third[1] + third[2] // 2] ^= 0x01
    pack.write_bytes(bytes(raw))
    pack_bytes = pack.read_bytes()
    idx.write_bytes(data[:16 + 2 * 57] if damage == "truncated" else b"NOTANIDX" + data[8:])
    result = repair(Workspace(ws.root), remote="origin")
    assert not result.ok  # that chunk has no other copy: not mended, and not lost
    assert result.kept_aside == [f"packs/{pack.name}"]
    lost = ws.dir / "objects" / "lost"
    assert (lost / pack.name).read_bytes() == pack_bytes and (lost / idx.name).exists()
    assert not pack.exists() and not idx.exists()
    collected = gc(Workspace(ws.root))
    assert collected.debris_deleted == 0 and collected.kept_aside == 1  # gc does not touch lost/, and says so
    assert (lost / pack.name).read_bytes() == pack_bytes
    names = {d.object.split()[1] for d in result.after.damaged}
    assert third[0].hex() in names  # named as missing, with the file that needs it


def test_a_salvaged_index_that_accounts_for_every_byte_lets_the_pack_go(ws: Workspace, tmp_path: Path) -> None:
    idx = _only_version_here(ws, tmp_path)
    data = bytearray(idx.read_bytes())
    data[-1] ^= 0x01  # only the checksum: every entry still right
    idx.write_bytes(bytes(data))
    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok and result.kept_aside == [] and result.chunks_copied == 0
    assert not (ws.dir / "objects" / "lost").exists()


def test_an_index_in_a_newer_format_stops_the_repair_before_anything_changes(ws: Workspace, tmp_path: Path,
                                                                             remote_url: tuple[str, dict]) -> None:
    from assay.errors import UsageError

    url, options = remote_url
    pushed(ws, url, options)
    store = remote_store(ws, url, options)
    key = next(k for k in store.list("packs/") if k.endswith(".idx"))
    import blake3

    body = b"ASSAYIX3" + store.get_bytes(key)[8:-32]
    store.put_bytes(key, body + blake3.blake3(body).digest())  # whole, in a format this assay does not know
    keys = sorted(store.list(""))
    with pytest.raises(UsageError, match="newer assay"):
        repair(ws, remote="origin", on_remote=True)
    assert sorted(store.list("")) == keys


def test_a_truncated_pack_on_s3_is_damage_and_is_mended(ws: Workspace, s3_bucket: str, s3_server: str) -> None:
    options = {"endpoint_url": s3_server}
    fill(ws)
    (ws.root / "d" / "more.bin").write_bytes(os.urandom(12 << 20))  # a pack read in several runs
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", s3_bucket, options=options)
    push(ws)
    store = remote_store(ws, s3_bucket, options)
    key = max((k for k in store.list("packs/") if k.endswith(".pack")), key=store.size)
    store.put_bytes(key, store.get_bytes(key)[:store.size(key) // 3])
    report = verify(ws, remote="origin")
    assert not report.ok and report.damaged_versions == ["ds@v1"]
    result = repair(ws, remote="origin", on_remote=True)
    assert result.ok and result.chunks_copied > 0


def test_a_snapshot_goes_back_only_after_its_chunks(ws: Workspace, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data._packs import PackWriter

    fill(ws)
    add(ws, ["d"], name="ds")
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    push(ws)
    for pack in (remote / "packs").iterdir():  # packs and indexes: a plain push would send everything
        pack.unlink()
    snapshot = resolve(ws, "ds").snapshot
    (remote / "snapshots" / snapshot).unlink()

    def crash(self, *args):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(PackWriter, "_publish", crash)
        with pytest.raises(KeyboardInterrupt):
            repair(ws, remote="origin", on_remote=True)
    assert not (remote / "snapshots" / snapshot).exists()  # or a plain push would trust it complete
    assert push(ws).chunks_transferred > 0
    assert verify(ws, remote="origin").ok


def test_pull_repair_of_a_store_on_s3_puts_a_damaged_index_back_from_the_cache(tmp_path: Path, s3_bucket: str,
                                                                             s3_server: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace.init(tmp_path / "w", store=s3_bucket, store_options={"endpoint_url": s3_server})
    fill(ws)
    add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    key = next(k for k in ws.store.list("packs/") if k.endswith(".idx"))
    good = ws.store.get_bytes(key)
    assert verify(Workspace(ws.root), all_objects=True).ok  # reads the indexes: now in the workspace's cache
    ws.store.put_bytes(key, good[:-5])
    result = repair(Workspace(ws.root), remote="origin")
    assert result.ok and result.repaired == [f"pack index {key}"] and result.chunks_copied == 0
    assert result.packs_rewritten == 0 and ws.store.get_bytes(key) == good


def test_a_good_copy_behind_a_damaged_one_in_the_source_is_found(ws: Workspace, tmp_path: Path) -> None:
    pushed(ws, str(tmp_path / "remote"))
    target = chunk_of(ws, "d/f3.bin")
    first = min(store_twice(ws, target))  # the copy the index names: damaged
    entry = next(e for e in decode_index(ws.store.get_bytes(f"packs/{first}.idx"), "x") if e[0] == target)
    data = bytearray(ws.store.get_bytes(f"packs/{first}.pack"))
    data[entry[1] + entry[2] // 2] ^= 0x10
    ws.store.put_bytes(f"packs/{first}.pack", bytes(data))
    flip(remote_store(ws, str(tmp_path / "remote"), {}), target)
    result = repair(Workspace(ws.root), remote="origin", on_remote=True)
    assert result.ok and result.chunks_copied == 1


def test_damage_messages_name_the_side_it_is_on(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    fill(ws)
    add(ws, ["d"], name="ds")
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    push(ws)
    clone = tmp_path / "clone"
    Workspace.init(clone).close()
    cli("remote", "add", "origin", str(remote), cwd=clone)
    cli("data", "pull", cwd=clone)
    # This workspace's own index damaged: not the remote's fault.
    idx = next((clone / ".assay" / "objects" / "packs").glob("*.idx"))
    idx.write_bytes(idx.read_bytes()[:-1] + bytes([idx.read_bytes()[-1] ^ 0xFF]))  # always a change
    doc = cli.json("data", "pull", cwd=clone, check=1)
    assert not doc["message"].startswith("the copy on remote") and "pull --repair" in doc["hint"]
    # The remote's index damaged, met by a plain push: the remote's.
    ridx = next((remote / "packs").glob("*.idx"))
    ridx.write_bytes(ridx.read_bytes()[:-1] + bytes([ridx.read_bytes()[-1] ^ 0xFF]))
    doc = cli.json("data", "push", check=1)
    assert doc["message"].startswith("the copy on remote origin is damaged") and "push --repair" in doc["hint"]


@pytest.mark.parametrize("attempt", range(10))  # the packs' random ids decide which copies that gc keeps
def test_a_gc_between_checking_and_retiring_loses_nothing(ws: Workspace, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, attempt: int) -> None:
    # pull --repair checks and stores under the shared lock and retires the replaced packs under
    # the exclusive one; a gc in between (here one that keeps a pack whose dead share is small)
    # may drop the new pack's copies of the old pack's good chunks: the old pack then stays.
    import contextlib

    files = pushed(ws, str(tmp_path / "remote"))
    needed = load_snapshot(ws.store, resolve(ws, "ds").snapshot).chunk_digests()
    flip(ws.store, chunk_of(ws, "d/f2.bin"))
    real = Workspace.lock

    busy = []

    @contextlib.contextmanager
    def lock(self, *, exclusive=False):  # type: ignore[no-untyped-def]
        if exclusive and not busy:
            busy.append(1)
            gc(Workspace(ws.root), rewrite_threshold=0.5)  # another process's gc, in the gap
            busy.pop()
        with real(self, exclusive=exclusive):
            yield

    with monkeypatch.context() as m:
        m.setattr(Workspace, "lock", lock)
        first = repair(Workspace(ws.root), remote="origin")
    assert needed <= good_somewhere(ws)  # nothing lost, whatever that gc kept (the packs' ids decide)
    if not first.ok:
        assert first.left_as_is  # and it says why it is not done
        assert repair(Workspace(ws.root), remote="origin").ok  # which a rerun finishes
    out = tmp_path / "out"
    checkout(Workspace(ws.root), "ds@v1", to=out)
    assert all((out / rel).read_bytes() == data for rel, data in files.items())


def test_a_repair_killed_while_moving_a_pack_aside_keeps_its_index(ws: Workspace, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.store import LocalStore

    idx = _only_version_here(ws, tmp_path)
    data = idx.read_bytes()
    third = decode_index(data, "x")[2]
    pack = bytearray(idx.with_suffix(".pack").read_bytes())
    pack[third[1] + third[2] // 2] ^= 0x01  # a chunk the truncated index does not name, damaged: unplaceable
    idx.with_suffix(".pack").write_bytes(bytes(pack))
    idx.write_bytes(data[:16 + 2 * 57])  # truncated: the pack goes aside

    def killed(self, key, new_key):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(LocalStore, "move", killed)
        with pytest.raises(KeyboardInterrupt):
            repair(Workspace(ws.root), remote="origin")
    lost = ws.dir / "objects" / "lost"
    assert (lost / idx.name).exists() and idx.with_suffix(".pack").exists()  # the index was copied first
    result = repair(Workspace(ws.root), remote="origin")
    assert result.kept_aside == [f"packs/{idx.with_suffix('.pack').name}"]
    assert (lost / idx.name).read_bytes() == data[:16 + 2 * 57] and (lost / idx.with_suffix(".pack").name).exists()


def test_a_ref_cut_inside_its_number_is_not_read_as_the_cut_number(ws: Workspace, tmp_path: Path) -> None:
    import json

    (ws.root / "d").mkdir()
    for i in range(12):
        (ws.root / "d" / "x.txt").write_text(f"v{i}\n")
        add(ws, ["d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    store = remote_store(ws, str(tmp_path / "remote"), {})
    key = f"versions/ds/{resolve(ws, 'ds@v12').id}.json"
    good = store.get_bytes(key)
    store.put_bytes(key, good[:good.index(b'"number": 12') + len(b'"number": 1')])  # "12" cut to "1"
    result = repair(ws, remote="origin", on_remote=True)
    # Not 1 (what is left of the text): the number is unreadable, so this workspace's own is
    # taken, as no other ref holds it.
    assert result.ok and result.repaired == [f"ref {key}"]
    assert json.loads(store.get_bytes(key))["number"] == 12


def test_a_pack_whose_index_is_gone_is_kept_while_chunks_are_missing(ws: Workspace, tmp_path: Path) -> None:
    idx = _only_version_here(ws, tmp_path)
    pack = idx.with_suffix(".pack")
    pack_bytes = pack.read_bytes()
    idx.unlink()  # its chunks are v2's only copy, and now nothing maps them
    assert gc(Workspace(ws.root)).debris_kept == 1 and pack.exists()  # not debris while chunks are missing
    result = repair(Workspace(ws.root), remote="origin")
    assert not result.ok and result.orphans_aside == [] and pack.exists()  # maybe an add's, still publishing
    hours_ago = time.time() - 2 * 3600
    os.utime(pack, (hours_ago, hours_ago))
    result = repair(Workspace(ws.root), remote="origin")
    assert not result.ok and result.orphans_aside == [f"packs/{pack.name}"]
    assert (ws.dir / "objects" / "lost" / pack.name).read_bytes() == pack_bytes


def test_a_header_naming_a_newer_format_stops_the_repair_even_if_damaged(ws: Workspace, tmp_path: Path) -> None:
    from assay.errors import UsageError

    pushed(ws, str(tmp_path / "remote"))
    idx = next((ws.dir / "objects" / "packs").glob("*.idx"))
    idx.write_bytes(b"ASSAYIX3" + idx.read_bytes()[8:])  # newer, or a flipped bit: repair does not guess
    listing = sorted(ws.store.list(""))
    with pytest.raises(UsageError, match="newer than this assay knows"):
        repair(Workspace(ws.root), remote="origin")
    assert sorted(ws.store.list("")) == listing


def test_a_stretch_is_cut_only_where_one_reading_alone_gives_a_wanted_chunk() -> None:
    import zstandard

    from assay.data._chunking import hash_bytes
    from assay.data._salvage import chunk_at as _chunk_at

    def wanted(*chunks: bytes) -> tuple[list[int], dict[int, set[bytes]]]:
        by_size: dict[int, set[bytes]] = {}
        for c in chunks:
            by_size.setdefault(len(c), set()).add(hash_bytes(c))
        return sorted(by_size), by_size

    a, c = os.urandom(1000), os.urandom(1500)
    assert _chunk_at(memoryview(a + c), *wanted(a, c))[:2] == (hash_bytes(a), 1000)  # one reading: A
    assert _chunk_at(memoryview(a + c), *wanted(a, c, a + c)) is None  # A, or A+C: not guessed
    frame = zstandard.ZstdCompressor().compress(b"x" * 5000)
    assert _chunk_at(memoryview(frame + c), *wanted(b"x" * 5000))[1:] == (len(frame), 5000, 1)  # a zstd frame
    assert _chunk_at(memoryview(frame + c), *wanted(b"x" * 5000, frame)) is None  # or a raw .zst file: not guessed
    bomb = zstandard.ZstdCompressor().compress(bytes(50 << 20))
    assert _chunk_at(memoryview(bomb), *wanted(c)) is None  # a declared size nobody wants is not decoded


def test_a_push_reads_each_ref_back_once(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.data._remote as remote_mod

    pushed(ws, str(tmp_path / "remote"))
    reads: list[str] = []
    real = remote_mod.read_ref

    def counting(store: ObjectStore, key: str) -> object:
        reads.append(key)
        return real(store, key)

    monkeypatch.setattr(remote_mod, "read_ref", counting)
    push(ws, remote="origin")
    assert reads == []  # written by this workspace's push: known whole
    (ws.cache_dir / "remotes" / "origin" / "refs-read").unlink()
    push(ws, remote="origin")
    assert sorted(reads) == sorted(f"versions/ds/{v.id}.json" for v in log(ws, "ds")) and reads
    reads.clear()
    push(ws, remote="origin")
    assert reads == []  # read whole once: remembered


def test_a_pack_with_a_damaged_header_is_damage_and_push_repair_mends_it(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = pushed(ws, str(tmp_path / "remote"))
    store = open_store(str(tmp_path / "remote"))
    pack_id = locate(store, chunk_of(ws, "d/f2.bin"))[0]
    key = f"packs/{pack_id}.pack"
    store.put_bytes(key, b"NOTAPACK" + store.get_bytes(key)[8:])  # every chunk still reads
    for args in (("data", "verify", "--remote", "origin"), ("data", "verify", "ds@v1", "--remote", "origin")):
        proc = cli(*args, check=1)
        assert f"pack {key}: damaged (bad header: it starts b'NOTAPACK'" in proc.stdout, proc.stdout
    doc = cli.json("data", "verify", "--remote", "origin", check=1)
    assert [d["object"] for d in doc["damaged"]] == [f"pack {key}"]
    mended = cli.json("data", "push", "--repair", "--remote", "origin")
    assert mended["ok"] and f"pack {key}" in mended["repaired"] and mended["packs_rewritten"] == 1
    assert cli.json("data", "verify", "--remote", "origin")["ok"]
    assert all(store.get_bytes(k)[:8] == b"ASSAYPK1" for k in store.list("packs/") if k.endswith(".pack"))
    for rel in files:
        (ws.root / rel).unlink()
    cli("data", "pull", "--checkout")
    assert all((ws.root / rel).read_bytes() == data for rel, data in files.items())


def test_a_workspace_pack_with_a_damaged_header_is_found_and_mended_from_its_own_chunks(ws: Workspace) -> None:
    fill(ws)
    add(ws, ["d"], name="ds")
    pack_id = workspace_packs(ws).index[chunk_of(ws, "d/f2.bin")].pack
    path = ws.store.local_path(f"packs/{pack_id}.pack")
    assert path is not None
    with open(path, "r+b") as fh:
        fh.write(b"ASSAYPK9")
    report = verify(Workspace(ws.root), all_objects=True)
    assert [d.object for d in report.damaged] == [f"pack packs/{pack_id}.pack"] and not report.ok
    result = repair(Workspace(ws.root))  # no remote: the chunks are good, only the pack is rewritten
    assert result.ok and result.repaired == [f"pack packs/{pack_id}.pack"]


def test_packs_without_an_index_on_a_remote_are_leftovers_that_push_repair_removes(ws: Workspace, tmp_path: Path,
                                                                                  cli) -> None:  # type: ignore[no-untyped-def]
    pushed(ws, str(tmp_path / "remote"))
    packs = tmp_path / "remote" / "packs"
    real = sorted(packs.glob("*.pack"))[0]
    old, young = packs / f"{'0' * 31}1.pack", packs / f"{'0' * 31}2.pack"
    old.write_bytes(real.read_bytes())  # an interrupted push's copy: its chunks are indexed in another pack
    young.write_bytes(os.urandom(1000))  # maybe a push still publishing it
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    report = verify(ws, remote="origin")
    assert report.ok and report.leftovers == [f"packs/{old.name}"] and report.leftover_bytes == old.stat().st_size
    proc = cli("data", "verify", "--remote", "origin")  # a note, not damage: exit 0
    assert "1 pack without an index" in proc.stderr and f"packs/{old.name}" in proc.stderr, proc.stderr
    result = repair(ws, remote="origin", on_remote=True)
    assert result.ok and result.orphans_removed == [f"packs/{old.name}"]
    assert not old.exists() and young.exists() and real.exists()
    assert verify(ws, remote="origin").leftovers == []


def test_push_repair_keeps_packs_without_an_index_unless_every_version_there_is_known(ws: Workspace,
                                                                                      tmp_path: Path) -> None:
    # A leftover pack may hold the only copy of a chunk that a version repair cannot read needs
    # (its ref or snapshot damaged), or that a workspace keeping its own chunks in the store
    # needs (its versions are in its ledger): it is dropped only when neither can be.
    pushed(ws, str(tmp_path / "remote"))
    remote = tmp_path / "remote"
    orphan = remote / "packs" / f"{'0' * 31}1.pack"
    orphan.write_bytes(os.urandom(1000))
    hours_ago = time.time() - 2 * 3600
    os.utime(orphan, (hours_ago, hours_ago))
    ref = remote / "versions" / "theirs" / f"{'a' * 32}.json"
    ref.parent.mkdir()
    ref.write_bytes(b"{not json")  # another workspace's version: not mended from here
    result = repair(ws, remote="origin", on_remote=True)
    assert result.unmended_refs == [f"versions/theirs/{'a' * 32}.json"]
    assert result.orphans_removed == [] and orphan.exists()
    ref.unlink()
    (remote / "ledgers").mkdir()
    (remote / "ledgers" / "abc.json").write_text("{}")  # a workspace's own store too
    assert repair(ws, remote="origin", on_remote=True).orphans_removed == [] and orphan.exists()
    (remote / "ledgers" / "abc.json").unlink()
    assert repair(ws, remote="origin", on_remote=True).orphans_removed == [f"packs/{orphan.name}"]
    assert not orphan.exists()
