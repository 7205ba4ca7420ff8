"""How signals to this process end a run in progress: SIGTERM and SIGHUP, and Ctrl-C (SIGINT)
while a run's command runs, are passed on to the command, and the run is recorded as failed
before the process ends (see :func:`assay.lineage.run_command`, :func:`assay.lineage.track`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from assay.lineage._run import Run

__all__ = ["Interrupted", "RunSignals", "Terminated"]


class Terminated(SystemExit):
    """SIGTERM or SIGHUP ended a run: the command was passed the signal and the run recorded as
    failed. Exits 128 + the signal's number, as a shell reports a process the signal ended
    (143 for SIGTERM)."""

    def __init__(self, signum: int, run: Run | None = None) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.run = run


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) while a run's command ran: the command had it too, was waited for, and the
    run was recorded as failed (``run``: its record)."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.signum = signal.SIGINT
        self.run = run


class RunSignals:
    """SIGTERM and SIGHUP while a run is in progress. By default they end Python at once, and
    the run would stay "running" for ever: here they are passed on to the command (which gets
    ``_GRACE`` seconds before SIGKILL), or raised as :class:`Terminated` in a tracked block
    while ``raise_now``, so that the run is recorded as failed first. Only signals left to
    their default (in the main thread) are taken: a program's own handler, or nohup's, stays.

    After :meth:`take_interrupt`, SIGINT (Ctrl-C) too, while the command runs: by default it would
    interrupt the wait and the command would be killed a moment later, in the middle of
    cleaning up. It is passed on (unless a terminal sent it to the command already) and the
    command is waited for as a shell waits for it; a second one kills the command."""

    _GRACE = 10.0
    # A process's second SIGINT within this many seconds is the same one: ``timeout -s INT``
    # sends it to assay and then to its whole process group, microseconds apart.
    _SAME = 0.25

    def __init__(self, *, raise_now: bool) -> None:
        self.signum: int | None = None
        self.raise_now = raise_now
        self._child: subprocess.Popen[bytes] | None = None
        self._previous: dict[int, Any] = {}
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for name in ("SIGTERM", "SIGHUP"):
                number = getattr(signal, name, None)
                handler = signal.getsignal(number) if number is not None else None
                # Left to its default, or to the command line's, which ends assay as Ctrl-C would,
                # or to a run's around this one (a command run in a tracked block): its handler
                # raised in the middle of the wait, and the command was killed with no time to end.
                if number is not None and (handler is signal.SIG_DFL or getattr(handler, "assay_default", False)
                                           or isinstance(getattr(handler, "__self__", None), RunSignals)):
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def take_interrupt(self) -> None:
        """Take SIGINT from here until :meth:`watch` is told the command has ended (where it is
        left to Python's default, in the main thread)."""
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)

    def __exit__(self, *exc: object) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
            outer = getattr(previous, "__self__", None)
            if isinstance(outer, RunSignals) and self.signum == number and outer.signum is None:
                outer.signum = number  # (the run around this one ends as failed too, even if this one's is caught)
        if self._timer is not None:
            self._timer.cancel()

    def watch(self, child: subprocess.Popen[bytes] | None) -> None:
        """The command to pass a signal on to (None once it has ended: a Ctrl-C from then on
        interrupts assay's own work, as it would have without a run)."""
        self._child = child
        if child is not None and self.signum is not None:  # (came between its start and now)
            self._end_child(self.signum)
        if child is None and signal.SIGINT in self._previous:
            signal.signal(signal.SIGINT, self._previous.pop(signal.SIGINT))

    def wait(self, child: subprocess.Popen[bytes]) -> int | None:
        """Wait for the command to end: how it ended, as Popen says it (-N: signal N), or None
        where that is not known: something else reaped it (a program's own SIGCHLD handler
        that waits for every child, SIGCHLD ignored), and Popen would say 0.

        Where SIGINT is taken, it is waited for with
        ``sigtimedwait``, which says who sent it: the terminal (the kernel, on Ctrl-C), which
        sent it to the command too, or a process (`kill -INT`), which sent it to assay alone.

        SIGCHLD is not taken (a program that runs this has its own children, and maybe its
        own handler): a thread waits for the command's end without reaping it, and then wakes
        the wait with a SIGINT of its own to this thread, known by its sender. That thread takes
        SIGCHLD in this thread's place, so that a program's handler runs (here, at the wait's
        next tick) only once the thread has read how the command ended: a handler that reaps
        every child (``waitpid(-1)``) leaves Popen no status to read, and Popen says 0. A
        command that ends before the wait starts may be reaped by such a handler all the same
        (it runs between any two lines of Python): its status is not known, and said so."""
        if child.returncode is not None:
            return child.returncode
        if not hasattr(os, "waitid"):
            return child.wait()
        if signal.SIGINT not in self._previous or not hasattr(signal, "sigtimedwait"):
            return _waited(child)
        main = threading.get_ident()
        ended = threading.Event()
        status: list[int] = []  # how it ended, as Popen says it (-N: signal N)
        reaped: list[bool] = []  # by another, before it could be read

        def waiter() -> None:
            if signal.SIGCHLD not in mask:  # (not while this thread waits in C: see above)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            try:
                info = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # (reaped below, by Popen)
                if info is not None:
                    status.append(_said(info))
            except ChildProcessError:  # reaped already, by the program's own handler
                reaped.append(True)
            finally:
                ended.set()
                signal.pthread_kill(main, signal.SIGINT)

        # (blocked only now: the command does not inherit the mask; the thread does, so that a
        # SIGINT sent to the process waits for this thread's sigtimedwait)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGCHLD})
        thread = threading.Thread(target=waiter, name="assay-run-wait", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            return child.wait()
        woken = False
        sent: tuple[int, float] | None = None  # the last SIGINT a process sent: its pid, when
        try:
            while not woken:
                # (the timeout: a tick at which the program's own handlers run, SIGCHLD's included)
                info = signal.sigtimedwait({signal.SIGINT}, 0.5)
                if info is None:
                    continue
                if ended.is_set() and info.si_pid == os.getpid():
                    woken = True  # the waiter's: the command has ended
                    continue
                now = time.monotonic()
                if info.si_pid != 0 and sent is not None and sent[0] == info.si_pid and now - sent[1] < self._SAME:
                    continue  # (not a second Ctrl-C, which kills the command)
                sent = (info.si_pid, now) if info.si_pid != 0 else None
                self._interrupted(from_terminal=info.si_pid == 0)
            code = child.wait()
            if status and code != status[0]:  # reaped by the program's own SIGCHLD handler: Popen says 0
                child.returncode = code = status[0]
            return _known(code) if reaped else code
        finally:
            if not woken:  # left early (an exception): the command is ended, as the caller would
                if not ended.is_set():
                    child.kill()
                thread.join()
                # The waiter's wake, sent to this thread alone, is taken first (a SIGINT sent to
                # the process stays pending, and is delivered once unblocked): not a Ctrl-C.
                signal.sigtimedwait({signal.SIGINT}, 0)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _handle(self, signum: int, frame: object) -> None:
        if signum == signal.SIGINT:  # (delivered to another thread, or outside the wait)
            self._interrupted(from_terminal=None)
        elif self.signum is None:
            self.signum = signum
            if self._child is not None:
                self._end_child(signum)
        elif self._child is not None:
            self._end_child(signum)
        if self.raise_now:
            raise Terminated(signum)

    def _interrupted(self, *, from_terminal: bool | None) -> None:
        """Ctrl-C: passed on to the command unless the terminal sent it there too (``None``: not
        known who sent it); a second one kills the command, which is not let finish cleaning up."""
        again = self.signum == signal.SIGINT
        if self.signum is None:
            self.signum = signal.SIGINT
        child = self._child
        if child is None or child.returncode is not None:
            return
        if again:
            child.kill()
            return
        if from_terminal is None:
            from_terminal = _in_terminal_foreground()
        if not (from_terminal and _same_group(child)):
            child.send_signal(signal.SIGINT)
        # and waited for, as a shell waits for a command it sent Ctrl-C to
        sys.stderr.write("assay: interrupted: waiting for the command to end (Ctrl-C again to kill it)\n")
        sys.stderr.flush()

    def _end_child(self, signum: int) -> None:
        child = self._child
        if child is None or child.returncode is not None or self._timer is not None:
            return
        child.send_signal(signum)
        self._timer = threading.Timer(self._GRACE, child.kill)
        self._timer.daemon = True
        self._timer.start()


def _said(info: os.waitid_result) -> int:
    """A child's end as Popen says it: its exit code, or -N where signal N ended it."""
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _waited(child: subprocess.Popen[bytes]) -> int | None:
    """``child.wait()``, with its status read first without reaping it (a program's own SIGCHLD
    handler may reap it before Popen can: Popen then says 0); None where it was reaped before
    it could be read."""
    try:
        info = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        return _known(child.wait())
    code = child.wait()
    if info is not None and code != _said(info):
        child.returncode = code = _said(info)
    return code


def _known(code: int) -> int | None:
    """The status Popen holds of a command reaped before the wait could read it: its own where
    Popen reaped it (``send_signal`` polls before it signals: a signal passed on, the kill
    timer), None where another did (Popen then says 0, which a status of 0 it read cannot be
    told from: the run is failing on that signal anyway)."""
    return code or None


def _in_terminal_foreground() -> bool:
    """Whether this process is in its terminal's foreground process group, to which a Ctrl-C
    there is sent (when who sent a SIGINT is not known)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:  # no controlling terminal: sent by a process (`kill -INT`, a supervisor)
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _same_group(child: subprocess.Popen[bytes]) -> bool:
    """Whether the command is in this process's group (so a terminal's Ctrl-C reached it too)."""
    try:
        return os.getpgid(child.pid) == os.getpgrp()
    except OSError:
        return False
