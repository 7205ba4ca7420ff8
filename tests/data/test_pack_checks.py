"""The stored-bytes checksums in pack indexes: push copies compressed chunks after
checking them by checksum, pull never trusts a remote's checksums, verify checks both,
and indexes written before the checksums (format 1) are still read."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import blake3
import pytest

from assay.data import add, add_remote, checkout, pull, push, verify
from assay.data import _packs
from assay.data._packs import (
    CHECK_BYTES,
    FLAG_ZSTD,
    IDX_ENTRY_V1,
    IDX_MAGIC_V1,
    decode_index,
    encode_index,
    workspace_packs,
)
from assay.errors import CorruptionError
from assay.workspace import Workspace


def table(ws: Workspace, rows: int = 150_000, seed: int = 1) -> str:
    """A CSV over 1 MiB (several chunks, stored compressed) plus a random file (stored raw)."""
    rng = random.Random(seed)
    text = "".join(f"{i},{rng.randint(0, 10**9)},{rng.choice(['red', 'green', 'blue'])}\n" for i in range(rows))
    (ws.root / "t").mkdir(exist_ok=True)
    (ws.root / "t" / "table.csv").write_text(text)
    (ws.root / "t" / "noise.bin").write_bytes(rng.randbytes(300_000))
    add(ws, ["t"], name="tab")
    return text


def idx_paths(root: Path) -> list[Path]:
    return sorted((root / "packs").glob("*.idx"))


def rewrite_index(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    entries = decode_index(path.read_bytes(), str(path))
    path.write_bytes(encode_index([change(e) for e in entries]))


def as_format_1(path: Path) -> None:
    entries = decode_index(path.read_bytes(), str(path))
    body = IDX_MAGIC_V1 + struct.pack("<Q", len(entries)) + b"".join(IDX_ENTRY_V1.pack(*e[:5]) for e in entries)
    path.write_bytes(body + blake3.blake3(body).digest())


def flip_stored_byte(pack_root: Path, entry: tuple, pack_id: str) -> None:  # type: ignore[type-arg]
    with open(pack_root / "packs" / f"{pack_id}.pack", "r+b") as fh:
        fh.seek(entry[1] + entry[2] // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0x04]))


def compressed_entry(root: Path) -> tuple[str, tuple]:  # type: ignore[type-arg]
    for path in idx_paths(root):
        for e in decode_index(path.read_bytes(), str(path)):
            if e[4] & FLAG_ZSTD:
                return path.stem, e
    raise AssertionError("no compressed chunk")


def test_every_new_index_entry_holds_the_checksum_of_its_stored_bytes(ws: Workspace) -> None:
    table(ws)
    kinds = set()
    for path in idx_paths(ws.dir / "objects"):
        data = (path.with_suffix(".pack")).read_bytes()
        for digest, off, stored, _raw, flags, check in decode_index(path.read_bytes(), str(path)):
            assert check == blake3.blake3(data[off:off + stored]).digest(length=CHECK_BYTES)
            if not flags & FLAG_ZSTD:
                assert check == digest[:CHECK_BYTES]
            kinds.add(flags & FLAG_ZSTD)
    assert kinds == {0, FLAG_ZSTD}  # both kinds were exercised


def test_push_copies_compressed_chunks_without_decompressing_them(ws: Workspace, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    text = table(ws)

    def no_decompress(*args: object, **kwargs: object) -> None:
        raise AssertionError("push decompressed a chunk")

    add_remote(ws, "r", str(tmp_path / "remote"))
    with monkeypatch.context() as m:
        m.setattr(_packs, "_decompress_into", no_decompress)
        m.setattr(_packs, "_decompress", no_decompress)
        result = push(ws)
    assert result.chunks_transferred > 0
    # The remote's indexes are in format 1, which older assays read too; its chunks are whole.
    for path in idx_paths(tmp_path / "remote"):
        assert path.read_bytes()[:8] == IDX_MAGIC_V1
    other = Workspace.init(tmp_path / "other")
    add_remote(other, "r", str(tmp_path / "remote"))
    pull(other)
    checkout(other, "tab", to=tmp_path / "out")
    assert (tmp_path / "out" / "t" / "table.csv").read_text() == text


def test_push_refuses_a_compressed_chunk_whose_stored_bytes_changed(ws: Workspace, tmp_path: Path) -> None:
    table(ws)
    pack_id, entry = compressed_entry(ws.dir / "objects")
    flip_stored_byte(ws.dir / "objects", entry, pack_id)
    workspace_packs(ws).close()
    add_remote(ws, "r", str(tmp_path / "remote"))
    with pytest.raises(CorruptionError, match="do not match their checksum"):
        push(ws)
    report = verify(ws, all_objects=True)
    assert not report.ok and [d.object.split()[1] for d in report.damaged] == [entry[0].hex()]


def test_verify_finds_an_index_checksum_that_does_not_match_intact_bytes(ws: Workspace) -> None:
    table(ws)
    assert verify(ws, all_objects=True).ok
    pack_id, entry = compressed_entry(ws.dir / "objects")
    path = ws.dir / "objects" / "packs" / f"{pack_id}.idx"
    rewrite_index(path, lambda e: (*e[:5], bytes(CHECK_BYTES)) if e[0] == entry[0] else e)
    report = verify(ws, all_objects=True)
    assert [d.object.split()[1] for d in report.damaged] == [entry[0].hex()]
    assert "checksum" in report.damaged[0].reason


def test_pull_does_not_trust_the_remote_checksums(ws: Workspace, tmp_path: Path) -> None:
    """A remote whose stored bytes are damaged but whose index agrees with them is
    still caught (pull checks content); a remote whose checksums are wrong but whose
    bytes are right is pulled, and the workspace records checksums of its own."""
    table(ws)
    add_remote(ws, "r", str(tmp_path / "remote"))
    push(ws)
    remote = tmp_path / "remote"
    pack_id, entry = compressed_entry(remote)

    # Wrong checksums, right bytes: pulled, and the local index has correct checksums.
    pristine = {p: p.read_bytes() for p in idx_paths(remote)}
    for path in idx_paths(remote):
        rewrite_index(path, lambda e: (*e[:5], b"\xee" * CHECK_BYTES))
    good = Workspace.init(tmp_path / "good")
    add_remote(good, "r", str(remote))
    pull(good)
    assert verify(good, all_objects=True).ok
    for path in idx_paths(good.dir / "objects"):
        data = path.with_suffix(".pack").read_bytes()
        for _d, off, stored, _r, _f, check in decode_index(path.read_bytes(), str(path)):
            assert check == blake3.blake3(data[off:off + stored]).digest(length=CHECK_BYTES)
    for path, data in pristine.items():
        path.write_bytes(data)

    # Damaged bytes, checksum updated to match them: refused by pull.
    flip_stored_byte(remote, entry, pack_id)
    pack = (remote / "packs" / f"{pack_id}.pack").read_bytes()
    forged = blake3.blake3(pack[entry[1]:entry[1] + entry[2]]).digest(length=CHECK_BYTES)
    rewrite_index(remote / "packs" / f"{pack_id}.idx", lambda e: (*e[:5], forged) if e[0] == entry[0] else e)
    bad = Workspace.init(tmp_path / "bad")
    add_remote(bad, "r", str(remote))
    with pytest.raises(CorruptionError, match="damaged"):
        pull(bad)
    assert verify(bad, all_objects=True).ok  # nothing damaged was kept


def test_format_1_indexes_are_read_and_pushed_by_decoding(ws: Workspace, tmp_path: Path) -> None:
    text = table(ws)
    for path in idx_paths(ws.dir / "objects"):
        as_format_1(path)
    fresh = Workspace(ws.root)
    packs = workspace_packs(fresh)
    assert packs.index and all(loc.check == b"" for loc in packs.index.values())
    assert verify(fresh, all_objects=True).ok
    add_remote(fresh, "r", str(tmp_path / "remote"))
    push(fresh)  # checked by decoding
    assert verify(fresh, remote="r").ok
    checkout(fresh, "tab", to=tmp_path / "out")
    assert (tmp_path / "out" / "t" / "table.csv").read_text() == text
    # A damaged chunk under a format-1 index is still refused by push.
    pack_id, entry = compressed_entry(ws.dir / "objects")
    flip_stored_byte(ws.dir / "objects", entry, pack_id)
    again = Workspace(ws.root)
    add_remote(again, "r2", str(tmp_path / "remote2"))
    with pytest.raises(CorruptionError, match="damaged"):
        push(again, remote="r2")


def test_an_index_from_a_newer_format_says_so() -> None:
    body = b"ASSAYIX9" + struct.pack("<Q", 0)
    with pytest.raises(CorruptionError, match="newer assay"):
        decode_index(body + blake3.blake3(body).digest(), "packs/x.idx")
    with pytest.raises(CorruptionError, match="bad header"):
        decode_index(b"garbage!" + bytes(40), "packs/x.idx")
    with pytest.raises(CorruptionError, match="truncated"):  # a known format cut short is damage, not news
        decode_index(b"ASSAYIX2" + bytes(20), "packs/x.idx")


def test_a_flipped_bit_in_an_index_header_is_damage_not_a_newer_format() -> None:
    from assay.data._packs import decode_index, encode_index, newer_index
    from assay.errors import CorruptionError

    good = encode_index([(bytes(32), 8, 10, 10, 0, bytes(8))])
    flipped = good[:7] + bytes([good[7] ^ 0x01]) + good[8:]  # "2" -> "3": a digit, yet not a new format
    assert not newer_index(flipped)
    with pytest.raises(CorruptionError, match="damaged"):
        decode_index(flipped, "packs/x.idx")
    import blake3

    body = b"ASSAYIX3" + good[8:-32]
    newer = body + blake3.blake3(body).digest()  # whole, in a format this assay does not know
    assert newer_index(newer)
    with pytest.raises(CorruptionError, match="newer assay"):
        decode_index(newer, "packs/x.idx")
