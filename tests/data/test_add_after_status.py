"""`add` after `status`: a big file that status hashed is not chunked again; only its
chunks that are not stored yet are read, each checked against its digest."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from assay.data import _chunking, add, checkout, status, verify
from assay.data._versions import load_snapshot
from assay.workspace import Workspace


def text(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return "".join(f"{i},{rng.randint(0, 10**9)},{rng.random():.6f}\n" for i in range(rows)).encode()


@pytest.fixture
def grown(ws: Workspace) -> Path:
    path = ws.root / "d" / "table.csv"
    path.parent.mkdir()
    path.write_bytes(text(200_000, 1))
    add(ws, ["d"], name="t")
    with open(path, "ab") as fh:
        fh.write(text(20_000, 2))
    past = time.time_ns() - 5_000_000_000  # outside the stat cache's racy window
    os.utime(path, ns=(past, past))
    st = status(ws, "t")
    assert st.modified == ["d/table.csv"] and st.rehashed == 1
    return path


def chunk_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = _chunking.Chunker.chunks

    def spy(self: _chunking.Chunker, path: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(self, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_chunking.Chunker, "chunks", spy)
    return calls


def test_add_after_status_stores_only_the_new_chunks_without_chunking_again(
        ws: Workspace, grown: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = chunk_calls(monkeypatch)
    result = add(ws, ["d"], name="t")
    assert calls == [] and result.rehashed_files == 0
    assert 0 < result.new_chunks < len(load_snapshot(ws.store, result.version.snapshot).files["d/table.csv"].chunks)
    monkeypatch.undo()
    # The manifest is exactly what chunking the file from scratch gives.
    other = Workspace.init(tmp_path / "fresh")
    (other.root / "d").mkdir()
    (other.root / "d" / "table.csv").write_bytes(grown.read_bytes())
    fresh = add(other, [other.root / "d"], name="t")
    assert fresh.version.snapshot == result.version.snapshot
    assert verify(ws, all_objects=True).ok
    checkout(ws, "t@v2", to=tmp_path / "out")
    assert (tmp_path / "out" / "d" / "table.csv").read_bytes() == grown.read_bytes()


def test_a_file_whose_bytes_moved_under_an_unchanged_stat_is_chunked_whole(
        ws: Workspace, grown: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = grown.stat()
    data = bytearray(grown.read_bytes())
    data[-100:] = b"x" * 99 + b"\n"  # in the new tail, whose chunk is not stored yet
    with open(grown, "r+b") as fh:
        fh.write(data)
    os.utime(grown, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, mtime and inode
    calls = chunk_calls(monkeypatch)
    result = add(ws, ["d"], name="t")
    assert calls == [str(grown)] and result.rehashed_files == 1
    monkeypatch.undo()
    checkout(ws, "t@v2", to=tmp_path / "out")
    assert (tmp_path / "out" / "d" / "table.csv").read_bytes() == bytes(data)
    assert verify(ws, all_objects=True).ok
