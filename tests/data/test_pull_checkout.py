"""`pull --checkout` writes the new chunks of big files into place as it checks them:
each is read from the remote, decoded and hash-checked once, not again by checkout."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from assay.data import _checkout, _checkout_write, add, add_remote, checkout, log, pull, push, status, verify
from assay.data._packs import PackStore, decode_index
from assay.data._versions import load_snapshot, resolve
from assay.errors import CorruptionError, UsageError
from assay.workspace import Workspace


@pytest.fixture(autouse=True)
def small_big_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checkout_write, "_BIG_FILE", 1 << 20)
    monkeypatch.setattr(_checkout_write, "_STRIPE", 1 << 20)


def fill(ws: Workspace, seed: int = 3) -> dict[str, bytes]:
    rng = random.Random(seed)
    text = "".join(f"{i},{rng.randint(0, 10**9)}\n" for i in range(300_000)).encode()
    files = {"d/big.csv": text, "d/noise.bin": rng.randbytes(5 << 20), "d/sub/small.txt": b"small",
             "d/same.bin": text[: 2 << 20]}
    for rel, data in files.items():
        (ws.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.root / rel).write_bytes(data)
    add(ws, ["d"], name="ds")
    return files


def clone(tmp_path: Path, remote: Path, name: str = "clone") -> Workspace:
    other = Workspace.init(tmp_path / name)
    add_remote(other, "r", str(remote))
    return other


def pushed_and_cloned(ws: Workspace, tmp_path: Path) -> tuple[dict[str, bytes], Workspace]:
    """The files of ``ws``'s one version, pushed to a folder remote, and an empty clone of it."""
    files = fill(ws)
    add_remote(ws, "r", str(tmp_path / "remote"))
    push(ws)
    return files, clone(tmp_path, tmp_path / "remote")


def leftovers(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.tmp_dir.iterdir() if "-stage-" in p.name)


def test_pull_checkout_decodes_each_new_chunk_once(ws: Workspace, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    files, other = pushed_and_cloned(ws, tmp_path)
    decoded: list[bytes] = []
    real = PackStore.decode

    def spy(self: PackStore, digest: bytes, *args: object, **kwargs: object) -> object:
        decoded.append(digest)
        return real(self, digest, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(PackStore, "decode", spy)
    got = pull(other, checkout=True)
    monkeypatch.undo()
    snap = load_snapshot(ws.store, resolve(ws, "ds").snapshot)
    unique = {d for m in snap.files.values() for d, _ in m.chunks}
    assert got.checked_out == ["ds@v1"]
    assert got.chunks_transferred == len(unique) and got.chunks_present == 0
    # Once per place a big file holds it (same.bin repeats big.csv's first chunks).
    places = [d for rel in ("d/big.csv", "d/noise.bin", "d/same.bin") for d, _ in snap.files[rel].chunks]
    assert len(set(places)) < len(places)
    assert all(decoded.count(d) == places.count(d) for d in places), "checkout decoded a pulled chunk again"
    for rel, data in files.items():
        assert (other.root / rel).read_bytes() == data
    st = status(other, "ds")
    assert (st.added, st.removed, st.modified) == ([], [], [])
    assert verify(other, all_objects=True).ok
    assert leftovers(other) == []
    # The chunks are stored with checksums of their own, so the clone pushes on.
    for path in (other.dir / "objects" / "packs").glob("*.idx"):
        assert all(e[5] for e in decode_index(path.read_bytes(), str(path)))
    add_remote(other, "r2", str(tmp_path / "remote2"))
    assert push(other, remote="r2").chunks_transferred == len(unique)


def test_pull_checkout_of_several_versions_stores_every_chunk(ws: Workspace, tmp_path: Path) -> None:
    files = fill(ws)
    (ws.root / "d" / "big.csv").write_bytes(files["d/big.csv"] + b"appended,1\n" * 1000)
    add(ws, ["d"], name="ds")
    add_remote(ws, "r", str(tmp_path / "remote"))
    push(ws)
    other = clone(tmp_path, tmp_path / "remote")
    got = pull(other, checkout=True)
    assert got.checked_out == ["ds@v2"] and got.versions == ["ds@v1", "ds@v2"]
    assert (other.root / "d" / "big.csv").read_bytes() == (ws.root / "d" / "big.csv").read_bytes()
    assert verify(other, all_objects=True).ok  # v1's own chunks came by the plain transfer
    checkout(other, "ds@v1", force=True)
    assert (other.root / "d" / "big.csv").read_bytes() == files["d/big.csv"]
    assert sorted(v.number for v in log(other, "ds")) == [1, 2]


def test_a_damaged_remote_chunk_stops_pull_checkout_and_imports_nothing(ws: Workspace, tmp_path: Path) -> None:
    fill(ws)
    add_remote(ws, "r", str(tmp_path / "remote"))
    push(ws)
    remote = tmp_path / "remote"
    snap = load_snapshot(ws.store, resolve(ws, "ds").snapshot)
    target = snap.files["d/big.csv"].chunks[-1][0]
    for path in (remote / "packs").glob("*.idx"):
        for e in decode_index(path.read_bytes(), str(path)):
            if e[0] == target:
                with open(path.with_suffix(".pack"), "r+b") as fh:
                    fh.seek(e[1] + e[2] // 2)
                    b = fh.read(1)
                    fh.seek(-1, 1)
                    fh.write(bytes([b[0] ^ 1]))
    other = clone(tmp_path, remote)
    with pytest.raises(CorruptionError, match="d/big.csv"):
        pull(other, checkout=True)
    assert not (other.root / "d").exists()
    assert leftovers(other) == []
    assert verify(other, all_objects=True).ok
    assert other.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0


def test_staged_files_are_dropped_when_checkout_refuses(ws: Workspace, tmp_path: Path) -> None:
    files, other = pushed_and_cloned(ws, tmp_path)
    pull(other, checkout=True)
    # Locally: one small file changed (at risk), one big file deleted (would be staged).
    (other.root / "d" / "sub" / "small.txt").write_text("mine")
    (other.root / "d" / "noise.bin").unlink()
    (ws.root / "d" / "sub" / "small.txt").write_text("theirs")
    add(ws, ["d"], name="ds")
    push(ws)
    with pytest.raises(UsageError, match="local changes"):
        pull(other, checkout=True)
    assert leftovers(other) == []
    assert not (other.root / "d" / "noise.bin").exists()
    assert (other.root / "d" / "sub" / "small.txt").read_text() == "mine"
    assert verify(other, all_objects=True).ok
    other_ws = Workspace(other.root)
    pull(other_ws, checkout=False)
    checkout(other_ws, "ds@v2", force=True)
    assert (other.root / "d" / "noise.bin").read_bytes() == files["d/noise.bin"]


def test_a_file_on_another_file_system_than_assay_tmp_is_not_staged(ws: Workspace, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    files, other = pushed_and_cloned(ws, tmp_path)
    real = _checkout_write._device_of
    monkeypatch.setattr(_checkout_write, "_device_of",
                        lambda path: -1 if path.endswith("noise.bin") else real(path))  # as if mounted elsewhere
    staged: list[str] = []
    stage = _checkout.stage_big_files
    monkeypatch.setattr(_checkout, "stage_big_files",
                        lambda *a: (lambda out: staged.extend(out) or out)(stage(*a)))
    pull(other, checkout=True)
    assert "d/big.csv" in staged and "d/noise.bin" not in staged
    for rel, data in files.items():
        assert (other.root / rel).read_bytes() == data
    assert leftovers(other) == []
