"""Workspaces on different machines sharing a PostgreSQL ledger and an object store: a gc
in one never deletes the chunks of an add still in flight in another."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from assay.data import _add, add, add_remote, checkout, gc, push, repair, verify
from assay.errors import UsageError
from assay.workspace import Workspace


def sharing(root: Path, ledger: str, store: str, endpoint: str) -> Workspace:
    """A workspace on a PostgreSQL ledger and an S3 store, with a 100 kB file in d/."""
    ws = Workspace.init(root, ledger=ledger, store=store, store_options={"endpoint_url": endpoint})
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x.bin").write_bytes(os.urandom(100_000))
    return ws


def ending_the_lock_session(url: str, step):  # type: ignore[no-untyped-def]
    """``step``, run after the sessions holding advisory locks end (as a server restart or a
    network drop ends them)."""
    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for (pid,) in conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory'").fetchall():
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return step(*args, **kwargs)

    return run


def gc_during_an_add_elsewhere(here: Workspace, there: Workspace, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """gc in ``here`` while an add in ``there`` (another machine on the same ledger and store)
    has written every chunk but not yet its version: gc must wait for it, and lose nothing."""
    (there.root / "d").mkdir()
    payload = os.urandom(200_000)
    (there.root / "d" / "x.bin").write_bytes(payload)
    written, release = threading.Event(), threading.Event()
    real = _add.record_versions

    def slow_record(*args, **kwargs):  # type: ignore[no-untyped-def]
        written.set()  # every chunk is in the store; the version is not in the ledger yet
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(_add, "record_versions", slow_record)
    failures: list[BaseException] = []

    def run(target) -> threading.Thread:  # type: ignore[no-untyped-def]
        def body() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failures.append(exc)
        thread = threading.Thread(target=body)
        thread.start()
        return thread

    adding = run(lambda: add(there, [there.root / "d"], name="ds"))
    assert written.wait(30)
    collecting = run(lambda: gc(here))
    time.sleep(1.0)
    waited = collecting.is_alive()
    release.set()
    adding.join(30)
    collecting.join(30)
    assert not failures, failures
    assert waited  # gc waited for the add on the other machine
    assert not adding.is_alive() and not collecting.is_alive()
    fresh = Workspace(here.root)
    try:
        assert verify(fresh, all_objects=True).ok
        checkout(fresh, "ds@v1", to=tmp_path / "out")
        assert (tmp_path / "out" / "d" / "x.bin").read_bytes() == payload
    finally:
        fresh.close()
        here.close()
        there.close()


def test_gc_waits_for_an_add_in_flight_in_another_workspace(tmp_path: Path, pg_database: str, s3_bucket: str,
                                                             s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    options = {"endpoint_url": s3_server}
    # Two roots stand for two machines: each has its own lock file, so only the ledger can tell them.
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=s3_bucket, store_options=options)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=s3_bucket, store_options=options)
    gc_during_an_add_elsewhere(here, there, tmp_path, monkeypatch)


def test_a_workspace_s_own_folder_store_takes_no_ledger_lock(tmp_path: Path, pg_database: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    ws = Workspace.init(tmp_path / "w", ledger=pg_database)
    calls: list[object] = []
    monkeypatch.setattr(psycopg, "connect", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    with ws.lock(exclusive=True):
        pass
    assert calls == []
    ws.close()


def test_an_add_whose_lock_session_ended_records_nothing(tmp_path: Path, pg_database: str, s3_bucket: str,
                                                         s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lock lives in a PostgreSQL session; a server restart or a network drop ends it, and a
    # gc elsewhere may then run. The add notices before it records its version.
    from assay.errors import ConcurrencyError

    ws = sharing(tmp_path / "w", pg_database, s3_bucket, s3_server)
    real = _add.save_snapshot
    monkeypatch.setattr(_add, "save_snapshot", ending_the_lock_session(pg_database, real))
    with pytest.raises(ConcurrencyError, match="lock on the shared store was lost"):
        add(ws, [ws.root / "d"], name="ds")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    monkeypatch.setattr(_add, "save_snapshot", real)
    assert add(ws, [ws.root / "d"], name="ds").created  # the rerun records it
    ws.close()


def test_a_gc_waiting_for_the_store_s_lock_says_so(tmp_path: Path, pg_database: str, s3_bucket: str,
                                                   s3_server: str, capfd: pytest.CaptureFixture[str]) -> None:
    options = {"endpoint_url": s3_server}
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=s3_bucket, store_options=options)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=s3_bucket + "/", store_options=options)
    done = threading.Event()
    with there.lock():  # the same store, its URL spelt with a trailing slash
        thread = threading.Thread(target=lambda: (gc(here), done.set()))
        thread.start()
        time.sleep(1.0)
        assert not done.is_set()
    thread.join(30)
    assert done.is_set()
    assert "waiting for the lock on" in capfd.readouterr().err
    here.close()
    there.close()


def test_a_gc_whose_lock_session_ended_stops_before_it_deletes(tmp_path: Path, pg_database: str, s3_bucket: str,
                                                               s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _gc
    from assay.errors import ConcurrencyError

    ws = sharing(tmp_path / "w", pg_database, s3_bucket, s3_server)
    add(ws, [ws.root / "d"], name="ds")
    (ws.root / "d" / "x.bin").write_bytes(os.urandom(100_000))
    add(ws, [ws.root / "d"], name="ds")
    ws.ledger.execute("DELETE FROM versions WHERE number = 1")  # v1's pack and snapshot are now garbage
    before = sorted(ws.store.list(""))
    real = _gc._pushed_to_store
    monkeypatch.setattr(_gc, "_pushed_to_store", ending_the_lock_session(pg_database, real))
    with pytest.raises(ConcurrencyError, match="before it recorded or deleted anything"):
        gc(ws)
    assert sorted(ws.store.list("")) == before
    monkeypatch.setattr(_gc, "_pushed_to_store", real)
    assert gc(ws).snapshots_deleted == 1
    ws.close()


def test_a_thread_s_lock_check_asks_only_its_own_session(tmp_path: Path, pg_database: str, s3_bucket: str,
                                                         s3_server: str) -> None:
    """Checkouts in another thread open and close sessions of their own; an add's check of
    its lock must not ask (and fail on) one of those."""
    ws = sharing(tmp_path / "w", pg_database, s3_bucket, s3_server)
    add(ws, [ws.root / "d"], name="ds")
    stop = threading.Event()
    failures: list[BaseException] = []
    checkouts = 0

    def reader() -> None:
        nonlocal checkouts
        while not stop.is_set():
            try:
                checkout(ws, "ds", to=tmp_path / "out", force=True)
                checkouts += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    checks = 0
    try:
        with ws.lock():
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                ws.check_lock()
                checks += 1
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures
    assert checkouts >= 2 and checks > 100
    with pytest.raises(RuntimeError, match="does not hold"):
        ws.check_lock()  # outside the lock: a caller's mistake, not a pass
    ws.close()


def test_a_thread_holding_the_store_s_lock_holds_it_through_another_object(tmp_path: Path, pg_database: str,
                                                                           s3_bucket: str, s3_server: str) -> None:
    """PostgreSQL queues a shared request behind a waiting exclusive one: a second session of
    a thread that holds the shared lock would wait for a gc that waits for the first."""
    options = {"endpoint_url": s3_server}
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=s3_bucket, store_options=options)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=s3_bucket, store_options=options)
    (here.root / "d").mkdir()
    (here.root / "d" / "x.bin").write_bytes(os.urandom(1000))
    add(here, [here.root / "d"], name="ds")
    done = threading.Event()
    results: list[bool] = []

    def reader() -> None:
        with here.lock():
            time.sleep(1.0)  # a gc on the other machine starts waiting meanwhile
            results.append(verify(Workspace(here.root), "ds").ok)
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.3)
    collecting = threading.Thread(target=lambda: gc(there), daemon=True)
    collecting.start()
    assert done.wait(30)
    collecting.join(30)
    assert results == [True]
    here.close()
    there.close()


def test_gc_waits_for_an_add_in_flight_into_a_shared_folder_store(tmp_path: Path, pg_database: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder store shared by workspaces on one PostgreSQL ledger (an NFS share): each
    machine may mount it at another path, so the ledger, not the path, names the lock."""
    shared = tmp_path / "nfs" / "store"
    shared.mkdir(parents=True)
    (tmp_path / "mnt").symlink_to(tmp_path / "nfs")  # the same share, mounted elsewhere
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=str(shared))
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=str(tmp_path / "mnt" / "store"))
    gc_during_an_add_elsewhere(here, there, tmp_path, monkeypatch)


