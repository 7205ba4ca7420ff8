"""A remote that is not there is not an empty remote: a missing folder or bucket, a site that
cannot be reached, a URL or endpoint of the wrong shape are the user's to fix (exit 2, with
what to do), and an existing, empty remote still takes a push."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

import assay.store
from assay.data import add, add_remote, pull, push, verify
from assay.errors import InputError, UsageError
from assay.store import FsspecStore, open_store
from assay.workspace import Workspace
from tests.conftest import free_port


def one_version(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f.txt").write_text("some data\n")
    add(ws, [ws.root / "d"], name="ds")


def test_the_store_package_exports_a_sorted_list() -> None:
    assert assay.store.__all__ == sorted(assay.store.__all__)
    assert {"folder_of", "public_options"} <= set(assay.store.__all__)


# -- folders ---------------------------------------------------------------------------------------

def test_a_mistyped_remote_folder_is_refused_when_added_not_made(ws: Workspace, tmp_path: Path) -> None:
    typo = tmp_path / "no" / "such" / "folder"
    with pytest.raises(InputError, match="does not exist") as err:
        add_remote(ws, "typo", str(typo))
    assert f"mkdir -p {typo.parent}" in (err.value.hint or "")
    assert not (tmp_path / "no").exists() and "typo" not in ws.config.remotes


def test_a_remote_folder_that_is_gone_is_not_read_as_an_empty_remote(ws: Workspace, tmp_path: Path) -> None:
    one_version(ws)
    (tmp_path / "remote").mkdir()
    add_remote(ws, "origin", str(tmp_path / "remote"))
    assert verify(ws, remote="origin").ok  # there and empty: a fresh remote
    shutil.rmtree(tmp_path / "remote")  # moved, deleted, or a drive not mounted
    for attempt in (lambda: verify(ws, remote="origin"), lambda: pull(ws, remote="origin"),
                    lambda: push(ws, remote="origin")):
        with pytest.raises(InputError, match=f"remote origin's folder {tmp_path / 'remote'} is gone") as err:
            attempt()
        assert f"to start it again, empty: mkdir {tmp_path / 'remote'}" in (err.value.hint or "")
    assert not (tmp_path / "remote").exists()  # nothing made where the remote was, not even by a push
    (tmp_path / "remote").mkdir()  # what the hint says
    assert push(ws).versions == ["ds@v1"]


@pytest.fixture
def read_only(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Make a folder read-only for this user: by its mode, or as root (whom modes do not stop)
    by a read-only bind mount over it."""
    import os
    import subprocess

    mounted: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o555 if path.is_dir() else 0o444)
            return
        if subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True).returncode:
            pytest.skip("mount --bind is not allowed here")
        mounted.append(folder)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True)
        if os.access(folder, os.W_OK):
            pytest.skip("a read-only bind mount is not allowed here")

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not mounted and path.is_dir():
            path.chmod(0o755)


def test_a_read_only_remote_folder_is_added_pulled_from_and_refuses_a_push(ws: Workspace, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                           read_only) -> None:
    one_version(ws)
    share = tmp_path / "share"
    add_remote(ws, "origin", str(share))
    push(ws)
    shutil.rmtree(share / ".tmp")  # a published copy need not hold one
    read_only(share)
    clone = tmp_path / "clone"
    Workspace.init(clone)
    row = cli.json("remote", "add", "pub", str(share), cwd=clone)
    assert row["read_only"] is True and "a push to pub will fail" in row["note"]
    assert "note: this user cannot write to" in cli("remote", "add", "pub", str(share), cwd=clone).stdout
    cli("data", "pull", "-r", "pub", "--checkout", cwd=clone)
    assert (clone / "d" / "f.txt").read_text() == "some data\n"
    cli("data", "verify", "--remote", "pub", cwd=clone)
    (clone / "d" / "f.txt").write_text("more\n")
    cli("data", "add", "d", "--name", "ds", cwd=clone)
    stderr = cli("data", "push", "-r", "pub", check=2, cwd=clone).stderr
    assert f"cannot push to remote pub: this user cannot write to its folder {share}" in stderr


