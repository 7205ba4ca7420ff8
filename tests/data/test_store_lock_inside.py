"""Two workspaces on one PostgreSQL ledger, one's store the folder inside the other's `.assay/`:
the owner takes no advisory lock for its own store (its lock file is enough on its own), so a
gc from the other workspace, which takes only the advisory lock and its own lock file, ran
while the owner's add had written its chunks and not yet recorded its version, and deleted
them (found by review). Such a store is refused to the other workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from assay.data import add, verify
from assay.workspace import Workspace


def test_a_gc_from_a_workspace_whose_store_is_another_s_own_is_refused(tmp_path: Path, pg_database: str) -> None:
    owner = Workspace.init(tmp_path / "a", ledger=pg_database)  # the store: a/.assay/objects
    other = Workspace.init(tmp_path / "b", ledger=pg_database, store=str(owner.dir / "objects"))
    other.close()
    (owner.root / "f.txt").write_text("x\n")
    add(owner, [owner.root / "f.txt"], name="x")
    (owner.root / "g.txt").write_text("only in y\n" * 100)
    inside, go = threading.Event(), threading.Event()
    real = owner.check_lock

    def held_up() -> None:  # the add has stored its chunks and is about to record its version
        inside.set()
        go.wait(60)
        real()

    owner.check_lock = held_up  # type: ignore[method-assign]
    adding = threading.Thread(target=lambda: add(owner, [owner.root / "g.txt"], name="y"))
    adding.start()
    try:
        assert inside.wait(30)
        env = {**os.environ, "ASSAY_PROGRESS": "0", "ASSAY_GC_GRACE_SECONDS": "0"}
        gc = subprocess.run([sys.executable, "-m", "assay", "data", "gc"], cwd=other.root, env=env,
                            capture_output=True, text=True, timeout=60)
    finally:
        go.set()
        adding.join(60)
    owner.check_lock = real  # type: ignore[method-assign]
    assert gc.returncode != 0 and "is the workspace" in gc.stderr and "own" in gc.stderr, gc.stdout + gc.stderr
    assert verify(owner, all_objects=True).ok  # nothing of y's add was deleted
    owner.close()
