"""A killed writer's temp files, removed by whichever command opens the store next, are said
to be removed (found by a new-user trial: a killed add's temp pack went silently, and a gc
after it reported nothing freed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from assay._process import host_tag
from assay.workspace import Workspace


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_command_that_removes_a_killed_add_s_temp_pack_says_so_on_stderr(ws: Workspace, cli,  # type: ignore[no-untyped-def]
                                                                             tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a\n")
    cli("data", "add", "d", "--name", "ds")
    dead = _dead_pid()
    pack = tmp_path / ".assay" / "tmp" / f"{dead}-0123456789ab.pack"  # a killed add's pack
    part = tmp_path / ".assay" / "objects" / ".tmp" / f"{dead}-{host_tag()}-0123456789ab-x.pack"  # a killed put's
    pack.write_bytes(b"p" * 5000)
    part.write_bytes(b"q" * 3000)
    done = cli("data", "verify", "--json")
    assert not pack.exists() and not part.exists()
    assert json.loads(done.stdout)["ok"] is True  # stdout stays one JSON document
    assert done.stderr.count("note: removed") == 1
    assert "note: removed 2 temp files (7.8 KiB) left in this workspace's temp folders by assay commands killed " \
           "mid-write" in done.stderr
    quiet = cli("data", "verify")
    assert "note:" not in quiet.stderr  # said once, by the command that removed them
    # a folder remote's: said by the push or pull that removes them
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    cli("data", "push")
    stray = tmp_path / "remote" / ".tmp" / f"{dead}-{host_tag()}-0123456789ab-x.pack"
    stray.write_bytes(b"r" * 100)
    pulled = cli("data", "pull")
    assert not stray.exists() and "note: removed a temp file (100 B) left in remote origin's temp folder" in pulled.stderr
