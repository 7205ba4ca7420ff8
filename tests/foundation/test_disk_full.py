"""A full disk is the user's to fix, not a bug: exit 2 with what to do, and nothing lost."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assay.cli._output import handle_errors


def test_a_full_disk_exits_2_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    @handle_errors
    def command(as_json: bool) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/.assay/tmp/1-x.pack")

    with pytest.raises(SystemExit) as exit_info:
        command(as_json=True)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["error"] == "NoSpaceError" and "/data/.assay/tmp/1-x.pack" in doc["message"]
    assert "assay data gc" in doc["hint"] and "no space left" in err
    assert doc["message"].endswith("(this workspace's store)")  # which side is full: not a remote's

    @handle_errors
    def other(as_json: bool) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(SystemExit) as exit_info:
        other(as_json=False)
    assert exit_info.value.code == 3  # any other OS error is still an internal error, with evidence
    assert "rerun with ASSAY_DEBUG=1" in capsys.readouterr().err


def test_an_internal_error_under_assay_debug_does_not_ask_for_assay_debug(capsys: pytest.CaptureFixture[str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    @handle_errors
    def broken(as_json: bool) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setenv("ASSAY_DEBUG", "1")
    with pytest.raises(SystemExit) as exit_info:
        broken(as_json=False)
    err = capsys.readouterr().err
    assert exit_info.value.code == 3 and "Traceback" in err and "RuntimeError: a bug" in err
    assert "report it with the traceback above" in err and "rerun with ASSAY_DEBUG" not in err


Run = Callable[..., "subprocess.CompletedProcess[str]"]


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str, cwd: Path) -> Iterator[Run]:
    """A tmpfs of ``size`` mounted at ``mountpoint`` (root only: skipped elsewhere); yields a
    runner of assay commands in ``cwd``, and unmounts it after."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount to make a small file system (tmpfs)")
    mountpoint.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
                      capture_output=True).returncode:
        pytest.skip("mount refused a tmpfs here")
    env = {**os.environ, "ASSAY_PROGRESS": "0"}

    def assay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assay", *args], cwd=cwd, env=env, capture_output=True, text=True)

    try:
        yield assay
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@contextlib.contextmanager
def small_workspace(root: Path, size: str, first_file: int) -> Iterator[Run]:
    """A workspace on a tmpfs of ``size`` holding ``d/a.bin`` (``first_file`` bytes) as ds@v1;
    yields a runner of assay commands there, and unmounts it after."""
    with tmpfs(root, size, root) as assay:
        assert assay("init", ".").returncode == 0
        (root / "d").mkdir()
        (root / "d" / "a.bin").write_bytes(os.urandom(first_file))
        assert assay("data", "add", "d", "--name", "ds").returncode == 0
        yield assay


def test_add_on_a_full_disk_records_nothing_and_the_workspace_stays_whole(tmp_path: Path) -> None:
    root = tmp_path / "small"
    with small_workspace(root, "40m", 10_000_000) as assay:
        (root / "d" / "b.bin").write_bytes(os.urandom(15_000_000))  # fits, but its chunks will not
        full = assay("data", "add", "d", "--name", "ds", "--json")
        assert full.returncode == 2, full.stderr
        assert json.loads(full.stdout)["error"] == "NoSpaceError"
        assert list((root / ".assay" / "tmp").iterdir()) == []  # no half-written pack left
        (root / "d" / "b.bin").unlink()  # space freed
        assert assay("data", "verify", "--all").returncode == 0
        versions = json.loads(assay("data", "log", "ds", "--json").stdout)["versions"]
        assert [v["number"] for v in versions] == [1]
        (root / "d" / "b.bin").write_bytes(os.urandom(5_000_000))
        assert assay("data", "add", "d", "--name", "ds").returncode == 0  # and work goes on


def test_a_disk_too_full_to_open_the_ledger_is_named_as_such(tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    with small_workspace(root, "30m", 5_000_000) as assay:
        fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT)  # every last byte taken
        try:
            for block in (1 << 20, 4096, 1):
                try:
                    while os.write(fd, bytes(block)):
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        full = assay("data", "log", "ds", "--json")
        assert full.returncode == 2, full.stderr
        doc = json.loads(full.stdout)
        assert doc["error"] == "NoSpaceError" and "free some space" in doc["hint"]
        (root / "filler").unlink()
        assert assay("data", "log", "ds").returncode == 0
        assert assay("data", "verify", "--all").returncode == 0


def test_a_full_remote_disk_is_named_as_the_remote_s(tmp_path: Path) -> None:
    small = tmp_path / "small"
    with tmpfs(small, "8m", tmp_path) as assay:
        assert assay("init", ".").returncode == 0
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "a.bin").write_bytes(os.urandom(20_000_000))
        assert assay("data", "add", "d", "--name", "ds").returncode == 0
        assert assay("remote", "add", "origin", str(small / "remote")).returncode == 0
        full = assay("data", "push", "--json")
        assert full.returncode == 2, full.stderr
        doc = json.loads(full.stdout)
        assert doc["error"] == "NoSpaceError" and f"disk of remote origin ({small / 'remote'})" in doc["message"]
        assert "frees only this workspace's store" in doc["hint"]  # gc here frees nothing there
