"""Control characters in data (file names, table values, messages, a teammate's run command)
are printed escaped: on a terminal they could retitle it, clear it or hide text. JSON output
means the same after the escaping (``\\u001b`` is JSON's own escape of that character)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from assay.cli._output import escaped, shown

ESC_NAME = "e\x1b[2Jvil\u202etxt.csv"  # clear-screen sequence and a right-to-left override
TITLE = "\x1b]0;PWNED\x07"  # sets the terminal's title


def test_shown_escapes_controls_and_keeps_only_colours_on_a_terminal() -> None:
    text = f"a\tb {TITLE}\x1b[2J\x1b[31mred\x1b[0m \x9b1m \u202e\r\n"
    assert shown(text) == "a\tb \\u001b]0;PWNED\\u0007\\u001b[2Jred \\u009b1m \\u202e\\u000d\n"
    on_terminal = shown(text, terminal=True)
    assert "\x1b[31mred\x1b[0m" in on_terminal  # colours stay on a terminal
    assert "\\u001b[2J" in on_terminal and "\\u001b]0;" in on_terminal and "\x07" not in on_terminal
    assert shown("50%\r\x1b[A", terminal=True, err=True) == "50%\r\x1b[A"  # a progress bar's moves
    # Only the styles assay uses pass: no concealed text, no background that hides it.
    assert shown("\x1b[8mhidden \x1b[40;30mdark", terminal=True) == "\\u001b[8mhidden \\u001b[40;30mdark"
    assert escaped("line\rover \x1b[31m") == "line\\u000dover \\u001b[31m"  # messages: everything
    assert shown("plain text, ünïcode\n") == "plain text, ünïcode\n"


def _data(cli, root: Path) -> None:  # type: ignore[no-untyped-def]
    (root / "d").mkdir()
    (root / "d" / ESC_NAME).write_text("id,v\n1,a\n")
    cli("data", "add", "d", "--name", "ds", "-m", f"first {TITLE}")
    (root / "d" / ESC_NAME).write_text(f"id,v\n1,{TITLE}\x1b[2J\x1b[31mred\n")
    cli("data", "add", "d", "--name", "ds")


def test_piped_output_shows_escapes_not_the_sequences(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _data(cli, tmp_path)
    for args in (("data", "ls", "ds@v1"), ("data", "log", "ds"), ("data", "diff", "ds@v1", "ds@v2", "--key", "id"),
                 ("data", "status", "ds")):
        out = cli(*args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, (args, out)
    assert "e\\u001b[2Jvil\\u202etxt.csv" in cli("data", "ls", "ds@v1").stdout  # the name, not "evil"
    diff = cli("data", "diff", "ds@v1", "ds@v2", "--key", "id").stdout
    assert "\\u001b]0;PWNED\\u0007" in diff
    assert "first \\u001b]0;PWNED\\u0007" in cli("data", "log", "ds").stdout


def test_json_output_still_names_the_exact_bytes(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _data(cli, tmp_path)
    proc = cli("data", "ls", "ds@v1", "--json")
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout
    assert [f["path"] for f in json.loads(proc.stdout)["files"]] == [f"d/{ESC_NAME}"]
    log = cli.json("data", "log", "ds")
    assert log["versions"][-1]["message"] == f"first {TITLE}"


def test_a_terminal_gets_no_live_sequence(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _data(cli, tmp_path)
    # The command's stdout is a terminal (a pseudo-terminal here): colours would pass, the rest not.
    leader, follower = pty.openpty()
    env = {**os.environ, "ASSAY_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "assay", "data", "diff", "ds@v1", "ds@v2", "--key", "id"],
                            cwd=tmp_path, stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    out = b"".join(chunks).decode()
    assert "\\u001b]0;PWNED\\u0007\\u001b[2J" in out
    assert "\x1b]" not in out and "\x1b[2J" not in out and "\x07" not in out