@pytest.mark.parametrize("link", ["packs", "snapshots", "versions", "versions/ds", "runs", ".tmp", "locks"])
def test_a_remote_s_folder_that_is_a_symlink_is_not_written_through(ws: Workspace, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                   link: str) -> None:
    one_version(ws)
    (ws.root / "d" / "g.txt").write_text("more\n")
    cli("run", "--out", "ds=d", "--", "true")  # a version made by a run: its record goes to runs/
    remote, elsewhere = tmp_path / "remote", tmp_path / "elsewhere"
    cli("remote", "add", "origin", str(remote))
    elsewhere.mkdir()
    (remote / link).parent.mkdir(parents=True, exist_ok=True)
    (remote / link).symlink_to(elsewhere, target_is_directory=True)
    doc = cli.json("data", "push", check=2)
    assert doc["error"] == "InputError" and f"{remote / link} is a symlink (to {elsewhere})" in doc["message"]
    assert list(elsewhere.iterdir()) == []  # nothing written there
    (remote / link).unlink()
    assert cli.json("data", "push")["versions"] == ["ds@v1", "ds@v2"]  # the link gone: the push goes on
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("folder", ["packs", "snapshots", "versions/ds", "runs", "locks"])
def test_a_file_where_a_remote_keeps_a_folder_is_an_input_error(ws: Workspace, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  folder: str) -> None:
    one_version(ws)
    (ws.root / "d" / "g.txt").write_text("more\n")
    cli("run", "--out", "ds=d", "--", "true")  # a version made by a run: its record goes to runs/
    remote = tmp_path / "remote"
    cli("remote", "add", "origin", str(remote))
    (remote / folder).parent.mkdir(parents=True, exist_ok=True)
    (remote / folder).write_text("not a folder")
    doc = cli.json("data", "push", check=2)
    assert doc["error"] == "InputError" and f"{remote / folder} is a file where the store" in doc["message"]
    assert (remote / folder).read_text() == "not a folder"  # left as it was
    (remote / folder).unlink()
    assert cli.json("data", "push")["versions"] == ["ds@v1", "ds@v2"]


