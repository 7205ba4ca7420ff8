"""Damage is found and named; unsafe paths are refused; nothing corrupt is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import zstandard

from assay.data import add, checkout, verify
from assay.data._checkout import confine
from assay.data._packs import workspace_packs
from assay.data._snapshot import FileManifest, Snapshot, check_relpath
from assay.data._versions import load_snapshot, resolve
from assay.errors import CorruptionError, UnsafePathError
from assay.workspace import Workspace


def flip_bit_in_chunk(ws: Workspace, digest: bytes) -> None:
    packs = workspace_packs(ws)
    loc = packs.index[digest]
    path = ws.dir / "objects" / "packs" / f"{loc.pack}.pack"
    with open(path, "r+b") as fh:
        fh.seek(loc.offset + loc.stored // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0x10]))
    packs.close()


def make(ws: Workspace) -> tuple[bytes, bytes]:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "good.bin").write_bytes(os.urandom(50_000))
    (ws.root / "d" / "bad.bin").write_bytes(os.urandom(50_000))
    add(ws, ["d"], name="raw")
    snap = load_snapshot(ws.store, resolve(ws, "raw").snapshot)
    return snap.files["d/bad.bin"].chunks[0][0], snap.files["d/good.bin"].chunks[0][0]


def test_flipped_bit_is_named_by_verify(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    bad, _ = make(ws)
    (ws.root / "d2").mkdir()
    (ws.root / "d2" / "again.bin").write_bytes((ws.root / "d" / "bad.bin").read_bytes())
    add(ws, ["d2"], name="copy")  # the same chunk, in another dataset
    flip_bit_in_chunk(ws, bad)
    report = verify(ws, all_objects=True)
    assert not report.ok
    assert len(report.damaged) == 1
    damage = report.damaged[0]
    assert bad.hex() in damage.object and "hash mismatch" in damage.reason
    refs = {(a["ref"], a["path"]) for a in damage.affected}
    assert refs == {("raw@v1", "d/bad.bin"), ("copy@v1", "d2/again.bin")}
    proc = cli("data", "verify", "--json", check=1)
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["damaged"][0]["affected"]
    assert cli("data", "verify", "raw@v1", check=1).returncode == 1


def test_checkout_never_writes_corrupt_bytes(ws: Workspace, tmp_path: Path) -> None:
    bad, _ = make(ws)
    out = tmp_path / "out"
    flip_bit_in_chunk(ws, bad)
    with pytest.raises(CorruptionError, match="d/bad.bin"):
        checkout(ws, "raw", to=out)
    # All-or-nothing: neither file appeared, and no temp debris was left.
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == []


def test_checkout_in_place_keeps_old_files_when_a_chunk_is_bad(ws: Workspace) -> None:
    bad, _ = make(ws)
    original = (ws.root / "d" / "bad.bin").read_bytes()
    (ws.root / "d" / "bad.bin").write_bytes(b"new content")
    add(ws, ["d"], name="raw")
    flip_bit_in_chunk(ws, bad)
    with pytest.raises(CorruptionError, match="d/bad.bin"):
        checkout(ws, "raw@v1")
    assert (ws.root / "d" / "bad.bin").read_bytes() == b"new content"
    assert original != b"new content"


def test_damaged_snapshot_is_reported(ws: Workspace) -> None:
    make(ws)
    v = resolve(ws, "raw")
    path = ws.dir / "objects" / "snapshots" / v.snapshot
    doc = json.loads(zstandard.ZstdDecompressor().decompress(path.read_bytes()))
    doc["files"]["d/good.bin"][0] += 1  # lie about a size
    path.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(doc).encode()))
    report = verify(ws)
    assert not report.ok
    assert any("snapshot" in d.object and d.affected[0]["ref"] == "raw@v1" for d in report.damaged)


def test_missing_pack_is_reported(ws: Workspace) -> None:
    make(ws)
    for p in (ws.dir / "objects" / "packs").glob("*.pack"):
        p.unlink()
    report = verify(ws)
    assert not report.ok
    assert {a["path"] for d in report.damaged for a in d.affected} == {"d/good.bin", "d/bad.bin"}


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a/.", "", "a\\..\\b", "a/\x00"])
def test_unsafe_manifest_paths_rejected(path: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relpath(path)
    with pytest.raises(UnsafePathError):
        Snapshot({path: FileManifest(0, 0o644, ())})


def test_snapshot_from_hostile_remote_is_rejected(ws: Workspace) -> None:
    doc = {"format": 1, "files": {"../../outside.txt": [0, 420, []]}, "empty_dirs": []}
    data = zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
    ws.store.put_bytes("snapshots/" + "ab" * 32, data)
    with pytest.raises(CorruptionError, match="refusing path '../../outside.txt'"):
        load_snapshot(ws.store, "ab" * 32)


def test_file_and_folder_with_one_name_rejected() -> None:
    with pytest.raises(UnsafePathError, match="both a file and a folder"):
        _ = Snapshot({"a": FileManifest(0, 0o644, ()), "a/b": FileManifest(0, 0o644, ())}).id


def test_symlink_escape_refused_at_checkout(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x.txt").write_text("payload")
    add(ws, ["d"], name="ds")
    outside = tmp_path.parent / f"outside-{os.getpid()}"
    outside.mkdir(exist_ok=True)
    target = tmp_path / "target"
    target.mkdir()
    (target / "d").symlink_to(outside)  # a folder on the way leads outside the target
    with pytest.raises(UnsafePathError, match="leads outside"):
        checkout(ws, "ds", to=target)
    assert not (outside / "x.txt").exists()
    with pytest.raises(UnsafePathError):
        confine(target, "../x")


def test_symlinked_file_in_target_is_replaced_not_followed(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x.txt").write_text("payload")
    add(ws, ["d"], name="ds")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "target"
    (target / "d").mkdir(parents=True)
    (target / "d" / "x.txt").symlink_to(victim)
    checkout(ws, "ds", to=target, force=True)
    assert victim.read_text() == "precious"
    assert (target / "d" / "x.txt").read_text() == "payload" and not (target / "d" / "x.txt").is_symlink()


def test_symlinks_that_escape_are_not_added(ws: Workspace, tmp_path: Path) -> None:
    secret = tmp_path.parent / f"secret-{os.getpid()}.txt"
    secret.write_text("do not take me")
    (ws.root / "d").mkdir()
    (ws.root / "d" / "ok.txt").write_text("ok")
    (ws.root / "d" / "link").symlink_to(secret)
    (ws.root / "d" / "inside").symlink_to(ws.root / "d" / "ok.txt")
    r = add(ws, ["d"], name="ds")
    snap = load_snapshot(ws.store, r.version.snapshot)
    assert set(snap.files) == {"d/ok.txt", "d/inside"}
    assert any("outside the workspace" in w for w in r.warnings)


def test_pack_index_round_trips_digests_ending_in_nul_bytes() -> None:
    from assay.data._packs import decode_index, encode_index
    from assay.errors import CorruptionError

    entries = [(bytes(31) + b"\x00", 8, 10, 12, 1, b"\x01" * 7 + b"\x00"),
               (b"\xff" * 30 + b"\x00\x00", 1 << 40, 5 << 20, 5, 0, bytes(8))]
    data = encode_index(entries)
    assert decode_index(data, "k") == entries
    damaged = bytearray(data)
    damaged[20] ^= 1
    with pytest.raises(CorruptionError, match="checksum"):
        decode_index(bytes(damaged), "k")
    # A size no writer makes is damage, even under a good checksum (whoever writes an index signs it).
    for e in ((bytes(32), 0, 1 << 30, 5, 1, bytes(8)), (bytes(32), 0, 5, 2**32 - 1, 1, bytes(8)),
              (bytes(32), 2**64 - 1, 5, 5, 1, bytes(8))):
        with pytest.raises(CorruptionError, match="out of range"):
            decode_index(encode_index([e]), "k")


def test_file_manifest_binary_encoding_round_trips() -> None:
    m = FileManifest(70000, 0o755, ((bytes(32), 65536), (b"\x7c" * 32, 4464)))  # 0x7c is "|"
    assert FileManifest.decode(m.encode()) == m
    assert FileManifest.decode(FileManifest(0, 0o644, ()).encode()) == FileManifest(0, 0o644, ())
    with pytest.raises(ValueError):
        FileManifest.decode(b"12:644|" + bytes(35))


def test_damaged_compressed_chunk_of_a_big_file_is_caught_by_checkout_and_push(ws: Workspace, tmp_path: Path) -> None:
    # Text compresses, and a file over 1 MiB is checked out chunk by chunk into the
    # reused buffers; a flipped bit must still stop checkout and push.
    import random

    from assay.data import add_remote, push

    rng = random.Random(3)
    lines = [f"{i},{rng.randint(0, 10**9)},{rng.choice(['red', 'green', 'blue'])}\n" for i in range(200_000)]
    (ws.root / "t").mkdir()
    (ws.root / "t" / "table.csv").write_text("".join(lines))
    add(ws, ["t"], name="tab")
    manifest = load_snapshot(ws.store, resolve(ws, "tab").snapshot).files["t/table.csv"]
    assert manifest.size > 1 << 20
    packs = workspace_packs(ws)
    digest = manifest.chunks[-1][0]
    assert packs.index[digest].flags & 1  # stored compressed
    checkout(ws, "tab", to=tmp_path / "ok")
    assert (tmp_path / "ok" / "t" / "table.csv").read_text() == "".join(lines)
    flip_bit_in_chunk(ws, digest)
    with pytest.raises(CorruptionError, match="t/table.csv"):
        checkout(ws, "tab", to=tmp_path / "out")
    add_remote(ws, "r", str(tmp_path / "remote"))
    with pytest.raises(CorruptionError):
        push(ws)


def test_decompress_into_refuses_a_frame_longer_than_the_index_says() -> None:
    import zstandard

    from assay.data._packs import _decompress_into

    frame = zstandard.ZstdCompressor(level=1).compress(b"x" * 5000)
    assert bytes(_decompress_into(frame, 5000)) == b"x" * 5000
    assert len(_decompress_into(frame, 4000)) == 4001  # one byte past: decode's length check fails


@pytest.mark.parametrize("dirs", [(), ("e1", 'e"2', "ü/x", "t\tx")])
def test_snapshot_encoding_is_compact_json_of_its_document(dirs: tuple[str, ...]) -> None:
    # Written out by hand for speed: it must stay the bytes json.dumps gives, for every name.
    # (A lone surrogate, or a line break before what reads as a tree entry, is refused:
    # tests/data/test_hostile_remote.py.)
    names = ["a", 'q"uote', "tab\there", "nl\nx", "cr\rx", "uni é 日本", "ctl\x01x", "del\x7fx", "sp ace", "e\u2028x", "x/y/z",
             "\x1f", "bidi\u202ex"]
    files = {f"d{i}/{n}": FileManifest(sum(j + 1 for j in range(i % 4)), 0o755 if i % 2 else 0o644,
                                       tuple((bytes([i, j]) * 16, j + 1) for j in range(i % 4)))
             for i, n in enumerate(names * 2)}
    snap = Snapshot(files, dirs)
    doc = {"format": 1, "id": snap.id, "files": {p: files[p].to_json() for p in sorted(files)}, "empty_dirs": list(snap.empty_dirs)}
    assert snap.encode() == json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape")
    again = Snapshot.decode(snap.encode(), expect_id=snap.id)
    assert again.files == files and again.empty_dirs == snap.empty_dirs


def test_file_manifest_encoding_and_ids_never_change() -> None:
    # Every stored snapshot's Merkle root is made of these ids: an encoding that moved would
    # make every existing version read as damaged.
    multi = FileManifest(70000, 0o755, ((bytes(32), 65536), (b"\x7c" * 32, 4464)))
    assert multi.encode() == b"70000:755|" + bytes(32) + (65536).to_bytes(4, "little") + b"\x7c" * 32 + (4464).to_bytes(
        4, "little")
    assert FileManifest(5, 0o644, ((bytes(range(32)), 5),)).id == (
        "6a000ca728210e79ff434fdc46311e5f0fded7b005e3a01a28b85997986aac28")
    assert FileManifest(0, 0o600, ()).id == "67d8a9d7559290cfbf6ecde541e731555c571dc5dba1cfaf0383f7a35904e579"
    assert FileManifest(0, 0o600, ()).encode() == b"0:600|"


def test_damage_messages_name_each_file_and_pack_once(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    bad, _ = make(ws)
    flip_bit_in_chunk(ws, bad)
    (ws.root / "d" / "bad.bin").unlink()
    proc = cli("data", "checkout", "raw@v1", check=1)
    assert "cannot check out d/bad.bin: chunk " in proc.stderr and "(needed by" not in proc.stderr, proc.stderr
    assert proc.stderr.count("d/bad.bin") == 1
    pack = workspace_packs(ws).index[bad].pack
    path = ws.dir / "objects" / "packs" / f"{pack}.pack"
    os.truncate(path, 9)
    reasons = {d["reason"] for d in cli.json("data", "verify", check=1)["damaged"]}
    assert reasons == {"cut off: its pack is truncated"}, reasons
    path.unlink()
    reasons = {d["reason"] for d in cli.json("data", "verify", "raw@v1", check=1)["damaged"]}
    assert reasons == {"its pack is missing"}, reasons
