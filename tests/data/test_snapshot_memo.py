"""Reading many snapshots in turn (gc, verify --all, push, pull): each reuses the manifests of
the one before, which must change neither what is read nor what is refused."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from assay.data import add, gc, verify
from assay.data._snapshot import FileManifest, ManifestMemo, Snapshot
from assay.data._versions import all_versions, load_snapshot
from assay.errors import CorruptionError
from assay.workspace import Workspace

DIGEST = "ab" * 32


def _stored(files: dict[str, list[object]]) -> tuple[bytes, str]:
    """A snapshot's stored form for ``files`` (path -> stored manifest), and its id."""
    snap = Snapshot({p: FileManifest.from_json(raw) for p, raw in files.items()})
    return snap.encode(), snap.id


def test_a_memo_reads_what_a_fresh_read_reads() -> None:
    first, first_id = _stored({"a": [600, 0o644, [[DIGEST, 600]]], "b": [3, 0o600, [["cd" * 32, 1], ["ef" * 32, 2]]]})
    second, second_id = _stored({"a": [600, 0o644, [[DIGEST, 600]]], "b": [3, 0o600, [["cd" * 32, 1], ["ef" * 32, 2]]],
                                 "c": [1, 0o644, [["01" * 32, 1]]]})
    memo = ManifestMemo()
    one = Snapshot.decode(first, expect_id=first_id, memo=memo)
    two = Snapshot.decode(second, expect_id=second_id, memo=memo)
    assert two.files == Snapshot.decode(second, expect_id=second_id).files
    assert two.files["a"] is one.files["a"] and two.files["b"] is one.files["b"]  # reused, not read again


@pytest.mark.parametrize("forged", [[True, 0o644, [[DIGEST, 1]]], [1.0, 0o644, [[DIGEST, 1]]],
                                    [1, 0o644, [[DIGEST, True]]], [1, 0o644, [[DIGEST.upper(), 1]]]])
def test_a_stored_form_that_equals_a_checked_one_is_still_checked_on_its_own(forged: list[object]) -> None:
    """``true == 1`` and ``1.0 == 1`` as keys: a memo that matched on equality would let a
    remote's manifest through that a fresh read refuses (or reads differently)."""
    honest, honest_id = _stored({"a": [1, 0o644, [[DIGEST, 1]]]})
    memo = ManifestMemo()
    Snapshot.decode(honest, expect_id=honest_id, memo=memo)
    doc = json.loads(honest)
    doc["files"]["a"] = forged
    data = json.dumps(doc).encode()
    fresh: object
    try:
        fresh = Snapshot.decode(data, expect_id=honest_id).files
    except CorruptionError as exc:
        fresh = type(exc)
    try:
        memoed: object = Snapshot.decode(data, expect_id=honest_id, memo=memo).files
    except CorruptionError as exc:
        memoed = type(exc)
    assert memoed == fresh
    if forged[0] is not True and not isinstance(forged[0], float) and forged[2][0][1] is not True:  # type: ignore[index]
        assert fresh != CorruptionError  # upper-case hex is the same digest: read alike either way
    else:
        assert fresh is CorruptionError


def _history(ws: Workspace, versions: int, files: int) -> None:
    d = ws.root / "d"
    d.mkdir()
    for i in range(files):
        (d / f"f{i:05d}").write_bytes(i.to_bytes(4, "little"))
    for v in range(versions):
        (d / f"f{v:05d}").write_bytes(b"changed in v%d" % v)
        add(ws, [d], name="ds")


def test_verify_and_gc_of_a_long_history_hold_one_snapshot_at_a_time(ws: Workspace) -> None:
    _history(ws, versions=12, files=3000)
    one = load_snapshot(ws.store, all_versions(ws)[0].snapshot)
    tracemalloc.start()
    one_again = load_snapshot(ws.store, all_versions(ws)[0].snapshot)
    per_snapshot = tracemalloc.get_traced_memory()[0]
    del one_again
    tracemalloc.reset_peak()
    report = verify(ws, all_objects=True)
    verify_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    result = gc(ws, dry_run=True)
    gc_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.ok and report.checked_snapshots == 12 and result.chunks_deleted == 0
    # Twelve snapshots held at once take twelve times one; one at a time with the last one's
    # manifests, about two.
    assert verify_peak < 5 * per_snapshot, (verify_peak, per_snapshot)
    assert gc_peak < 5 * per_snapshot, (gc_peak, per_snapshot)
    assert len(one.files) == 3000


def test_verify_names_every_version_that_holds_a_damaged_chunk_in_a_long_history(ws: Workspace) -> None:
    _history(ws, versions=5, files=50)
    from assay.data._packs import workspace_packs

    packs = workspace_packs(ws)
    packs.refresh()
    snap = load_snapshot(ws.store, all_versions(ws)[0].snapshot)
    digest = snap.files["d/f00049"].chunks[0][0]  # unchanged in every version
    loc = packs.index[digest]
    path = ws.store.root / "packs" / f"{loc.pack}.pack"
    data = bytearray(path.read_bytes())
    data[loc.offset + loc.stored - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify(ws, all_objects=True)
    assert not report.ok
    assert report.damaged_versions == [f"ds@v{n}" for n in range(1, 6)]
    (damage,) = [d for d in report.damaged if d.object.startswith("chunk ")]
    assert {a["path"] for a in damage.affected} == {"d/f00049"}


def test_push_and_pull_of_a_long_history_hold_one_snapshot_at_a_time(ws: Workspace, tmp_path,  # type: ignore[no-untyped-def]
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to the chunks' transfer (whose buffers depend on the packs read, not on the
    snapshots), a push and a pull of twelve versions hold about two snapshots, not twelve."""
    from assay.data import _pull, _remote, add_remote, pull, push

    _history(ws, versions=12, files=3000)
    tracemalloc.start()
    one = load_snapshot(ws.store, all_versions(ws)[0].snapshot)
    per_snapshot = tracemalloc.get_traced_memory()[0]
    del one
    peaks: list[int] = []
    for module in (_remote, _pull):
        real = module.transfer
        monkeypatch.setattr(module, "transfer", lambda *a, real=real, **k: peaks.append(
            tracemalloc.get_traced_memory()[1]) or real(*a, **k))
    add_remote(ws, "origin", str(tmp_path / "remote"))
    tracemalloc.reset_peak()
    pushed = push(ws)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    tracemalloc.reset_peak()
    pulled = pull(clone, checkout=True)
    tracemalloc.stop()
    assert len(pushed.versions_transferred) == 12 and len(pulled.versions_transferred) == 12 and pulled.checked_out == ["ds@v12"]
    assert verify(clone, all_objects=True).ok
    assert len(peaks) == 2
    # About 4.4 snapshots each here (the memo, the one checked out, the chunk list). One run
    # among many test files saw 7.2, not reproduced since; tracing counts every thread of the
    # test process (the S3 test server's too), so the bound leaves room. All held is over 12.
    assert peaks[0] < 8 * per_snapshot and peaks[1] < 8 * per_snapshot, (peaks, per_snapshot)
