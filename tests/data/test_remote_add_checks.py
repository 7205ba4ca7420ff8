"""`assay remote add` checks what it can, the same way for a folder and a bucket: a bucket that
is not there is refused at add (as a folder whose parent is not there), a server that cannot be
reached is added with a warning, and a folder not there yet is not made (the first push makes
it): until then it is said not to exist, never read as an empty remote."""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import pytest

from assay.data import add, add_remote, pull, push, verify
from assay.errors import AssayWarning, InputError
from assay.workspace import Workspace
from tests.conftest import free_port


def one_version(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f.txt").write_text("some data\n")
    add(ws, [ws.root / "d"], name="ds")


# -- S3 --------------------------------------------------------------------------------------------

def test_a_missing_bucket_is_refused_at_add(ws: Workspace, cli, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    bucket = f"missing{uuid.uuid4().hex[:12]}"
    proc = cli("remote", "add", "x", f"s3://{bucket}/p", "--endpoint-url", s3_server, check=2)
    assert f"the bucket '{bucket}' does not exist" in proc.stderr, proc.stderr
    assert "hint: check the bucket's name and the endpoint" in proc.stderr and "unchecked: --no-check" in proc.stderr
    doc = cli.json("remote", "add", "x", f"s3://{bucket}/p", "--endpoint-url", s3_server, check=2)
    assert doc["error"] == "InputError" and "does not exist" in doc["message"]
    assert cli.json("remote", "list")["remotes"] == []  # nothing added
    with pytest.raises(InputError, match="does not exist"):
        add_remote(ws, "x", f"s3://{bucket}/p", options={"endpoint_url": s3_server})
    assert "x" not in ws.config.remotes


def test_no_check_adds_a_bucket_unasked(ws: Workspace, cli, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    bucket = f"later{uuid.uuid4().hex[:12]}"
    row = cli.json("remote", "add", "x", f"s3://{bucket}/p", "--endpoint-url", s3_server, "--no-check")
    assert row["name"] == "x" and "warnings" not in row
    add_remote(ws, "y", f"s3://{bucket}/p", options={"endpoint_url": s3_server}, check=False)
    assert "y" in ws.config.remotes


def test_an_existing_bucket_is_added_without_a_word(ws: Workspace, cli, s3_bucket: str, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    proc = cli("remote", "add", "origin", s3_bucket, "--endpoint-url", s3_server)
    assert proc.stdout.startswith(f"remote origin -> {s3_bucket}") and "warning" not in proc.stderr
    one_version(ws)
    ws.config = Workspace.open(ws.root).config
    assert push(ws).versions == ["ds@v1"]


def test_a_server_that_cannot_be_reached_is_added_with_a_warning(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there: an offline laptop
    proc = cli("remote", "add", "x", "s3://bucket/p", "--endpoint-url", endpoint)
    assert proc.stdout.startswith("remote x -> s3://bucket/p")
    assert "warning: could not reach s3://bucket/p to check it" in proc.stderr
    assert "added unchecked" in proc.stderr
    row = cli.json("remote", "add", "x", "s3://bucket/p", "--endpoint-url", endpoint)  # the same again: no change
    assert any("could not reach" in w for w in row["warnings"])
    assert [r["name"] for r in cli.json("remote", "list")["remotes"]] == ["x"]
    with pytest.warns(AssayWarning, match="could not reach"):
        add_remote(ws, "y", "s3://bucket/p", options={"endpoint_url": endpoint})
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssayWarning)
        add_remote(ws, "z", "s3://bucket/p", options={"endpoint_url": endpoint}, check=False)  # nothing sent, nothing said


def test_refused_credentials_are_refused_at_add_without_showing_them(ws: Workspace, cli, s3_server: str,  # type: ignore[no-untyped-def]
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.store import FsspecStore

    def refuse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("Access Denied")  # what s3fs raises for S3's AccessDenied

    monkeypatch.setattr(type(FsspecStore("s3://b/p", endpoint_url=s3_server).fs), "ls", refuse)
    with pytest.raises(InputError, match="refused access") as err:
        add_remote(ws, "x", "s3://b/p", options={"endpoint_url": s3_server, "secret": "hunter2"})
    assert "hunter2" not in err.value.message + (err.value.hint or "")
    assert "credentials" in (err.value.hint or "") and "x" not in ws.config.remotes


# -- folders ---------------------------------------------------------------------------------------

def test_a_folder_not_there_is_added_not_made(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    typo = tmp_path / "typo"
    proc = cli("remote", "add", "typo", str(typo))
    assert f"note: {typo} does not exist yet; the first push to typo creates it" in proc.stdout
    assert not typo.exists()
    row = cli.json("remote", "add", "typo", str(typo))
    assert "does not exist yet" in row["note"] and row["read_only"] is False
    add_remote(ws, "typo2", str(tmp_path / "typo2"))
    assert not (tmp_path / "typo2").exists()


@pytest.mark.parametrize("args", [("data", "verify", "--remote", "typo"), ("data", "pull", "-r", "typo"),
                                  ("data", "log", "--remote", "typo"), ("data", "ls", "ds@v1", "--remote", "typo")])
def test_a_folder_remote_not_there_is_said_not_to_exist(ws: Workspace, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       args: tuple[str, ...]) -> None:
    one_version(ws)
    typo = tmp_path / "typo"
    cli("remote", "add", "typo", str(typo))
    proc = cli(*args, check=2)
    assert (f"remote typo's folder {typo} does not exist (nothing pushed there yet, or a typo: `assay remote list`)"
            in proc.stderr), proc.stderr
    assert "nothing to verify" not in proc.stdout
    assert not typo.exists()
    doc = cli.json(*args, check=2)
    assert doc["error"] == "InputError" and "does not exist" in doc["message"]


def test_the_first_push_makes_the_folder(ws: Workspace, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    one_version(ws)
    add_remote(ws, "origin", str(tmp_path / "remote"))
    with pytest.raises(InputError, match="does not exist"):
        verify(ws, remote="origin")
    assert push(ws).versions == ["ds@v1"]
    assert (tmp_path / "remote").is_dir() and verify(ws, remote="origin").ok
    clone = Workspace.init(tmp_path_factory.mktemp("clone"))
    try:
        add_remote(clone, "origin", str(tmp_path / "remote"))
        assert pull(clone).versions == ["ds@v1"]
    finally:
        clone.close()


def test_an_existing_empty_folder_is_an_empty_remote(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one_version(ws)
    (tmp_path / "empty").mkdir()
    proc = cli("remote", "add", "e", str(tmp_path / "empty"))
    assert "note" not in proc.stdout
    assert "nothing to verify" in cli("data", "verify", "--remote", "e").stdout  # as before: there, and empty


def test_a_push_does_not_make_a_folder_whose_parent_is_gone(ws: Workspace, tmp_path: Path) -> None:
    one_version(ws)
    (tmp_path / "mnt").mkdir()
    add_remote(ws, "usb", str(tmp_path / "mnt" / "remote"))
    (tmp_path / "mnt").rmdir()  # a drive not mounted any more
    with pytest.raises(InputError, match=f"the folder {tmp_path / 'mnt'} does not exist"):
        push(ws, remote="usb")
    assert not (tmp_path / "mnt").exists()


def test_a_file_is_not_a_remote_folder(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        add_remote(ws, "f", str(tmp_path / "afile"))
