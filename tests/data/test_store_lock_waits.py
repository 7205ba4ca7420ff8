"""A wait for the workspace's lock names who holds it, as a wait for the store's does (found
by a new-user trial: a gc said only that "another assay command holds it")."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from assay.data._storelock import StoreHold
from assay.workspace import Workspace
from tests._lines import line_within

ASSAY = [sys.executable, "-m", "assay"]


def _first_line(proc: subprocess.Popen[str], within: float = 30) -> str:
    return line_within(proc.stderr, within)


@contextlib.contextmanager
def _holder(ws: Workspace, script: Path) -> Iterator[subprocess.Popen[str]]:
    """A process (running ``script``, a name the wait message shows) that holds the workspace's
    lock until the block ends."""
    script.write_text("import sys\nfrom assay.workspace import Workspace\n"
                      f"ws = Workspace.open({str(ws.root)!r})\n"
                      "with ws.lock():\n    print('held', flush=True)\n    sys.stdin.readline()\n")
    holder = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(30)


def test_a_gc_waiting_for_the_workspace_lock_names_the_command_that_holds_it(ws: Workspace, tmp_path: Path) -> None:
    with _holder(ws, tmp_path / "long_reader.py") as holder:
        gc = subprocess.Popen([*ASSAY, "data", "gc"], cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        said = _first_line(gc)
        assert said.startswith(f"waiting for the workspace lock: another assay command holds it in {ws.root}; held by ")
        assert f"long_reader.py (pid {holder.pid}, {getpass.getuser()}@{socket.gethostname()})" in said
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err


def test_a_reader_behind_a_waiting_gc_names_the_gc(ws: Workspace, tmp_path: Path) -> None:
    # `gc --wait` waits for a push into its store (from a workspace whose remote it is) outside
    # the workspace's lock, with its marker in the store: a verify here waits behind that
    # marker, and says for whom
    (ws.root / "a.txt").write_text("a\n")
    from assay.data import add

    add(ws, [ws.root / "a.txt"], name="ds")
    push = StoreHold(ws.store, "push", "remote origin", tmp_path / "alice")
    push.acquire(wait=True, optional=False)
    env = {**os.environ, "ASSAY_PROGRESS": "0"}
    try:
        gc = subprocess.Popen([*ASSAY, "data", "gc", "--wait"], cwd=ws.root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
        assert "waiting for the store" in _first_line(gc)
        reader = subprocess.Popen([*ASSAY, "data", "verify"], cwd=ws.root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        said = _first_line(reader)
        assert said.startswith(f"waiting for the store {ws.store.url}: a gc by ")
        assert f"(pid {gc.pid}, " in said and said.rstrip().endswith("is waiting to gc it; the verify goes on when "
                                                                      "that has ended")
        time.sleep(0.2)
    finally:
        push.release()
    assert gc.wait(60) == 0
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err


def test_a_dry_run_gc_does_not_wait_for_a_push_of_this_workspace(ws: Workspace, tmp_path: Path) -> None:
    # Found by a new-user trial: `gc --dry-run` took the workspace's lock exclusive, so it sat
    # behind this workspace's own push (a shared holder) until the push ended, though it deletes nothing.
    with _holder(ws, tmp_path / "long_push.py"):
        dry = subprocess.run([*ASSAY, "data", "gc", "--dry-run"], cwd=ws.root, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "ASSAY_PROGRESS": "0"})
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.startswith("would free ")
        assert "waiting" not in dry.stderr
        gc = subprocess.Popen([*ASSAY, "data", "gc"], cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        assert _first_line(gc).startswith("waiting for the workspace lock: ")  # a real gc still waits
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err