def test_a_folder_remote_takes_no_endpoint(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = cli("remote", "add", "f", str(tmp_path / "folder"), "--endpoint-url", "http://127.0.0.1:9000", check=2)
    assert "is a folder" in proc.stderr and "--endpoint-url" in proc.stderr
    assert cli.json("remote", "list")["remotes"] == [] and not (tmp_path / "folder").exists()


# -- S3 buckets ------------------------------------------------------------------------------------

def test_a_missing_bucket_is_said_to_be_missing(ws: Workspace, cli, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    one_version(ws)
    bucket = f"missing{uuid.uuid4().hex[:12]}"
    cli("remote", "add", "nob", f"s3://{bucket}/p", "--endpoint-url", s3_server, "--no-check")  # (refused, checked)
    for args in (("data", "verify", "--remote", "nob"), ("data", "pull", "-r", "nob"), ("data", "push", "-r", "nob")):
        proc = cli(*args, check=2)
        assert f"the bucket '{bucket}' does not exist" in proc.stderr, proc.stderr
        assert "hint: check the bucket's name and the endpoint" in proc.stderr
    doc = cli.json("data", "pull", "-r", "nob", check=2)
    assert "does not exist" in doc["message"]


def test_a_bucket_name_the_server_refuses_is_an_input_error(ws: Workspace, cli, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    one_version(ws)
    # legal for old buckets: the server says, at add, or at the first use of a remote added unchecked
    assert "UPPER_bad" in cli("remote", "add", "bad", "s3://UPPER_bad/x", "--endpoint-url", s3_server, check=2).stderr
    cli("remote", "add", "bad", "s3://UPPER_bad/x", "--endpoint-url", s3_server, "--no-check")
    assert "UPPER_bad" in cli("data", "push", "-r", "bad", check=2).stderr
    assert "UPPER_bad" in cli("data", "pull", "-r", "bad", check=2).stderr


def test_an_empty_prefix_in_an_existing_bucket_is_an_empty_remote(ws: Workspace, s3_bucket: str, s3_server: str,
                                                                  tmp_path: Path) -> None:
    store = open_store(s3_bucket, endpoint_url=s3_server)
    assert list(store.list("snapshots/")) == []  # no keys under a prefix: empty, not missing
    one_version(ws)
    add_remote(ws, "origin", s3_bucket, options={"endpoint_url": s3_server})
    assert verify(ws, remote="origin").ok
    assert push(ws).versions == ["ds@v1"]
    clone = Workspace.init(tmp_path / "clone")
    try:
        add_remote(clone, "origin", s3_bucket, options={"endpoint_url": s3_server})
        assert pull(clone).versions == ["ds@v1"]
    finally:
        clone.close()


def test_a_missing_bucket_at_the_store_level(s3_server: str) -> None:
    store = open_store(f"s3://missing{uuid.uuid4().hex[:12]}/p", endpoint_url=s3_server)
    for attempt in (lambda: list(store.list("snapshots/")), lambda: store.get_bytes("packs/a.idx"),
                    lambda: store.put_bytes("packs/a.idx", b"x"), lambda: store.size("packs/a.idx")):
        with pytest.raises(InputError, match="does not exist") as err:
            attempt()
        assert "object" not in err.value.message  # the bucket is missing, not an object in it


def test_a_primary_store_in_a_missing_bucket(tmp_path: Path, cli, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    config = tmp_path / ".assay" / "config.toml"
    text = config.read_text().replace('store = "objects"', 'store = "s3://nosuchbkt/objs"')
    config.write_text(text + f'\n[store_options]\nendpoint_url = "{s3_server}"\n')
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("x\n")
    assert "the bucket 'nosuchbkt' does not exist" in cli("data", "add", "d", "--name", "d", check=2).stderr
    config.write_text(text + '\n[store_options]\nendpoint_url = "notaurl"\n')
    proc = cli("data", "add", "d", "--name", "d", check=2)
    assert "'notaurl' is not an endpoint URL" in proc.stderr and "http://127.0.0.1:9000" in proc.stderr


# -- shapes told at `remote add` -------------------------------------------------------------------

@pytest.mark.parametrize(("url", "endpoint", "said"), [
    ("s3://", None, "names no bucket"),
    ("s3:///prefix", None, "names no bucket"),
    ("s3://a bucket/x", None, "is not a bucket name"),
    ("s3://team//p", None, "has an empty part in its path"),
    ("s3://team/p//q/", None, "has an empty part in its path"),
    ("s3://team/p", "notaurl", "'notaurl' is not an endpoint URL"),
    ("s3://team/p", "127.0.0.1:9000", "is not an endpoint URL"),
    ("s3://team/p", "http://127.0.0.1:port", "its port is not a number"),
    ("https://example.com/remote", "http://127.0.0.1:9000", "endpoint_url is for s3:// URLs"),
])
def test_a_url_or_endpoint_of_the_wrong_shape_is_refused_when_added(ws: Workspace, cli, url: str,  # type: ignore[no-untyped-def]
                                                                      endpoint: str | None, said: str) -> None:
    proc = cli("remote", "add", "bad", url, *(["--endpoint-url", endpoint] if endpoint else []), check=2)
    assert said in proc.stderr and "hint:" in proc.stderr
    assert "bad" not in Workspace(ws.root).config.remotes


def test_an_endpoint_of_the_wrong_shape_in_the_config_is_an_input_error(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    config = ws.root / ".assay" / "config.toml"
    config.write_text(config.read_text() + '\n[remotes.badep]\nurl = "s3://team/p"\nendpoint_url = "notaurl"\n')
    for args in (("data", "push", "-r", "badep"), ("data", "pull", "-r", "badep"), ("data", "verify", "--remote", "badep")):
        assert "'notaurl' is not an endpoint URL" in cli(*args, check=2).stderr


def test_an_endpoint_with_credentials_in_it_is_refused_without_showing_them(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # S3 takes no credentials from the endpoint's URL (botocore: an internal error at the first
    # request), and the config keeps none: refused when added, and where a config has one.
    endpoint = "http://AKIAEXAMPLE:s3cr3t-value@127.0.0.1:9000"
    for args in (("remote", "add", "creds", "s3://team/p", "--endpoint-url", endpoint),
                 ("init", str(ws.root / "other"), "--store", "s3://team/p", "--endpoint-url", endpoint)):
        stderr = cli(*args, check=2).stderr
        assert "holds credentials" in stderr and "give it as http://127.0.0.1:9000" in stderr
        assert "AKIAEXAMPLE" not in stderr and "s3cr3t-value" not in stderr
    assert "creds" not in Workspace(ws.root).config.remotes and not (ws.root / "other" / ".assay").exists()
    config = ws.root / ".assay" / "config.toml"
    config.write_text(config.read_text() + f'\n[remotes.creds]\nurl = "s3://team/p"\nendpoint_url = "{endpoint}"\n')
    listed = cli("remote", "list").stdout
    assert "endpoint_url=http://***@127.0.0.1:9000" in listed and "s3cr3t-value" not in listed
    for args in (("data", "push", "-r", "creds"), ("data", "pull", "-r", "creds"), ("data", "verify", "--remote", "creds")):
        stderr = cli(*args, check=2).stderr
        assert "holds credentials" in stderr and "s3cr3t-value" not in stderr


def test_a_doubled_slash_in_an_s3_remote_is_refused_with_the_url_to_give(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # S3 keeps the empty part in its keys ("/team/..."): pushes went where no listing finds them.
    proc = cli("remote", "add", "bad", "s3://team//p", "--endpoint-url", "http://127.0.0.1:9", check=2)
    assert "hint: give it as s3://team/p" in proc.stderr
    config = ws.root / ".assay" / "config.toml"
    config.write_text(config.read_text() + '\n[remotes.dbl]\nurl = "s3://team//p/x"\nendpoint_url = "http://127.0.0.1:9"\n')
    for args in (("data", "push", "-r", "dbl"), ("data", "pull", "-r", "dbl"), ("data", "verify", "--remote", "dbl")):
        stderr = cli(*args, check=2).stderr
        assert "has an empty part in its path" in stderr and "s3://team/p/x" in stderr


def test_an_option_the_store_does_not_take_is_an_input_error(s3_bucket: str, s3_server: str) -> None:
    store = FsspecStore(s3_bucket, endpoint_url=s3_server, no_such_option=1)
    with pytest.raises(InputError, match="does not take an option"):
        list(store.list("snapshots/"))


# -- web addresses ---------------------------------------------------------------------------------

def test_a_web_remote_that_cannot_be_reached_or_is_not_there(ws: Workspace, cli, s3_server: str) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}/remote"  # a closed port
    cli("remote", "add", "web", url)
    proc = cli("data", "verify", "--remote", "web", check=2)
    assert f"cannot reach {url}: Cannot connect" in proc.stderr
    assert "cannot reach" in cli("data", "pull", "-r", "web", check=2).stderr
    cli("remote", "add", "web", f"{s3_server}/no-such-bucket/p", "--replace")  # answers 404
    assert "nothing is at" in cli("data", "pull", "-r", "web", check=2).stderr


# -- a remote's name, URL and options --------------------------------------------------------------

def test_changing_a_remote_s_endpoint_names_the_option_and_list_shows_it(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    cli("remote", "add", "origin", "s3://team/proj", "--endpoint-url", "http://127.0.0.1:5999")
    cli("remote", "add", "origin", "s3://team/proj", "--endpoint-url", "http://127.0.0.1:5999")  # the same: fine
    proc = cli("remote", "add", "origin", "s3://team/proj", "--endpoint-url", "http://127.0.0.1:5123", check=2)
    assert "endpoint_url http://127.0.0.1:5999 there, http://127.0.0.1:5123 given" in proc.stderr
    assert "--replace" in proc.stderr
    proc = cli("remote", "add", "origin", "s3://team/proj", check=2)
    assert "endpoint_url http://127.0.0.1:5999 there, (none) given" in proc.stderr
    assert "same URL and options" in " ".join(cli("remote", "add", "--help").stdout.split())
    cli("remote", "add", "origin", "s3://team/proj", "--endpoint-url", "http://127.0.0.1:5123", "--replace")
    assert "s3://team/proj  endpoint_url=http://127.0.0.1:5123" in cli("remote", "list").stdout
    assert cli.json("remote", "list")["remotes"] == [
        {"name": "origin", "url": "s3://team/proj", "options": {"endpoint_url": "http://127.0.0.1:5123"}, "default": True}]


def test_credentials_in_a_remote_s_options_are_never_shown(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    config = ws.root / ".assay" / "config.toml"
    config.write_text(config.read_text() + '\n[remotes.origin]\nurl = "s3://team/proj"\nendpoint_url = "http://h:9000"\n'
                      'key = "AKIAEXAMPLE"\nsecret = "s3cr3t-value"\n'
                      '[remotes.origin.client_kwargs]\naws_session_token = "tok-value"\nregion_name = "eu-west-1"\n')
    text = cli("remote", "list").stdout
    doc = cli.json("remote", "list")
    proc = cli("remote", "add", "origin", "s3://other/proj", check=2)
    for shown in (text, json.dumps(doc), proc.stderr):
        assert "AKIAEXAMPLE" not in shown and "s3cr3t-value" not in shown and "tok-value" not in shown
    assert doc["remotes"][0]["options"] == {"endpoint_url": "http://h:9000", "key": "***", "secret": "***",
                                            "client_kwargs": {"aws_session_token": "***", "region_name": "eu-west-1"}}
    assert "key=***" in text and "endpoint_url=http://h:9000" in text


def test_public_options_hides_credentials_by_their_names() -> None:
    from assay.store import public_options

    assert public_options({"endpoint_url": "http://h", "Password": "p", "anon": False, "token": "t",
                           "config_kwargs": {"proxies": {"aws_secret_access_key": "x"}}}) == {
        "endpoint_url": "http://h", "Password": "***", "anon": False, "token": "***",
        "config_kwargs": {"proxies": {"aws_secret_access_key": "***"}}}


def test_the_library_refuses_options_on_a_folder(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        add_remote(ws, "f", str(tmp_path / "f"), options={"endpoint_url": "http://127.0.0.1:9000"})


def test_the_readme_shows_the_options_of_an_s3_primary_store(tmp_path: Path) -> None:
    # An S3 primary store on a server of one's own needs [store_options]; the README says how.
    import re
    import tomllib

    from assay.config import Config

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "[store_options]" in b]
    assert blocks, "the README's configuration section shows no [store_options]"
    (tmp_path / "config.toml").write_text(blocks[0])
    config = Config.load(tmp_path / "config.toml")
    assert config.store.startswith("s3://") and config.store_options == tomllib.loads(blocks[0])["store_options"]
    assert "endpoint_url" in config.store_options



def as_a_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the CLI as a user whom file modes stop: root loses the capabilities that pass over them."""
    import os
    import subprocess

    import tests.conftest

    if os.geteuid() != 0:
        return
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    if subprocess.run([*drop, "true"], capture_output=True).returncode:
        pytest.skip("setpriv cannot drop root's capabilities here")
    monkeypatch.setattr(tests.conftest, "ASSAY", [*drop, *tests.conftest.ASSAY])

def test_a_remote_folder_that_refuses_a_write_midway_is_named(ws: Workspace, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    as_a_user(monkeypatch)
    one_version(ws)
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    push(ws)
    (ws.root / "d" / "g.txt").write_text("more data\n")
    add(ws, [ws.root / "d"], name="ds")
    (remote / "packs").chmod(0o555)  # packs/ only: the remote's folder itself is writable
    try:
        stderr = cli("data", "push", check=2).stderr
    finally:
        (remote / "packs").chmod(0o755)
    assert f"cannot write to remote origin: {remote / 'packs'}" in stderr  # not the workspace's own temp file
    assert str(ws.dir / "tmp") not in stderr and f"write access to {remote}" in stderr


def test_a_remote_folder_whose_top_alone_is_locked_still_takes_pushes(ws: Workspace, tmp_path: Path) -> None:
    # A push writes into packs/, snapshots/, versions/ and .tmp/, not into the top folder: a
    # share whose top is locked (no new top folders) but whose folders are writable is no
    # read-only remote.
    import os
    import subprocess

    from assay.data._remote_config import read_only_remote_folder

    one_version(ws)
    share = tmp_path / "share"
    add_remote(ws, "origin", str(share))
    push(ws)
    if os.geteuid() != 0:
        share.chmod(0o555)
    elif not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(share)], capture_output=True).returncode:
        pytest.skip("root is stopped by no mode, and chattr +i is not allowed here")
    try:
        assert read_only_remote_folder(ws, ws.config.remotes["origin"]) is None
        (ws.root / "d" / "f.txt").write_text("more\n")
        add(ws, [ws.root / "d"], name="ds")
        assert push(ws).versions_transferred == ["ds@v2"]
    finally:
        if os.geteuid() != 0:
            share.chmod(0o755)
        else:
            subprocess.run(["chattr", "-i", str(share)], capture_output=True)
