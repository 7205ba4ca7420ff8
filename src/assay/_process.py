"""Which process wrote a temp file or a marker, and whether it is gone.

Temp files, markers and running runs carry the writer's process id and this machine's tag
(:func:`host_tag`); the store's sweep, checkout's temp notes, the store lock's markers and a
run's record all ask :func:`writer_gone` before treating what a writer left as abandoned.
Standard library only: the store, data, lineage and models layers all use it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["WRITER_SLACK", "host_tag", "pid_alive", "writer_gone"]

_HOST_TAG: list[str] = []


def host_tag() -> str:
    """This machine in the names of temp files: "h" + 8 hex digits (made on first use) of its
    host name, boot and process-id namespace, so that two containers that share a host name
    and a volume do not judge each other's processes by their own numbers."""
    if not _HOST_TAG:
        import hashlib
        import socket

        parts = [socket.gethostname()]
        for read in (lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                     lambda: os.readlink("/proc/self/ns/pid")):
            try:
                parts.append(read())
            except OSError:
                parts.append("")
        _HOST_TAG.append("h" + hashlib.blake2b("\0".join(parts).encode(), digest_size=4).hexdigest())
    return _HOST_TAG[0]


def writer_gone(pid: int, mtime: float) -> bool:
    """Whether the process ``pid`` that wrote a file last modified at ``mtime`` is gone: no
    such process, or one that started after that write (the number was used again: PIDs
    wrap, at 32,768 on some machines, within a long run)."""
    return not pid_alive(pid) or _started_after(pid, mtime + WRITER_SLACK)


# A day: the start time comes from this machine's clock and a file's mtime maybe from a
# file server's, and a clock may be stepped; only a gap beyond any such skew says "reused".
WRITER_SLACK = 86_400.0


def _started_after(pid: int, when: float) -> bool:
    """Whether ``/proc`` says process ``pid`` started after ``when`` (seconds since the epoch);
    False where that cannot be told."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return False  # another PID namespace's /proc
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()  # after the name, which may hold spaces
        ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return False
    return time.time() - age > when


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and can still run: a zombie (killed, not yet reaped by
    its parent, which a container's first process may be slow to do) writes nothing more."""
    if not 0 < pid < 1 << 31:
        return False  # no process has such a number (and os.kill would overflow)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``/proc`` says ``pid`` has ended, all of its threads (a process whose first
    thread ended while others run shows that thread's state). Only where ``/proc`` is this
    process's PID namespace's: elsewhere its numbers name other processes."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return False
        with open(f"/proc/{pid}/status", "rb") as f:
            fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
    except OSError:
        return False  # no /proc (not Linux): alive, as kill said
    state, threads = fields.get(b"State", b"").split(), fields.get(b"Threads", b"").strip()
    return bool(state) and state[0] in (b"Z", b"X") and threads == b"1"
