"""The PostgreSQL ledger's sessions against what a server does to them: a restart (or an
administrator) ends them, database settings time them out. Nothing half-recorded, no
internal error: a connection found dead between transactions is opened again, one lost
mid-transaction stops the command with a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assay.errors import ConcurrencyError
from assay.ledger import open_ledger


def _end_sessions_but_this(url: str) -> None:
    """End every other session on the database of ``url``, as ``pg_ctl restart -m fast`` does."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _table(ledger) -> None:  # type: ignore[no-untyped-def]
    ledger.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")


def test_a_connection_ended_between_transactions_is_opened_again(pg_database: str, tmp_path: Path) -> None:
    ledger = open_ledger(pg_database, tmp_path)
    _table(ledger)
    _end_sessions_but_this(pg_database)
    ledger.execute("INSERT INTO t (k) VALUES ('a')")  # nothing was in flight: reconnected once
    assert ledger.query("SELECT k FROM t") == [("a",)]
    ledger.close()


def test_a_connection_ended_mid_transaction_records_nothing_and_says_so(pg_database: str, tmp_path: Path) -> None:
    ledger = open_ledger(pg_database, tmp_path)
    _table(ledger)
    with pytest.raises(ConcurrencyError) as lost:
        with ledger.transaction() as tx:
            tx.execute("INSERT INTO t (k) VALUES ('a')")
            _end_sessions_but_this(pg_database)
            tx.execute("INSERT INTO t (k) VALUES ('b')")
    assert lost.value.exit_code == 2
    server = pg_database.rsplit("@", 1)[1]
    assert server in lost.value.message and "nothing" in lost.value.message and "rerun" in (lost.value.hint or "")
    assert ledger.query("SELECT k FROM t") == []
    ledger.close()


def test_idle_session_timeout_does_not_end_the_ledger_s_session(pg_database: str, tmp_path: Path) -> None:
    """A long upload leaves the ledger's session idle; a database's idle_session_timeout would
    end it, and the add would fail when it records its version."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        if conn.info.server_version < 140000:
            pytest.skip("idle_session_timeout is PostgreSQL 14 and newer")
        conn.execute("SELECT current_database()")
        name = pg_database.rsplit("/", 1)[1]
        conn.execute(f"ALTER DATABASE \"{name}\" SET idle_session_timeout = '1s'")
    ledger = open_ledger(pg_database, tmp_path)
    _table(ledger)
    pid = ledger.query("SELECT pg_backend_pid()")[0][0]
    time.sleep(1.5)
    assert ledger.query("SELECT pg_backend_pid()")[0][0] == pid  # the same session, still there
    ledger.close()


def test_a_lock_wait_the_server_cancels_while_up_does_not_say_it_is_down(pg_database: str, tmp_path: Path) -> None:
    import psycopg

    from assay.errors import InputError
    from assay.ledger._advisory import lock_session, taking_failed

    conn = lock_session(pg_database, tmp_path)
    assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
    assert conn.execute("SHOW lock_timeout").fetchone()[0] == "0"
    conn.execute("SET statement_timeout = '100ms'")  # as a role's setting could, after connecting
    with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
        conn.execute("SELECT pg_sleep(1)")
    error = taking_failed(conn, cancelled.value, "/shared/store", "db.example:5432/ledger")
    assert isinstance(error, InputError) and "server is up" in (error.hint or "")
    assert "running" not in error.message + (error.hint or "")
    conn.close()