def test_a_second_store_for_a_ledger_that_holds_versions_is_refused(tmp_path: Path, pg_database: str) -> None:
    """A ledger's versions live in one store: another workspace on that ledger with another
    store would record versions whose data its teammates cannot find (and see theirs as
    missing), so it is refused at init and on opening, naming both stores."""
    from assay.errors import UsageError

    first = Workspace.init(tmp_path / "a", ledger=pg_database, store=str(tmp_path / "store1"))
    (first.root / "d").mkdir()
    (first.root / "d" / "x.bin").write_bytes(os.urandom(1000))
    add(first, [first.root / "d"], name="ds")
    with pytest.raises(UsageError, match="store1") as refused:
        Workspace.init(tmp_path / "b", ledger=pg_database, store=str(tmp_path / "store2"))
    assert str(tmp_path / "store2") in refused.value.message
    assert not (tmp_path / "b" / ".assay").exists()  # no half-made workspace left
    # The same by a config edit after init: refused when the workspace next takes its lock.
    third = Workspace.init(tmp_path / "c", ledger=pg_database, store=str(tmp_path / "store1"))
    third.close()
    config = third.dir / "config.toml"
    config.write_text(config.read_text().replace("store1", "store3"))
    (third.dir / "cache" / "registered").unlink(missing_ok=True)
    edited = Workspace(third.root)
    with pytest.raises(UsageError, match="store3"):
        with edited.lock():
            pass
    edited.close()
    # A store an older assay filled (it holds the versions, not the registration) is taken.
    first.store.delete(f"ledgers/{first.ledger_id}.json")
    again = Workspace.init(tmp_path / "d", ledger=pg_database, store=str(tmp_path / "store1"))
    assert again.store.exists(f"ledgers/{again.ledger_id}.json")
    again.close()
    first.close()


