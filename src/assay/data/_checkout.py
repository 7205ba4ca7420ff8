"""`assay data checkout`: materialize a version exactly, every chunk verified.

Every file is first written to a temp file beside its destination; only when all
of them are complete and verified are they renamed into place, so a damaged chunk
leaves the target as it was. Destinations are confined to the target folder:
``..``, absolute paths and symlinked parents that lead outside are refused.
"""

from __future__ import annotations

import json
import os
import stat as _stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import atomic_write_bytes
from assay.data._scan import StatCache
from assay.data._snapshot import FileManifest, check_relpath
from assay.data._versions import Version, dataset_sources, load_snapshot, resolve
from assay.errors import CorruptionError, InputError, UnsafePathError, UsageError
from assay.progress import bar
from assay.workspace import Workspace

__all__ = ["CheckoutResult", "checkout", "confine", "get_head", "set_head"]


@dataclass
class CheckoutResult:
    version: Version
    target: str
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.to_dict(), "target": self.target, "written": len(self.written),
            "unchanged": self.unchanged, "removed": self.removed,
        }


def confine(root: Path, rel: str, *, checked: dict[Path, bool] | None = None) -> Path:
    """``root/rel``, refusing any path whose existing parents lead outside ``root``.

    ``checked`` remembers folders already resolved, so a checkout of many files in
    few folders resolves each folder once.
    """
    check_relpath(rel)
    dest = Path(root, *rel.split("/"))
    if checked is not None and checked.get(dest.parent):
        return dest
    real_root = os.path.realpath(root)
    parent = os.path.realpath(dest.parent)
    if parent != real_root and not parent.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"refusing to write {rel}: a symlinked folder on its way leads outside {root}")
    if checked is not None:
        checked[dest.parent] = True
    return dest


def _heads_path(ws: Workspace) -> Path:
    return ws.cache_dir / "heads.json"


def get_head(ws: Workspace, name: str) -> str | None:
    try:
        return json.loads(_heads_path(ws).read_text()).get(name)
    except (FileNotFoundError, ValueError):
        return None


def set_head(ws: Workspace, name: str, version: Version) -> None:
    path = _heads_path(ws)
    try:
        heads = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        heads = {}
    heads[name] = version.id
    atomic_write_bytes(path, json.dumps(heads, indent=1).encode())


def checkout(ws: Workspace, ref: str, *, to: str | Path | None = None, force: bool = False) -> CheckoutResult:
    """Write the files of ``ref`` into the workspace (where they were added) or into ``to``."""
    version = resolve(ws, ref)
    snapshot = load_snapshot(ws.store, version.snapshot)
    in_place = to is None
    root = ws.root if in_place else Path(to).resolve()  # type: ignore[arg-type]
    if not in_place and root.exists() and not root.is_dir():
        raise UsageError(f"{to} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    result = CheckoutResult(version=version, target=str(root))
    from assay.data._chunking import Chunker
    from assay.data._packs import workspace_packs

    cache = StatCache(ws) if in_place else None
    chunker = Chunker(ws.config.data.chunk_avg)

    removals: list[Path] = []
    if in_place:
        from assay.data._status import status

        sources = dataset_sources(ws, version.dataset)
        changes = status(ws, version.dataset)
        # Missing files lose nothing; modified or new ones would be overwritten or removed.
        at_risk = [p for p in changes.modified + changes.added
                   if p not in snapshot.files or snapshot.files[p].id != _current_id(changes, p)]
        if at_risk and not force:
            raise UsageError(
                f"{version.dataset} has local changes that checkout would overwrite: " + ", ".join(at_risk[:5])
                + (f" and {len(at_risk) - 5} more" if len(at_risk) > 5 else ""),
                hint="add them as a version first (`assay data add`), or pass --force to discard them",
            )
        from assay.data._scan import scan

        current = scan(ws, sources, missing_ok=True)
        for entry in current.files:
            if entry.rel not in snapshot.files and _under(entry.rel, sources):
                removals.append(confine(root, entry.rel))

    plan: list[tuple[str, Path, FileManifest]] = []
    checked: dict[Path, bool] = {}
    for rel, manifest in sorted(snapshot.files.items()):
        dest = confine(root, rel, checked=checked)
        if _matches(dest, rel, manifest, cache, chunker):
            result.unchanged += 1
            continue
        if not in_place and dest.exists() and not force:
            raise UsageError(
                f"{dest} exists with other content",
                hint="pass --force to overwrite it, or check out into an empty folder",
            )
        plan.append((rel, dest, manifest))

    packs = workspace_packs(ws)
    temps: list[tuple[Path, Path]] = []

    def write_batch(items: list[tuple[str, Path, FileManifest]]) -> None:
        for rel, dest, manifest in items:
            tmp = _write_temp(packs, rel, dest, manifest, progress)
            with lock:
                temps.append((tmp, dest))

    lock = threading.Lock()
    batches = [plan[i:i + 64] for i in range(0, len(plan), 64)]
    try:
        # Many small files: creating them is latency-bound, so several writers overlap it.
        with bar(total=sum(m.size for _, _, m in plan), desc="checkout", unit="B") as progress, \
                ThreadPoolExecutor(max_workers=min(8, max(1, len(batches)))) as pool:
            list(pool.map(write_batch, batches))
        for tmp, dest in temps:
            if dest.is_dir() and not dest.is_symlink():
                raise UsageError(f"{dest} is a folder where the version has a file", hint="move it away and retry")
            os.replace(tmp, dest)
        temps = []
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    result.written = [rel for rel, _, _ in plan]
    for path in removals:
        path.unlink(missing_ok=True)
        result.removed.append(os.path.relpath(path, root))
    for rel in snapshot.empty_dirs:
        confine(root, rel).mkdir(parents=True, exist_ok=True)
    if in_place:
        if cache is not None:
            fresh = [(rel, os.stat(dest), m) for rel, dest, m in plan]
            cache.update(fresh)
        set_head(ws, version.dataset, version)
    return result


def _current_id(changes: object, path: str) -> str | None:
    return getattr(changes, "current_ids", {}).get(path)


def _under(rel: str, sources: list[str]) -> bool:
    return any(rel == s or rel.startswith(s + "/") for s in sources)


def _matches(dest: Path, rel: str, manifest: FileManifest, cache: StatCache | None, chunker: Any) -> bool:
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return False
    if not _stat.S_ISREG(st.st_mode) or st.st_size != manifest.size:
        return False
    if cache is not None:
        cached = cache.lookup(rel, st)
        if cached is not None:
            return cached.id == manifest.id
    try:
        chunks = tuple((d, len(data)) for d, data in chunker.chunks(dest))
    except InputError:
        return False
    return chunks == manifest.chunks and (st.st_mode & 0o777) == manifest.mode


def _write_temp(packs: Any, rel: str, dest: Path, manifest: FileManifest, progress: Any) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".assay-tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        with open(tmp, "wb") as fh:
            for digest, _ in manifest.chunks:
                raw = packs.read_chunk(digest, what=rel)  # hash-checked before a byte is written
                fh.write(raw)
                progress.update(len(raw))
        os.chmod(tmp, manifest.mode or 0o644)
    except CorruptionError as exc:
        tmp.unlink(missing_ok=True)
        raise CorruptionError(f"cannot check out {rel}: {exc.message}", key=exc.key) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
