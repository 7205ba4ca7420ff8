"""Big files are checked out by one thread per core, each chunk written at its offset."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from assay.data import _checkout_write, add, checkout
from assay.data._packs import workspace_packs
from assay.data._versions import load_snapshot, resolve
from assay.errors import CorruptionError
from assay.workspace import Workspace

from .test_integrity import flip_bit_in_chunk


@pytest.fixture
def striped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small thresholds so a few MiB exercise the striped writer with many stripes.
    monkeypatch.setattr(_checkout_write, "_BIG_FILE", 1 << 20)
    monkeypatch.setattr(_checkout_write, "_STRIPE", 1)
    monkeypatch.setattr(_checkout_write, "_CORES", 3)


def big_file(ws: Workspace) -> bytes:
    rng = random.Random(7)
    text = "".join(f"{i},{rng.randint(0, 10**9)}\n" for i in range(400_000)).encode()
    data = text + rng.randbytes(3 << 20) + text[: 1 << 20]  # compressed and raw chunks
    (ws.root / "d").mkdir()
    (ws.root / "d" / "big.bin").write_bytes(data)
    (ws.root / "d" / "small.txt").write_text("small")
    add(ws, ["d"], name="ds")
    return data


def test_a_big_file_is_written_whole_by_several_threads(ws: Workspace, tmp_path: Path, striped: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_file(ws)
    manifest = load_snapshot(ws.store, resolve(ws, "ds").snapshot).files["d/big.bin"]
    assert len(manifest.chunks) >= 6
    threads: set[str] = set()
    real = _checkout_write._pwrite_all

    def spy(fd: int, chunk: object, offset: int) -> None:
        import threading
        import time
        threads.add(threading.current_thread().name)
        time.sleep(0.02)  # a slow disk: on a loaded machine one quick thread could take every stripe
        real(fd, chunk, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(_checkout_write, "_pwrite_all", spy)
    result = checkout(ws, "ds", to=tmp_path / "out")
    assert sorted(result.written) == ["d/big.bin", "d/small.txt"]
    assert (tmp_path / "out" / "d" / "big.bin").read_bytes() == data
    assert len(threads) >= 2 and all(t.startswith("assay-checkout") for t in threads)
    # In place, over a file of other content: same bytes, and status is clean after.
    (ws.root / "d" / "big.bin").write_bytes(b"x" * 100)
    checkout(ws, "ds", force=True)
    assert (ws.root / "d" / "big.bin").read_bytes() == data
    from assay.data import status
    st = status(ws, "ds")
    assert (st.added, st.removed, st.modified) == ([], [], [])


def test_a_damaged_chunk_in_a_late_stripe_stops_the_checkout_and_leaves_the_target_as_it_was(
        ws: Workspace, tmp_path: Path, striped: None) -> None:
    big_file(ws)
    manifest = load_snapshot(ws.store, resolve(ws, "ds").snapshot).files["d/big.bin"]
    flip_bit_in_chunk(ws, manifest.chunks[-2][0])
    (ws.root / "k").mkdir()
    (ws.root / "k" / "keep.txt").write_text("mine")
    add(ws, [ws.root / "k"], name="k")  # a file of a version: --force may remove it from a --to folder
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CorruptionError, match="d/big.bin"):
        checkout(ws, "ds", to=out, force=True)  # --force: keep.txt would go, were the checkout done
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left in (["keep.txt"], ["d", "keep.txt"])  # no temp file, no partial file
    workspace_packs(ws).close()
