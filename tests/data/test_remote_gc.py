"""Remotes (a folder and an S3-compatible server) and garbage collection."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from assay.data import add, add_remote, checkout, gc, log, pull, push, verify
from assay.data._packs import workspace_packs
from assay.data._versions import all_versions
from assay.errors import CorruptionError, NotFoundError, UsageError
from assay.workspace import Workspace


@pytest.fixture(params=["folder", "s3"])
def remote_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict]:
    if request.param == "folder":
        return str(tmp_path / "remote"), {}
    return request.getfixturevalue("s3_bucket"), {"endpoint_url": request.getfixturevalue("s3_server")}


def fill(ws: Workspace, n: int = 30) -> None:
    d = ws.root / "d"
    d.mkdir(exist_ok=True)
    for i in range(n):
        (d / f"f{i}.bin").write_bytes(os.urandom(20_000 + i))
    (d / "big.bin").write_bytes(os.urandom(3 << 20))


def test_push_pull_round_trip(ws: Workspace, tmp_path: Path, remote_url: tuple[str, dict],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = remote_url
    fill(ws)
    add(ws, ["d"], name="ds")
    (ws.root / "d" / "f0.bin").write_bytes(b"changed")
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", url, options=options)
    first = push(ws)
    assert first.chunks_transferred > 0 and first.versions == ["ds@v1", "ds@v2"]
    again = push(ws)
    assert again.chunks_transferred == 0 and again.snapshots_present == 2  # complete there: not even looked into

    other_root = tmp_path / "clone"
    other = Workspace.init(other_root)
    add_remote(other, "origin", url, options=options)
    monkeypatch.chdir(other_root)
    got = pull(other, "ds@v1", checkout=True)
    assert got.versions == ["ds@v1"] and got.checked_out == ["ds@v1"]
    assert [v.number for v in log(other, "ds")] == [1]
    assert (other_root / "d" / "big.bin").read_bytes() == (ws.root / "d" / "big.bin").read_bytes()
    rest = pull(other)
    assert rest.versions == ["ds@v1", "ds@v2"]
    assert rest.chunks_transferred == 1  # v2 only adds the changed small file
    assert verify(other, all_objects=True).ok
    ids_here = {v.id for v in log(ws, "ds")}
    assert {v.id for v in log(other, "ds")} == ids_here  # same version identities on both sides


def test_push_resumes_after_interruption(ws: Workspace, tmp_path: Path) -> None:
    fill(ws, 10)
    (ws.root / "d" / "bigger.bin").write_bytes(os.urandom(8 << 20))
    ws.config.data.pack_size = 1 << 20  # many packs, so an interruption falls between them
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    from assay.data import _packs

    calls = {"n": 0}
    original = _packs.PackWriter._publish

    def failing(self, *a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("network dropped")
        return original(self, *a, **k)

    _packs.PackWriter._publish = failing  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionError):
            push(ws, jobs=1)
    finally:
        _packs.PackWriter._publish = original  # type: ignore[method-assign]
    remote_packs = list((tmp_path / "remote" / "packs").glob("*.idx"))
    assert len(remote_packs) == 2  # the finished packs stayed
    resumed = push(ws, jobs=1)
    assert resumed.chunks_present > 0 and resumed.chunks_transferred > 0
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    pull(clone)
    assert verify(clone, all_objects=True).ok


def test_pull_verifies_every_chunk(ws: Workspace, tmp_path: Path) -> None:
    fill(ws, 3)
    add(ws, ["d"], name="ds")
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    push(ws)
    pack = max((remote / "packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(remote))
    with pytest.raises(CorruptionError, match="hash mismatch"):
        pull(clone)
    assert clone.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    assert verify(clone, all_objects=True).ok


def test_remote_errors(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no remote configured"):
        push(ws)
    with pytest.raises(UsageError, match="invalid remote name"):
        add_remote(ws, "../x", str(tmp_path / "r"))
    (tmp_path / "r").mkdir()  # there, and empty (a folder not there is said not to exist)
    add_remote(ws, "origin", str(tmp_path / "r"))
    with pytest.raises(NotFoundError, match="no remote named"):
        push(ws, remote="nope")
    with pytest.raises(NotFoundError, match="no dataset"):
        pull(ws, "ghost@v1")


def test_gc_deletes_only_unreferenced(ws: Workspace, tmp_path: Path) -> None:
    fill(ws, 5)
    add(ws, ["d"], name="ds")
    keep = (ws.root / "d" / "f1.bin").read_bytes()
    # An interrupted add leaves chunks that no version references: simulate with a
    # second dataset whose version row we then delete.
    (ws.root / "junk").mkdir()
    # Seeded, not os.urandom: 2 MiB of arbitrary bytes is one chunk now and then (max 4 MiB).
    (ws.root / "junk" / "j.bin").write_bytes(random.Random(7).randbytes(2 << 20))
    add(ws, ["junk"], name="junk")
    ws.ledger.execute("DELETE FROM versions WHERE dataset = ?", ("junk",))
    dry = gc(ws, dry_run=True)
    assert dry.chunks_deleted >= 2 and dry.bytes_freed >= 2 << 20
    before = sum(p.stat().st_size for p in (ws.dir / "objects" / "packs").glob("*.pack"))
    done = gc(ws)
    assert done.chunks_deleted == dry.chunks_deleted
    after = sum(p.stat().st_size for p in (ws.dir / "objects" / "packs").glob("*.pack"))
    assert before - after >= 2 << 20
    assert verify(ws, all_objects=True).ok
    checkout(ws, "ds", to=tmp_path / "o")
    assert (tmp_path / "o" / "d" / "f1.bin").read_bytes() == keep
    assert gc(ws).chunks_deleted == 0
    workspace_packs(ws).refresh()


def test_workspace_with_s3_primary_store(tmp_path: Path, s3_bucket: str, s3_server: str,
                                         monkeypatch: pytest.MonkeyPatch, cli) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "w"
    root.mkdir()
    cli("init", str(root), "--store", s3_bucket, "--endpoint-url", s3_server)
    ws = Workspace.open(root)
    assert ws.store.url == s3_bucket
    monkeypatch.chdir(root)
    fill(ws, 4)
    add(ws, ["d"], name="ds")
    assert not (root / ".assay" / "objects").exists()  # nothing stored locally
    checkout(ws, "ds", to=tmp_path / "out")
    assert (tmp_path / "out" / "d" / "big.bin").read_bytes() == (root / "d" / "big.bin").read_bytes()
    assert verify(ws, all_objects=True).ok
    assert gc(ws).chunks_deleted == 0


def test_an_incremental_push_reads_only_the_snapshots_the_remote_lacks(ws: Workspace, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _versions

    fill(ws, 5)
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    (ws.root / "d" / "f1.bin").write_bytes(os.urandom(20_001))
    v2 = add(ws, ["d"], name="ds").version
    read: list[str] = []
    real = _versions._read_snapshot
    monkeypatch.setattr(_versions, "_read_snapshot", lambda store, sid: read.append(sid) or real(store, sid))
    again = push(ws)
    assert read == [v2.snapshot] and again.chunks_transferred == 1
    assert push(ws).chunks_transferred == 0 and read == [v2.snapshot]  # nothing new: no snapshot read at all
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    pull(clone, "ds@v2", checkout=False)
    assert verify(clone, all_objects=True).ok


def one_version(root: Path, url: str, options: dict) -> tuple[Workspace, str]:
    ws = Workspace.init(root)
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x.bin").write_bytes(os.urandom(5_000))
    version = add(ws, [ws.root / "d"], name="ds").version
    add_remote(ws, "origin", url, options=options)
    return ws, version.id


def test_pushes_from_two_workspaces_at_once_lose_no_version(tmp_path: Path, remote_url: tuple[str, dict],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # b's push lands while a's is under way, just before a writes its first ref: a push writes
    # one object per version and rewrites none, so both stay (one list per dataset, read,
    # extended and written back, lost b's).
    from assay.data import _remote

    url, options = remote_url
    a, a_id = one_version(tmp_path / "a", url, options)
    b, b_id = one_version(tmp_path / "b", url, options)
    real_open = _remote._open
    interleaved: list[str] = []

    def open_store(ws: Workspace, spec, **kwargs):  # type: ignore[no-untyped-def]
        store = real_open(ws, spec, **kwargs)
        if ws.root == a.root:
            real_put = store.put_bytes

            def put(key: str, data: bytes, *args, **kwargs):  # type: ignore[no-untyped-def]
                if key.startswith("versions/") and not interleaved:
                    interleaved.append(key)
                    push(b)
                return real_put(key, data, *args, **kwargs)

            store.put_bytes = put
        return store

    monkeypatch.setattr(_remote, "_open", open_store)
    push(a)
    assert interleaved
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", url, options=options)
    got = pull(clone)
    assert {v.id for v in log(clone, "ds")} == {a_id, b_id} and len(got.versions) == 2
    assert verify(clone, all_objects=True).ok


def test_a_remote_with_one_refs_list_per_dataset_is_still_read(tmp_path: Path) -> None:
    # Remotes written before refs were one object per version hold refs/<dataset>.json.
    import json

    url = str(tmp_path / "remote")
    a, a_id = one_version(tmp_path / "a", url, {})
    push(a)
    remote = Path(url)
    entries = [json.loads(p.read_bytes()) for p in sorted((remote / "versions" / "ds").glob("*.json"))]
    assert [e["id"] for e in entries] == [a_id]
    (remote / "refs").mkdir()
    (remote / "refs" / "ds.json").write_text(json.dumps({"name": "ds", "kind": "dataset", "sources": ["d"],
                                                         "versions": [{k: v for k, v in entries[0].items()
                                                                       if k not in ("kind", "sources")}]}))
    for p in (remote / "versions" / "ds").glob("*.json"):
        p.unlink()
    (a.root / "d" / "x.bin").write_bytes(os.urandom(5_000))
    a2 = add(a, [a.root / "d"], name="ds").version
    legacy = (remote / "refs" / "ds.json").read_bytes()
    push(a)  # every version as its own object now; the old list is left as it was
    assert sorted(p.stem for p in (remote / "versions" / "ds").glob("*.json")) == sorted([a_id, a2.id])
    assert (remote / "refs" / "ds.json").read_bytes() == legacy
    for p in (remote / "versions" / "ds").glob("*.json"):
        if p.stem == a_id:
            p.unlink()  # the first version is known from the old list alone
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", url)
    assert pull(clone).versions == ["ds@v1", "ds@v2"]
    assert {(v.number, v.id) for v in log(clone, "ds")} == {(1, a_id), (2, a2.id)}
    assert verify(clone, all_objects=True).ok


def test_damaged_refs_on_a_remote_are_named(tmp_path: Path) -> None:
    url = str(tmp_path / "remote")
    a, a_id = one_version(tmp_path / "a", url, {})
    push(a)
    ref = Path(url) / "versions" / "ds" / f"{a_id}.json"
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", url)
    for damaged in (b"{not json", b"[1, 2]", b'{"id": "0000", "number": 1}'):
        ref.write_bytes(damaged)
        with pytest.raises(CorruptionError, match=f"versions/ds/{a_id}.json") as caught:
            pull(clone)
        assert "push --repair" in (caught.value.hint or "")
    assert clone.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0


def test_verify_checks_a_remote_copy(ws: Workspace, tmp_path: Path, remote_url: tuple[str, dict]) -> None:
    url, options = remote_url
    fill(ws, n=10)
    add(ws, ["d"], name="ds")
    (ws.root / "d" / "f0.bin").write_bytes(b"changed")
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", url, options=options)
    push(ws)
    report = verify(ws, remote="origin")
    assert report.ok and report.remote == "origin"
    assert report.checked_snapshots == 2
    assert report.checked_chunks == len(workspace_packs(ws).index)  # everything the workspace has went up
    one = verify(ws, "ds@v1", remote="origin")
    assert one.ok and one.checked_snapshots == 1 and one.checked_chunks < report.checked_chunks
    with pytest.raises(NotFoundError):
        verify(ws, "nope@v1", remote="origin")


def test_verify_names_damage_on_a_folder_remote(ws: Workspace, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from assay.data._packs import decode_index
    from assay.data._versions import load_snapshot, resolve

    fill(ws, n=10)
    add(ws, ["d"], name="ds")
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    push(ws)
    snap = load_snapshot(ws.store, resolve(ws, "ds").snapshot)
    target = snap.files["d/f3.bin"].chunks[0][0]
    for idx in (remote / "packs").glob("*.idx"):
        for e in decode_index(idx.read_bytes(), str(idx)):
            if e[0] == target:
                with open(idx.with_suffix(".pack"), "r+b") as fh:
                    fh.seek(e[1] + 10)
                    b = fh.read(1)
                    fh.seek(-1, 1)
                    fh.write(bytes([b[0] ^ 0x80]))
    assert verify(ws, all_objects=True).ok  # the workspace's own copy is fine
    report = verify(ws, remote="origin")
    assert not report.ok and report.damaged_versions == ["ds@v1"]
    assert [(d.object.split()[1], [a["path"] for a in d.affected]) for d in report.damaged] == [(target.hex(), ["d/f3.bin"])]
    proc = subprocess.run([sys.executable, "-m", "assay", "data", "verify", "--remote", "origin", "--json"],
                          cwd=ws.root, capture_output=True, text=True)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["remote"] == "origin" and doc["damaged_versions"] == ["ds@v1"]
    # A pack gone from the remote, and a snapshot gone: both named.
    for pack in (remote / "packs").glob("*.pack"):
        pack.unlink()
    report = verify(ws, remote="origin")
    assert report.damaged and all("is missing" in d.reason for d in report.damaged)
    assert report.damaged_versions == ["ds@v1"]
    for snapshot in (remote / "snapshots").iterdir():
        snapshot.unlink()
    report = verify(ws, remote="origin")
    assert any(d.object.startswith("snapshot ") for d in report.damaged)
    assert report.damaged_versions == ["ds@v1"]


def test_verify_reads_a_remote_index_afresh_and_reports_a_damaged_one(ws: Workspace, tmp_path: Path,
                                                                      remote_url: tuple[str, dict]) -> None:
    from assay.store import open_store

    url, options = remote_url
    fill(ws, n=5)
    add(ws, ["d"], name="ds")
    add_remote(ws, "origin", url, options=options)
    push(ws)
    push(ws)  # the workspace has now read (and, for S3, cached) the remote's indexes
    store = open_store(url, ws.root, **options)
    key = next(k for k in store.list("packs/") if k.endswith(".idx"))
    store.put_bytes(key, b"ASSAYIX2" + bytes(100))  # damaged on the remote
    report = verify(ws, remote="origin")
    assert not report.ok
    assert any(d.object == f"pack index {key}" for d in report.damaged)
    assert report.damaged_versions == ["ds@v1"]  # its chunks are missing, and named with what holds them
    assert verify(ws, all_objects=True).ok


def test_verify_reports_a_damaged_local_index_instead_of_failing(ws: Workspace) -> None:
    fill(ws, n=5)
    add(ws, ["d"], name="ds")
    idx = next((ws.dir / "objects" / "packs").glob("*.idx"))
    idx.write_bytes(idx.read_bytes()[:-1] + bytes([idx.read_bytes()[-1] ^ 0xFF]))  # always a change
    fresh = Workspace(ws.root)
    report = verify(fresh, all_objects=True)
    assert [d for d in report.damaged if d.object == f"pack index packs/{idx.name}" and "checksum" in d.reason]
    assert report.damaged_versions == ["ds@v1"]


def test_gc_removes_checkout_leftovers_beside_a_file_source(ws: Workspace) -> None:
    (ws.root / "one.csv").write_text("a\n1\n")
    add(ws, ["one.csv"], name="single")
    dead = ws.root / ".assay-tmp-999999999-abcd0123"  # no such process
    dead.write_text("partial")
    assert gc(ws, dry_run=True).checkout_leftovers == 1 and dead.exists()
    assert gc(ws).checkout_leftovers == 1 and not dead.exists()


def test_gc_removes_a_checkout_leftover_whose_pid_now_names_a_newer_process(ws: Workspace) -> None:
    import time

    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.csv").write_text("a\n1\n")
    add(ws, ["d"], name="ds")
    reused = ws.root / "d" / f".assay-tmp-{os.getpid()}-abcd0123"  # this pid, written days before it started
    reused.write_text("partial")
    os.utime(reused, (time.time() - 3 * 86_400, time.time() - 3 * 86_400))
    live = ws.root / "d" / f".assay-tmp-{os.getpid()}-ef012345"  # being written by this process
    live.write_text("partial")
    assert gc(ws).checkout_leftovers == 1
    assert not reused.exists() and live.exists()


def test_only_a_checkout_temp_file_s_exact_name_is_skipped(ws: Workspace) -> None:
    from assay.data import status

    (ws.root / "d").mkdir()
    mine = [".assay-tmp-notes.txt", ".assay-tmp-12-xyz", ".assay-tmp--ab", ".assay-tmp-12-0a1b", ".assay-tmp-²-0a1b2c3d"]
    for name in mine:
        (ws.root / "d" / name).write_text("user data")
    (ws.root / "d" / ".assay-tmp-999999999-0a1b2c3d").write_text("a checkout's temp file")  # no such process (pid 12 was one, at times)
    result = add(ws, ["d"], name="ds")
    assert result.files == len(mine)
    assert not status(ws, "ds").dirty
    assert gc(ws, dry_run=True).checkout_leftovers == 1


def test_checkout_into_a_folder_that_cannot_be_made_is_named(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("a\n")
    add(ws, ["d"], name="ds")
    (ws.root / "plain").write_text("a file")
    proc = cli("data", "checkout", "ds@v1", "--to", str(ws.root / "plain" / "sub"), check=2)
    assert "cannot check out into" in proc.stderr and "Not a directory" in proc.stderr


def test_gc_keeps_what_was_pushed_to_its_store_as_a_remote(tmp_path: Path) -> None:
    # A team's remote folder used as a workspace's own store: the versions pushed there are
    # in no ledger of this workspace, yet they are the team's only copy.
    shared = tmp_path / "shared"
    alice, alice_id = one_version(tmp_path / "alice", str(shared), {})
    push(alice)
    bob = Workspace.init(tmp_path / "bob", store=str(shared))
    (bob.root / "b.txt").write_text("hi")
    add(bob, [bob.root / "b.txt"], name="bob-data")
    assert gc(bob, dry_run=True).pushed_versions_kept == 1
    done = gc(bob)
    assert done.chunks_deleted == 0 and done.snapshots_deleted == 0 and done.pushed_versions_kept == 1
    assert verify(alice, remote="origin").ok
    carol = Workspace.init(tmp_path / "carol")
    add_remote(carol, "origin", str(shared))
    assert pull(carol).versions == ["ds@v1"] and verify(carol, all_objects=True).ok

    # The older single list per dataset (refs/NAME.json) keeps its versions live too.
    import json

    ref = shared / "versions" / "ds" / f"{alice_id}.json"
    (shared / "refs").mkdir()
    (shared / "refs" / "ds.json").write_text(json.dumps({"name": "ds", "versions": [json.loads(ref.read_bytes())]}))
    ref.unlink()
    assert gc(bob).snapshots_deleted == 0 and verify(alice, remote="origin").ok

    # A ref that does not read could name any snapshot: gc deletes nothing and says which.
    (shared / "refs" / "ds.json").write_text("{not json")
    with pytest.raises(CorruptionError, match="refs/ds.json") as caught:
        gc(bob)
    assert "push --repair" in (caught.value.hint or "")


def test_gc_keeps_what_another_workspace_pushed_into_its_own_store(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bob = Workspace.init(tmp_path / "bob")
    (bob.root / "b.txt").write_text("b")
    add(bob, [bob.root / "b.txt"], name="b")
    alice, _ = one_version(tmp_path / "alice", str(bob.dir / "objects"), {})
    push(alice)
    # A dry run says what a gc would keep (it said "kept": found by a new-user trial).
    assert "; would keep 1 version pushed to this store" in cli("data", "gc", "--dry-run", cwd=bob.root).stdout
    out = cli("data", "gc", cwd=bob.root)
    assert "kept 1 version pushed to this store by other workspaces" in out.stdout
    assert cli.json("data", "gc", cwd=bob.root)["pushed_versions_kept"] == 1
    assert verify(alice, remote="origin").ok


def test_verify_all_in_the_workspace_whose_store_is_the_remote_checks_the_versions_pushed_there(tmp_path: Path) -> None:
    """`data verify` checks every stored object: in bob's workspace, whose store is the team's
    remote, that includes alice's pushed versions (his ledger does not know them)."""
    from tests.data.test_store_lock import bob_and_alice

    url = str(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    bob, alice = bob_and_alice(tmp_path, url, {})
    push(alice)
    assert verify(bob, all_objects=True).ok
    (snapshot,) = [v.snapshot for v in all_versions(alice)]  # (bob's own dataset is b)
    key = Path(url) / "snapshots" / snapshot
    data = bytearray(key.read_bytes())
    data[len(data) // 2] ^= 0xFF
    key.write_bytes(bytes(data))
    report = verify(bob, all_objects=True)
    (pushed,) = all_versions(alice)
    assert not report.ok and report.damaged_versions == [f"ds@v1 (pushed here, {pushed.snapshot[:12]})"]
    (damage,) = report.damaged
    assert damage.object == f"snapshot snapshots/{snapshot}"
    assert verify(bob, "b@v1").ok  # one version of bob's own: only its objects


def test_transfer_counts_have_direction_neutral_names() -> None:
    # A pull sends nothing: its counts are named for the transfer, and the old names still
    # read (with a DeprecationWarning); the --json keys are as they were.
    from assay.data import TransferResult

    result = TransferResult(remote="r", chunks_transferred=3, bytes_transferred=10, versions_transferred=["ds@v1"])
    with pytest.warns(DeprecationWarning, match="chunks_transferred"):
        assert result.chunks_sent == 3
    with pytest.warns(DeprecationWarning, match="bytes_transferred"):
        assert result.bytes_sent == 10
    with pytest.warns(DeprecationWarning, match="versions_transferred"):
        assert result.versions_sent == ["ds@v1"]
    doc = result.to_dict()
    assert (doc["chunks_transferred"], doc["bytes_transferred"], doc["versions_sent"]) == (3, 10, ["ds@v1"])
