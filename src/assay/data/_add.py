"""`assay data add`: snapshot files and folders as the next version of a dataset."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.data._chunking import Chunker, FileChangedError
from assay.data._packs import PackWriter, workspace_packs
from assay.data._scan import ScanEntry, StatCache, scan
from assay.data._snapshot import FileManifest, Snapshot
from assay.data._versions import Version, check_name, record_version, save_snapshot
from assay.errors import UsageError
from assay.progress import bar
from assay.workspace import Workspace

__all__ = ["AddResult", "add", "snapshot_paths"]

_RETRIES = 3


@dataclass
class AddResult:
    version: Version
    created: bool
    files: int
    bytes: int
    new_chunks: int
    new_bytes_stored: int
    rehashed_files: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created, "version": self.version.to_dict(), "files": self.files, "bytes": self.bytes,
            "new_chunks": self.new_chunks, "new_bytes_stored": self.new_bytes_stored,
            "rehashed_files": self.rehashed_files, "warnings": self.warnings,
        }


def add(
    ws: Workspace,
    paths: list[str | Path],
    *,
    name: str,
    message: str = "",
    kind: str = "dataset",
    meta: dict[str, Any] | None = None,
    run_id: str | None = None,
    jobs: int = 0,
) -> AddResult:
    """Snapshot ``paths`` (files or folders inside the workspace) as the next version of ``name``.

    Unchanged data makes no new version (``created`` is False). Nothing becomes
    visible until every chunk and the snapshot are durable; then one ledger
    transaction records the version.
    """
    check_name(name)
    if not paths:
        raise UsageError("name at least one file or folder to add")
    sources = sorted({ws.relpath(p) for p in paths})
    with ws.lock():
        snapshot, stats = snapshot_paths(ws, sources, jobs=jobs)
        save_snapshot(ws.store, snapshot)
        version, created = record_version(
            ws, name, snapshot, message=message, sources=sources, kind=kind, meta=meta, run_id=run_id
        )
    from assay.data._checkout import set_head

    set_head(ws, name, version)
    return AddResult(
        version=version, created=created, files=len(snapshot.files), bytes=snapshot.total_bytes,
        new_chunks=stats["new_chunks"], new_bytes_stored=stats["new_bytes"], rehashed_files=stats["rehashed"],
        warnings=stats["warnings"],
    )


def snapshot_paths(ws: Workspace, sources: list[str], *, jobs: int = 0, store: bool = True) -> tuple[Snapshot, dict[str, Any]]:
    """Build the snapshot of ``sources``; with ``store`` every new chunk is written to the store.

    Without ``store`` (used by `status`) files are only hashed.
    """
    found = scan(ws, sources)
    settings = ws.config.data
    packs = workspace_packs(ws)
    writer = PackWriter(
        packs, ws.tmp_dir, compression=settings.compression, level=settings.zstd_level, pack_size=settings.pack_size,
        encoders=os.cpu_count() or 1,
    ) if store else None
    chunker = Chunker(settings.chunk_avg)
    cache = StatCache(ws)
    manifests: dict[str, FileManifest] = {}
    fresh: list[tuple[str, os.stat_result, FileManifest]] = []
    # Small cold files are bound by I/O latency, so more readers than cores pay off.
    workers = jobs or settings.jobs or min(16, (os.cpu_count() or 1) * 8)

    # Files whose stat matches the cache need no thread at all.
    suspects: list[ScanEntry] = []
    for entry in found.files:
        cached = cache.lookup(entry.rel, entry.st)
        if cached is not None and (writer is None or all(packs.has(d) for d, _ in cached.chunks)):
            manifests[entry.rel] = cached
        else:
            suspects.append(entry)

    def batch(entries: list[ScanEntry]) -> list[tuple[ScanEntry, FileManifest, os.stat_result]]:
        return [(entry, *_read_file(entry, chunker, writer)) for entry in entries]

    try:
        with bar(total=sum(e.st.st_size for e in suspects), desc="hashing" if writer is None else "adding",
                 unit="B") as progress, ThreadPoolExecutor(max_workers=workers) as pool:
            for results in pool.map(batch, _batches(suspects)):
                for entry, manifest, st in results:
                    manifests[entry.rel] = manifest
                    fresh.append((entry.rel, st, manifest))
                    progress.update(manifest.size)
        if writer is not None:
            writer.flush()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    snapshot = Snapshot(manifests, tuple(found.empty_dirs))
    cache.update(fresh)
    return snapshot, {
        "new_chunks": writer.chunks_written if writer else 0,
        "new_bytes": writer.bytes_written if writer else 0,
        "rehashed": len(fresh),
        "warnings": found.warnings,
    }


def _batches(entries: list[ScanEntry], *, max_files: int = 64, max_bytes: int = 8 << 20) -> list[list[ScanEntry]]:
    """Group small files so that one task reads many (a future per file costs more than the read)."""
    out: list[list[ScanEntry]] = []
    current: list[ScanEntry] = []
    size = 0
    for entry in entries:
        if current and (len(current) >= max_files or size + entry.st.st_size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.st.st_size
    if current:
        out.append(current)
    return out


def _read_file(entry: ScanEntry, chunker: Chunker, writer: PackWriter | None) -> tuple[FileManifest, os.stat_result]:
    """Chunk one file; retried if the file changes while it is read."""
    for _ in range(_RETRIES):
        try:
            before = os.stat(entry.path)
        except FileNotFoundError:
            raise FileChangedError(f"{entry.rel} disappeared while it was being read", hint="rerun when writers are done") from None
        chunks: list[tuple[bytes, int]] = []
        for digest, data in chunker.chunks(Path(entry.path)):
            if writer is not None:
                writer.add(digest, data)
            chunks.append((digest, len(data)))
        after = os.stat(entry.path)
        size = sum(n for _, n in chunks)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and size == after.st_size:
            return FileManifest(size, after.st_mode & 0o777, tuple(chunks)), after
    raise FileChangedError(
        f"{entry.rel} kept changing while it was read ({_RETRIES} tries)",
        hint="stop the process writing it, then add again",
    )
