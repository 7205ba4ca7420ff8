"""Control characters in data (file names, table values, messages, a teammate's run command)
are printed escaped: on a terminal they could retitle it, clear it or hide text. JSON output
means the same after the escaping (``\\u001b`` is JSON's own escape of that character)."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from assay.cli._output import _Shown, escaped, quoted, shown, styled

ESC_NAME = "e\x1b[2Jvil\u202etxt.csv"  # clear-screen sequence and a right-to-left override
TITLE = "\x1b]0;PWNED\x07"  # sets the terminal's title


def test_shown_escapes_controls_and_keeps_only_colours_on_a_terminal() -> None:
    text = f"a\tb {TITLE}\x1b[2J\x1b[31mred\x1b[0m \x9b1m \u202e\r\n"
    # Piped, even a colour of the kind assay uses is data (assay writes none there): escaped, not dropped.
    assert shown(text) == "a\tb \\u001b]0;PWNED\\u0007\\u001b[2J\\u001b[31mred\\u001b[0m \\u009b1m \\u202e\\u000d\n"
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


def test_quoted_names_are_one_line_and_unambiguous() -> None:
    assert quoted("d/plain name.csv") == "d/plain name.csv"
    assert quoted("d/a\nb.txt") == '"d/a\\nb.txt"'
    assert quoted("d/a\\nb.txt") == '"d/a\\\\nb.txt"'  # a backslash in a name is not an escape
    assert quoted('say "hi"') == '"say \\"hi\\""'
    assert quoted("e\x1b[2Jvil\u202e\x85") == '"e\\u001b[2Jvil\\u202e\\u0085"'
    assert json.loads(quoted("t\tab\n\u2028")) == "t\tab\n\u2028"  # a quoted name is a JSON string


def test_text_listings_show_a_name_with_a_line_break_on_one_line(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a\nb.txt").write_text("x")
    cli("data", "add", "d", "--name", "ds")
    assert cli("data", "ls", "ds@v1").stdout.splitlines() == [' 644              1 "d/a\\nb.txt"']
    (tmp_path / "d" / "a\nb.txt").write_text("yz")
    (tmp_path / "d" / "n\new").write_text("n")
    assert cli("data", "status", "ds").stdout.splitlines()[1:] == ['  added     "d/n\\new"',
                                                                   '  modified  "d/a\\nb.txt"']
    cli("data", "add", "d", "--name", "ds")
    assert cli("data", "diff", "ds@v1", "ds@v2").stdout.splitlines()[1:] == [
        '  added     "d/n\\new" (1 B)', '  modified  "d/a\\nb.txt" (1 B -> 2 B, 1 new chunk)']
    packs = ws.root / ".assay" / "objects" / "packs"
    newest = max(packs.glob("*.pack"), key=lambda p: p.stat().st_mtime_ns)  # v2's new chunks
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0xFF  # its last chunk: one of the two new files
    newest.write_bytes(bytes(data))
    out = cli("data", "verify", "ds@v2", check=1).stdout.splitlines()
    assert len(out) == 4 and out[2] in ('    in ds@v2  "d/a\\nb.txt"', '    in ds@v2  "d/n\\new"'), out


def test_piped_output_escapes_data_that_holds_assay_s_own_colours(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "e\x1b[31mvil").write_text("x")
    cli("data", "add", "d", "--name", "ds", "-m", "\x1b[1mbold\x1b[0m and \x1b[31mred\x1b[39m")
    log = cli("data", "log", "ds").stdout
    assert "\\u001b[1mbold\\u001b[0m and \\u001b[31mred\\u001b[39m" in log and "\x1b" not in log, log
    assert "e\\u001b[31mvil" in cli("data", "ls", "ds@v1").stdout
    (tmp_path / "d" / "e\x1b[31mvil").write_text("changed")
    status = cli("data", "status", "ds").stdout
    assert "e\\u001b[31mvil" in status and "\x1b" not in status, status


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_assay_s_own_colours_go_only_to_a_terminal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdout", _Shown(io.StringIO(), err=False))
    assert styled("DRIFT", fg="red", bold=True) == "DRIFT"  # piped: plain, so any sequence there is data's
    terminal = _Tty()
    monkeypatch.setattr(sys, "stdout", _Shown(terminal, err=False))
    print(styled("DRIFT", fg="red", bold=True), "e\x1b[2Jvil")
    assert terminal.getvalue() == "\x1b[31m\x1b[1mDRIFT\x1b[0m e\\u001b[2Jvil\n"
