"""The PostgreSQL session that holds a workspace's advisory lock on a shared store (see
:meth:`assay.workspace.Workspace.lock`).

It is a session of its own, idle while the command works, and may wait long behind a gc on
another machine: so it turns off the database's timeouts for itself (``statement_timeout``,
``lock_timeout``, ``idle_session_timeout``), and names itself (``application_name``: the
command, ``user@host`` and the workspace) so that one waiting for it can say who holds it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
from pathlib import Path
from typing import Any

from assay.errors import AssayError, ConcurrencyError, InputError
from assay.extras import import_optional

__all__ = ["holders", "lock_session", "session_name", "taking_failed"]

_NAME_BYTES = 63  # PostgreSQL keeps this much of application_name (NAMEDATALEN - 1)


def session_name(root: Path) -> str:
    """``assay VERB user@host:/path`` within 63 bytes (the path's start goes first)."""
    command = ""
    program = sys.argv[0] if sys.argv else ""
    if os.path.basename(program) == "assay" or program.endswith(os.path.join("assay", "__main__.py")):
        command = " ".join(w for w in sys.argv[1:3] if w.isalpha())
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name (a container)
        user = "?"
    head = f"assay {command} " if command else "assay "
    head += f"{user}@{socket.gethostname()}:"
    path = str(root)
    while len((head + path).encode()) > _NAME_BYTES and len(path) > 3:  # ASCII: the server shows others as ?
        path = "..." + (path[4:] if path.startswith("...") else path[3:])
    text = head + path
    while len(text.encode()) > _NAME_BYTES:
        text = text[:-1]
    return text


def lock_session(url: str, root: Path) -> Any:
    """A new session on the ledger's server for holding an advisory lock."""
    psycopg = import_optional("psycopg", "postgres")
    try:
        # Keepalives both ways: this side notices a dead server, and the server notices a
        # dead or cut-off machine (and lets its lock go) within a minute or so, not hours.
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, keepalives=1, keepalives_idle=30,
                               keepalives_interval=10, keepalives_count=3, application_name=session_name(root),
                               options="-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 "
                                       "-c tcp_keepalives_count=3 -c statement_timeout=0 -c lock_timeout=0")
    except psycopg.OperationalError as exc:
        raise InputError(f"cannot connect to the PostgreSQL ledger: {str(exc).strip()}",
                         hint="check `ledger` in .assay/config.toml and that the server is running") from None
    with contextlib.suppress(psycopg.Error):  # PostgreSQL 14 and newer: an idle session is not ended
        conn.execute("SET idle_session_timeout = 0")
    return conn


def holders(conn: Any, key: int) -> list[str]:
    """Who holds the advisory lock ``key`` or waits for it (other sessions), as their sessions
    name themselves (a session the server will not describe to this user: by its pid)."""
    psycopg = import_optional("psycopg", "postgres")
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF  # a bigint key is kept as two oids
    try:
        rows = conn.execute(
            "SELECT l.pid, a.application_name, host(a.client_addr), l.granted FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid() AND l.objsubid = 1 "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY NOT l.granted, l.pid",
            (unsigned >> 32, unsigned & 0xFFFF_FFFF)).fetchall()
    except psycopg.Error:
        return []
    out = []
    for pid, name, addr, granted in rows:
        said = name if name else f"a session (pid {pid})"
        said += f" from {addr}" if addr and addr not in ("127.0.0.1", "::1") else ""
        out.append(said + ("" if granted else ", waiting"))
    return out


def taking_failed(conn: Any, exc: BaseException, store: str, server: str) -> AssayError:
    """The error for a lock that could not be taken: the session lost (a restart, the
    network), or the server refusing the wait while it is up (a setting of the database)."""
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if conn.broken or conn.closed:
        return ConcurrencyError(f"lost the connection to the PostgreSQL ledger at {server} while taking the lock on "
                                f"{store} (did the server restart, or end this session?): {said}; nothing was recorded",
                                hint="rerun the command once the server is up")
    return InputError(f"the PostgreSQL ledger at {server} stopped the wait for the lock on {store}: {said}",
                      hint="the server is up; a setting of the database or role cancels the wait (assay turns off "
                           "statement_timeout and lock_timeout for it): ask its administrator, then rerun")
