"""Recorded runs: what a command or a block of Python read, produced and ran on."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import UsageError
from assay.ledger import utcnow
from assay.lineage._graph import add_edges
from assay.lineage._redact import redact_command, redact_params
from assay.workspace import Workspace

__all__ = ["Run", "environment", "run_command", "track"]


@functools.lru_cache(maxsize=1)
def _package_set() -> tuple[str, int]:
    from importlib import metadata

    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
    return hashlib.sha256("\n".join(names).encode()).hexdigest(), len(names)


def environment(cwd: Path | None = None) -> dict[str, Any]:
    """Where a run ran: git commit (if any), Python, the installed package set, platform."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
    }
    digest, count = _package_set()
    env["packages_hash"] = digest
    env["packages"] = count
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
        if out.returncode == 0:
            env["git_commit"] = out.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
            env["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return env


@dataclass
class Run:
    """A run in progress. Outputs are versioned only when the run succeeds."""

    ws: Workspace
    id: str
    inputs: list[Any]
    outputs: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    produced: list[Any] = field(default_factory=list)
    status: str = "running"

    def output(self, name: str, path: str | Path | Sequence[str | Path], *, message: str = "") -> None:
        """Declare that ``path`` is output ``name``; it is snapshotted when the run ends well."""
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        if name in self.outputs:  # the second would silently replace the first
            raise UsageError(f"output {name!r} is declared twice in this run",
                             hint="give each output its own name, or one output several paths")
        self.outputs[name] = ([str(p) for p in paths], message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "inputs": [v.ref for v in self.inputs],
            "outputs": [v.ref for v in self.produced],
        }


def _start(ws: Workspace, kind: str, command: list[str], inputs: Sequence[str], params: dict[str, Any] | None,
           check_inputs: bool = True) -> Run:
    from assay.data import resolve

    versions = [resolve(ws, ref) for ref in inputs]
    if check_inputs:
        for version in versions:
            _check_on_disk(ws, version)
    run = Run(ws=ws, id=uuid.uuid4().hex, inputs=versions)
    with ws.ledger.transaction() as tx:
        tx.execute(
            "INSERT INTO runs (id, kind, command, params, env, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            # Secrets given on the command line or as parameters are left out (the record
            # travels with a push): see assay.lineage._redact.
            (run.id, kind, json.dumps(redact_command(command)), json.dumps(redact_params(params or {}), default=str),
             json.dumps(environment(ws.root)), "running", utcnow()),
        )
        add_edges(tx, [(v.node, f"run:{run.id}", "input_of") for v in versions])
    return run


def _check_on_disk(ws: Workspace, version: Any) -> None:
    """Refuse an input whose files in the workspace are not that version's: the run would be
    recorded as built from data it did not read. A dataset none of whose files are on disk
    is let through (the command reads it from elsewhere, a checkout into a folder of its own)."""
    from assay._root import protected_path, under
    from assay.data import status
    from assay.data._versions import load_snapshot, version_sources

    sources = version_sources(ws, version)
    snapshot = load_snapshot(ws.store, version.snapshot)
    files = [p for p in snapshot.files if not protected_path(p)]  # never checked out: see checkout
    if not all(under(p, sources) for p in files):
        # Added from other paths than the dataset's current ones: its own files are compared.
        modified, removed = _compare_files(ws, snapshot, files)
        found_added: list[str] = []
        if not modified and len(removed) in (0, len(files)):
            return  # all of it here as it was, or none of it here
    else:
        found = status(ws, version.ref)
        if not found.dirty:
            return
        if not found.added and not found.modified and not found.unchanged:
            return  # nothing of it here
        modified, found_added, removed = found.modified, found.added, found.removed
    what = ", ".join(f"{len(paths)} {label}" for label, paths in
                     (("modified", modified), ("added", found_added), ("removed", removed)) if paths)
    first = (modified + found_added + removed)[0]
    raise UsageError(
        f"the files of {version.dataset} in the workspace are not {version.ref} ({what}; {first} for one): "
        f"the run would be recorded as built from data it did not read",
        hint=f"check it out first (`assay data checkout {version.ref}`), add the changes as a version and name "
             "that one, or pass --no-input-check if the command reads the input from elsewhere",
    )


def _compare_files(ws: Workspace, snapshot: Any, paths: list[str]) -> tuple[list[str], list[str]]:
    """The files ``paths`` of ``snapshot`` that differ on disk, and those missing there."""
    from assay.data._checkout import _compare
    from assay.data._chunking import Chunker
    from assay.data._scan import StatCache

    cache, chunker = StatCache(ws), Chunker(ws.config.data.chunk_avg)
    modified, removed = [], []
    for rel in sorted(paths):
        state = _compare(str(ws.root / rel), rel, snapshot.files[rel], cache, chunker)
        if state == "missing":
            removed.append(rel)
        elif state == "other":
            modified.append(rel)
    return modified, removed


def _finish(run: Run, *, ok: bool, exit_code: int | None) -> None:
    from assay.data import add

    error: BaseException | None = None
    if ok:
        try:
            for name, (paths, message) in run.outputs.items():
                result = add(run.ws, paths, name=name, message=message or f"output of run {run.id[:12]}", run_id=run.id)
                run.produced.append(result.version)
        except BaseException as exc:  # an output that cannot be versioned fails the run
            ok, error = False, exc
    run.status = "succeeded" if ok else "failed"
    with run.ws.ledger.transaction() as tx:
        tx.execute("UPDATE runs SET status = ?, exit_code = ?, ended_at = ? WHERE id = ?",
                   (run.status, exit_code, utcnow(), run.id))
        add_edges(tx, [(f"run:{run.id}", v.node, "produced") for v in run.produced])
    if error is not None:
        raise error


@contextmanager
def track(ws: Workspace, inputs: Sequence[str] = (), *, params: dict[str, Any] | None = None,
          name: str = "python", check_inputs: bool = True) -> Iterator[Run]:
    """Record a block of Python as a run. Each input's files in the workspace must be that
    version's (unless none of them are there, or ``check_inputs`` is False).

    >>> with assay.track(ws, inputs=["raw@v1"]) as run:   # doctest: +SKIP
    ...     build_features("data/raw", "data/features")
    ...     run.output("features", "data/features")

    If the block raises, the run is recorded as failed and no output version is made.
    """
    run = _start(ws, "python", [name], inputs, params, check_inputs)
    try:
        yield run
    except BaseException:
        _finish(run, ok=False, exit_code=None)
        raise
    _finish(run, ok=True, exit_code=0)


def run_command(ws: Workspace, command: list[str], *, inputs: Sequence[str] = (),
                outputs: dict[str, str] | None = None, cwd: Path | None = None, stdout: int | None = None,
                check_inputs: bool = True) -> Run:
    """Run ``command``, then version each output (``name -> path``) if it exits 0. Each
    input's files in the workspace must be that version's (see :func:`track`).

    The command's standard output is this process's, or the file descriptor ``stdout`` (e.g. 2,
    so that a caller's own stdout holds only its JSON document)."""
    if not command:
        raise UsageError("give the command to run after --", hint="assay run --in raw@v1 --out feats=data/f -- python make.py")
    run = _start(ws, "command", list(command), inputs, None, check_inputs)
    for name, path in (outputs or {}).items():
        run.output(name, path)
    try:
        proc = subprocess.run(command, cwd=cwd, check=False, stdout=stdout)
        code = proc.returncode
    except FileNotFoundError:
        _finish(run, ok=False, exit_code=127)
        raise UsageError(f"command not found: {command[0]}") from None
    except BaseException:
        _finish(run, ok=False, exit_code=None)
        raise
    _finish(run, ok=code == 0, exit_code=code)
    run.exit_code = code  # type: ignore[attr-defined]
    return run

