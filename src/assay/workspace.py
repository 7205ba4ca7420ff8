"""The workspace: a `.assay/` folder holding config, ledger and object store.

Found by walking up from the current directory (like `.git`) or named by
``ASSAY_HOME``. It is passed explicitly; there is no hidden global state.

Workspaces on several machines may share one PostgreSQL ledger and one store: then
:meth:`Workspace.lock` also holds an advisory lock in the ledger's server, which every one
of them shares (see :mod:`assay._workspace_lock`, which takes the locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._root import RENAME_HINT, WORKSPACE_DIR, find_root, not_utf8, protected_path
from assay._warn import warn_user
from assay._workspace_lock import check_store_lock, holds, open_lock_file, store_lock, take
from assay.config import Config, make_folder
from assay.errors import AssayError, UsageError

if TYPE_CHECKING:
    from assay.ledger import Ledger
    from assay.store import ObjectStore
    from assay.store import Leftover

__all__ = ["WORKSPACE_DIR", "Workspace"]


class Workspace:
    """An opened workspace. Use :meth:`open` or :meth:`init`, not the constructor."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.dir = self.root / WORKSPACE_DIR
        self.config = Config.load(self.dir / "config.toml")
        self._holding = threading.local()  # .mode: set while this thread holds the lock through this object
        self._lock_hooks: list[Callable[[], None]] = []  # see on_lock()
        self._registered = False  # see _register_in_store()
        self.refilling = False  # set by `pull --repair`: an emptied store of a shared ledger is let in to be refilled
        # Whether opening the store removes what killed writers left (see dead_writers_temps);
        # gc turns it off to count them in its report, and a dry run to keep them.
        self.sweep_temps = True
        # What :meth:`init` found worth saying about the workspace it made (each also issued as
        # an AssayWarning); empty for one opened, or one that was there already.
        self.init_warnings: list[str] = []

    # -- finding and creating -----------------------------------------------------------
    @classmethod
    def find_root(cls, start: Path | None = None) -> Path:
        return Path(find_root(str(start) if start is not None else None))

    @classmethod
    def open(cls, start: Path | str | None = None) -> Workspace:
        """The workspace found by walking up from ``start`` (default: ``ASSAY_HOME``, else the
        current folder), or :class:`~assay.errors.WorkspaceNotFoundError`. Also a context
        manager that closes it: ``with Workspace.open() as ws: ...``."""
        return cls(cls.find_root(Path(start) if start is not None else None))

    @classmethod
    def init(cls, root: Path | str = ".", *, ledger: str | None = None, store: str | None = None,
             store_options: dict[str, Any] | None = None) -> Workspace:
        """Create a workspace in ``root`` (idempotent on an existing one with the same settings).
        A PostgreSQL ledger (shared by machines) given no ``store`` is warned of: the store is
        then this workspace's own folder, which no other machine reaches; so is a workspace made
        inside another one's folder. Each warning is in
        ``init_warnings`` and issued as an :class:`~assay.errors.AssayWarning`."""
        given = Path(os.path.abspath(Path(root).expanduser()))
        root = given.resolve()
        if WORKSPACE_DIR in (given.name, root.name):  # by its name, or where a symlink leads
            raise UsageError(f"{given} is a workspace's own {WORKSPACE_DIR} folder",
                             hint=f"give the folder that holds it: {given.parent}")
        ws_dir = root / WORKSPACE_DIR
        if ws_dir.exists() and not (ws_dir / "config.toml").is_file() and not _empty_folder(ws_dir):
            raise UsageError(f"{ws_dir} exists but is not an assay workspace", hint="move it away and retry")
        existed = ws_dir.exists()
        make_folder(ws_dir, f"cannot create a workspace in {root}")
        fresh = not (ws_dir / "config.toml").is_file()
        if fresh:
            config = Config()
            if ledger:
                config.ledger = ledger
            if store:
                config.store = store
            if store_options:
                config.store_options = dict(store_options)
            config.save(ws_dir / "config.toml")
            (ws_dir / ".gitignore").write_text("/objects/\n/cache/\n/tmp/\n/ledger.db*\n/lock\n", encoding="utf-8")
        ws = cls(root)
        try:
            ws.ledger  # noqa: B018 - creates and migrates the ledger now, so errors show at init
            ws.store  # noqa: B018
            ws._register_in_store()  # refuses a second store for a ledger's versions
        except BaseException:
            if fresh:  # a store or ledger that cannot be opened: leave no half-made workspace
                ws.close()
                _undo(ws_dir, remove=not existed)
            raise
        if fresh:
            ws.init_warnings = (_local_store_of_a_shared_ledger(ws) if not store else []) + _inside_another(ws)
            warn_user(ws.init_warnings)
        return ws

    # -- parts ------------------------------------------------------------------------------
    @cached_property
    def ledger(self) -> Ledger:
        from assay.ledger import open_ledger

        return open_ledger(self.config.ledger, self.dir)

    @cached_property
    def store(self) -> ObjectStore:
        from assay.store import open_store, sweep_leftovers

        store = open_store(self.config.store, self.dir, **self.config.store_options)
        if self.sweep_temps:  # (garbage, whenever removed: said on stderr, as gc would count it)
            sweep_leftovers(self._dead_writers_temps(store), "this workspace's temp folders")
        return store

    def dead_writers_temps(self) -> list[Leftover]:
        """What processes killed mid-write left in the store's and the workspace's temp
        folders: parts of packs, model checkouts. Opening the store removes them (and says so
        on stderr), unless :attr:`sweep_temps` is off."""
        return self._dead_writers_temps(self.store)

    def _dead_writers_temps(self, store: ObjectStore) -> list[Leftover]:
        from assay.store import LocalStore, dead_writers_files

        found = store.dead_tmp_files() if isinstance(store, LocalStore) else []
        return found + dead_writers_files(self.dir / "tmp", folders=True)

    def unswept_temps(self) -> list[Leftover]:
        """What :meth:`dead_writers_temps` finds, without opening the store (nor sweeping): for a
        command that does not open it otherwise (status, log) to say what is there. An object
        store's URL is not looked at: only this workspace's temp folder, and a folder store's."""
        from assay.store import dead_writers_files, folder_of

        folder = folder_of(self.config.store, self.dir)
        found = dead_writers_files(folder / ".tmp", shared=True) if folder is not None else []
        return found + dead_writers_files(self.dir / "tmp", folders=True)

    @property
    def cache_dir(self) -> Path:
        path = self.dir / "cache"
        path.mkdir(exist_ok=True)
        return path

    @property
    def tmp_dir(self) -> Path:
        path = self.dir / "tmp"
        path.mkdir(exist_ok=True)
        return path

    def save_config(self) -> None:
        self.config.save(self.dir / "config.toml")

    def relpath(self, path: Path | str) -> str:
        """``path`` relative to the workspace root, with ``/`` separators; refuses paths outside."""
        full = Path(os.path.abspath(path))
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            shown = f"{path} ({full})" if str(full) != str(path) else str(path)
            raise UsageError(
                f"{shown} is outside the workspace {self.root}",
                hint="move the data under the workspace folder, or run `assay init` above it"
                     + (" (ASSAY_HOME names the workspace; paths are taken from the current folder)"
                        if os.environ.get("ASSAY_HOME") else ""),
            ) from None
        text = rel.as_posix()
        if text == ".":
            raise UsageError(f"{str(path) or repr(path)} is the workspace folder itself, which holds .assay",
                             hint="name the data files or folders to track, e.g. `assay data add data/ --name NAME`")
        if text.split("/")[0] == WORKSPACE_DIR:
            raise UsageError(f"{path} is inside the workspace's own .assay folder, which is never data",
                             hint="name the data files or folders to track")
        shown = not_utf8(text)
        if shown is not None:
            raise UsageError(f"cannot version {shown}: its name is not valid UTF-8", hint=RENAME_HINT)
        if protected_path(text):
            raise UsageError(f"{path} is inside a .assay or .git folder, which is never data",
                             hint="name the data files or folders to track")
        return text

    @contextlib.contextmanager
    def lock(self, *, exclusive: bool = False, wait: bool = True) -> Iterator[None]:
        """Shared lock for work that adds objects or reads packs (add, push, pull, checkout,
        verify, a diff of tables); exclusive for gc and repair's retiring, which delete
        packs. A reader without it could find a pack gone that gc had just rewritten, and
        a verify would then report damage that is not there.

        A lock file in ``.assay/`` serves the processes of this machine. Where the ledger is
        a PostgreSQL server and the store lies outside ``.assay/`` (an object store, or a
        shared folder), workspaces on other machines may share both: then a PostgreSQL
        advisory lock is held too (see :mod:`assay._workspace_lock`), so that no gc anywhere
        deletes the chunks of an add still in flight on another machine (written, not yet
        recorded in the ledger).

        A thread that holds a lock already (through this or another workspace object on the
        same folder or store) holds it on: taking it a second time (another file lock,
        another PostgreSQL session) would wait for itself, or behind a gc that waits for
        the first hold.

        A waiting gc goes before readers that come after it: ``flock`` alone grants a new
        shared lock while an exclusive one waits, so a steady stream of checkouts could keep
        gc waiting for ever. Each taker first passes a gate (``cache/lock.gate``, exclusive): a
        reader only while it takes its shared lock, a gc or repair for as long as it holds
        the lock, so readers that come while it waits queue behind it. (PostgreSQL's advisory
        locks already queue that way.)

        ``wait=False`` takes it only if it is free now, else raises
        :class:`assay._workspace_lock.Busy` (a gc that holds its marker in the store: see
        :func:`assay.data._storelock.store_hold_within`).
        """
        held_here = holds()
        key = ("file", os.path.realpath(self.dir / "lock"))
        held = held_here.get(key)
        if held == "shared" and exclusive:  # it would wait for itself
            raise RuntimeError("the exclusive workspace lock was asked for while this thread holds the shared one")
        fd = gate = None
        if held is None:
            gate = self._gate_file()
            try:
                fd = self._lock_file()
                said = gate is not None and take(gate, fcntl.LOCK_EX, False, "waiting for the workspace lock: a gc or "
                                                 f"a repair holds it or waits for it in {self.root}", wait=wait)
                holder = "another assay command holds it" if exclusive else "a gc or a repair holds it"
                take(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, said,
                     f"waiting for the workspace lock: {holder} in {self.root}", wait=wait)
                if not exclusive and gate is not None:  # a reader passes the gate; a gc keeps it closed
                    os.close(gate)
                    gate = None
            except BaseException:
                for f in (gate, fd):
                    if f is not None:
                        os.close(f)  # (a lock goes with its descriptor)
                raise
            held_here[key] = "exclusive" if exclusive else "shared"
        try:
            with store_lock(self, exclusive, wait=wait):
                if getattr(self._holding, "mode", None) is None:  # first hold through this object
                    self._holding.mode = "held"
                    try:
                        self._register_in_store()
                        for hook in list(self._lock_hooks):
                            hook()
                        yield
                    finally:
                        self._holding.mode = None
                else:
                    yield
        finally:
            if fd is not None:
                del held_here[key]
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            if gate is not None:
                os.close(gate)  # after the lock itself: no reader gets in between

    @cached_property
    def ledger_id(self) -> str:
        """This ledger's identity, made once and kept in it: workspaces that share one ledger
        (PostgreSQL) share it; two SQLite ledgers never do."""
        import uuid

        rows = self.ledger.query("SELECT value FROM ledger_info WHERE key = 'id'")
        if not rows:
            with self.ledger.transaction() as tx:
                tx.execute("INSERT INTO ledger_info (key, value) VALUES ('id', ?) ON CONFLICT DO NOTHING",
                           (uuid.uuid4().hex,))
            rows = self.ledger.query("SELECT value FROM ledger_info WHERE key = 'id'")
        return str(rows[0][0])

    def _register_in_store(self) -> None:
        """Say in the store which ledger uses it (``ledgers/ID.json``), once per object: a gc
        run over another ledger then knows it cannot see every version that holds chunks
        there (see :func:`assay.data._gc.gc`). Once found there, it is not looked for again
        for a day (``cache/registered``: an object store answers each look with a request).
        Best effort: a store or ledger this user cannot write is left as it is.

        A PostgreSQL ledger's versions live in one store: a workspace on it whose store lacks
        the snapshot of its latest version (a second store, by ``init --store`` or a config
        edit) is refused, as each side would then see the other's versions as missing. A
        ledger with no version yet lets any store in: its first version names its store
        (:meth:`claim_store`, which also refuses a second store in the transaction that would
        record a version). The look costs a query and a request, once a day per workspace and
        store."""
        if self._registered:
            return
        self._registered = True
        import socket

        from assay.ledger._ledger import utcnow

        refusal: UsageError | None = None
        try:
            key = f"ledgers/{self.ledger_id}.json"
            seen = self.cache_dir / "registered"
            said = f"{self.store.url}\n{key}"
            with contextlib.suppress(OSError):
                if seen.read_text(encoding="utf-8") == said and time.time() - seen.stat().st_mtime < 86_400:
                    return
            registered = self.store.exists(key)
            # A shared ledger's registration in a store says only that a workspace opened it there
            # (before any version, any store is let in): it is looked at again, once a day.
            if not registered or self._shared_ledger():
                refusal = self._another_store_holds_the_versions()
                if refusal is not None:
                    self._registered = False
                    if self.refilling and refusal.details.get("store_emptied"):
                        return  # `pull --repair` refills it; registered when next opened
                elif not registered:
                    self._mark_unregistered_versions()  # first: a kill before our own registration retries it
                    doc = {"id": self.ledger_id, "workspace": str(self.root), "host": socket.gethostname(),
                           "ledger": "postgresql" if self._shared_ledger() else "sqlite", "registered_at": utcnow()}
                    self.store.put_bytes(key, json.dumps(doc, indent=1).encode())
                    with contextlib.suppress(OSError):  # only for a registration that keeps failing
                        (self.cache_dir / "unregistered").unlink(missing_ok=True)
                    # Which store, for the message above on another machine: named here only for a
                    # ledger that holds versions already (an older assay's, which named none);
                    # a new ledger's store is named by its first version (see claim_store).
                    if self._shared_ledger() and self.ledger.query("SELECT 1 FROM versions LIMIT 1"):
                        with self.ledger.transaction() as tx:
                            tx.execute("INSERT INTO ledger_info (key, value) VALUES ('store', ?) ON CONFLICT DO NOTHING",
                                       (json.dumps({"store": self.store.url, **doc}),))
            if refusal is None:
                seen.write_text(said, encoding="utf-8")
        except Exception:  # noqa: BLE001, S110 - a read-only ledger or store: registering is best effort
            pass
        if refusal is not None:
            raise refusal

    def _mark_unregistered_versions(self) -> None:
        """In a store that no ledger has registered in yet, snapshots that neither this ledger's
        versions nor the store's refs name were stored by an older assay, from before stores
        recorded their ledgers, and belong to a workspace whose ledger this one cannot see
        (or are a killed add's leftovers; nothing tells the two apart). A gc over this ledger
        would delete them, so they get a registration of their own,
        ``ledgers/unregistered-ID.json``: gc refuses, naming it, until someone who knows
        deletes it (see :func:`assay.data._gc._refuse_shared_store`)."""
        if any(key.endswith(".json") for key in self.store.list("ledgers/")):
            return
        # What the look found, kept a day while the registration fails: a user who cannot write
        # the store (each command tries again) would otherwise read every ref each time.
        looked = self.cache_dir / "unregistered"
        said = f"{self.store.url}\n{self.ledger_id}\n"
        unknown: list[str] | None = None
        with contextlib.suppress(OSError, ValueError, TypeError):
            text = looked.read_text(encoding="utf-8")
            if text.startswith(said) and time.time() - looked.stat().st_mtime < 86_400:
                known = {str(row[0]) for row in self.ledger.query("SELECT snapshot FROM versions")}
                unknown = [str(s) for s in json.loads(text[len(said):]) if s not in known]
        if unknown is None:
            unknown = self._unregistered_snapshots()
            with contextlib.suppress(OSError):
                looked.write_text(said + json.dumps(unknown), encoding="utf-8")
        if unknown:
            import socket

            from assay.ledger._ledger import utcnow

            doc = {"unregistered": True, "snapshots": unknown[:100], "count": len(unknown),
                   "found_by": str(self.root), "host": socket.gethostname(), "found_at": utcnow()}
            self.store.put_bytes(f"ledgers/unregistered-{self.ledger_id}.json", json.dumps(doc, indent=1).encode())

    def _unregistered_snapshots(self) -> list[str]:
        """The snapshots in the store that neither this ledger's versions nor the store's refs name."""
        stored = {key[len("snapshots/"):] for key in self.store.list("snapshots/")}
        if not stored:
            return []
        from assay.data._gc import _pushed_to_store

        known = {str(row[0]) for row in self.ledger.query("SELECT snapshot FROM versions")}
        # Refs that do not read could name any snapshot: all but this ledger's are marked (a
        # gc run after they are mended or removed would otherwise delete the older data).
        with contextlib.suppress(AssayError):
            known |= {snap for _, _, snap in _pushed_to_store(self.store)}
        return sorted(stored - known)

    def _shared_ledger(self) -> bool:
        return str(self.config.ledger or "").startswith(("postgresql://", "postgres://"))

    def _another_store_holds_the_versions(self) -> UsageError | None:
        """The refusal for a PostgreSQL ledger whose versions live in another store than this
        one, which lacks the ledger's registration (see :meth:`_register_in_store`): the
        ledger holds versions and this store lacks the latest one's snapshot, or it holds
        none yet and another store is registered to it. None where the store is the ledger's
        (an older assay filled it without registering) or nothing says otherwise."""
        if not self._shared_ledger():
            return None
        rows = self.ledger.query("SELECT snapshot FROM versions ORDER BY created_at DESC LIMIT 1")
        if rows and self.store.exists(f"snapshots/{rows[0][0]}"):
            return None
        said = self.ledger.query("SELECT value FROM ledger_info WHERE key = 'store'")
        try:
            doc = json.loads(said[0][0]) if said else {}
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        if not rows:
            # No version anywhere: nothing to lose. The store that records the first version
            # becomes the ledger's (see claim_store), whichever store a workspace named first.
            return None
        other = (f"the store {doc.get('store')} (registered from {doc.get('host', '?')}:{doc.get('workspace', '?')})"
                 if doc.get("store") else "another store")
        if rows and self._was_this_ledgers_store(doc):
            # The ledger's own store, by its address, now without its versions or registration.
            return UsageError(
                f"this workspace's store {self.store.url} is where its ledger's versions live, but it holds none of "
                "them now (the latest version's snapshot is missing, and the store does not say which ledger uses "
                "it): it was emptied, or replaced by an empty one",
                hint="`assay data pull --repair` puts the versions back from a remote that has them (it is the one "
                     "command that runs on such a store); if the versions live in another store now, name that one "
                     "(`store` in .assay/config.toml)",
                details={"store_emptied": True})
        return self._second_store(other)

    def _second_store(self, other: str) -> UsageError:
        """The refusal of this store for a ledger whose versions live in ``other``."""
        return UsageError(
            f"this workspace's ledger keeps its versions in {other}, but its store is {self.store.url}, "
            "which holds none of them; a ledger's versions must all live in one store, or every other "
            "workspace on the ledger would find this one's data missing, and this one theirs",
            hint="set `store` in .assay/config.toml to that store as this machine reaches it; if no other machine "
                 "can reach it (a folder on one machine's disk), move the versions to a store all can reach: from "
                 "the workspace that has them, `assay data push` to a remote there, then start a ledger on that "
                 "store (`createdb NEW`, `assay init --ledger postgresql://…/NEW --store s3://…`) and `assay data "
                 "pull` into it; or give this workspace a ledger of its own (`ledger = \"sqlite\"`)",
        )

    def claim_store(self, tx: Any) -> None:
        """In the transaction ``tx`` that records versions (an add, a run's outputs, a pull),
        before it records them: on a PostgreSQL ledger, make this workspace's store the
        ledger's if the ledger has no version yet (its first version names its store: a
        workspace that only ran `init` ties the ledger to nothing), and refuse (UsageError)
        a store that is not the ledger's and lacks its latest version. The common case (this
        store named already, versions recorded) costs two small queries; the rest takes the
        ledger's ``store`` row for update, so that two first adds into two stores cannot both
        win."""
        import socket

        if not self._shared_ledger():
            return
        url, host = self.store.url, socket.gethostname()

        def ours(doc: dict[str, Any]) -> bool:  # a folder's path is this machine's only if named from it
            return doc.get("store") == url and ("://" in url or doc.get("host") == host)

        said = tx.execute("SELECT value FROM ledger_info WHERE key = 'store'")
        if said and ours(_read_doc(said[0][0])) and tx.execute("SELECT 1 FROM versions LIMIT 1"):
            return
        from assay.ledger._ledger import utcnow

        mine = json.dumps({"store": url, "id": self.ledger_id, "workspace": str(self.root), "host": host,
                           "ledger": "postgresql", "registered_at": utcnow()})
        inserted = bool(tx.execute("INSERT INTO ledger_info (key, value) VALUES ('store', ?) ON CONFLICT DO NOTHING "
                                   "RETURNING key", (mine,)))
        doc = _read_doc(tx.execute("SELECT value FROM ledger_info WHERE key = 'store' FOR UPDATE")[0][0])
        # (read after the row is held: a first version another workspace recorded meanwhile is seen)
        latest = tx.execute("SELECT snapshot FROM versions ORDER BY created_at DESC LIMIT 1")
        if not latest:
            if not ours(doc):  # the ledger named a store that holds no version of it: this one is its store now
                tx.execute("UPDATE ledger_info SET value = ? WHERE key = 'store'", (mine,))
            return
        if (ours(doc) and not inserted) or self.store.exists(f"snapshots/{latest[0][0]}"):
            return  # its store, or the same store reached by another address
        # (named just now by this transaction, for a ledger an older assay filled: not said)
        raise self._second_store(f"the store {doc.get('store')} (registered from {doc.get('host', '?')}:"
                                 f"{doc.get('workspace', '?')})" if doc.get("store") and not inserted else "another store")

    def _was_this_ledgers_store(self, doc: dict[str, Any]) -> bool:
        """Whether this store, lacking the ledger's versions, is the one the ledger registered
        (``doc``, from ``ledger_info``) and not a second one: the same address, and for a folder
        (the same path may be another machine's own disk) the same machine. A ledger that names
        no store (an older assay's) counts only this workspace's own record of registering it."""
        import socket

        if doc.get("store") is None:
            try:
                said = (self.cache_dir / "registered").read_text(encoding="utf-8")
            except OSError:
                return False
            return said == f"{self.store.url}\nledgers/{self.ledger_id}.json"
        if doc.get("store") != self.store.url:
            return False
        return "://" in self.store.url or doc.get("host") == socket.gethostname()

    def other_ledgers(self) -> list[dict[str, Any]]:
        """The other ledgers registered in this workspace's store: each one's id, workspace
        folder and host, as far as its registration reads."""
        out = []
        for key in sorted(self.store.list("ledgers/")):
            if key == f"ledgers/{self.ledger_id}.json" or not key.endswith(".json"):
                continue
            try:
                doc = json.loads(self.store.get_bytes(key))
            except (ValueError, RecursionError, OSError, AssayError):
                doc = None
            out.append({"key": key, **(doc if isinstance(doc, dict) else {})})
        return out

    def on_lock(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` each time a thread takes this workspace's lock through this object
        (not on a nested hold): for what the object keeps between commands that another
        process may have changed meanwhile (the loaded pack index)."""
        self._lock_hooks.append(hook)

    def _gate_file(self) -> int | None:
        """The gate before the lock (in ``cache/``, which git ignores in every workspace), open;
        None where it cannot be made (a workspace in a folder this user may not write): the
        gate only orders the takers."""
        from assay.errors import InputError

        try:
            (self.dir / "cache").mkdir(exist_ok=True)
        except OSError:
            pass
        try:
            return self._lock_file("cache/lock.gate")
        except (InputError, OSError):
            return None

    def _lock_file(self, name: str = "lock") -> int:
        """The lock file ``name`` in ``.assay/``, open (see :func:`assay._workspace_lock.open_lock_file`)."""
        return open_lock_file(self.dir / name)

    def ledger_server(self) -> str:
        """The ledger's server and database, as its URL names them (no password)."""
        rest = str(self.config.ledger or "").split("://", 1)[-1]
        return rest.rsplit("@", 1)[-1].split("?", 1)[0]

    def check_lock(self) -> None:
        """Before a step that relies on the lock (recording a version, deleting objects): raise
        if a lock held through the PostgreSQL ledger was lost with its session, which the server
        may end (a restart, a timeout, the network). Nothing then has been recorded or deleted.
        Only the session of this thread's hold is asked, in the thread that holds it."""
        check_store_lock(self)

    def close(self) -> None:
        """Close this thread's connection to the ledger (the next use opens another)."""
        if "ledger" in self.__dict__:
            self.ledger.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def _read_doc(value: Any) -> dict[str, Any]:
    """A JSON object kept in ``ledger_info``; an empty one where it does not read as one."""
    try:
        doc = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _local_store_of_a_shared_ledger(ws: Workspace) -> list[str]:
    """A warning for a PostgreSQL ledger (shared by machines) given no store: its store is
    then this workspace's own folder, which no other machine reaches, and the ledger's first
    version names its store."""
    if not str(ws.config.ledger or "").startswith(("postgresql://", "postgres://")):
        return []
    return [f"the ledger {ws.ledger_server()} is shared, but the store is this workspace's own folder {ws.store.url}, "
            "which other machines cannot reach: the ledger's first version names its store, and a teammate's "
            "workspace with another store is then refused. Give every workspace on the ledger one store all "
            "reach (`assay init --ledger … --store s3://bucket/prefix`, or `store` in .assay/config.toml) "
            "before the first `assay data add`"]


def _inside_another(ws: Workspace) -> list[str]:
    """A warning for a workspace made inside another one's folder (``assay init`` run in a
    subfolder by mistake): commands run there now find this one, not the one above."""
    from assay._root import find_root
    from assay.errors import WorkspaceNotFoundError

    try:
        outer = find_root(str(ws.root.parent))
    except WorkspaceNotFoundError:
        return []
    return [f"{ws.root} is inside the workspace {outer}: commands run in {ws.root} or below now use this new "
            f"workspace, not that one (remove {ws.dir} if that was not meant)"]


def _empty_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with nothing in it (a ``.assay`` made ready, or a symlink to
    an empty folder on another disk): a workspace may be made there."""
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _undo(ws_dir: Path, *, remove: bool) -> None:
    """Remove what an `init` that failed made in ``ws_dir`` (and the folder, if it made it):
    a rerun with good settings then starts afresh."""
    import shutil

    for entry in list(ws_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if remove:
        with contextlib.suppress(OSError):
            ws_dir.rmdir()