def _shared_folder_pair(tmp_path: Path, ledger: str) -> tuple[Workspace, Workspace]:
    """Two workspaces (two machines) on one PostgreSQL ledger and one folder store."""
    store = str(tmp_path / "shared")
    return (Workspace.init(tmp_path / "a", ledger=ledger, store=store),
            Workspace.init(tmp_path / "b", ledger=ledger, store=store))


def test_a_lock_waits_behind_a_gc_past_the_database_s_statement_timeout(tmp_path: Path, pg_database: str) -> None:
    import psycopg

    name = pg_database.rsplit("/", 1)[1]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '500ms'")
        conn.execute(f"ALTER DATABASE \"{name}\" SET lock_timeout = '500ms'")
    here, there = _shared_folder_pair(tmp_path, pg_database)
    taken, done = threading.Event(), threading.Event()

    def collecting() -> None:
        with there.lock(exclusive=True):
            taken.set()
            time.sleep(1.5)

    thread = threading.Thread(target=collecting)
    thread.start()
    assert taken.wait(30)
    with here.lock():  # waits past both timeouts, then holds
        done.set()
    thread.join(30)
    assert done.is_set()
    here.close()
    there.close()


def test_a_lock_s_wait_names_the_workspace_that_holds_it(tmp_path: Path, pg_database: str,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    import psycopg

    here, there = _shared_folder_pair(tmp_path, pg_database)
    taken = threading.Event()

    def collecting() -> None:
        with there.lock(exclusive=True):
            taken.set()
            time.sleep(1.0)

    thread = threading.Thread(target=collecting)
    thread.start()
    assert taken.wait(30)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        (named,) = conn.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                                "WHERE l.locktype = 'advisory' AND l.granted").fetchone()
    assert named.startswith("assay ") and named.endswith(str(there.root)[-8:]) and len(named.encode()) <= 63
    with here.lock():
        pass
    thread.join(30)
    err = capfd.readouterr().err
    assert "waiting for the lock on" in err and named in err
    here.close()
    there.close()


