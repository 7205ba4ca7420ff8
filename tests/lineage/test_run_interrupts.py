"""Why a run failed, when its command says nothing by its exit code: Ctrl-C (SIGINT) to assay
while the command runs, an exception in a tracked block, a command that cannot be run."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import assay
from assay.errors import UsageError
from assay.lineage import run_command
from assay.workspace import Workspace
from tests.conftest import ASSAY

PY = sys.executable
# The command: says it started, and on its first SIGINT cleans up (taking longer than the
# moment Popen.wait gives it) and exits 0; it counts every SIGINT it gets.
COMMAND = ("import os, signal, sys, time\n"
           "count = []\n"
           "def on_int(signum, frame):\n"
           "    count.append(signum)\n"
           "    if len(count) == 1: raise KeyboardInterrupt\n"
           "signal.signal(signal.SIGINT, on_int)\n"
           "os.makedirs('o', exist_ok=True); open('o/f', 'w').write('1')\n"
           "open('started', 'w').write(str(os.getpid()))\n"
           "try:\n"
           "    time.sleep(60)\n"
           "except KeyboardInterrupt:\n"
           "    time.sleep(1.0)\n"
           "    open('cleaned', 'w').write(str(len(count)))\n"
           "    sys.exit(0)\n")


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def versions(ws: Workspace) -> int:
    return int(ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0])


def run_record(ws: Workspace) -> tuple[str, int | None, dict]:
    status, code, env = ws.ledger.query("SELECT status, exit_code, env FROM runs")[0]
    return status, code, json.loads(env)


def test_sigint_to_assay_alone_is_passed_on_and_the_run_recorded_as_interrupted(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # (a session of its own: no terminal, as under a supervisor or `kill -INT`)
    proc = subprocess.Popen([*ASSAY, "run", "--json", "--out", "o=o", "--", PY, "-c", COMMAND], cwd=ws.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ASSAY_PROGRESS": "0"}, start_new_session=True)
    wait_for(ws.root / "started")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # to assay alone, not to the command's process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # the command got the interrupt, and the time it took to clean up (not killed at once)
    assert (ws.root / "cleaned").read_text() == "1", err
    doc = json.loads(out)
    assert doc["status"] == "failed" and doc["terminated_by"] == "SIGINT" and doc["exit_code"] == 0
    assert "interrupted" in doc["failure"] and "SIGINT" in doc["failure"]
    status, code, env = run_record(ws)
    assert (status, code) == ("failed", 0) and "interrupted" in env["failure"]
    assert versions(ws) == 0
    text = cli("lineage", f"run:{doc['id']}").stdout
    assert "failure:     interrupted" in text


@pytest.mark.parametrize("how", ["typed", "kill"])
def test_sigint_reaches_the_command_once_where_assay_runs_in_a_terminal(ws: Workspace, how: str) -> None:
    # A terminal sends Ctrl-C to its whole foreground process group, the command included:
    # assay does not send it a second one (which would break into its cleaning up). A
    # `kill -INT` to assay alone, in the foreground of a terminal all the same, is passed on.
    main, child_end = os.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*ASSAY, "run", "--out", "o=o", "--", PY, "-c", COMMAND], cwd=ws.root, stdin=child_end,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ASSAY_PROGRESS": "0"}, preexec_fn=own_terminal)
    os.close(child_end)
    try:
        wait_for(ws.root / "started")
        time.sleep(0.2)
        if how == "typed":
            os.write(main, b"\x03")  # Ctrl-C, as typed
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(main)
    assert proc.returncode == 130, err
    assert (ws.root / "cleaned").read_text() == "1", err
    status, code, env = run_record(ws)
    assert (status, code) == ("failed", 0) and "interrupted" in env["failure"]
    assert "run " in err and "failed" in err  # the run's summary is said, as for any other end


def test_a_second_sigint_kills_the_command(ws: Workspace) -> None:
    slow = COMMAND.replace("time.sleep(1.0)", "time.sleep(60)")
    proc = subprocess.Popen([*ASSAY, "run", "--json", "--", PY, "-c", slow], cwd=ws.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "ASSAY_PROGRESS": "0"},
                            start_new_session=True)
    wait_for(ws.root / "started")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Ctrl-C again to kill it" in err
    doc = json.loads(out)
    assert doc["signal"] == "SIGKILL" and doc["terminated_by"] == "SIGINT"
    assert run_record(ws)[:2] == ("failed", -signal.SIGKILL)


def test_one_process_sending_sigint_twice_at_once_is_not_a_second_ctrl_c(ws: Workspace) -> None:
    # `timeout -s INT 10 assay run -- cmd` sends SIGINT to assay and then to its whole process
    # group, within microseconds: taken as two Ctrl-Cs, the second killed the command (SIGKILL,
    # exit 137) in the middle of the cleaning up the first asked for.
    proc = subprocess.Popen([*ASSAY, "run", "--json", "--out", "o=o", "--", PY, "-c", COMMAND], cwd=ws.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ASSAY_PROGRESS": "0"}, start_new_session=True)
    wait_for(ws.root / "started")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # (not at once here: so that assay surely takes the first before the second comes)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc.get("signal") != "SIGKILL" and doc["exit_code"] == 0, doc
    assert (ws.root / "cleaned").read_text() == "1", err



def test_a_host_programs_own_sigchld_handler_still_runs_while_a_command_is_waited_for(ws: Workspace) -> None:
    # run_command as a library: the wait blocked SIGCHLD and took it with sigtimedwait, so a
    # program's own handler missed the end of its own children (and of the command); and
    # every signal disposition and the signal mask are as they were once the run has ended.
    script = ("import json, os, signal, subprocess, sys, time\n"
              "from assay.lineage import run_command\n"
              "from assay.workspace import Workspace\n"
              "ws = Workspace.open('.')\n"
              "ended = []  # (after the command started: not the ends of the git run_command asks)\n"
              "signal.signal(signal.SIGCHLD, lambda s, f: os.path.exists('started') and ended.append(time.monotonic()))\n"
              "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])  # (whatever its parent blocked)\n"
              "names = ('SIGINT', 'SIGTERM', 'SIGHUP', 'SIGCHLD')\n"
              "def dispositions(): return ([signal.getsignal(getattr(signal, n)) for n in names],\n"
              "                            sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))\n"
              "before = dispositions()\n"
              "# the program's own child: ends while the command runs\n"
              "own = subprocess.Popen([sys.executable, '-c', 'import os, time\\n'\n"
              "    'while not os.path.exists(\"started\"): time.sleep(0.02)\\ntime.sleep(0.2)'])\n"
              "command = 'import time; open(\"started\", \"w\").write(\"1\"); time.sleep(2)'\n"
              "run = run_command(ws, [sys.executable, '-c', command])\n"
              "returned = time.monotonic()\n"
              "own.wait()\n"
              "print(json.dumps({'during': sum(t < returned for t in ended), 'all': len(ended),\n"
              "                  'same': dispositions() == before, 'code': run.exit_code}))\n")
    proc = subprocess.run([PY, "-c", script], cwd=ws.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["code"] == 0 and doc["same"] is True
    # its own child's end and the command's, each while run_command waited
    assert doc["during"] >= 2, doc


def test_a_host_programs_reaping_sigchld_handler_does_not_make_a_failed_command_succeed(ws: Workspace) -> None:
    # A program whose own SIGCHLD handler reaps every child (waitpid(-1, WNOHANG)) reaped the
    # command before Popen could: Popen then says 0 (its status is lost), and a command that
    # failed was recorded as succeeded, its outputs versioned. (Each command outlives the start
    # of the wait: for one that ends before it, see the test after this one.)
    script = ("import json, os, signal\n"
              "from assay.lineage import run_command\n"
              "from assay.workspace import Workspace\n"
              "ws = Workspace.open('.')\n"
              "def reap(signum, frame):\n"
              "    try:\n"
              "        while os.waitpid(-1, os.WNOHANG)[0] > 0: pass\n"
              "    except ChildProcessError: pass\n"
              "signal.signal(signal.SIGCHLD, reap)\n"
              "runs = [run_command(ws, ['sh', '-c', 'sleep 0.2; exit 3'], outputs={'o': 'o'}) for _ in range(8)]\n"
              "runs.append(run_command(ws, ['sh', '-c', 'sleep 0.2; kill -TERM $$']))\n"
              "print(json.dumps([r.exit_code for r in runs]))\n")
    (ws.root / "o").mkdir()
    proc = subprocess.run([PY, "-c", script], cwd=ws.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [3] * 8 + [-signal.SIGTERM]
    assert versions(ws) == 0


def test_a_command_reaped_by_the_host_program_before_the_wait_has_an_unknown_exit_status(
        ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # A command that ends before the wait starts is reaped by the program's own SIGCHLD handler
    # (or by the kernel, where SIGCHLD is ignored): its status is lost, and Popen says 0. A
    # command that exited 3 was recorded as succeeded, its outputs versioned. Its exit status
    # is now recorded as unknown: not a success, and not a made-up code.
    script = ("import json, os, signal, sys\n"
              "from assay.lineage import run_command\n"
              "from assay.lineage._signals import RunSignals\n"
              "from assay.workspace import Workspace\n"
              "ws = Workspace.open('.')\n"
              "def reap(signum, frame):\n"
              "    try:\n"
              "        while os.waitpid(-1, os.WNOHANG)[0] > 0: pass\n"
              "    except ChildProcessError: pass\n"
              "wait = RunSignals.wait\n"
              "def late(self, child):  # the command ends, and the handler runs, before the wait starts\n"
              "    try:\n"
              "        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)\n"
              "    except ChildProcessError: pass  # (SIGCHLD ignored: the kernel reaped it)\n"
              "    for _ in range(100): pass\n"
              "    return wait(self, child)\n"
              "RunSignals.wait = late\n"
              "codes = []\n"
              "for how in ('handler', 'handler, SIGINT not taken', 'ignored'):\n"
              "    signal.signal(signal.SIGCHLD, signal.SIG_IGN if how == 'ignored' else reap)\n"
              "    signal.signal(signal.SIGINT, (lambda s, f: None) if 'SIGINT' in how else signal.default_int_handler)\n"
              "    run = run_command(ws, ['sh', '-c', 'exit 3'], outputs={'o': 'o'})\n"
              "    codes.append([run.status, run.exit_code, run.failure, run.id])\n"
              "signal.signal(signal.SIGCHLD, reap)\n"
              "RunSignals.wait = wait  # a command that outlives the start of the wait: its own code\n"
              "run = run_command(ws, ['sh', '-c', 'sleep 0.2; exit 3'])\n"
              "codes.append([run.status, run.exit_code, run.failure, run.id])\n"
              "print(json.dumps(codes))\n")
    (ws.root / "o").mkdir()
    (ws.root / "o" / "f").write_text("1")
    proc = subprocess.run([PY, "-c", script], cwd=ws.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    for status, code, failure, _ in runs[:3]:
        assert (status, code) == ("failed", None) and "exit status is unknown" in failure, runs
    assert runs[3][:3] == ["failed", 3, None]
    assert versions(ws) == 0
    from assay.lineage import run_record as record

    unknown = record(ws, runs[0][3])
    assert unknown.exit_unknown is True and unknown.exit_code is None and unknown.status == "failed"
    assert record(ws, runs[3][3]).exit_unknown is False
    text = cli("lineage", f"run:{runs[0][3][:12]}").stdout
    assert "status:      failed (exit status unknown)\n" in text
    node = next(n for n in cli.json("lineage", f"run:{runs[0][3]}")["nodes"] if n["type"] == "run")
    assert node["exit_unknown"] is True and "exit_unknown" not in node["env"]
    assert "exit status unknown" in cli("lineage", "--dot", f"run:{runs[0][3]}").stdout


@pytest.mark.parametrize("interrupt", ["taken", "not taken"])
def test_a_command_popen_reaped_itself_during_the_wait_keeps_its_exit_status(monkeypatch, interrupt: str) -> None:  # type: ignore[no-untyped-def]
    # Popen.send_signal polls before it signals (a signal passed on to the command, the kill
    # timer): a command that had just ended was reaped there, with its status read, and the
    # wait, finding no child, took that for a foreign handler's reaping: exit status unknown.
    from assay.lineage._signals import RunSignals

    child = subprocess.Popen(["sh", "-c", "exit 3"])
    real = os.waitid

    def waitid(*args):  # type: ignore[no-untyped-def]
        while child.poll() is None:  # (send_signal's poll, come first)
            time.sleep(0.01)
        return real(*args)

    monkeypatch.setattr(os, "waitid", waitid)
    with RunSignals(raise_now=False) as signals:
        if interrupt == "taken":
            signals.take_interrupt()
        signals.watch(child)
        assert signals.wait(child) == 3
        signals.watch(None)


@pytest.mark.parametrize("how", ["INT", "TERM"])
def test_a_command_that_signals_assay_and_exits_keeps_its_exit_status(ws: Workspace, how: str) -> None:
    # The command sends assay a signal and exits: assay passes the signal on (its poll reaping
    # the command), and one run in five or so was recorded with its exit status unknown.
    script = ("import json, sys\n"
              "from assay.lineage import run_command\n"
              "from assay.lineage._signals import Interrupted, Terminated\n"
              "from assay.workspace import Workspace\n"
              "ws = Workspace.open('.')\n"
              "runs = []\n"
              "for _ in range(20):\n"
              "    try:\n"
              f"        run = run_command(ws, ['sh', '-c', 'kill -{how} $PPID; exit 3'])\n"
              "    except (Interrupted, Terminated) as exc:\n"
              "        run = exc.run\n"
              "    runs.append([run.exit_code, run.exit_unknown])\n"
              "print(json.dumps(runs))\n")
    proc = subprocess.run([PY, "-c", script], cwd=ws.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(code in (3, -getattr(signal, f"SIG{how}")) and not unknown for code, unknown in runs), runs


def test_assay_run_reads_the_exit_status_where_its_parent_left_sigchld_ignored(ws: Workspace) -> None:
    # SIGCHLD ignored is inherited across exec: the kernel reaped every child, Popen said 0, and
    # `assay run -- sh -c 'exit 3'` recorded a success and exited 0.
    def ignored() -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)

    proc = subprocess.run([*ASSAY, "run", "--json", "--", "sh", "-c", "exit 3"], cwd=ws.root, capture_output=True,
                          text=True, timeout=120, preexec_fn=ignored)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 3 and doc["status"] == "failed" and doc["exit_code"] == 3, proc.stderr


def test_an_exception_in_the_wait_leaves_no_interrupt_behind(ws: Workspace) -> None:
    # A program's own handler raises while the command is waited for: the command is ended,
    # the run recorded as failed, and nothing of the wait (a SIGINT it sent itself to wake
    # up) reaches the program as a Ctrl-C afterwards.
    script = ("import json, signal, sys, time\n"
              "from assay.lineage import run_command\n"
              "from assay.workspace import Workspace\n"
              "ws = Workspace.open('.')\n"
              "def alarm(s, f): raise TimeoutError('too slow')\n"
              "signal.signal(signal.SIGALRM, alarm)\n"
              "before = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, [])\n"
              "signal.setitimer(signal.ITIMER_REAL, 1.5)\n"
              "try:\n"
              "    run_command(ws, [sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "except TimeoutError:\n"
              "    pass\n"
              "time.sleep(0.5)  # a stray SIGINT would be a KeyboardInterrupt here\n"
              "after = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, [])\n"
              "status, env = ws.ledger.query('SELECT status, env FROM runs')[0]\n"
              "print(json.dumps({'status': status, 'failure': json.loads(env)['failure'], 'same': after == before}))\n")
    proc = subprocess.run([PY, "-c", script], cwd=ws.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc == {"status": "failed", "failure": "TimeoutError: too slow", "same": True}
    assert "interrupted" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("swallowed", [False, True])
def test_sigterm_to_a_tracked_block_running_a_command_is_passed_on_to_the_command(ws: Workspace,
                                                                                  swallowed: bool) -> None:
    # A pipeline script: a tracked block that runs a command. The block's handler raised at
    # once, inside the wait for the command, which was then killed (SIGKILL) in mid-work.
    command = ("import signal, sys, time\n"
               "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(3))\n"
               "open('started', 'w').write('1')\n"
               "try:\n"
               "    time.sleep(60)\n"
               "finally:\n"
               "    time.sleep(0.5)\n"
               "    open('cleaned', 'w').write('1')\n")
    script = ("import sys, assay\n"
              "from assay.lineage import run_command\n"
              "from assay.workspace import Workspace\n"
              "ws = Workspace.open('.')\n"
              "with assay.track(ws, name='pipeline'):\n"
              "    try:\n"
              f"        run_command(ws, [sys.executable, '-c', {command!r}])\n"
              "    except SystemExit:\n"
              f"        if not {swallowed}: raise\n")
    proc = subprocess.Popen([PY, "-c", script], cwd=ws.root, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    wait_for(ws.root / "started")
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert (ws.root / "cleaned").exists(), err  # it had its SIGTERM, and time to clean up
    runs = {c: (code, json.loads(env).get("failure", "")) for c, code, env in
            ws.ledger.query("SELECT command, exit_code, env FROM runs WHERE status = 'failed'")}
    assert runs[json.dumps([PY, "-c", command])][0] == 3
    # the block's run failed too: by the signal, or (its Terminated caught) interrupted by it
    assert runs['["pipeline"]'][0] == (0 if swallowed else -signal.SIGTERM) and "SIGTERM" in runs['["pipeline"]'][1]


def test_an_exception_that_failed_a_tracked_block_is_recorded(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError), assay.track(ws) as run:
        (ws.root / "m").mkdir()
        (ws.root / "m" / "w").write_text("1")
        run.output("m", "m")
        raise ValueError("learning rate 3.0 diverged; see postgresql://me:hunter2@db/x")
    status, code, env = run_record(ws)
    assert status == "failed" and code is None and versions(ws) == 0
    assert env["failure"].startswith("ValueError: learning rate 3.0 diverged")
    assert "hunter2" not in env["failure"]  # the record travels with a push: no secret in it
    assert run.to_dict()["failure"] == env["failure"]
    assert "failure:     ValueError: learning rate 3.0 diverged" in cli("lineage", f"run:{run.id}").stdout



@pytest.mark.parametrize("message", ["Authorization: Bearer tok-hunter2",
                                     "request refused (401); headers sent:\n  X-Api-Key: tok-hunter2\n  Accept: */*"])
def test_a_secret_header_in_an_exception_is_left_out_of_the_run_record(ws: Workspace, message: str) -> None:
    # redact_text knows "Name: value" as a header only as the whole text (or a line): the
    # exception's type, put before it, and the lines of a longer message hid it.
    with pytest.raises(RuntimeError), assay.track(ws):
        raise RuntimeError(message)
    failure = run_record(ws)[2]["failure"]
    assert failure.startswith("RuntimeError: ") and "hunter2" not in failure, failure


def test_a_command_that_cannot_be_run_says_why_and_records_it(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "data.csv").write_text("a,b\n")
    proc = cli("run", "--", "./data.csv", check=2)
    assert "cannot run ./data.csv" in proc.stderr and "permission denied" in proc.stderr.lower()
    assert "chmod +x" in proc.stderr and "cannot be accessed by this user" not in proc.stderr
    status, code, env = run_record(ws)
    assert (status, code) == ("failed", 126) and "cannot run ./data.csv" in env["failure"]
    with pytest.raises(UsageError, match="command not found: no-such-tool") as caught:
        run_command(ws, ["no-such-tool", "--fast"])
    assert "sh -c" in (caught.value.hint or "")  # assay runs no shell: what to write for one
    row = ws.ledger.query("SELECT exit_code, env FROM runs WHERE exit_code = 127")[0]
    assert "command not found" in json.loads(row[1])["failure"]


def test_a_run_whose_assay_was_killed_reads_as_abandoned_not_running(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # SIGKILL (the OOM killer, a crash) leaves no chance to record the end: the run would read
    # as running for ever.
    script = "import os, time; open('started', 'w').write(str(os.getpid())); time.sleep(60)"
    proc = subprocess.Popen([*ASSAY, "run", "--", PY, "-c", script], cwd=ws.root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(ws.root / "started")
    time.sleep(0.2)
    proc.kill()
    proc.wait(timeout=30)
    os.kill(int((ws.root / "started").read_text()), signal.SIGKILL)  # (the command, left behind)
    run_id = ws.ledger.query("SELECT id FROM runs")[0][0]
    node = next(n for n in cli.json("lineage", f"run:{run_id}")["nodes"] if n["id"] == f"run:{run_id}")
    assert node["status"] == "running" and node["abandoned"] is True and "pid" not in node["env"]
    text = cli("lineage", f"run:{run_id}").stdout
    assert "abandoned" in text and f"{proc.pid}" in text
    # one still running reads as running
    with assay.track(ws) as run:
        node = next(n for n in cli.json("lineage", f"run:{run.id}")["nodes"] if n["id"] == f"run:{run.id}")
        assert node["status"] == "running" and "abandoned" not in node



def _recorded_running(ws: Workspace, **env: object) -> str:
    """A run that reads as running, its record's env changed by ``env``."""
    with assay.track(ws) as run:
        pass
    started = env.pop("started_at", None)
    rows = ws.ledger.query("SELECT env, started_at FROM runs WHERE id = ?", (run.id,))
    doc = {**json.loads(rows[0][0]), **env}
    with ws.ledger.transaction() as tx:
        tx.execute("UPDATE runs SET status = 'running', env = ?, started_at = ? WHERE id = ?",
                   (json.dumps(doc), started or rows[0][1], run.id))
    return run.id


