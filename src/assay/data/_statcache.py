"""The stat cache that makes re-scans cheap.

The cache (a local SQLite file, not the shared ledger: it describes this
machine's disk) remembers each file's (size, mtime_ns, inode, mode, ctime_ns) with its
manifest and manifest id, so `status` and `add` re-hash only files whose stat
changed. ctime is in it as in git: an edit that keeps the size and puts the mtime
back (`touch -d`, `cp -p`, `rsync -t`) still moves the ctime, which no user can set.
As in git's "racy" check, an entry is trusted only if the file was last modified at
least a second before it was cached: a write within the same timestamp tick cannot
hide. (The rule looks at the mtime: a second same-size edit with the mtime put back
within one ctime tick of the first could hide, as in git; kernels from 6.13 keep
fine-grained ctimes.)

It also remembers, per snapshot it has seen whole (built by `add`, or loaded and
Merkle-checked), a digest of that snapshot's (path, manifest id) listing. When
every file on disk hits the cache, `status` compares listings by that digest and
never decodes the stored snapshot.

And, per dataset, a *stat signature*: one digest over the path and stat of every
file a scan found, stored with the listing those files had (and its digest) and the
per-folder digests it is made of, and recorded only when every one of them was a
trusted cache entry. A clean `status` then needs the walk and two digests, not the
per-file table; a dirty one looks only at the folders whose digest moved (the walk
and the signature: :mod:`assay.data._sigwalk`).
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from assay._root import protected_path
from assay.data._sigwalk import blake2b, signature, stat_groups
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.data._scan import ScanEntry
    from assay.data._snapshot import FileManifest, Snapshot

__all__ = ["RACY_NS", "StatCache", "listing_digest", "stat_cache_header"]

RACY_NS = 1_000_000_000
_SCHEMA = 6


def listing_digest(ids: Mapping[str, str]) -> str:
    """A digest of a file listing: sorted (path, manifest id) pairs."""
    h = blake2b(digest_size=32)
    h.update("".join(f"{p}\x00{ids[p]}\n" for p in sorted(ids)).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


_Row = tuple[int, int, int, int, int, int, str]  # size, mtime_ns, ino, mode, ctime_ns, cached_ns, manifest id


def stat_cache_header(ws: Workspace) -> bytes:
    """The fields of the stat cache's SQLite file header that say which cache it is, as this
    assay writes them: the format's magic, the layout's version (``user_version``, bytes
    60-63) and the chunk settings it was built for (``application_id``, 68-71)."""
    cut = ws.config.data.chunk_avg & 0x7FFFFFFF
    return b"SQLite format 3\x00" + _SCHEMA.to_bytes(4, "big") + cut.to_bytes(4, "big")


class StatCache:
    """(size, mtime_ns, inode, mode, ctime_ns) -> manifest, per workspace-relative path; listing digests per
    snapshot; a stat signature with its listing digest per dataset."""

    def __init__(self, ws: Workspace) -> None:
        self._db_path = ws.cache_dir / "stat.db"
        # The chunk settings its manifests were cut with: under others they are dropped, so
        # that no manifest cut another way is reused (or guides a new cut) after a change.
        self._cut = ws.config.data.chunk_avg & 0x7FFFFFFF
        self._rows: dict[str, _Row] | None = None
        self._manifests: dict[str, bytes] | None = None
        self._lock = threading.Lock()  # one load, however many threads ask at once

    def _connect(self) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            # Not a database any more (damaged, truncated, overwritten): a cache, so it is
            # started afresh; that only costs one re-hash of the files.
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self._db_path}{suffix}").unlink(missing_ok=True)
            return self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db_path, timeout=60, isolation_level=None)
        try:
            return self._prepare(conn)
        except BaseException:
            conn.close()
            raise

    def _current(self, conn: sqlite3.Connection) -> bool:
        return (conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA
                and conn.execute("PRAGMA application_id").fetchone()[0] == self._cut)

    def _prepare(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        if not self._current(conn):
            conn.execute("BEGIN IMMEDIATE")  # two processes may find an old layout at once
            try:
                if not self._current(conn):
                    # A cache: an older layout is simply dropped (it only costs one re-hash).
                    for table in ("stat", "files", "trees", "signatures"):
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                    # Without rowid: one b-tree keyed by path, not a table plus an index on it
                    # (writing 50,000 rows takes 0.18 s instead of 0.24 s).
                    conn.execute(
                        "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER, "
                        "mode INTEGER, ctime_ns INTEGER, cached_ns INTEGER, mid TEXT, manifest BLOB) WITHOUT ROWID"
                    )
                    conn.execute("CREATE TABLE trees (snapshot TEXT PRIMARY KEY, digest TEXT)")
                    # groups: the signature's per-folder digests; ids: the listing itself (so that a
                    # change is found in the folders whose digest moved, without the snapshot).
                    conn.execute("CREATE TABLE signatures (dataset TEXT PRIMARY KEY, signature TEXT, listing TEXT, "
                                 "groups BLOB, ids BLOB)")
                    conn.execute(f"PRAGMA user_version={_SCHEMA}")
                    conn.execute(f"PRAGMA application_id={self._cut}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # (a COMMIT that failed on a full disk was rolled back already)
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent; readers then never wait for a writer
            except sqlite3.OperationalError:
                pass  # another process holds the file right now; rollback mode is only slower
        conn.isolation_level = ""  # back to implicit transactions for the writes below
        return conn

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self._queries([(sql, args)])

    def _queries(self, statements: Iterable[tuple[str, tuple[object, ...]]]) -> list[tuple[object, ...]]:
        """The rows of every statement, in order, read over one connection."""
        conn = self._connect()
        try:
            rows: list[tuple[object, ...]] = []
            for sql, args in statements:
                rows += conn.execute(sql, args).fetchall()
            return rows
        except sqlite3.DatabaseError:
            return []  # a damaged cache only costs a re-hash
        finally:
            conn.close()

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        conn = self._connect()
        try:
            with conn:
                conn.executemany(sql, rows)
        finally:
            conn.close()

    def _load(self) -> dict[str, _Row]:
        if self._rows is not None:
            return self._rows
        with self._lock:
            if self._rows is None:
                rows = self._query("SELECT path, size, mtime_ns, ino, mode, ctime_ns, cached_ns, mid FROM files")
                self._rows = {r[0]: r[1:] for r in rows}  # type: ignore[misc]
        return self._rows

    def lookup_id(self, rel: str, st: os.stat_result) -> str | None:
        """The manifest id of ``rel`` if its stat still matches a trusted entry."""
        return _trusted_id(self._load().get(rel), st)

    def match(self, entries: Iterable[ScanEntry]) -> tuple[dict[str, str], list[ScanEntry]]:
        """``({rel: manifest id}, suspects)``: the files whose stat matches a trusted entry, and the rest."""
        return _match(self._load(), entries)

    def lookup_many(self, entries: list[ScanEntry]) -> tuple[dict[str, FileManifest], list[ScanEntry]]:
        """``({rel: manifest}, suspects)``: :meth:`lookup` for many files at once.

        A stored manifest counts only if it still hashes to the id recorded beside it (the
        id is the BLAKE3 of exactly these bytes), so a damaged cache row is re-hashed,
        never trusted; the hash runs on the stored bytes, without re-encoding them.
        """
        ids, suspects = self.match(entries)
        if not ids:
            return {}, suspects
        manifests: dict[str, FileManifest] = {}
        for rel, raw in self._query("SELECT path, manifest FROM files"):
            mid = ids.get(rel)  # type: ignore[call-overload]
            m = _checked_manifest(raw, mid) if mid is not None else None
            if m is not None:
                manifests[rel] = m  # type: ignore[index]
        if len(manifests) < len(ids):
            suspects += [e for e in entries if e.rel in ids and e.rel not in manifests]
        return manifests, suspects

    def previous(self, rels: list[str]) -> dict[str, FileManifest]:
        """The manifest last recorded for each of ``rels``, whatever their stat is now: what
        the file held then, a guide for cutting it again (never trusted as its content).
        Rows whose manifest does not hash to its recorded id are left out."""
        out: dict[str, FileManifest] = {}
        for rel, mid, raw in self._by_path("path, mid, manifest", rels):
            m = _checked_manifest(raw, mid)  # type: ignore[arg-type]
            if m is not None:
                out[rel] = m  # type: ignore[index]
        return out

    def _by_path(self, columns: str, paths: list[str]) -> list[tuple[object, ...]]:
        """``columns`` of the rows of ``paths`` (read by key, 500 at a time)."""
        parts = [paths[i:i + 500] for i in range(0, len(paths), 500)]
        return self._queries((f"SELECT {columns} FROM files WHERE path IN ({','.join('?' * len(part))})", tuple(part))
                             for part in parts)

    def lookup(self, rel: str, st: os.stat_result) -> FileManifest | None:
        mid = self.lookup_id(rel, st)
        if mid is None:
            return None
        if self._manifests is None:
            with self._lock:
                if self._manifests is None:
                    self._manifests = {r[0]: r[1] for r in self._query("SELECT path, manifest FROM files")}  # type: ignore[misc]
        return _checked_manifest(self._manifests.get(rel), mid)

    def update(self, items: list[tuple[str, os.stat_result, FileManifest]]) -> None:
        if not items:
            return
        now = time.time_ns()
        rows = [(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode & 0o777, st.st_ctime_ns, now, *m.id_and_bytes())
                for rel, st, m in items]
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)  # type: ignore[arg-type]
        # What is in memory follows; what is not is read from the file when first asked for.
        cache = self._rows
        if cache is not None:
            for r in rows:
                cache[r[0]] = r[1:8]  # type: ignore[assignment]
        manifests = self._manifests
        if manifests is not None:
            for r in rows:
                manifests[r[0]] = r[8]

    # -- snapshot listings ------------------------------------------------------------------
    def tree_digest(self, snapshot_id: str) -> str | None:
        rows = self._query("SELECT digest FROM trees WHERE snapshot = ?", (snapshot_id,))
        return str(rows[0][0]) if rows else None

    def record_tree(self, snapshot: Snapshot) -> None:
        """Remember the listing digest of a snapshot whose manifests are known to be right."""
        self.record_trees([snapshot])

    def record_trees(self, snapshots: Iterable[Snapshot]) -> None:
        """Remember each snapshot's listing digest, as a walk can find it: without the paths inside
        a .assay or .git folder that an old version may hold (walks and checkout leave them out)."""
        rows = [(s.id, listing_digest({p: m.id for p, m in s.files.items() if not protected_path(p)}))
                for s in snapshots]
        if rows:
            self._write("INSERT OR REPLACE INTO trees VALUES (?, ?)", rows)  # type: ignore[arg-type]

    # -- stat signatures --------------------------------------------------------------------
    def clean_signature(self, dataset: str, snapshot_id: str) -> str | None:
        """The stat signature recorded for ``dataset`` if its files then had the listing of ``snapshot_id``."""
        rows = self._query(
            "SELECT s.signature FROM signatures s JOIN trees t ON t.digest = s.listing WHERE s.dataset = ? AND t.snapshot = ?",
            (dataset, snapshot_id),
        )
        return str(rows[0][0]) if rows else None

    def record_signature(self, dataset: str, files: list[ScanEntry], ids: Mapping[str, str], *,
                         listing: str | None = None, ignore: bytes | None = None) -> str | None:
        """Remember the stat signature of a scan's ``files`` with their ``{path: manifest id}`` listing
        (and ``ignore``, the digest of the .assayignore the scan honoured: ``ScanResult.ignore_digest``).

        Only if each file is a trusted entry of this cache with that id, as :meth:`match`
        judges (so no id comes from a read within the racy window of the file's mtime):
        then the same signature later means the same listing. ``listing`` is
        ``listing_digest(ids)`` where the caller has it. Returns the signature recorded, or None.
        """
        if len(files) != len(ids):
            return None
        rows = self._load()
        for rel, _, st in files:
            mid = _trusted_id(rows.get(rel), st)
            if mid is None or mid != ids.get(rel):
                return None
        return self.record_groups(dataset, stat_groups(files, ignore), ids, listing=listing)

    def record_groups(self, dataset: str, groups: list[tuple[str, int, bytes]], ids: Mapping[str, str], *,
                      listing: str | None = None) -> str:
        """Store (and return) the signature made of ``groups`` with its listing ``ids``; the caller vouches
        that every file in them was a trusted entry of this cache with that id (see :meth:`record_signature`)."""
        recorded, _ = signature(groups)  # sorts them
        self._write("INSERT OR REPLACE INTO signatures VALUES (?, ?, ?, ?, ?)",
                    [(dataset, recorded, listing if listing is not None else listing_digest(ids),
                      marshal.dumps(groups), zlib.compress(marshal.dumps(dict(ids)), 1))])
        return recorded

    def recorded_tree(self, dataset: str, snapshot_id: str,
                      recorded: str) -> tuple[dict[str, tuple[int, bytes]], dict[str, str]] | None:
        """What was recorded with ``dataset``'s signature ``recorded`` (for the listing of
        ``snapshot_id``): ``({folder: (files, digest)}, {path: manifest id})``, or None if that
        is no longer what is recorded or the stored listing does not give the snapshot's digest."""
        rows = self._query(
            "SELECT s.groups, s.ids, t.digest FROM signatures s JOIN trees t ON t.digest = s.listing "
            "WHERE s.dataset = ? AND t.snapshot = ? AND s.signature = ?",
            (dataset, snapshot_id, recorded),
        )
        if not rows or not isinstance(rows[0][0], bytes) or not isinstance(rows[0][1], bytes):
            return None
        try:
            groups = {str(f): (int(n), bytes(d)) for f, n, d in marshal.loads(rows[0][0])}
            ids = marshal.loads(zlib.decompress(rows[0][1]))
        except (EOFError, ValueError, TypeError, zlib.error):
            return None
        if not isinstance(ids, dict) or listing_digest(ids) != rows[0][2]:
            return None  # damaged: the snapshot answers instead
        return groups, ids

    def match_some(self, entries: list[ScanEntry]) -> tuple[dict[str, str], list[ScanEntry]]:
        """:meth:`match` for a few files: their rows are read by path, not the whole table."""
        if self._rows is not None or len(entries) > 20_000:
            return self.match(entries)
        found = self._by_path("path, size, mtime_ns, ino, mode, ctime_ns, cached_ns, mid", [e.rel for e in entries])
        return _match({r[0]: r[1:] for r in found}, entries)  # type: ignore[misc]


