"""The ledger on SQLite and on a real PostgreSQL server: same code, same results."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from assay.data._snapshot import FileManifest, Snapshot
from assay.data._versions import record_version, resolve
from assay.errors import InputError
from assay.ledger import IntegrityConflict, Ledger, open_ledger
from assay.ledger._migrations import MIGRATIONS
from assay.workspace import Workspace


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return "sqlite"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def ledger(ledger_url: str, tmp_path: Path) -> Ledger:
    led = open_ledger(ledger_url, tmp_path)
    yield led
    led.close()


def test_migrations_apply_once(ledger: Ledger, ledger_url: str, tmp_path: Path) -> None:
    assert ledger.schema_version() == MIGRATIONS[-1][0]
    again = open_ledger(ledger_url, tmp_path)
    assert again.migrate() == []
    rows = again.query("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    again.close()


def test_transaction_rolls_back(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError):
        with ledger.transaction() as tx:
            tx.execute("INSERT INTO datasets (name, created_at) VALUES (?, ?)", ("x", "now"))
            raise RuntimeError("boom")
    assert ledger.query("SELECT COUNT(*) FROM datasets")[0][0] == 0


def test_unique_violation_is_integrity_conflict(ledger: Ledger) -> None:
    ledger.execute("INSERT INTO datasets (name, created_at) VALUES (?, ?)", ("x", "now"))
    with pytest.raises(IntegrityConflict):
        ledger.execute("INSERT INTO datasets (name, created_at) VALUES (?, ?)", ("x", "now"))


def test_newer_schema_is_refused(ledger: Ledger) -> None:
    ledger.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)", (999, "future", "now"))
    with pytest.raises(InputError, match="newer than this assay"):
        ledger.migrate()


def _snap(i: int) -> Snapshot:
    return Snapshot({f"f{i}.txt": FileManifest(1, 0o644, ((bytes([i % 256]) * 32, 1),))})


def test_concurrent_versions_get_distinct_numbers(ledger_url: str, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w", ledger=ledger_url)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            local = Workspace(ws.root)  # own connection, as another process would have
            for i in range(10):
                record_version(local, "ds", _snap(offset + i))
            local.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    numbers = [r[0] for r in ws.ledger.query("SELECT number FROM versions WHERE dataset = ? ORDER BY number", ("ds",))]
    assert numbers == list(range(1, 41))
    assert resolve(ws, "ds@latest").number == 40
    ws.close()


def test_workspace_on_postgres_end_to_end(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import add, checkout, log, verify

    ws = Workspace.init(tmp_path, ledger=pg_database)
    assert ws.ledger.dialect == "postgresql"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("hello")
    monkeypatch.chdir(tmp_path)
    v1 = add(ws, ["d"], name="ds").version
    (tmp_path / "d" / "a.txt").write_text("hello again")
    v2 = add(ws, ["d"], name="ds").version
    assert [v.number for v in log(ws, "ds")] == [2, 1]
    assert resolve(ws, f"ds@{v1.snapshot[:8]}").id == v1.id
    checkout(ws, "ds@v1")
    assert (tmp_path / "d" / "a.txt").read_text() == "hello"
    assert verify(ws).ok
    assert v2.number == 2
    ws.close()


def test_a_check_result_id_prefix_reads_alike_on_both_ledgers(ledger_url: str, tmp_path: Path) -> None:
    # SQLite's LIKE ignores case and PostgreSQL's does not; '%' and '_' are wildcards in both.
    from assay.checks import get_result
    from assay.errors import UsageError

    ws = Workspace.init(tmp_path / "w", ledger=ledger_url)
    for rid in ("abcdef" + "0" * 26, "ab1def" + "0" * 26):
        ws.ledger.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?)",
                          (rid, "check", "", "now", "pass", json.dumps({"id": rid})))
    assert get_result(ws, "ABCD")["id"] == "abcdef" + "0" * 26  # the id as `check log` shows it, any case
    for typed in ("ab%", "ab_def", "abc%"):  # matched literally: no wildcards, and not silently dropped
        with pytest.raises(UsageError, match="hex digits"):
            get_result(ws, typed)
    # a drift report's id prefix is read the same way (`assay drift show ID`)
    from assay.drift._record import get_report

    ws.ledger.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?)",
                      ("abcdef" + "1" * 26, "drift_report", "", "now", "drift", json.dumps({
                          "drift": True, "columns": [], "drifted_columns": [], "share_drifted": 0.0, "reference_rows": 1,
                          "current_rows": 1, "method": {"correction_name": "holm", "alpha": 0.05, "mode": "exact"}})))
    assert get_report(ws, "ABCDEF1")["record_id"] == "abcdef" + "1" * 26
    with pytest.raises(UsageError, match="not a drift report id"):
        get_report(ws, "ab%")
    ws.close()


def test_a_version_hash_prefix_reads_alike_on_both_ledgers(ledger_url: str, tmp_path: Path) -> None:
    # A version pulled from a remote may carry an id in capitals; its hex prefix, in any case,
    # names it on SQLite and on PostgreSQL alike.
    ws = Workspace.init(tmp_path / "w", ledger=ledger_url)
    record_version(ws, "ds", _snap(1))
    ws.ledger.execute("UPDATE versions SET id = ? WHERE dataset = ?", ("ABCDEF" + "0" * 26, "ds"))
    assert resolve(ws, "ds@abcdef00").number == 1
    assert resolve(ws, "ds@ABCDEF00").number == 1
    ws.close()
