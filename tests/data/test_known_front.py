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


def test_an_edit_at_a_chunk_boundary_or_near_the_end_gives_exactly_the_full_cut(tmp_path: Path) -> None:
    # FastCDC's cut also reads the first byte after it, and depends on how much of the
    # file is left: an edit there must not let the earlier cut stand.
    class Watched(Chunker):
        resumed: list[int] = []

        def _cut_stream(self, fh):  # type: ignore[no-untyped-def]
            self.resumed.append(fh.tell())
            return super()._cut_stream(fh)

    c = Watched(1 << 12)
    path = tmp_path / "f"
    for seed in range(6):
        rng = random.Random(seed)
        base = rng.randbytes(150_000 + rng.randrange(100_000))
        path.write_bytes(base)
        old = cuts(c, path)
        starts = [0]
        for _, n in old:
            starts.append(starts[-1] + n)
        cases = [base[:s] + bytes([base[s] ^ 1]) + base[s + 1:] for s in starts[:-1]]  # each chunk's first byte
        cases += [base + rng.randbytes(rng.randrange(1, 9000)), base + b"y", base[:-1], base[:-rng.randrange(1, 20_000)],
                  base[:starts[-2]] + b"x" + base[starts[-2]:]]
        for new in cases:
            path.write_bytes(new)
            full = cuts(c, path)
            c.resumed.clear()
            assert cuts(c, path, old) == full
            if new.startswith(base):  # appended: all but the last few chunks were only hashed
                assert c.resumed[0] >= len(base) - 3 * c.max_size


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
        assert len(starts) == 2 and all(s >= 2 << 20 for s in starts), starts  # the fronts were only hashed
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


def test_other_chunk_settings_drop_the_stat_cache(ws: Workspace) -> None:
    from assay.data._statcache import StatCache

    (ws.root / "d").mkdir()
    (ws.root / "d" / "f.bin").write_bytes(random.Random(1).randbytes(3 << 20))
    add(ws, ["d"], name="ds")
    assert StatCache(ws).previous(["d/f.bin"])
    ws.config.data.chunk_avg = 1 << 18
    ws.save_config()
    assert StatCache(ws).previous(["d/f.bin"]) == {}  # no manifest cut the other way guides a cut now
    result = add(ws, ["d"], name="ds")
    manifest = load_snapshot(ws.store, result.version.snapshot).files["d/f.bin"]
    assert len(manifest.chunks) > 6  # cut again with 256 KiB chunks