_tools: list[object] = []  # blake3 and FileManifest, imported on first use (a clean status needs neither)


def _checked_manifest(raw: object, mid: str) -> FileManifest | None:
    """A cached manifest, only if its stored bytes still hash to the id recorded beside them
    (the id is the BLAKE3 of exactly these bytes): a damaged row is re-hashed, never trusted.
    The hash runs on the stored bytes, without re-encoding them."""
    if not _tools:  # (imported once, not once per file: 2 us each, 50,000 files a look-up)
        from blake3 import blake3

        from assay.data._snapshot import FileManifest

        _tools[:] = [blake3, FileManifest]
    blake3, manifest_type = _tools
    if not isinstance(raw, bytes) or blake3(raw).hexdigest() != mid:  # type: ignore[operator]
        return None
    try:
        m = manifest_type.decode(raw)  # type: ignore[attr-defined]
    except (ValueError, TypeError):
        return None
    object.__setattr__(m, "_id", mid)  # what the check above just computed
    return m


def _match(rows: Mapping[str, _Row], entries: Iterable[ScanEntry]) -> tuple[dict[str, str], list[ScanEntry]]:
    ids: dict[str, str] = {}
    suspects: list[ScanEntry] = []
    for entry in entries:
        mid = _trusted_id(rows.get(entry.rel), entry.st)
        if mid is not None:
            ids[entry.rel] = mid
        else:
            suspects.append(entry)
    return ids, suspects


def _trusted_id(row: _Row | None, st: os.stat_result) -> str | None:
    """The manifest id of a cache ``row`` if the file's stat ``st`` still matches it and the
    row was written outside the racy window of the file's mtime."""
    if (row is None or row[0] != st.st_size or row[1] != st.st_mtime_ns or row[2] != st.st_ino
            or row[3] != (st.st_mode & 0o777) or row[4] != st.st_ctime_ns or row[5] - row[1] < RACY_NS):
        return None
    return row[6]