def test_a_run_of_another_pid_namespace_with_this_host_name_is_not_called_abandoned(ws: Workspace) -> None:
    # A container sharing the host's name (--uts=host, --network host) has its own process
    # numbers: its live run's pid, looked up here, is another process or none at all.
    from assay.lineage._graph import describe

    dead = subprocess.Popen([PY, "-c", "pass"])
    dead.wait(timeout=30)
    run_id = _recorded_running(ws, pid=dead.pid, host_tag="h00000000")
    assert "abandoned" not in describe(ws, f"run:{run_id}")
    assert "host_tag" not in describe(ws, f"run:{run_id}")["env"]  # (kept apart, as pid is)


def test_a_run_whose_pid_was_used_again_reads_as_abandoned(ws: Workspace) -> None:
    # The run's process died; its number now belongs to a process started after the run.
    from assay.lineage._graph import describe

    later = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"])
    try:
        run_id = _recorded_running(ws, pid=later.pid, started_at="2026-01-01T00:00:00+00:00")
        assert describe(ws, f"run:{run_id}").get("abandoned") is True
    finally:
        later.kill()
        later.wait(timeout=30)


def test_an_error_after_the_run_was_recorded_names_the_run_in_json(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(cli("run", "--json", "--out", "e=empty", "--", "true", check=2).stdout)
    assert "empty does not exist" in doc["message"]
    run_id = ws.ledger.query("SELECT id FROM runs")[0][0]
    assert doc["run"]["id"] == run_id and doc["run"]["status"] == "failed"
    doc = json.loads(cli("run", "--json", "--", "no-such-tool", check=2).stdout)
    assert doc["run"]["status"] == "failed" and doc["run"]["failure"].startswith("command not found")
    doc = json.loads(cli("run", "--json", "--out", "bad/name=x", "--", "true", check=2).stdout)
    assert "run" not in doc  # refused before any run was recorded
