"""A big file that changed is cut again only from where its earlier chunks stop matching,
and the result is exactly what cutting the whole file gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from assay.data import _add, _chunking, add, status, verify
from assay.data._chunking import Chunker
from assay.data._versions import load_snapshot
from assay.workspace import Workspace
from tests.data.test_workers import _force_processes


def cuts(c: Chunker, path: Path, previous: tuple | None = None) -> tuple:  # type: ignore[type-arg]
    return tuple((h, len(d)) for h, d in c.chunks(path, previous=previous))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reusing_earlier_cuts_gives_exactly_the_full_cut(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    c = Chunker(1 << 16)
    base = rng.randbytes(2_000_000 + rng.randrange(500_000))
    path = tmp_path / "f"
    path.write_bytes(base)
    old = cuts(c, path)
    mid = rng.randrange(len(base))
    for new in (base + rng.randbytes(rng.randrange(1, 200_000)),           # append
                base[:mid] + rng.randbytes(70_000) + base[mid:],             # insert
                base[:mid] + base[mid + 50_000:],                            # delete
                base[:mid],                                                  # truncate
                rng.randbytes(10) + base,                                    # prepend
                base[:-1] + bytes([base[-1] ^ 1]),                           # last byte
                base):                                                       # same
        path.write_bytes(new)
        assert cuts(c, path, old) == cuts(c, path)
    # Cut with other settings: the earlier chunks are not used, the result is still exact.
    path.write_bytes(base + b"tail")
    assert cuts(c, path, cuts(Chunker(1 << 20), path)) == cuts(c, path)


def grow(root: Path, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {"d/a.bin": rng.randbytes(9 << 20), "d/b.bin": rng.randbytes(9 << 20), "d/small.txt": b"s"}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def change(root: Path, files: dict[str, bytes], seed: int) -> None:
    rng = random.Random(seed)
    a, b = files["d/a.bin"], files["d/b.bin"]
    (root / "d" / "a.bin").write_bytes(a + rng.randbytes(1 << 20))                          # appended
    (root / "d" / "b.bin").write_bytes(b[: 6 << 20] + rng.randbytes(1 << 20) + b[6 << 20:])  # inserted


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_status_and_add_of_changed_big_files_match_a_fresh_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                how: str) -> None:
    monkeypatch.setattr(_add, "_KNOWN_FRONT_MIN", 1 << 20)
    starts: list[int] = []
    real = _chunking.Chunker._cut_stream

    def spy(self: Chunker, fh):  # type: ignore[no-untyped-def]
        starts.append(fh.tell())
        return real(self, fh)

    monkeypatch.setattr(_chunking.Chunker, "_cut_stream", spy)
    if how == "processes":
        _force_processes(monkeypatch)
        monkeypatch.setattr("assay.data._fork.FORK_MIN_FILES", 2)
    ws = Workspace.init(tmp_path / "w")
    files = grow(ws.root, 5)
    add(ws, [ws.root / "d"], name="ds")
    change(ws.root, files, 6)
    starts.clear()
    st = status(ws, "ds")
    assert st.modified == ["d/a.bin", "d/b.bin"]
    if how == "threads":  # (a child's calls are not seen here)
        assert len(starts) == 2 and all(s >= 4 << 20 for s in starts), starts  # the fronts were only hashed
    change(ws.root, files, 7)  # again, so that add itself cuts
    result = add(ws, [ws.root / "d"], name="ds")
    assert result.rehashed_files >= 2  # (the small file too, while it is new enough to be racy)
    fresh = Workspace.init(tmp_path / "fresh")
    grow(fresh.root, 5)
    change(fresh.root, files, 7)
    monkeypatch.undo()
    expected = add(fresh, [fresh.root / "d"], name="ds")
    assert result.version.snapshot == expected.version.snapshot
    assert load_snapshot(ws.store, result.version.snapshot).files["d/b.bin"].size == 10 << 20
    assert verify(ws, all_objects=True).ok
