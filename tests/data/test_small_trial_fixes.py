"""A store holding only an interrupted first push is not called intact; `init` on a
PostgreSQL database that is not there says to create it."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from assay.workspace import Workspace


def test_a_remote_with_objects_but_no_version_is_not_said_ok(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f.bin").write_bytes(b"x" * 300_000)
    cli("data", "add", "d", "--name", "ds")
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    cli("data", "push")
    for left in ("versions", "refs", "snapshots"):  # as a first push killed before its refs
        shutil.rmtree(tmp_path / "remote" / left, ignore_errors=True)
    proc = cli("data", "verify", "--remote", "origin")
    assert not proc.stdout.startswith("ok"), proc.stdout
    assert proc.stdout.startswith("no versions: remote origin holds no versions at all, only ") and \
        "interrupted first push" in proc.stdout, proc.stdout
    assert cli.json("data", "verify", "--remote", "origin")["empty"] is True


def test_init_on_a_missing_database_says_to_create_it(cli, tmp_path: Path, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    name = f"assay_missing_{uuid.uuid4().hex[:8]}"
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    proc = cli("init", str(tmp_path / "w"), "--ledger", url, check=2)
    assert "`createdb -h 127.0.0.1 -p " in proc.stderr and f" {name}`" in proc.stderr, proc.stderr
    assert "config.toml" not in proc.stderr and "--ledger URL" in proc.stderr and "`assay init` again" in proc.stderr
    assert not (tmp_path / "w" / ".assay").exists()
