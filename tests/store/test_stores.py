"""Object stores: the local folder and an S3-compatible server behave the same."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from assay.errors import NotFoundError, UnsafePathError
from assay.store import FsspecStore, LocalStore, ObjectStore, open_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "objects"))
    url = request.getfixturevalue("s3_bucket")
    return open_store(url, endpoint_url=request.getfixturevalue("s3_server"))


def test_put_get_range_list_delete(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("packs/a.idx", b"0123456789")
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 100_000)
    store.put_file("packs/b.pack", src)
    assert src.exists()
    assert store.get_bytes("packs/a.idx") == b"0123456789"
    assert store.get_range("packs/a.idx", 3, 4) == b"3456"
    assert store.size("packs/b.pack") == 100_000
    assert store.exists("packs/a.idx") and not store.exists("packs/zzz")
    assert list(store.list("packs/")) == ["packs/a.idx", "packs/b.pack"]
    store.delete("packs/a.idx")
    store.delete("packs/a.idx")  # deleting twice is fine
    assert list(store.list("packs/")) == ["packs/b.pack"]
    with pytest.raises(NotFoundError):
        store.get_bytes("packs/a.idx")


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../../b", "a//b", "", "a/./b", "a\\b"])
def test_unsafe_keys_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(UnsafePathError):
        store.put_bytes(key, b"x")


def test_open_store_kinds(tmp_path: Path, s3_bucket: str, s3_server: str) -> None:
    assert isinstance(open_store("objects", tmp_path), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}/o"), LocalStore)
    assert isinstance(open_store(s3_bucket, endpoint_url=s3_server), FsspecStore)


def test_local_store_cleans_debris_of_dead_writers(tmp_path: Path) -> None:
    from assay._process import host_tag

    store = LocalStore(tmp_path / "o")
    (store.root / ".tmp" / f"999999999-{host_tag()}-abc-x").write_bytes(b"partial")  # this machine's, dead
    untagged = store.root / ".tmp" / "999999999-abc-x"  # an older assay's: maybe another machine's, alive there
    untagged.write_bytes(b"partial")
    assert store.clean_tmp() == 1 and untagged.exists()
    os.utime(untagged, (time.time() - 2 * 86_400,) * 2)  # untouched for two days: no writer is that slow
    assert store.clean_tmp() == 1
    assert list(store.list("")) == []


def test_debris_cleaning_leaves_other_files_alone(tmp_path: Path) -> None:
    from assay.store._local import remove_dead_writers_files

    (tmp_path / "notes.txt").write_text("not ours")
    (tmp_path / f"{__import__('os').getpid()}-alive.pack").write_text("in progress")
    (tmp_path / "999999999-dead.pack").write_text("debris")
    assert remove_dead_writers_files(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.txt", f"{__import__('os').getpid()}-alive.pack"])


def test_a_zombie_writer_is_dead(tmp_path: Path) -> None:
    # Killed but not yet reaped by its parent (a container's first process may be slow to):
    # it writes nothing more, so its temp files go.
    from assay._process import pid_alive
    from assay.store._local import remove_dead_writers_files

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:  # until it has exited (a zombie)
            time.sleep(0.01)
        assert not pid_alive(pid)
        os.kill(pid, 0)  # still there, unreaped: kill alone would call it alive
        (tmp_path / f"{pid}-abc.pack").write_bytes(b"x")
        assert remove_dead_writers_files(tmp_path) == 1
    finally:
        os.waitpid(pid, 0)
    assert pid_alive(os.getpid())


def test_a_key_or_a_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    # re.match with "$" lets one final newline through; every name check matches whole.
    from assay.data import add_remote
    from assay.errors import UsageError
    from assay.monitor._spec import check_name
    from assay.store._base import check_key
    from assay.workspace import Workspace

    with pytest.raises(UnsafePathError):
        check_key("packs/ab\n")
    with pytest.raises(UsageError):
        check_name("m\n")
    ws = Workspace.init(tmp_path / "w")
    try:
        with pytest.raises(UsageError):
            add_remote(ws, "r\n", str(tmp_path / "remote"))
        assert "r\n" not in ws.config.remotes
    finally:
        ws.close()


def test_a_process_is_not_called_dead_through_another_namespaces_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc mounted from another PID namespace: its numbers name other processes.
    from assay import _process

    real = os.readlink
    monkeypatch.setattr(_process.os, "readlink", lambda p: "1" if p == "/proc/self" else real(p))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    try:
        time.sleep(0.2)  # exited, unreaped: a zombie that this /proc could not vouch for
        assert _process.pid_alive(pid)
    finally:
        os.waitpid(pid, 0)


def test_a_file_older_than_the_process_holding_its_pid_is_a_dead_writer_s(tmp_path: Path) -> None:
    # PIDs wrap (at 32,768 on some machines) within a long run: a live process that started
    # after a temp file was last written is not the one that wrote it.
    from assay._process import writer_gone
    from assay.store._local import remove_dead_writers_files

    me = os.getpid()
    old = tmp_path / f"{me}-old.pack"
    old.write_bytes(b"left by an earlier process with this pid")
    hour_ago = time.time() - 3 * 86_400  # days before this process started: beyond any clock skew
    os.utime(old, (hour_ago, hour_ago))
    fresh = tmp_path / f"{me}-fresh.pack"
    fresh.write_bytes(b"being written")
    assert writer_gone(me, hour_ago) and not writer_gone(me, time.time())
    assert not writer_gone(me, time.time() - 3600)  # an hour behind: a file server's clock may lag that much
    assert remove_dead_writers_files(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [fresh.name]


def test_pid_reuse_is_not_judged_through_another_namespaces_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    from assay import _process

    real = os.readlink
    monkeypatch.setattr(_process.os, "readlink", lambda p: "1" if p == "/proc/self" else real(p))
    assert not _process.writer_gone(os.getpid(), time.time() - 3 * 86_400)


def test_an_unreachable_object_store_is_the_user_s_to_fix(tmp_path: Path) -> None:
    # A closed port on loopback: "cannot reach", exit 2 and what to check, not an internal error.
    import subprocess
    import sys

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "ASSAY_PROGRESS": "0", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
           "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    run = [sys.executable, "-m", "assay"]
    subprocess.run([*run, "init", str(tmp_path)], check=True, capture_output=True, env=env)
    (tmp_path / "a.txt").write_text("a\n")
    subprocess.run([*run, "data", "add", "a.txt", "--name", "ds"], cwd=tmp_path, check=True, capture_output=True,
                   env=env)
    subprocess.run([*run, "remote", "add", "origin", "s3://bucket/x", "--endpoint-url", f"http://127.0.0.1:{port}"],
                   cwd=tmp_path, check=True, capture_output=True, env=env)
    proc = subprocess.run([*run, "data", "push"], cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach s3://bucket/x" in proc.stderr and "--endpoint-url" in proc.stderr


def test_an_object_store_without_credentials_says_so(tmp_path: Path, s3_server: str) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ASSAY_PROGRESS="0", AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1")
    run = [sys.executable, "-m", "assay"]
    subprocess.run([*run, "init", str(tmp_path / "w")], check=True, capture_output=True, env=env)
    add = [*run, "remote", "add", "origin", "s3://bucket/x", "--endpoint-url", s3_server]
    proc = subprocess.run(add, cwd=tmp_path / "w", check=False, capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr  # said at add, where the bucket is asked for
    assert "no credentials for s3://bucket/x" in proc.stderr and "--no-check" in proc.stderr
    subprocess.run([*add, "--no-check"], cwd=tmp_path / "w", check=True, capture_output=True, env=env)
    proc = subprocess.run([*run, "data", "verify", "--remote", "origin"], cwd=tmp_path / "w", check=False, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "no credentials for s3://bucket/x" in proc.stderr and "AWS_ACCESS_KEY_ID" in proc.stderr


def test_a_folder_that_cannot_be_a_store_is_named(tmp_path: Path) -> None:
    from assay.errors import InputError

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="cannot use the folder .* as an object store: Not a directory"):
        LocalStore(tmp_path / "file" / "store")


def test_a_temp_name_with_other_digits_is_not_a_writer_s(tmp_path: Path) -> None:
    from assay.store._local import remove_dead_writers_files

    (tmp_path / "²-x.pack").write_text("a user's file")  # str.isdigit() says yes; int() would fail
    assert remove_dead_writers_files(tmp_path) == 0


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_move_gives_an_object_a_new_key(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "folder":
        store: ObjectStore = LocalStore(tmp_path / "store")
    else:
        store = open_store(request.getfixturevalue("s3_bucket"),
                           endpoint_url=request.getfixturevalue("s3_server"))
    store.put_bytes("packs/a.pack", b"bytes")
    store.put_bytes("lost/a.pack", b"older")
    store.move("packs/a.pack", "lost/a.pack")
    assert store.get_bytes("lost/a.pack") == b"bytes" and not store.exists("packs/a.pack")
    with pytest.raises(NotFoundError):
        store.move("packs/a.pack", "lost/b.pack")


def test_a_temp_name_with_an_impossible_pid_is_handled(tmp_path: Path) -> None:
    from assay._root import not_data
    from assay._process import pid_alive
    from assay.store._local import remove_dead_writers_files

    assert not not_data(".assay-tmp-" + "9" * 20 + "-0a1b2c3d", False)  # a user's file: no pid is that long
    assert not pid_alive(10 ** 20) and not pid_alive(0)  # os.kill would overflow
    (tmp_path / ("9" * 20 + "-x.pack")).write_text("x")
    assert remove_dead_writers_files(tmp_path) == 1


def test_a_confined_store_neither_writes_nor_deletes_through_a_symlinked_folder(tmp_path: Path) -> None:
    from assay.errors import InputError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.pack").write_bytes(b"not the store's")
    store = LocalStore(tmp_path / "remote", confined=True)
    (tmp_path / "remote" / "packs").symlink_to(elsewhere)
    for attempt in (lambda: store.put_bytes("packs/y.pack", b"y"), lambda: store.delete("packs/x.pack"),
                    lambda: store.move("packs/x.pack", "packs/z.pack")):
        with pytest.raises(InputError, match="packs is a symlink"):
            attempt()
    assert [p.name for p in elsewhere.iterdir()] == ["x.pack"]
    store.put_bytes("snapshots/a/b", b"ab")  # its own folders, made as needed
    assert store.get_bytes("snapshots/a/b") == b"ab" and not (tmp_path / "remote" / ".tmp").is_symlink()
    store.delete("snapshots/a/b")
    assert not store.exists("snapshots/a/b")
    (tmp_path / "remote" / ".tmp").rmdir()
    (tmp_path / "remote" / ".tmp").symlink_to(elsewhere)
    with pytest.raises(InputError, match=r"\.tmp is a symlink"):
        LocalStore(tmp_path / "remote", confined=True)
    LocalStore(tmp_path / "remote")  # the workspace's own store: its links are its owner's


@pytest.mark.parametrize("confined", [False, True])
def test_a_move_that_rename_cannot_make_is_a_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    confined: bool) -> None:
    # A bind mount of the same file system shows the same st_dev, yet rename(2) across it
    # fails with EXDEV. Making a bind mount needs root, so the rename of the file handed in
    # is made to fail as it does there (the test below uses a real one where it can).
    import errno

    store = LocalStore(tmp_path / "store", confined=confined)
    src = tmp_path / "pack.tmp"
    src.write_bytes(b"pack bytes" * 1000)
    real = os.replace

    def replace(a, b, **kw):  # type: ignore[no-untyped-def]
        if Path(a) == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(a, b, **kw)

    monkeypatch.setattr(os, "replace", replace)
    store.put_file("packs/p.pack", src, move=True)
    assert store.get_bytes("packs/p.pack") == b"pack bytes" * 1000
    assert list((tmp_path / "store" / ".tmp").iterdir()) == []


def test_a_move_into_a_store_on_a_bind_mount(tmp_path: Path) -> None:
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    (tmp_path / "real").mkdir()
    (tmp_path / "mnt").mkdir()
    if subprocess.run(["mount", "--bind", str(tmp_path / "real"), str(tmp_path / "mnt")], capture_output=True).returncode:
        pytest.skip("mount --bind is not allowed here")
    try:
        store = LocalStore(tmp_path / "mnt", confined=True)
        src = tmp_path / "pack.tmp"
        src.write_bytes(b"x" * 5000)
        store.put_file("packs/p.pack", src, move=True)
        assert (tmp_path / "real" / "packs" / "p.pack").read_bytes() == b"x" * 5000
    finally:
        subprocess.run(["umount", str(tmp_path / "mnt")], check=True)
