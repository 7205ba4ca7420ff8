"""What the Python API hands back matches what the command line prints with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assay.data import RemoteInfo, add, add_remote, checkout
from assay.errors import UsageError
from assay.workspace import Workspace

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def test_add_remote_returns_what_remote_add_json_prints(tmp_path):
    ws = Workspace.init(tmp_path / "a")
    r = add_remote(ws, "origin", str(tmp_path / "remote"))
    assert isinstance(r, RemoteInfo)
    assert r.to_dict() == {"name": "origin", "url": str(tmp_path / "remote"), "options": {}, "default": True,
                           "read_only": False,
                           "note": f"{tmp_path / 'remote'} does not exist yet; the first push to origin creates it"}
    other = Workspace.init(tmp_path / "b")
    p = subprocess.run([sys.executable, "-m", "assay", "remote", "add", "origin", str(tmp_path / "remote"), "--json"],
                       cwd=other.root, capture_output=True, text=True, env=ENV)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == r.to_dict()


def test_add_remote_masks_credentials_in_what_it_returns(tmp_path):
    ws = Workspace.init(tmp_path / "a")
    r = add_remote(ws, "s3r", "s3://bucket/prefix", check=False,
                   options={"endpoint_url": "http://127.0.0.1:9", "secret": "hunter2"})
    assert "hunter2" not in json.dumps(r.to_dict())
    assert r.read_only is False and r.note is None and "note" not in r.to_dict()


def test_checkout_to_a_file_says_what_to_do(tmp_path):
    ws = Workspace.init(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a\n")
    add(ws, tmp_path / "d", name="d")
    (tmp_path / "file").write_text("x\n")
    with pytest.raises(UsageError) as info:
        checkout(ws, "d@v1", to=tmp_path / "file")
    assert info.value.hint and "folder" in info.value.hint


def test_pull_counts_the_snapshots_already_here_as_push_does(tmp_path):
    from assay.data import pull, push

    ws = Workspace.init(tmp_path / "a")
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("a\n")
    add(ws, ws.root / "d", name="d")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    assert push(ws, "d").snapshots_present == 0
    again = push(ws, "d")
    assert again.snapshots_present == 1 and again.to_dict()["snapshots_already_there"] == 1
    clone = Workspace.init(tmp_path / "b")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    first = pull(clone, "d@v1")
    assert first.snapshots_present == 0 and first.versions_transferred == ["d@v1"]
    second = pull(clone, "d@v1")
    assert second.versions_already_there == ["d@v1"]
    assert second.snapshots_present == 1 and second.to_dict()["snapshots_already_there"] == 1


def test_add_refuses_a_kind_assay_does_not_know_and_records_nothing(tmp_path):
    from assay.data import list_datasets, resolve

    ws = Workspace.init(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a\n")
    with pytest.raises(UsageError) as info:
        add(ws, tmp_path / "d", name="w", kind="weird")
    assert "'weird'" in info.value.message and info.value.hint
    assert list_datasets(ws) == []
    with pytest.raises(UsageError):
        list_datasets(ws, kind="datasets")  # a typo matched nothing, silently
    with pytest.raises(UsageError):
        resolve(ws, "w@v1", kind="weird")


def test_add_with_negative_jobs_says_what_to_pass(tmp_path):
    ws = Workspace.init(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a\n")
    with pytest.raises(UsageError) as info:
        add(ws, tmp_path / "d", name="d", jobs=-1)
    assert info.value.hint
