"""The `assay data` commands: --json documents, exit codes, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assay.workspace import Workspace


def test_data_commands_end_to_end(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "t.csv").write_text("id,x\n1,a\n2,b\n")
    doc = cli.json("data", "add", "d", "--name", "ds", "-m", "first")
    assert doc["created"] is True and doc["version"]["ref"] == "ds@v1" and doc["files"] == 1
    doc = cli.json("data", "add", "d", "--name", "ds")
    assert doc["created"] is False
    assert "no new version" in cli("data", "add", "d", "--name", "ds").stdout
    (ws.root / "d" / "t.csv").write_text("id,x\n1,a\n2,c\n3,d\n")
    st = cli.json("data", "status", "ds")
    assert st["clean"] is False and st["modified"] == ["d/t.csv"]
    assert cli.json("data", "status")["datasets"][0]["dataset"] == "ds"
    cli("data", "add", "d", "--name", "ds", "-m", "second")
    lg = cli.json("data", "log", "ds")
    assert [v["version"] for v in lg["versions"]] == ["v2", "v1"]
    files = cli.json("data", "ls", "ds@v1")["files"]
    assert [f["path"] for f in files] == ["d/t.csv"]
    assert cli.json("data", "ls")["datasets"][0]["versions"] == 2
    df = cli.json("data", "diff", "ds@v1", "ds@v2", "--key", "id")
    table = df["tables"]["d/t.csv"]
    assert (table["rows_added"], table["rows_removed"], table["rows_changed"]) == (1, 0, 1)
    assert "rows 2 -> 3" in cli("data", "diff", "ds@v1", "ds@v2", "--key", "id").stdout
    co = cli.json("data", "checkout", "ds@v1", "--to", str(tmp_path / "out"))
    assert co["written"] == 1 and co["written_paths"] == ["d/t.csv"] and (tmp_path / "out" / "d" / "t.csv").read_text() == "id,x\n1,a\n2,b\n"
    assert cli.json("data", "verify")["ok"] is True
    assert cli.json("data", "verify", "ds@v1")["ok"] is True
    gc = cli.json("data", "gc", "--dry-run")
    assert gc["dry_run"] is True and gc["chunks_deleted"] == 0
    cli("remote", "add", "backup", str(tmp_path / "remote"))
    assert cli.json("remote", "list")["remotes"][0]["default"] is True
    pushed = cli.json("data", "push")
    assert pushed["versions"] == ["ds@v1", "ds@v2"] and pushed["chunks_transferred"] >= 2
    pulled = cli.json("data", "pull", "ds@v1")
    assert pulled["chunks_transferred"] == 0


def test_push_says_what_it_sent_and_what_was_there(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("a\n")
    cli("data", "add", "d", "--name", "ds")
    (ws.root / "d" / "b.txt").write_text("b\n")
    cli("data", "add", "d", "--name", "ds")
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    first = cli.json("data", "push")
    assert first["versions_sent"] == ["ds@v1", "ds@v2"] and first["versions_already_there"] == []
    (ws.root / "d" / "c.txt").write_text("c\n")
    cli("data", "add", "d", "--name", "ds")
    text = cli("data", "push").stdout
    assert text.startswith("pushed 1 version to origin (2 more already there): 1 chunk "), text
    again = cli.json("data", "push")
    assert again["versions"] == ["ds@v1", "ds@v2", "ds@v3"]  # the key kept: every version the push covered
    assert again["versions_sent"] == [] and again["versions_already_there"] == ["ds@v1", "ds@v2", "ds@v3"]
    assert cli("data", "push").stdout == "nothing to push: remote origin has all 3 versions already\n"
    assert cli("data", "push", "ds@v1").stdout == "nothing to push: remote origin has ds@v1 already\n"
    # A pull says the same: what it recorded here, and what this workspace had already.
    assert cli("data", "pull").stdout == "nothing to pull: this workspace has all 3 versions of origin already\n"
    clone = tmp_path / "clone"
    cli("init", str(clone))
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=clone)
    cli("data", "pull", "ds@v1", cwd=clone)
    text = cli("data", "pull", cwd=clone).stdout
    assert text.startswith("pulled 2 versions from origin (1 more already here): "), text
    pulled = cli.json("data", "pull", "ds@v2", cwd=clone)
    assert pulled["versions"] == ["ds@v2"] and pulled["versions_sent"] == [] and pulled["versions_already_there"] == ["ds@v2"]


def test_exit_codes_and_messages(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    p = cli("data", "log", "ghost", check=2)
    assert "no dataset or model named 'ghost'" in p.stderr
    p = cli("data", "add", "nothing-here", "--name", "x", check=2)
    assert "does not exist" in p.stderr
    p = cli("data", "add", "--name", "x", check=2)  # missing PATH: click usage error
    assert "Missing argument" in p.stderr
    p = cli("data", "checkout", "ghost@v1", check=2)
    p = cli("data", "push", check=2)
    assert "no remote configured" in p.stderr and "assay remote add" in p.stderr
    doc = json.loads(cli("data", "diff", "a@v1", "b@v1", "--json", check=2).stdout)
    assert doc["error"] == "NotFoundError"


def test_progress_stays_off_stdout_when_piped(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.bin").write_bytes(b"x" * 5_000_000)
    proc = cli("data", "add", "d", "--name", "ds", "--json", env={"ASSAY_PROGRESS": "1"})
    json.loads(proc.stdout)  # stdout holds exactly one JSON document
    assert "adding" in proc.stderr  # the bar went to stderr


def test_a_forced_progress_bar_off_a_terminal_writes_a_line_per_redraw(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # A trial: ASSAY_PROGRESS=1 with stderr in a file wrote the bar's carriage returns as "\u000d".
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.bin").write_bytes(b"x" * 5_000_000)
    for args in (("data", "add", "d", "--name", "ds"), ("data", "checkout", "ds@v1", "--to", "out")):
        proc = subprocess.run([sys.executable, "-m", "assay", *args], cwd=ws.root, capture_output=True,
                              env={**os.environ, "ASSAY_PROGRESS": "1"}, timeout=120, check=True)
        err = proc.stderr.decode()
        assert "\\u000d" not in err and "\r" not in err and "\x1b" not in err, err
        lines = err.splitlines()
        assert lines and all(line.startswith(("adding", "checkout")) and "%|" in line for line in lines), err


def test_a_mode_change_is_named_by_status_and_diff(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # A trial: after a chmod +x, diff said "modified d/c.csv (194.2 KiB -> 194.2 KiB, 0 new chunks)",
    # with no reason; the manifest keeps the mode, and status and diff now name it.
    (ws.root / "d" / "sub").mkdir(parents=True)
    (ws.root / "d" / "c.csv").write_text("id,x\n" + "".join(f"{i},{i * 2}\n" for i in range(2000)))
    (ws.root / "d" / "t.txt").write_text("hi\n")
    (ws.root / "d" / "sub" / "z.txt").write_text("z\n")
    for path in ("d/c.csv", "d/t.txt", "d/sub/z.txt"):
        (ws.root / path).chmod(0o644)
    cli("data", "add", "d", "--name", "ds")
    assert cli.json("data", "status", "ds")["modes"] == {}
    (ws.root / "d" / "c.csv").chmod(0o755)  # the mode alone
    (ws.root / "d" / "t.txt").write_text("hi there\n")
    (ws.root / "d" / "t.txt").chmod(0o600)  # bytes and mode
    st = cli.json("data", "status", "ds")
    assert st["modified"] == ["d/c.csv", "d/t.txt"]
    assert st["modes"] == {"d/c.csv": {"old": "644", "new": "755", "content_changed": False},
                           "d/t.txt": {"old": "644", "new": "600", "content_changed": True}}
    out = cli("data", "status", "ds").stdout
    assert "modified  d/c.csv (mode 644 -> 755)\n" in out and "modified  d/t.txt (content and mode 644 -> 600)\n" in out
    cli("data", "add", "d", "--name", "ds")
    assert cli.json("data", "status", "ds")["clean"] is True
    (ws.root / "d" / "sub" / "z.txt").chmod(0o640)  # after a clean status: only its folder is looked at again
    assert cli.json("data", "status", "ds")["modes"] == {"d/sub/z.txt": {"old": "644", "new": "640", "content_changed": False}}
    doc = cli.json("data", "diff", "ds@v1", "ds@v2")
    by_path = {f["path"]: f for f in doc["modified"]}
    assert by_path["d/c.csv"]["content_changed"] is False and by_path["d/t.txt"]["content_changed"] is True
    assert (by_path["d/c.csv"]["old_mode"], by_path["d/c.csv"]["new_mode"]) == ("644", "755")
    assert doc["tables"] == {}  # the same bytes: no rows to compare
    out = cli("data", "diff", "ds@v1", "ds@v2").stdout
    assert "  modified  d/c.csv (mode 644 -> 755)\n" in out
    assert "  modified  d/t.txt (3 B -> 9 B, 1 new chunk; mode 644 -> 600)\n" in out


def test_counts_of_one_are_singular(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # A trial: "1 files", "stored 1 new chunks", "1 version(s)".
    from assay.cli._output import counted

    assert [counted(n, "chunk") for n in (0, 1, 2)] == ["0 chunks", "1 chunk", "2 chunks"]
    assert counted(1200, "row", grouped=True) == "1,200 rows" and counted(1, "delivery", "deliveries") == "1 delivery"
    from assay._wording import noun_for  # the one helper, shared by the library's messages

    assert [noun_for(n, "column") for n in (0, 1, 2)] == ["columns", "column", "columns"]
    assert noun_for(2, "copy", "copies") == "copies"
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("a\n")
    out = cli("data", "add", "d", "--name", "ds").stdout
    assert "1 file, 2 B; stored 1 new chunk (" in out, out
    assert cli("data", "status", "ds").stdout == "ds: clean against ds@v1 (1 file)\n"
    assert "1 file, 2 B" in cli("data", "log", "ds").stdout
    assert " 1 version, latest " in cli("data", "ls").stdout
    assert cli("data", "verify").stdout.startswith("ok: 1 chunk (")
    assert cli.json("data", "add", "d", "--name", "ds")["new_chunks"] == 0  # JSON keys as they were


def test_log_shows_one_line_per_version_whatever_its_message(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # A message of several lines (or one pulled from a remote) would print as extra lines that
    # read as versions: the log shows its first line, as git's --oneline does; JSON keeps it whole.
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("1")
    forged = "first line\nds@v9   0123456789ab  2026-01-01T00:00:00  1 file, 1 B  approved"
    cli("data", "add", "d", "--name", "ds", "-m", forged)
    out = cli("data", "log", "ds").stdout
    assert len(out.splitlines()) == 1 and "first line …" in out and "approved" not in out
    assert cli.json("data", "log", "ds")["versions"][0]["message"] == forged