def test_a_lost_lock_s_hint_does_not_blame_a_timeout_assay_turns_off(tmp_path: Path, pg_database: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.errors import ConcurrencyError

    here, _ = _shared_folder_pair(tmp_path, pg_database)
    with here.lock():
        ending_the_lock_session(pg_database, lambda: None)()
        with pytest.raises(ConcurrencyError) as lost:
            here.check_lock()
    assert "idle_session_timeout" not in (lost.value.hint or "") and "restart" in (lost.value.hint or "")
    here.close()


def test_a_second_store_is_refused_at_its_first_version_once_the_ledger_holds_one(tmp_path: Path,
                                                                                    pg_database: str) -> None:
    """Two workspaces that start a ledger with two stores, before either adds: each would
    then record versions the other's store lacks. The ledger's first version names its store
    (in the transaction that records it), so the other's first add is refused, recording nothing."""
    from assay.errors import UsageError

    first = Workspace.init(tmp_path / "a", ledger=pg_database, store=str(tmp_path / "store1"))
    second = Workspace.init(tmp_path / "b", ledger=pg_database, store=str(tmp_path / "store2"))  # no version yet
    (first.root / "d").mkdir()
    (first.root / "d" / "x.bin").write_bytes(os.urandom(1000))
    (second.root / "e").mkdir()
    (second.root / "e" / "x.bin").write_bytes(os.urandom(1000))
    add(first, [first.root / "d"], name="ds")
    with pytest.raises(UsageError, match="store1") as refused:
        add(second, [second.root / "e"], name="other")
    assert str(tmp_path / "store2") in refused.value.message and "holds none of them" in refused.value.message
    assert second.ledger.query("SELECT dataset FROM versions") == [("ds",)]
    with pytest.raises(UsageError, match="store1"):  # and on opening it again
        Workspace.init(tmp_path / "c", ledger=pg_database, store=str(tmp_path / "store2"))
    # The ledger's own store, its registration lost: taken again.
    first.store.delete(f"ledgers/{first.ledger_id}.json")
    again = Workspace.init(tmp_path / "d", ledger=pg_database, store=str(tmp_path / "store1"))
    assert again.store.exists(f"ledgers/{again.ledger_id}.json")
    for ws in (again, second, first):
        ws.close()


def test_a_workspace_that_only_ran_init_ties_the_ledger_to_nothing(tmp_path: Path, pg_database: str, s3_bucket: str,
                                                                   s3_server: str, cli) -> None:  # type: ignore[no-untyped-def]
    """A trial: the first member's `init --ledger postgresql://…` (no --store) tied the ledger to
    that laptop's .assay/objects for good: every member with the team's S3 store was refused,
    even after that workspace was deleted. Now init warns, and the first version names the store."""
    import shutil

    proc = cli("init", str(tmp_path / "laptop"), "--ledger", pg_database)
    assert "warning:" in proc.stderr and "other machines cannot reach" in proc.stderr, proc.stderr
    assert "--store" in proc.stderr
    laptop = Workspace(tmp_path / "laptop")
    with laptop.lock():  # opened and used, as any command does: still no version
        pass
    team = sharing(tmp_path / "team", pg_database, s3_bucket, s3_server)  # let in: the ledger holds no version
    add(team, [team.root / "d"], name="customers")
    (laptop.root / "e").mkdir()
    (laptop.root / "e" / "f").write_text("mine")
    with pytest.raises(UsageError, match=s3_bucket) as refused:  # now the ledger's store is the team's
        add(laptop, [laptop.root / "e"], name="mine")
    assert "set `store` in .assay/config.toml" in (refused.value.hint or "")
    laptop.close()
    shutil.rmtree(tmp_path / "laptop")
    other = sharing(tmp_path / "other", pg_database, s3_bucket, s3_server)
    checkout(other, "customers@v1", to=tmp_path / "out")
    for ws in (other, team):
        ws.close()


def test_init_from_python_warns_of_a_local_store_for_a_shared_ledger_as_the_cli_does(
        tmp_path: Path, pg_database: str, cli) -> None:  # type: ignore[no-untyped-def]
    """`Workspace.init` said nothing where `assay init` warned: the warning is the library's now,
    issued as an AssayWarning at the caller's line; the command line prints it once."""
    import json
    import warnings

    from assay.errors import AssayWarning

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ws = Workspace.init(tmp_path / "py", ledger=pg_database)
    assert len(ws.init_warnings) == 1 and "other machines cannot reach" in ws.init_warnings[0]
    assert [(w.category, str(w.message), w.filename) for w in said] == [(AssayWarning, ws.init_warnings[0], __file__)]
    ws.close()
    with warnings.catch_warnings(record=True) as said:  # there already, or given a store: nothing to say
        warnings.simplefilter("always")
        for again in (Workspace.init(tmp_path / "py", ledger=pg_database),
                      Workspace.init(tmp_path / "own", ledger=pg_database, store=str(tmp_path / "py" / ".assay" / "objects"))):
            assert again.init_warnings == []
            again.close()
    assert said == []
    proc = cli("init", str(tmp_path / "cli"), "--ledger", pg_database)
    assert proc.stderr.count("other machines cannot reach") == 1 and proc.stderr.startswith("warning: the ledger ")
    assert "AssayWarning" not in proc.stderr
    doc = json.loads(cli("init", str(tmp_path / "cli2"), "--ledger", pg_database, "--json").stdout)
    assert len(doc["warnings"]) == 1 and "other machines cannot reach" in doc["warnings"][0]


def test_a_ledger_an_older_assay_tied_to_an_empty_store_moves_to_the_first_that_records_a_version(
        tmp_path: Path, pg_database: str) -> None:
    """A ledger whose registered store holds no version of it (an older assay named it at init)
    moves to the store that records its first version."""
    import json

    first = Workspace.init(tmp_path / "a", ledger=pg_database, store=str(tmp_path / "store1"))
    with first.ledger.transaction() as tx:  # as an older assay left it: named at init
        tx.execute("DELETE FROM ledger_info WHERE key = 'store'")
        tx.execute("INSERT INTO ledger_info (key, value) VALUES ('store', ?)",
                   (json.dumps({"store": first.store.url, "host": "laptop", "workspace": str(first.root)}),))
    second = Workspace.init(tmp_path / "b", ledger=pg_database, store=str(tmp_path / "store2"))
    (second.root / "d").mkdir()
    (second.root / "d" / "f").write_text("data")
    add(second, [second.root / "d"], name="ds")
    (doc,), = second.ledger.query("SELECT value FROM ledger_info WHERE key = 'store'")
    assert json.loads(doc)["store"] == second.store.url
    (first.root / "e").mkdir()
    (first.root / "e" / "f").write_text("other")
    with pytest.raises(UsageError, match="store2"):
        add(first, [first.root / "e"], name="ds2")
    for ws in (first, second):
        ws.close()


def test_an_emptied_store_of_a_shared_ledger_is_refilled_by_pull_repair(tmp_path: Path, pg_database: str) -> None:
    """The ledger's store is emptied (a bucket deleted, a disk replaced): opening it is refused,
    saying so, and `pull --repair` -- the one command let in -- puts the versions back."""
    import shutil

    from assay.data import add_remote, push, repair
    from assay.errors import UsageError

    store = tmp_path / "store"
    ws = Workspace.init(tmp_path / "a", ledger=pg_database, store=str(store))
    (ws.root / "d").mkdir()
    for v in range(2):
        (ws.root / "d" / "x.bin").write_bytes(os.urandom(50_000))
        add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    ws.close()
    shutil.rmtree(store)
    store.mkdir()
    with pytest.raises(UsageError, match="holds none of them now") as refused:  # another machine
        Workspace.init(tmp_path / "b", ledger=pg_database, store=str(store))
    assert "assay data pull --repair" in (refused.value.hint or "")
    (ws.dir / "cache" / "registered").unlink()  # as a day later
    again = Workspace(ws.root)
    with pytest.raises(UsageError, match="emptied, or replaced"):
        verify(again)
    done = repair(again, remote="origin")
    assert done.ok, done.to_dict()
    assert verify(again, all_objects=True).ok
    assert store.joinpath("ledgers", f"{again.ledger_id}.json").exists()  # registered once refilled
    again.close()
    b = Workspace.init(tmp_path / "b", ledger=pg_database, store=str(store))
    checkout(b, "ds@v1", to=tmp_path / "out")
    assert [p.stat().st_size for p in (tmp_path / "out").rglob("x.bin")] == [50_000]
    b.close()


def _ledger_naming_no_store(tmp_path: Path, pg: str) -> Workspace:
    first = Workspace.init(tmp_path / "a", ledger=pg, store=str(tmp_path / "store1"))
    (first.root / "d").mkdir()
    (first.root / "d" / "x.bin").write_bytes(os.urandom(5000))
    add(first, [first.root / "d"], name="ds")
    add_remote(first, "origin", str(tmp_path / "remote"))
    push(first)
    with first.ledger.transaction() as tx:  # as an older assay left it: no store named
        tx.execute("DELETE FROM ledger_info WHERE key = 'store'")
    return first


def test_a_second_store_of_a_ledger_naming_no_store_is_not_said_emptied(tmp_path: Path, pg_database: str) -> None:
    first = _ledger_naming_no_store(tmp_path, pg_database)
    with pytest.raises(UsageError) as refused:
        Workspace.init(tmp_path / "b", ledger=pg_database, store=str(tmp_path / "store2"))
    assert "emptied" not in refused.value.message, refused.value.message
    first.close()


def test_pull_repair_lets_no_second_store_in_where_the_ledger_names_no_store(tmp_path: Path, pg_database: str) -> None:
    first = _ledger_naming_no_store(tmp_path, pg_database)
    other = Workspace.init(tmp_path / "b", ledger=pg_database, store=str(tmp_path / "store1"))
    other.close()
    config = other.dir / "config.toml"  # `store` edited to a new, empty folder
    config.write_text(config.read_text().replace("store1", "store2"))
    (other.dir / "cache" / "registered").unlink(missing_ok=True)
    with first.ledger.transaction() as tx:
        tx.execute("DELETE FROM ledger_info WHERE key = 'store'")
    (tmp_path / "store1" / "ledgers" / f"{first.ledger_id}.json").unlink()  # as an older assay: none
    second = Workspace(other.root)
    add_remote(second, "origin", str(tmp_path / "remote")) if "origin" not in second.config.remotes else None
    with pytest.raises(UsageError, match="store2, which holds none of them"):
        repair(second, remote="origin")  # filling store2 would make it a second store of the ledger
    assert not (tmp_path / "store2" / "packs").exists() or not any((tmp_path / "store2" / "packs").iterdir())
    assert second.refilling is False
    second.close()
    assert verify(first, all_objects=True).ok
    first.close()


def test_two_first_adds_into_two_stores_at_once_record_one_store_s_versions(tmp_path: Path, pg_database: str) -> None:
    """The first version names the ledger's store under a lock on that name: of two first
    adds at once into two stores, one is recorded and the other refused, whichever wins."""
    workspaces = [Workspace.init(tmp_path / w, ledger=pg_database, store=str(tmp_path / f"store-{w}")) for w in "ab"]
    for ws in workspaces:
        (ws.root / ws.root.name).mkdir()
        (ws.root / ws.root.name / "x.bin").write_bytes(os.urandom(1000))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def first_add(ws: Workspace) -> None:
        start.wait()
        try:
            add(ws, [ws.root / ws.root.name], name=f"ds-{ws.root.name}")
        except UsageError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_add, args=(ws,)) for ws in workspaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and "holds none of them" in errors[0].message
    assert len(workspaces[0].ledger.query("SELECT id FROM versions")) == 1
    for ws in workspaces:
        ws.close()
