"""Walking the files to version, and the stat cache that makes re-scans cheap.

The stat cache (a local SQLite file, not the shared ledger: it describes this
machine's disk) remembers each file's (size, mtime_ns, inode) with its manifest,
so `status` and `add` re-hash only files whose stat changed. As in git's "racy"
check, an entry is trusted only if the file was last modified at least a second
before it was cached: a write within the same timestamp tick cannot hide.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import stat as _stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from assay.data._snapshot import FileManifest
from assay.errors import InputError, UsageError
from assay.workspace import WORKSPACE_DIR, Workspace

__all__ = ["ScanEntry", "ScanResult", "StatCache", "scan"]

RACY_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ScanEntry:
    rel: str
    path: str
    st: os.stat_result


@dataclass
class ScanResult:
    files: list[ScanEntry] = field(default_factory=list)
    empty_dirs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(e.st.st_size for e in self.files)


def scan(ws: Workspace, sources: list[str], *, missing_ok: bool = False) -> ScanResult:
    """Every regular file under ``sources`` (workspace-relative paths)."""
    result = ScanResult()
    seen: set[str] = set()
    for rel in sources:
        path = ws.root / rel
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if missing_ok:
                continue
            raise UsageError(f"{rel} does not exist", hint="check the path") from None
        except PermissionError:
            raise InputError(f"cannot read {rel}: permission denied") from None
        if _stat.S_ISDIR(st.st_mode):
            _walk(ws, path, rel, result, seen)
        elif _stat.S_ISREG(st.st_mode):
            if rel not in seen:
                seen.add(rel)
                result.files.append(ScanEntry(rel, str(path), st))
        else:
            result.warnings.append(f"skipped {rel}: not a regular file or folder")
    result.files.sort(key=lambda e: e.rel)
    return result


def _walk(ws: Workspace, top: Path, top_rel: str, result: ScanResult, seen: set[str]) -> None:
    stack = [(str(top), top_rel)]
    while stack:
        folder, rel_folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except PermissionError:
            raise InputError(f"cannot list {rel_folder}: permission denied", hint="fix its permissions or leave it out") from None
        if not entries:
            result.empty_dirs.append(rel_folder)
            continue
        for entry in entries:
            rel = f"{rel_folder}/{entry.name}"
            if entry.name == WORKSPACE_DIR and rel_folder == "":
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not _inside(target, str(ws.root)):
                        result.warnings.append(f"skipped {rel}: symlink points outside the workspace")
                        continue
                    st = os.stat(entry.path)
                    if _stat.S_ISDIR(st.st_mode):
                        result.warnings.append(f"skipped {rel}: symlink to a folder (not followed)")
                        continue
                else:
                    st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished between listing and stat: it is not part of this snapshot
            if _stat.S_ISDIR(st.st_mode):
                stack.append((entry.path, rel))
            elif _stat.S_ISREG(st.st_mode):
                if rel not in seen:
                    seen.add(rel)
                    result.files.append(ScanEntry(rel, entry.path, st))
            else:
                result.warnings.append(f"skipped {rel}: not a regular file")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class StatCache:
    """(size, mtime_ns, inode) -> manifest, per workspace-relative path."""

    def __init__(self, ws: Workspace) -> None:
        self._db_path = ws.cache_dir / "stat.db"
        self._rows: dict[str, tuple[int, int, int, int, str]] | None = None
        self._lock = threading.Lock()  # one load, however many threads ask at once

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db_path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "ino INTEGER, cached_ns INTEGER, manifest TEXT)"
        )
        return conn

    def _load(self) -> dict[str, tuple[int, int, int, int, str]]:
        if self._rows is not None:
            return self._rows
        with self._lock:
            if self._rows is not None:
                return self._rows
            conn = self._connect()
            try:
                self._rows = {r[0]: tuple(r[1:]) for r in conn.execute("SELECT * FROM stat")}  # type: ignore[misc]
            except sqlite3.DatabaseError:
                self._rows = {}  # a damaged cache only costs a re-hash
            finally:
                conn.close()
        return self._rows

    def lookup(self, rel: str, st: os.stat_result) -> FileManifest | None:
        row = self._load().get(rel)
        if row is None:
            return None
        size, mtime_ns, ino, cached_ns, manifest = row
        if (size, mtime_ns, ino) != (st.st_size, st.st_mtime_ns, st.st_ino):
            return None
        if cached_ns - mtime_ns < RACY_NS:
            return None
        try:
            m = FileManifest.from_json(json.loads(manifest))
        except (ValueError, TypeError):
            return None
        if m.mode != (st.st_mode & 0o777):
            return None
        return m

    def update(self, items: list[tuple[str, os.stat_result, FileManifest]]) -> None:
        if not items:
            return
        now = time.time_ns()
        rows = [(rel, st.st_size, st.st_mtime_ns, st.st_ino, now, json.dumps(m.to_json())) for rel, st, m in items]
        conn = self._connect()
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)", rows)
        finally:
            conn.close()
        cache = self._load()
        for r in rows:
            cache[r[0]] = r[1:]  # type: ignore[assignment]
