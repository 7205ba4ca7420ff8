"""A remote is untrusted input. Each forgery here was reproduced against assay by a fuzzing
review: a snapshot that keeps its id while naming other files, mode bits the id does not
cover, sizes that do not add up, decompression bombs, values the ledger cannot hold. Each
must be refused as damage (exit 1, naming the object) or an input error, never accepted,
never an internal error, and never allocate what the remote claims."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import blake3
import pytest
import zstandard

from assay.data import FileManifest
from assay.data._snapshot import check_relpath
from assay.errors import UnsafePathError

IDX1 = struct.Struct("<32sQIIB")


class Pair:
    """A workspace with a small dataset pushed to a folder remote, and a fresh clone."""

    def __init__(self, cli, tmp: Path) -> None:  # type: ignore[no-untyped-def]
        self.cli, self.remote, self.ws1, self.ws2 = cli, tmp / "remote", tmp / "ws1", tmp / "ws2"
        cli("init", str(self.ws1))
        (self.ws1 / "data" / "sub").mkdir(parents=True)
        (self.ws1 / "data" / "a.txt").write_text("hello\n" * 100)
        (self.ws1 / "data" / "big.bin").write_bytes(random.Random(1).randbytes(3 << 20))
        (self.ws1 / "data" / "sub" / "c.txt").write_text("deep\n")
        cli("data", "add", "data", "--name", "ds", cwd=self.ws1)
        cli("remote", "add", "origin", str(self.remote), cwd=self.ws1)
        cli("data", "push", cwd=self.ws1)
        cli("init", str(self.ws2))
        cli("remote", "add", "origin", str(self.remote), cwd=self.ws2)

    @property
    def ref_path(self) -> Path:
        (path,) = (self.remote / "versions" / "ds").glob("*.json")
        return path

    @property
    def snapshot_id(self) -> str:
        return json.loads(self.ref_path.read_text())["snapshot"]

    def read_snapshot(self, sid: str) -> dict[str, Any]:
        data = (self.remote / "snapshots" / sid).read_bytes()
        return json.loads(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30))

    def write_snapshot(self, sid: str, doc: dict[str, Any] | bytes, **kw: Any) -> None:
        raw = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
        (self.remote / "snapshots" / sid).write_bytes(zstandard.ZstdCompressor(**kw).compress(raw))

    def add_ref(self, sid: str, **extra: Any) -> str:
        vid = uuid.uuid4().hex
        entry = {"id": vid, "number": 2, "snapshot": sid, "message": "m", "created_at": "2026-11-30T16:00:00+00:00",
                 "files": 1, "bytes": 1, "run_id": None, "meta": {}, "kind": "dataset", "sources": ["data"], **extra}
        (self.remote / "versions" / "ds" / f"{vid}.json").write_text(json.dumps(entry))
        return vid


@pytest.fixture
def pair(cli, tmp_path: Path) -> Pair:  # type: ignore[no-untyped-def]
    return Pair(cli, tmp_path)


def _manifest_id(size: int, mode: int, chunks: list[list[Any]]) -> str:
    body = b"".join(bytes.fromhex(d) + n.to_bytes(4, "little") for d, n in chunks)
    return blake3.blake3(b"%d:%o|" % (size, mode & 0o777) + body).hexdigest()


def _damage(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    for word in words:
        assert word in proc.stderr + proc.stdout, (word, proc.stderr)


def test_a_line_break_in_a_name_cannot_stand_for_two_entries(pair: Pair) -> None:
    # A folder's node hashes "kind hash name\n" per entry: a name holding
    # "a.txt\nf <id> big.bin" hashed exactly as the two entries it replaced.
    sid = pair.snapshot_id
    doc = pair.read_snapshot(sid)
    big, a = doc["files"].pop("data/big.bin"), doc["files"].pop("data/a.txt")
    doc["files"][f"data/a.txt\nf {_manifest_id(*big)} big.bin"] = a
    pair.write_snapshot(sid, doc)
    _damage(pair.cli("data", "pull", "--checkout", check=None, cwd=pair.ws2), sid, "refusing path")
    assert not (pair.ws2 / "data").exists()
    _damage(pair.cli("data", "verify", "--remote", "origin", check=None, cwd=pair.ws2), sid)
    with pytest.raises(UnsafePathError):
        check_relpath(f"data/a\nd {'0' * 64} b")
    assert check_relpath("data/a\nb") == "data/a\nb"  # a line break alone is only part of a name


def test_a_name_with_a_line_break_is_data_unless_it_reads_as_a_tree_entry(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Versions made before this rule may hold such names: they stay readable, and new ones too.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "two\nlines").write_text("x")
    cli("data", "add", "d", "--name", "ds")
    cli("data", "verify", "--all")
    (tmp_path / "d" / "two\nlines").unlink()
    cli("data", "checkout", "ds@v1", "--force")
    assert (tmp_path / "d" / "two\nlines").read_text() == "x"
    (tmp_path / "d" / f"a\nf {'ab' * 32} b").write_text("forgery-shaped")
    proc = cli("data", "add", "d", "--name", "ds", check=2)
    assert "second tree entry" in proc.stderr


@pytest.mark.parametrize("forge", ["setuid", "size", "digest", "negative", "bool"])
def test_manifests_whose_id_does_not_cover_them_are_refused(forge: str) -> None:
    digest = "ab" * 32
    raw = {"setuid": [600, 0o4644, [[digest, 600]]], "size": [10 ** 12, 0o644, [[digest, 600]]],
           "digest": [600, 0o644, [["ab" * 31, 600]]], "negative": [600, -1, [[digest, 600]]],
           "bool": [True, 0o644, [[digest, 1]]]}[forge]
    with pytest.raises(ValueError):
        FileManifest.from_json(raw)
    assert FileManifest.from_json([600, 0o644, [[digest, 600]]]).mode == 0o644  # the honest one reads


def test_setuid_bits_from_a_remote_never_reach_a_file(pair: Pair) -> None:
    sid = pair.snapshot_id
    doc = pair.read_snapshot(sid)
    doc["files"]["data/a.txt"][1] = 0o4644  # the id hashes mode & 0o777: the forged snapshot keeps it
    pair.write_snapshot(sid, doc)
    _damage(pair.cli("data", "pull", "--checkout", check=None, cwd=pair.ws2), sid, "mode")
    assert not (pair.ws2 / "data" / "a.txt").exists()


def test_a_chunk_that_claims_gigabytes_is_not_allocated(pair: Pair) -> None:
    # An index entry claiming a 4 GiB chunk (re-signed: the remote writes the checksum too).
    (idx,) = [p for p in (pair.remote / "packs").glob("*.idx")]
    data = idx.read_bytes()
    if data[:8] != b"ASSAYIX1":
        pytest.skip("the remote's index is not in format 1")
    entries = [list(e) for e in IDX1.iter_unpack(data[16:-32])]
    entries[0][3] = 2 ** 32 - 1
    body = b"ASSAYIX1" + struct.pack("<Q", len(entries)) + b"".join(IDX1.pack(*e) for e in entries)
    idx.write_bytes(body + blake3.blake3(body).digest())
    proc = _limited(pair, "data", "pull")
    _damage(proc, "out of range")


def test_a_chunk_frame_that_declares_gigabytes_is_not_decompressed(pair: Pair, tmp_path: Path) -> None:
    from assay.data._packs import _decompress

    bomb = zstandard.ZstdCompressor().compress(b"\0" * (64 << 20))  # declares 64 MiB in its header
    with pytest.raises(ValueError, match="claims more"):
        _decompress(bomb, 1000)
    assert _decompress(zstandard.ZstdCompressor().compress(b"x" * 1000), 1000) == b"x" * 1000


def test_a_small_snapshot_object_that_decompresses_to_gigabytes_is_damage(pair: Pair) -> None:
    sid = "cd" * 32
    # 300 MiB of whitespace: a few kB stored; its frame declares the size, which zstd would allocate.
    pair.write_snapshot(sid, b" " * (300 << 20))
    assert (pair.remote / "snapshots" / sid).stat().st_size < 100_000
    pair.add_ref(sid)
    proc = _limited(pair, "data", "pull")
    _damage(proc, f"snapshots/{sid}", "more than a snapshot")
    # Without a declared size, the decompression stops at the bound.
    pair.write_snapshot(sid, b" " * (300 << 20), write_content_size=False)
    _damage(_limited(pair, "data", "pull"), f"snapshots/{sid}")


def _limited(pair: Pair, *args: str) -> subprocess.CompletedProcess[str]:
    """``assay ARGS`` in the clone with 1.5 GB of address space: an allocation of what a
    remote claims fails there (as exit 3, MemoryError) instead of passing unnoticed."""
    return subprocess.run(["bash", "-c", 'ulimit -v 1500000; exec "$@"', "-", sys.executable, "-m", "assay", *args],
                          cwd=pair.ws2, capture_output=True, text=True, timeout=300, check=False)


def _peak_rss(cwd: Path, *args: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """``assay ARGS`` run under a fresh wrapper process, with the peak resident set of the
    assay process in bytes (the wrapper's only child, so no other test's process counts)."""
    wrap = ("import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(json.dumps([p.returncode, p.stdout, p.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    out = subprocess.run([sys.executable, "-c", wrap, sys.executable, "-m", "assay", *args], cwd=cwd,
                         capture_output=True, text=True, timeout=600, check=True)
    rc, stdout, stderr, kib = json.loads(out.stdout)
    return kib << 10, subprocess.CompletedProcess(args, rc, stdout, stderr)


@pytest.mark.slow
def test_a_remote_index_of_junk_entries_is_checked_and_repaired_in_bounded_memory(pair: Pair) -> None:
    # 200,000 entries under digests nothing has, each pointing at one small chunk's bytes. Verify
    # and repair kept an exception (and its message) per damaged entry until the end: about
    # 470 MB and 560 MB peak here, 2.5 GB per million entries. Now a batch's errors are folded
    # into counts before the next batch is read: about 110 MB and 160 MB, the loaded index itself.
    from assay.data._packs import IDX_MAGIC_V1, decode_index, encode_index

    (idx,) = (pair.remote / "packs").glob("*.idx")
    data = idx.read_bytes()
    entries = decode_index(data, str(idx))
    small = min(entries, key=lambda e: e[2])
    rng = random.Random(7)
    junk = [(rng.randbytes(32), *small[1:]) for _ in range(200_000)]
    idx.write_bytes(encode_index(entries + junk, fmt=1 if data.startswith(IDX_MAGIC_V1) else 2))
    del junk
    peak, proc = _peak_rss(pair.ws1, "data", "verify", "--remote", "origin", "--json")
    assert proc.returncode == 1, proc.stderr
    (damage,) = json.loads(proc.stdout)["damaged"]  # the output is as it was: one line for the pack
    assert damage["object"] == f"pack packs/{idx.stem}.pack" and not damage["affected"]
    assert "200000 chunks its index lists, which no version uses, are damaged" in damage["reason"]
    assert peak < 300 << 20, f"verify peaked at {peak >> 20} MiB"
    peak, proc = _peak_rss(pair.ws1, "data", "push", "--repair", "--json")
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert peak < 300 << 20, f"push --repair peaked at {peak >> 20} MiB"


@pytest.mark.parametrize("field,value", [("number", 10 ** 30), ("bytes", 10 ** 25), ("message", {}), ("kind", ["x"]),
                                         ("number", True), ("number", -5), ("id", "../../x")])
def test_version_refs_with_values_the_ledger_cannot_hold_are_damage(pair: Pair, field: str, value: Any) -> None:
    ref = json.loads(pair.ref_path.read_text())
    ref[field] = value
    pair.ref_path.write_text(json.dumps(ref))
    proc = pair.cli("data", "pull", check=None, cwd=pair.ws2)
    assert proc.returncode in (1, 2) and "internal error" not in proc.stderr, proc.stderr
    verify = pair.cli("data", "verify", "--remote", "origin", check=None, cwd=pair.ws2)
    _damage(verify, "version ref")
    mended = pair.cli("data", "push", "--repair", check=None, cwd=pair.ws1)
    assert "internal error" not in mended.stderr, mended.stderr


def test_a_deeply_nested_ref_and_a_snapshot_that_is_a_folder_are_damage(pair: Pair) -> None:
    sid = pair.snapshot_id
    pair.ref_path.write_text("[" * 100_000 + "]" * 100_000)
    _damage(pair.cli("data", "verify", "--remote", "origin", check=None, cwd=pair.ws2), "version ref")
    pair.cli("data", "push", "--repair", cwd=pair.ws1)  # writes the ref again
    snap = pair.remote / "snapshots" / sid
    snap.unlink()
    snap.mkdir()
    _damage(pair.cli("data", "pull", check=None, cwd=pair.ws2), f"snapshots/{sid}")


def test_a_run_record_with_a_huge_exit_code_is_read_without_it(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "out").mkdir()
    cli("run", "--out", "o=out", "--", sys.executable, "-c", "open('out/f', 'w').write('x')")
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    cli("data", "push")
    (record,) = (tmp_path / "remote" / "runs").glob("*.json")
    doc = json.loads(record.read_text())
    doc["exit_code"] = 10 ** 30
    record.write_text(json.dumps(doc))
    clone = tmp_path / "clone"
    cli("init", str(clone))
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=clone)
    cli("data", "pull", cwd=clone)
    graph = cli.json("lineage", "o@v1", cwd=clone)
    assert any(n["id"].startswith("run:") for n in graph["nodes"]), graph


def test_a_folder_that_is_no_dataset_s_name_does_not_block_the_rest(pair: Pair) -> None:
    stray = pair.remote / "versions" / "bad name!"
    stray.mkdir()
    (stray / f"{uuid.uuid4().hex}.json").write_text("{}")
    pulled = pair.cli.json("data", "pull", cwd=pair.ws2)
    assert pulled["versions"] == ["ds@v1"] and any("bad name!" in n for n in pulled["notes"])
    _damage(pair.cli("data", "verify", "--remote", "origin", check=None, cwd=pair.ws2), "versions/bad name!/")
    assert "internal error" not in pair.cli("data", "push", "--repair", check=None, cwd=pair.ws1).stderr


def test_an_index_that_lists_a_chunk_twice_is_damage_that_repair_mends(pair: Pair) -> None:
    # The first entry points at another chunk's bytes: readers took it, and repair saw the
    # second (good) one and had nothing to mend.
    idx = max((pair.remote / "packs").glob("*.idx"), key=lambda p: p.stat().st_size)
    data = idx.read_bytes()
    if data[:8] != b"ASSAYIX1":
        pytest.skip("the remote's index is not in format 1")
    entries = [list(e) for e in IDX1.iter_unpack(data[16:-32])]
    assert len(entries) >= 2
    entries.insert(0, [entries[1][0], *entries[0][1:]])
    body = b"ASSAYIX1" + struct.pack("<Q", len(entries)) + b"".join(IDX1.pack(*e) for e in entries)
    idx.write_bytes(body + blake3.blake3(body).digest())
    _damage(pair.cli("data", "verify", "--remote", "origin", check=None, cwd=pair.ws2), "listed twice")
    mended = pair.cli.json("data", "push", "--repair", cwd=pair.ws1)
    assert mended["ok"], mended
    pair.cli("data", "pull", "--checkout", cwd=pair.ws2)
    assert (pair.ws2 / "data" / "big.bin").read_bytes() == (pair.ws1 / "data" / "big.bin").read_bytes()


@pytest.mark.parametrize("junk", [3, 400])
def test_damaged_chunks_no_version_uses_are_counted_per_pack_beyond_a_few(pair: Pair, junk: int) -> None:
    from assay.data._packs import IDX_MAGIC_V1, decode_index, encode_index

    (idx,) = (pair.remote / "packs").glob("*.idx")
    data = idx.read_bytes()
    entries = decode_index(data, str(idx))
    rng = random.Random(junk)
    # entries that point at real bytes under digests nothing has: a hostile remote's junk
    idx.write_bytes(encode_index(entries + [(rng.randbytes(32), *entries[0][1:]) for _ in range(junk)],
                                 fmt=1 if data.startswith(IDX_MAGIC_V1) else 2))
    proc = pair.cli("data", "verify", "--remote", "origin", "--json", cwd=pair.ws1, check=1)
    damaged = json.loads(proc.stdout)["damaged"]
    assert all(not d["affected"] for d in damaged)
    if junk <= 10:
        assert len(damaged) == junk and all(d["object"].startswith("chunk ") for d in damaged)
    else:
        assert len(damaged) == 1 and damaged[0]["object"] == f"pack packs/{idx.stem}.pack"
        assert f"{junk} chunks its index lists, which no version uses, are damaged" in damaged[0]["reason"]
    # what versions need is still checked and named: one of their chunks damaged as well
    pack = idx.with_suffix(".pack")
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 1
    pack.write_bytes(bytes(data))
    proc = pair.cli("data", "verify", "--remote", "origin", "--json", cwd=pair.ws1, check=1)
    assert any(d["affected"] and d["object"].startswith("chunk ") for d in json.loads(proc.stdout)["damaged"])
