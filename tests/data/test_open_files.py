"""A workspace opened again and again in one process (a server's requests, a notebook, a long
test session) leaves no pack files open behind it: a test session once held over 1,024."""

from __future__ import annotations

import os
import random
from pathlib import Path

from assay.data import add, add_remote, checkout, pull, push, verify
from assay.workspace import Workspace


def _open_packs() -> list[str]:
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, closed since
        if target.endswith(".pack"):
            names.append(target)
    return names


def test_workspaces_used_and_dropped_leave_no_pack_file_open(tmp_path: Path) -> None:
    root, clone, remote = tmp_path / "ws", tmp_path / "clone", tmp_path / "remote"
    with Workspace.init(root) as ws:
        rng = random.Random(3)
        (root / "d").mkdir()
        for i in range(20):
            (root / "d" / f"f{i}.bin").write_bytes(rng.randbytes(2000 + i))
        add(ws, [root / "d"], name="ds")
        add_remote(ws, "origin", str(remote), default=True)
    with Workspace.init(clone) as ws:
        add_remote(ws, "origin", str(remote), default=True)
    before = _open_packs()
    for round_ in range(5):
        with Workspace.open(root) as ws:
            assert verify(ws, all_objects=True).ok
            checkout(ws, "ds@v1", to=tmp_path / f"out{round_}")
            push(ws)
            assert _open_packs()  # it reads through open pack files while it lives
        with Workspace.open(clone) as ws:
            pull(ws, "ds@v1")
            assert verify(ws, all_objects=True).ok
    del ws  # the last one, dropped as the others were
    assert _open_packs() == before
