"""add / status / log / ls / diff / checkout on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.data import add, checkout, diff, log, ls, resolve, status, verify
from assay.data._packs import workspace_packs
from assay.errors import InputError, NotFoundError, UsageError
from assay.workspace import Workspace


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def stored_bytes(ws: Workspace) -> int:
    return sum(p.stat().st_size for p in (ws.dir / "objects" / "packs").glob("*.pack"))


def test_add_versions_and_refs(ws: Workspace) -> None:
    write(ws.root / "d" / "a.txt", "one")
    r1 = add(ws, ["d"], name="ds", message="first")
    assert r1.created and r1.version.number == 1 and r1.version.message == "first"
    again = add(ws, ["d"], name="ds")
    assert not again.created and again.version.id == r1.version.id
    write(ws.root / "d" / "a.txt", "two")
    r2 = add(ws, ["d"], name="ds")
    assert r2.version.number == 2
    assert [v.number for v in log(ws, "ds")] == [2, 1]
    assert resolve(ws, "ds").id == r2.version.id
    assert resolve(ws, "ds@latest").id == r2.version.id
    assert resolve(ws, "ds@v1").id == r1.version.id
    assert resolve(ws, "ds@1").id == r1.version.id
    assert resolve(ws, f"ds@{r1.version.snapshot[:10]}").id == r1.version.id
    with pytest.raises(NotFoundError, match="ds@v9"):
        resolve(ws, "ds@v9")
    with pytest.raises(NotFoundError, match="no dataset or model named"):
        resolve(ws, "other")
    with pytest.raises(UsageError):
        resolve(ws, "bad name!")


def test_snapshot_id_is_content_address(ws: Workspace, tmp_path: Path) -> None:
    write(ws.root / "x" / "a.bin", b"abc")
    write(ws.root / "y" / "a.bin", b"abc")
    v1 = add(ws, ["x"], name="x").version
    v2 = add(ws, ["y"], name="y").version
    assert v1.snapshot != v2.snapshot  # paths are part of the tree
    write(ws.root / "x" / "a.bin", b"abd")
    v3 = add(ws, ["x"], name="x").version
    write(ws.root / "x" / "a.bin", b"abc")
    v4 = add(ws, ["x"], name="x").version
    assert v4.snapshot == v1.snapshot and v3.snapshot != v1.snapshot
    assert v4.number == 3  # returning to old content is still a new version


def test_status_reports_changes_and_uses_stat_cache(ws: Workspace) -> None:
    write(ws.root / "d" / "keep.txt", "k")
    write(ws.root / "d" / "mod.txt", "m")
    write(ws.root / "d" / "gone.txt", "g")
    add(ws, ["d"], name="ds")
    # Make the cache trustworthy (files older than the racy window).
    old = 1_600_000_000
    for p in (ws.root / "d").iterdir():
        os.utime(p, (old, old))
    add(ws, ["d"], name="ds")
    st = status(ws, "ds")
    assert not st.dirty and st.unchanged == 3 and st.rehashed == 0
    write(ws.root / "d" / "mod.txt", "changed")
    (ws.root / "d" / "gone.txt").unlink()
    write(ws.root / "d" / "new.txt", "n")
    st = status(ws, "ds")
    assert st.modified == ["d/mod.txt"] and st.removed == ["d/gone.txt"] and st.added == ["d/new.txt"]
    assert st.rehashed == 2  # only the suspect files were read


def test_racy_files_are_rehashed(ws: Workspace) -> None:
    f = write(ws.root / "d" / "a.txt", "aaaa")
    add(ws, ["d"], name="ds")
    st_before = os.stat(f)
    f.write_text("bbbb")  # same size, maybe the same mtime tick
    os.utime(f, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    assert status(ws, "ds").modified == ["d/a.txt"]


def _age(folder: Path) -> None:
    """Backdate every file past the racy window, so the stat cache may trust it."""
    old = 1_600_000_000
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (old, old))


def test_clean_status_answers_from_the_stat_cache_without_decoding_the_snapshot(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _status

    for i in range(20):
        write(ws.root / "d" / f"sub{i % 3}" / f"f{i}.bin", os.urandom(100 + i))
    _age(ws.root / "d")
    add(ws, ["d"], name="ds")
    calls = []
    real_load = _status.load_snapshot

    def counting_load(store, snapshot_id):  # type: ignore[no-untyped-def]
        calls.append(snapshot_id)
        return real_load(store, snapshot_id)

    monkeypatch.setattr(_status, "load_snapshot", counting_load)
    st = status(ws, "ds")
    assert not st.dirty and st.unchanged == 20 and st.rehashed == 0 and calls == []

    # Rewritten with the same size: its stat no longer matches, so it alone is re-read, and
    # compared with the listing kept beside the signature (the snapshot is still not decoded).
    victim = ws.root / "d" / "sub1" / "f1.bin"
    victim.write_bytes(os.urandom(victim.stat().st_size))
    st = status(ws, "ds")
    assert st.modified == ["d/sub1/f1.bin"] and st.rehashed == 1 and calls == []

    victim.unlink()
    st = status(ws, "ds")
    assert st.removed == ["d/sub1/f1.bin"] and not st.modified and not st.added and calls == []

    # Without a signature (a tree that was never clean since), the snapshot says which.
    from assay.data._statcache import StatCache

    StatCache(ws)._write("DELETE FROM signatures", [()])
    st = status(ws, "ds")
    assert st.removed == ["d/sub1/f1.bin"] and not st.modified and not st.added and len(calls) == 1


def test_same_size_same_mtime_rewrite_within_racy_window_is_caught_by_the_fast_path(ws: Workspace) -> None:
    f = write(ws.root / "d" / "a.bin", os.urandom(64))
    write(ws.root / "d" / "b.bin", os.urandom(64))
    add(ws, ["d"], name="ds")  # cached right after writing: both entries are racy
    before = f.stat()
    f.write_bytes(os.urandom(64))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert f.stat().st_ino == before.st_ino and f.stat().st_size == before.st_size
    st = status(ws, "ds")
    assert st.modified == ["d/a.bin"] and st.rehashed == 2


def test_damaged_snapshot_is_caught_by_verify_and_checkout_even_when_status_is_clean(ws: Workspace, tmp_path: Path) -> None:
    from assay.errors import CorruptionError

    write(ws.root / "d" / "a.txt", "alpha")
    write(ws.root / "d" / "b.txt", "beta")
    _age(ws.root / "d")
    v = add(ws, ["d"], name="ds").version
    path = ws.store.local_path(f"snapshots/{v.snapshot}")  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    assert not status(ws, "ds").dirty  # the files on disk are still those of the version
    report = verify(ws, "ds@v1")
    assert not report.ok and any(v.snapshot in d.object for d in report.damaged)
    with pytest.raises(CorruptionError):
        checkout(ws, "ds@v1", to=tmp_path / "out")


def test_stat_cache_of_an_older_layout_is_replaced(ws: Workspace) -> None:
    import sqlite3

    conn = sqlite3.connect(ws.cache_dir / "stat.db")
    conn.execute("CREATE TABLE stat (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER, "
                 "cached_ns INTEGER, manifest TEXT)")
    conn.execute("INSERT INTO stat VALUES ('d/a.txt', 1, 1, 1, 1, '[]')")
    conn.commit()
    conn.close()
    write(ws.root / "d" / "a.txt", "a")
    _age(ws.root / "d")
    add(ws, ["d"], name="ds")
    st = status(ws, "ds")
    assert not st.dirty and st.rehashed == 0


def test_ls_and_empty_dirs_and_zero_byte_and_unicode(ws: Workspace, tmp_path: Path) -> None:
    write(ws.root / "d" / "zero", b"")
    write(ws.root / "d" / "naïve café ☕.txt", "unicode")
    write(ws.root / "d" / "with space" / "x y.csv", "a,b\n1,2\n")
    (ws.root / "d" / "empty" / "deeper").mkdir(parents=True)
    v = add(ws, ["d"], name="ds").version
    _, files = ls(ws, "ds@v1")
    paths = [f["path"] for f in files]
    assert "d/zero" in paths and "d/naïve café ☕.txt" in paths and "d/with space/x y.csv" in paths
    assert "d/empty/deeper/" in paths
    out = tmp_path / "out"
    checkout(ws, v.ref, to=out)
    assert (out / "d" / "zero").read_bytes() == b""
    assert (out / "d" / "naïve café ☕.txt").read_text() == "unicode"
    assert (out / "d" / "empty" / "deeper").is_dir()


def test_checkout_in_place_restores_exactly_and_guards_changes(ws: Workspace) -> None:
    write(ws.root / "d" / "a.txt", "v1-a")
    write(ws.root / "d" / "b.txt", "v1-b")
    add(ws, ["d"], name="ds")
    write(ws.root / "d" / "a.txt", "v2-a")
    (ws.root / "d" / "b.txt").unlink()
    write(ws.root / "d" / "c.txt", "v2-c")
    add(ws, ["d"], name="ds")
    res = checkout(ws, "ds@v1")
    assert (ws.root / "d" / "a.txt").read_text() == "v1-a"
    assert (ws.root / "d" / "b.txt").read_text() == "v1-b"
    assert not (ws.root / "d" / "c.txt").exists()
    assert res.removed == ["d/c.txt"]
    assert not status(ws, "ds").dirty  # status is against the checked-out version
    write(ws.root / "d" / "a.txt", "local edit")
    with pytest.raises(UsageError, match="local changes"):
        checkout(ws, "ds@v2")
    assert (ws.root / "d" / "a.txt").read_text() == "local edit"  # nothing lost
    checkout(ws, "ds@v2", force=True)
    assert (ws.root / "d" / "a.txt").read_text() == "v2-a"


def test_checkout_without_a_recorded_head_judges_the_files_against_the_latest_version(ws: Workspace) -> None:
    write(ws.root / "d" / "x.txt", "one")
    add(ws, ["d"], name="ds")
    write(ws.root / "d" / "x.txt", "two2")
    add(ws, ["d"], name="ds")
    (ws.cache_dir / "heads.json").unlink(missing_ok=True)  # a cleared cache folder
    checkout(ws, "ds@v1")  # the files on disk are v2, which is stored: nothing to lose
    assert (ws.root / "d" / "x.txt").read_text() == "one"
    (ws.cache_dir / "heads.json").unlink(missing_ok=True)
    write(ws.root / "d" / "x.txt", "an edit nobody stored")
    with pytest.raises(UsageError, match="local changes"):
        checkout(ws, "ds@v1")
    assert (ws.root / "d" / "x.txt").read_text() == "an edit nobody stored"


def test_a_damaged_stat_cache_is_started_afresh(ws: Workspace) -> None:
    write(ws.root / "d" / "x.txt", "one")
    add(ws, ["d"], name="ds")
    db = ws.cache_dir / "stat.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(os.urandom(4096))  # not a database any more
    result = status(ws, "ds")
    assert not result.dirty and result.rehashed == 1  # the one file re-hashed, nothing lost
    write(ws.root / "d" / "x.txt", "two")
    assert status(ws, "ds").modified == ["d/x.txt"]
    assert status(ws, "ds").rehashed == 1  # the cache works again (the modified file stays suspect)


def test_checkout_to_folder_refuses_overwrite_without_force(ws: Workspace, tmp_path: Path) -> None:
    write(ws.root / "d" / "a.txt", "x")
    add(ws, ["d"], name="ds")
    out = tmp_path / "out"
    write(out / "d" / "a.txt", "mine")
    with pytest.raises(UsageError, match="exists with other content"):
        checkout(ws, "ds", to=out)
    assert (out / "d" / "a.txt").read_text() == "mine"
    checkout(ws, "ds", to=out, force=True)
    assert (out / "d" / "a.txt").read_text() == "x"


def test_file_modes_survive(ws: Workspace, tmp_path: Path) -> None:
    f = write(ws.root / "d" / "run.sh", "#!/bin/sh\n")
    f.chmod(0o755)
    add(ws, ["d"], name="ds")
    checkout(ws, "ds", to=tmp_path / "o")
    assert (tmp_path / "o" / "d" / "run.sh").stat().st_mode & 0o777 == 0o755


def test_dedup_append_and_insert_store_little(ws: Workspace) -> None:
    big = bytearray(os.urandom(10 << 20))
    write(ws.root / "d" / "big.bin", bytes(big))
    add(ws, ["d"], name="ds")
    base = stored_bytes(ws)
    assert base >= 10 << 20
    write(ws.root / "d" / "big.bin", bytes(big) + os.urandom(1 << 20))  # append 1 MiB
    add(ws, ["d"], name="ds")
    growth_append = stored_bytes(ws) - base
    assert growth_append < 6 << 20, growth_append  # the new tail and at most a few neighbours
    base = stored_bytes(ws)
    mid = len(big) // 2
    inserted = bytes(big[:mid]) + os.urandom(1 << 20) + bytes(big[mid:]) + b""
    write(ws.root / "d" / "big.bin", inserted)
    add(ws, ["d"], name="ds")
    growth_insert = stored_bytes(ws) - base
    assert growth_insert < 8 << 20, growth_insert
    # The same content under another name stores nothing new.
    base = stored_bytes(ws)
    write(ws.root / "e" / "copy.bin", inserted)
    r = add(ws, ["e"], name="copy")
    assert r.new_chunks == 0 and stored_bytes(ws) == base


def test_compressible_data_is_compressed(ws: Workspace) -> None:
    write(ws.root / "d" / "t.csv", "id,value\n" + "".join(f"{i},{i % 7}\n" for i in range(200_000)))
    r = add(ws, ["d"], name="ds")
    assert r.new_bytes_stored < r.bytes / 3


def test_a_key_for_versions_without_tables_is_refused(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # It returned no tables without a word, while a key that a table lacks is refused.
    write(ws.root / "d" / "a.txt", "1")
    add(ws, ["d"], name="x")
    write(ws.root / "d" / "a.txt", "2")
    add(ws, ["d"], name="x")
    with pytest.raises(UsageError, match="no table was compared: neither x@v1 nor x@v2 holds a Parquet, CSV or TSV"):
        diff(ws, "x@v1", "x@v2", key="id")
    with pytest.raises(UsageError, match="no table was compared: neither x@v2 nor its working files"):
        diff(ws, "x", key=["id"])
    assert "no table was compared" in cli("data", "diff", "x@v1", "x@v2", "--key", "id", check=2).stderr
    assert diff(ws, "x@v1", "x@v2").tables == {}  # without a key: the file diff, as before
    assert diff(ws, "x@v1", "x@v2", tables=False).modified


def test_a_key_with_no_tables_is_refused(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # The key was ignored without a word: `--key id --no-tables` asks for two things that exclude each other.
    write(ws.root / "d" / "t.csv", "id,v\n1,2\n")
    add(ws, ["d"], name="x")
    write(ws.root / "d" / "t.csv", "id,v\n1,3\n")
    add(ws, ["d"], name="x")
    with pytest.raises(UsageError, match="key id given with tables=False"):
        diff(ws, "x@v1", "x@v2", key="id", tables=False)
    with pytest.raises(UsageError, match="key id given with tables=False"):
        diff(ws, "x", key="id", tables=False)
    err = cli("data", "diff", "x@v1", "x@v2", "--key", "id", "--no-tables", check=2).stderr
    assert "no table rows are compared" in err and "--no-tables" in err
    assert cli.json("data", "diff", "x@v1", "x@v2", "--no-tables")["modified"]


def test_diff_files_and_tables(ws: Workspace) -> None:
    write(ws.root / "d" / "t.csv", "id,x\n1,a\n2,b\n3,c\n")
    write(ws.root / "d" / "same.txt", "s")
    write(ws.root / "d" / "old.txt", "o")
    add(ws, ["d"], name="ds")
    write(ws.root / "d" / "t.csv", "id,x\n1,a\n3,z\n4,d\n")
    (ws.root / "d" / "old.txt").unlink()
    write(ws.root / "d" / "new.txt", "n")
    add(ws, ["d"], name="ds")
    d = diff(ws, "ds@v1", "ds@v2", key=["id"])
    assert [f["path"] for f in d.added] == ["d/new.txt"]
    assert [f["path"] for f in d.removed] == ["d/old.txt"]
    assert [f["path"] for f in d.modified] == ["d/t.csv"]
    assert d.unchanged == 1
    t = d.tables["d/t.csv"]
    assert (t["rows_old"], t["rows_new"]) == (3, 3)
    assert (t["rows_added"], t["rows_removed"], t["rows_changed"]) == (1, 1, 1)


def test_bad_inputs_are_clear(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        add(ws, ["missing"], name="ds")
    with pytest.raises(UsageError, match="outside the workspace"):
        add(ws, [tmp_path.parent], name="ds")
    with pytest.raises(UsageError, match="invalid dataset name"):
        write(ws.root / "ok.txt", "x")
        add(ws, ["ok.txt"], name="../evil")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; the permission check cannot fail")
def test_unreadable_file(ws: Workspace) -> None:
    f = write(ws.root / "d" / "secret", "x")
    f.chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        add(ws, ["d"], name="ds")


@pytest.mark.parametrize("size", [1, 600_000], ids=["small-file", "chunked-file"])
def test_unreadable_file_as_root_via_directory_permissions(ws: Workspace, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    # Root bypasses permission bits, so simulate the kernel refusing the open()
    # (small files are read with os.open, chunked ones with open).
    write(ws.root / "d" / "secret", "x" * size)
    real_open, real_os_open = open, os.open

    def refusing_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    def refusing_os_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr("builtins.open", refusing_open)
        m.setattr("os.open", refusing_os_open)
        with pytest.raises(InputError, match="permission denied"):
            add(ws, ["d"], name="ds")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    assert verify(ws).ok


def test_file_changing_while_read_is_retried_then_refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _file_hashing
    from assay.data._chunking import FileChangedError

    f = write(ws.root / "d" / "hot.log", "start")
    original = _file_hashing.Chunker.chunks

    def growing(self, path, st=None, previous=None):  # type: ignore[no-untyped-def]
        yield from original(self, path, st, previous)
        with open(path, "a") as fh:  # a writer appends while we read
            fh.write("x")

    with monkeypatch.context() as m:
        m.setattr(_file_hashing.Chunker, "chunks", growing)
        m.setattr(_file_hashing, "_read_small", lambda entry, limit: None)  # the chunked path
        with pytest.raises(FileChangedError, match="kept changing"):
            add(ws, ["d"], name="ds")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    r = add(ws, ["d"], name="ds")
    assert r.created and f.read_text().startswith("start")


def test_small_file_changing_while_read_is_retried_then_refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data._chunking import FileChangedError

    f = write(ws.root / "d" / "hot.log", "start")
    real_read = os.read

    def read_then_append(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        if data and os.readlink(f"/proc/self/fd/{fd}").endswith("hot.log"):
            with open(f, "a") as fh:  # a writer appends while we read
                fh.write("x")
        return data

    with monkeypatch.context() as m:
        m.setattr("os.read", read_then_append)
        with pytest.raises(FileChangedError, match="kept changing"):
            add(ws, ["d"], name="ds")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    r = add(ws, ["d"], name="ds")
    assert r.created and f.read_text().startswith("start")
    assert resolve(ws, "ds").bytes == f.stat().st_size


def test_many_files(ws: Workspace, tmp_path: Path) -> None:
    root = ws.root / "many"
    n = 100_000
    for folder in range(100):
        (root / f"f{folder:03d}").mkdir(parents=True)
    for i in range(n):
        with open(root / f"f{i % 100:03d}" / f"{i}.txt", "w") as fh:
            fh.write(str(i))
    r = add(ws, ["many"], name="many")
    assert r.files == n
    assert len(list((ws.dir / "objects" / "packs").glob("*.pack"))) <= 2  # packed, not one object per file
    st = status(ws, "many")
    assert not st.dirty and st.unchanged == n
    out = tmp_path / "out"
    checkout(ws, "many", to=out)
    assert (out / "many" / "f042" / "99942.txt").read_text() == "99942"
    assert verify(ws).ok
    assert workspace_packs(ws).has(next(iter(workspace_packs(ws).index)))


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    from assay.data._versions import check_name
    from assay.errors import UsageError

    assert check_name("ds") == "ds"
    with pytest.raises(UsageError):
        check_name("ds\n")


def test_add_takes_one_path_as_a_string_or_a_path(ws: Workspace, tmp_path: Path) -> None:
    # A str is one path, not a list of one-letter paths ("d does not exist").
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    assert add(ws, "data", name="d").version.files == 1
    (tmp_path / "data" / "b.txt").write_text("b")
    assert add(ws, tmp_path / "data", name="d").version.ref == "d@v2"
    assert add(ws, ("data",), name="d").created is False
