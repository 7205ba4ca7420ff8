"""The ledger: assay's metadata in SQL, on SQLite (WAL) or PostgreSQL.

Both back ends speak through one small interface. Statements use ``?``
placeholders and the common SQL subset; the PostgreSQL driver gets them rewritten
to ``%s``. Every change runs inside :meth:`Ledger.transaction`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assay.errors import AssayError, InputError
from assay.extras import import_optional
from assay.ledger._migrations import MIGRATIONS

__all__ = ["IntegrityConflict", "Ledger", "open_ledger", "utcnow"]

Row = tuple[Any, ...]


class IntegrityConflict(AssayError):
    """A unique or foreign-key constraint refused a write (callers may retry)."""


def utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class Tx:
    """The handle a transaction body writes through."""

    def __init__(self, ledger: Ledger, cursor: Any) -> None:
        self._ledger = ledger
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._ledger._run(self._cursor, sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._ledger._run_many(self._cursor, sql, rows)


class Ledger:
    """Base class; see :class:`SQLiteLedger` and :class:`PostgresLedger`."""

    dialect: str = ""
    url: str = ""

    # -- public API -----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def schema_version(self) -> int:
        rows = self.query("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def migrate(self) -> list[int]:
        """Apply every migration not yet applied; return the versions applied."""
        with self.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        applied: list[int] = []
        for version, description, statements in MIGRATIONS:
            try:
                with self.transaction() as tx:
                    self._lock_for_migration(tx)
                    done = tx.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,))
                    if done:
                        continue
                    for statement in statements:
                        tx.execute(statement)
                    tx.execute(
                        "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                        (version, description, utcnow()),
                    )
                    applied.append(version)
            except IntegrityConflict:
                continue  # another process applied it first
        latest = MIGRATIONS[-1][0]
        have = self.schema_version()
        if have > latest:
            raise InputError(
                f"the ledger has schema version {have}, newer than this assay knows ({latest})",
                hint="upgrade assay: pip install -U assay",
            )
        return applied

    def close(self) -> None:
        raise NotImplementedError

    # -- driver hooks ----------------------------------------------------------------
    def _lock_for_migration(self, tx: Tx) -> None:
        pass

    def _run(self, cursor: Any, sql: str, params: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    def _run_many(self, cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError


class SQLiteLedger(Ledger):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        cur = conn.cursor()
        self._begin(cur)
        try:
            yield Tx(self, cur)
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a COMMIT that failed on a full disk may have rolled back already
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    @staticmethod
    def _begin(cur: sqlite3.Cursor) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so two writers queue instead of
        # deadlocking on a read-to-write upgrade; busy_timeout covers most waits, and
        # this loop covers the rest.
        deadline = time.monotonic() + 120
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _run(self, cursor: Any, sql: str, params: Sequence[Any]) -> list[Row]:
        try:
            cursor.execute(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            raise IntegrityConflict(str(exc)) from exc
        return cursor.fetchall()

    def _run_many(self, cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            cursor.executemany(sql, [tuple(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            raise IntegrityConflict(str(exc)) from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresLedger(Ledger):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            psycopg = import_optional("psycopg", "postgres")
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.OperationalError as exc:
                raise InputError(f"cannot connect to the PostgreSQL ledger: {str(exc).strip()}",
                                 hint=self._connect_hint(str(exc)), details={"setting": "ledger"}) from None
            # An add leaves this session idle while it uploads; a database's idle timeout
            # would end it before the version is recorded. (PostgreSQL 14 and newer.)
            with contextlib.suppress(psycopg.Error):
                conn.execute("SET idle_session_timeout = 0")
            self._local.conn = conn
        return conn

    def _connect_hint(self, said: str) -> str:
        """What to do when the server refused the connection: create a database it lacks (a new
        team ledger starts as an empty database), else check the URL and the server."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(self.url)
        name = unquote(parts.path.lstrip("/"))
        if name and f'database "{name}" does not exist' in said:
            where = " ".join(f"{flag} {value}" for flag, value in
                             (("-h", parts.hostname), ("-p", parts.port), ("-U", parts.username)) if value)
            return (f"create the database first: `createdb {where + ' ' if where else ''}{name}` (or CREATE "
                    f"DATABASE {name} as a user who may), then run the command again; or fix `ledger` in "
                    ".assay/config.toml if it names the wrong one")
        return "check `ledger` in .assay/config.toml and that the server is running"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A transaction on this thread's session. A session the server ended since the last
        one (a restart, a timeout) is opened again, once: nothing was in flight. One lost
        mid-transaction raises :class:`ConcurrencyError`; the server recorded none of it."""
        psycopg = import_optional("psycopg", "postgres")
        conn, began = self._begin(psycopg)
        phase = "body"
        try:
            with began, conn.cursor() as cur:
                yield Tx(self, cur)
                phase = "commit"  # the body is done: what fails now is the COMMIT
        except psycopg.OperationalError as exc:
            if not (conn.broken or conn.closed):
                raise
            conn.close()
            raise self._lost(exc, phase=phase) from None

    def _begin(self, psycopg: Any) -> tuple[Any, contextlib.ExitStack]:
        """This thread's session and a transaction begun on it (psycopg sends BEGIN on entering,
        which tells whether the session is alive at no extra round trip); a session the server
        ended is opened again, once."""
        conn = self._conn()
        began = contextlib.ExitStack()
        try:
            began.enter_context(conn.transaction())
            return conn, began
        except psycopg.OperationalError as exc:
            if not (conn.broken or conn.closed):
                raise
            conn.close()
            first = exc
        try:
            conn = self._conn()
            began.enter_context(conn.transaction())
        except psycopg.OperationalError as exc:
            conn.close()
            raise self._lost(exc if str(exc).strip() else first, phase="begin") from None
        return conn, began

    def _server(self) -> str:
        """The ledger's server and database, as its URL names them (without a password)."""
        rest = self.url.split("://", 1)[-1]
        return rest.rsplit("@", 1)[-1].split("?", 1)[0]

    def _lost(self, exc: BaseException, *, phase: str) -> AssayError:
        from assay.errors import ConcurrencyError

        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        done = {"begin": "nothing was recorded",
                "body": "the transaction in progress was rolled back by the server: nothing of it was recorded",
                "commit": "its last change may or may not have been recorded (the answer to COMMIT was lost)"}[phase]
        return ConcurrencyError(
            f"lost the connection to the PostgreSQL ledger at {self._server()} (did the server restart, or end "
            f"this session?): {said}; {done}, and this command stopped before it recorded or deleted more",
            hint="rerun the command once the server is up" + ("; `assay data log` shows what was recorded"
                                                             if phase == "commit" else ""),
        )

    def _lock_for_migration(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(7401150301)")

    @staticmethod
    def _translate(sql: str) -> str:
        # psycopg reads every % as a placeholder's start: a literal one (LIKE 'x%') is written %%
        return sql.replace("%", "%%").replace("?", "%s")

    def _run(self, cursor: Any, sql: str, params: Sequence[Any]) -> list[Row]:
        psycopg = import_optional("psycopg", "postgres")
        try:
            cursor.execute(self._translate(sql), tuple(params))
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityConflict(str(exc)) from exc
        if cursor.description is None:
            return []
        return [tuple(r) for r in cursor.fetchall()]

    def _run_many(self, cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        psycopg = import_optional("psycopg", "postgres")
        try:
            cursor.executemany(self._translate(sql), [tuple(r) for r in rows])
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityConflict(str(exc)) from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            conn.close()


def open_ledger(url: str, workspace_dir: Path) -> Ledger:
    """Open (and migrate) the ledger named by ``url``: ``sqlite`` or ``postgresql://…``."""
    if url in ("sqlite", "", None):
        ledger: Ledger = SQLiteLedger(workspace_dir / "ledger.db")
    elif url.startswith("sqlite:///"):
        ledger = SQLiteLedger(Path(url[len("sqlite:///"):]))
    elif url.startswith(("postgresql://", "postgres://")):
        ledger = PostgresLedger(url)
    else:
        raise InputError(
            f"unknown ledger URL {url!r}",
            hint="use ledger = \"sqlite\" or ledger = \"postgresql://user@host/db\" in .assay/config.toml",
        )
    ledger.migrate()
    return ledger
