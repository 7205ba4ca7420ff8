"""Recorded runs: what a command or a block of Python read, produced and ran on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._root import WORKSPACE_DIR
from assay._warn import warn_user
from assay.errors import AssayError, UsageError
from assay.ledger import utcnow
from assay.lineage._environment import SITE, environment, packages_after
from assay.lineage._interpreter import Interpreter, find_python
from assay.lineage._graph import add_edges, signal_name
from assay.lineage._outputs import (
    ModelOutput,
    check_model_output,
    check_on_disk,
    check_output,
    fingerprint,
    refuse_missing_outputs,
)
from assay.lineage._redact import redact_command, redact_params, redact_text, redact_tokens
from assay.lineage._signals import Interrupted, RunSignals, Terminated
from assay.workspace import Workspace

__all__ = ["Run", "run_command", "track"]


@dataclass
class Run:
    """A run in progress. Outputs are versioned only when the run succeeds: ``produced`` holds
    the versions it made, ``unchanged`` the existing versions its outputs were identical to
    (no version made: the dataset's latest already held that data). Each of its ``warnings`` is
    also issued as an :class:`~assay.errors.AssayWarning`: at the ``output(...)`` call that
    finds it, or at the call (the ``with`` line of :func:`track`) whose end finds it."""

    ws: Workspace
    id: str
    inputs: list[Any]
    outputs: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    models: dict[str, ModelOutput] = field(default_factory=dict)
    produced: list[Any] = field(default_factory=list)
    unchanged: list[Any] = field(default_factory=list)
    status: str = "running"
    exit_code: int | None = None  # as Python reports it: -N when signal N ended the command
    # Its command ended, but how is not known: reaped before it could be read (see RunSignals.wait)
    exit_unknown: bool = False
    failure: str | None = None  # why it failed, where its status and exit code do not say
    started: float = field(default_factory=time.time)  # (the clock files' times are read against)
    # Each model output named before the command ran: its file then (see _outputs._unwritten).
    before: dict[str, tuple[int, int, int, int] | None] = field(default_factory=dict)
    # An output that shares another dataset's folder, or came out empty: each also issued as an
    # AssayWarning, when it is found (see assay._warn).
    warnings: list[str] = field(default_factory=list)
    # What .assayignore left out of each output that it left something out of: {name: {"files", "folders"}}
    ignored: dict[str, dict[str, int]] = field(default_factory=dict)
    # The overlaps with another dataset's folder said when the outputs were declared: the add
    # at the run's end finds them again, and must not say them a second time.
    _said_overlaps: set[frozenset[tuple[str, str]]] = field(default_factory=set, repr=False)
    # The Python it ran in and what was recorded of it when it started (see packages_after).
    _python: Interpreter | None = field(default=None, repr=False)
    _python_env: dict[str, Any] = field(default_factory=dict, repr=False)
    _python_after: dict[str, Any] = field(default_factory=dict, repr=False)

    def output(self, name: str, path: str | Path | Sequence[str | Path], *, message: str = "",
               allow_overlap: bool = False) -> None:
        """Declare that ``path`` is output ``name``; it is snapshotted when the run ends well.
        A name that cannot be a dataset's (invalid, or a model's), a path outside the
        workspace, or one that is, holds or is inside another dataset's folder (unless
        ``allow_overlap``: see :mod:`assay.data._overlap`) is refused here, before the work.

        Returns None: no version exists yet (the files may still be written after this call).
        After the ``with`` block of :func:`track` ends well, the version made is in
        ``run.produced`` (or, if the data equals the dataset's latest, that version is in
        ``run.unchanged``)::

            with assay.track(ws) as run:
                run.output("features", "features/")
            features = run.produced[0]   # features@vN
        """
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        self._check_new(name)
        shared = check_output(self.ws, name, paths, allow_overlap=allow_overlap, others=self._declared(),
                              said=self._said_overlaps)
        self.warnings += shared
        # Where it is now: the block may change the current folder before it ends.
        self.outputs[name] = ([os.path.abspath(p) for p in paths], message)
        warn_user(shared)  # (declared first: a filter that makes it an error leaves the output declared)

    def output_model(self, name: str, path: str | Path, *, flavor: str | None = None, trust: bool = False,
                     message: str = "") -> None:
        """Declare that the model file ``path`` (``.skops``, ``.onnx``, or ``.joblib``/``.pkl``
        with ``trust``) is output ``name``: when the run ends well it is registered as the next
        version of model ``name``, made by this run, so that the model's lineage leads to the
        data it was trained on. The file is loaded once then, as `assay model add` does, and a
        file that does not load fails the run. A name or flavor that could never be
        registered is refused here, before the work. Returns None, as :meth:`output` does:
        the model version is in ``run.produced`` once the block has ended well."""
        self._check_new(name)
        self.models[name] = check_model_output(self.ws, name, os.path.abspath(path), flavor=flavor, trust=trust,
                                               message=message)

    def _declared(self) -> dict[str, list[str]]:
        """The outputs declared so far, each with its paths as a dataset's sources."""
        return {name: [self.ws.relpath(p) for p in paths] for name, (paths, _) in self.outputs.items()}

    def _check_new(self, name: str) -> None:
        if name in self.outputs or name in self.models:  # the second would silently replace the first
            raise UsageError(f"output {name!r} is declared twice in this run",
                             hint="give each output its own name, or one output several paths")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "inputs": [v.ref for v in self.inputs],
            "outputs": [v.ref for v in self.produced], "unchanged": [v.ref for v in self.unchanged],
            **({"failure": self.failure} if self.failure else {}),
            **({"exit_unknown": True} if self.exit_unknown else {}),
            **({"warnings": list(self.warnings)} if self.warnings else {}),
            **({"ignored": {name: dict(left) for name, left in self.ignored.items()}} if self.ignored else {}),
        }


def _start(ws: Workspace, kind: str, command: list[str], inputs: Sequence[str], params: dict[str, Any] | None,
           check_inputs: bool = True, cwd: Path | None = None, outputs: Sequence[str] = ()) -> Run:
    from assay.data import resolve

    versions: list[Any] = []
    for ref in inputs:
        version = resolve(ws, ref)
        other = next((v for v in versions if v.dataset == version.dataset), None)
        if other is not None and other.id == version.id:
            continue  # the same version named twice
        if other is not None and check_inputs:
            raise UsageError(
                f"{other.ref} and {version.ref} are both inputs: the workspace holds the files of one version "
                f"of {version.dataset} at a time, so the run cannot have read both there",
                hint="name the one the command reads; if it reads them from elsewhere (checked out into folders "
                     "of their own), pass --no-input-check (check_inputs=False)")
        versions.append(version)
    if check_inputs:
        for version in versions:
            check_on_disk(ws, version)
    # (a tracked block runs in this Python: only a command's may be another)
    python = find_python(command, cwd) if kind == "command" else Interpreter(named=sys.executable, own=True)
    data, partial = _data_paths(ws, outputs)
    ran = environment(ws.root, command, cwd, data=data, new_files=partial, python=python)
    run = Run(ws=ws, id=uuid.uuid4().hex, inputs=versions, _python=python, _python_env=ran)
    # A run recorded here (see assay.data._history), by this process of this machine and PID
    # namespace: one whose process has ended with the run still "running" was abandoned (see
    # _graph.describe).
    from assay._process import host_tag

    env = {**{k: v for k, v in ran.items() if k != SITE}, "ledger": ws.ledger_id, "pid": os.getpid(),
           "host_tag": host_tag()}
    if outputs:  # (here already: a run that never records its end still declared them as data)
        env[OUTPUT_PATHS] = _relative(ws, outputs)
    # (the interpreter is named as the command names it: a path may hold what a command line may)
    env = {k: redact_text(v) if isinstance(v, str) else v for k, v in env.items()}
    with ws.ledger.transaction() as tx:
        tx.execute(
            "INSERT INTO runs (id, kind, command, params, env, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            # Secrets given on the command line or as parameters are left out (the record
            # travels with a push): see assay.lineage._redact.
            (run.id, kind, json.dumps(redact_command(command)), json.dumps(redact_params(params or {}), default=str),
             json.dumps(env), "running", utcnow()),
        )
        add_edges(tx, [(v.node, f"run:{run.id}", "input_of") for v in versions])
    return run


# Under this key in a run's record: where its outputs and model outputs were declared, relative
# to the workspace's root (kept apart from its environment: see _graph).
OUTPUT_PATHS = "output_paths"


def _relative(ws: Workspace, paths: Sequence[str]) -> list[str]:
    found = set()
    for path in paths:
        try:
            found.add(ws.relpath(path))
        except UsageError:  # (a model file outside the workspace: not the repository's either)
            continue
    return sorted(found)


def _data_paths(ws: Workspace, outputs: Sequence[str]) -> tuple[list[str], list[str]]:
    """The workspace's data, relative to its root: changes there are data, not uncommitted code.
    That is what assay versions or writes: the files and folders each dataset was last added
    from, ``outputs``, the outputs and model files a run that succeeded declared, each model's
    checkout folder (``.assay-model-NAME``), and assay's own folder (``.assay/``: its config,
    meant to be committed, is no code either). Second, where the outputs of a run that did not
    succeed were declared: the new files it left there are data, but a change to a file git
    tracks there is code changed all the same (a folder of code declared as an output by
    mistake would hide every later change to it)."""
    from assay.models._registry import checkout_folder

    paths = [WORKSPACE_DIR, *_relative(ws, outputs)]
    for name, kind, sources in ws.ledger.query("SELECT name, kind, sources FROM datasets"):
        if kind == "model":
            paths.append(checkout_folder(name))
        try:
            named = json.loads(sources or "[]")
        except ValueError:
            continue
        paths += [p for p in named if isinstance(p, str)] if isinstance(named, list) else []
    partial: list[str] = []
    for status, env in ws.ledger.query("SELECT status, env FROM runs WHERE env LIKE ?", (f'%"{OUTPUT_PATHS}"%',)):
        try:
            named = json.loads(env or "{}").get(OUTPUT_PATHS)
        except (ValueError, AttributeError):
            continue
        found = [p for p in named if isinstance(p, str)] if isinstance(named, list) else []
        (paths if status == "succeeded" else partial).extend(found)
    whole = set(paths)
    return paths, sorted({p for p in partial if p not in whole})


def _finish(run: Run, *, ok: bool, exit_code: int | None, failure: str | None = None) -> None:
    """Record how ``run`` ended, and version its outputs if ``ok``; ``failure``: why it failed,
    where its exit code does not say (an exception, an interrupt)."""
    from assay.data._add import NewData, add_together
    from assay.models._registry import held_copy, model_files

    if run._python is not None:  # (asked before any transaction: it may take a while)
        run._python_after = packages_after(run._python, run._python_env)
    error: BaseException | None = None
    if ok:
        known = len(run.warnings)  # (said when the outputs were declared)
        try:
            refuse_missing_outputs(run.ws, run)
            # Every model is loaded before any output is versioned: one that does not load
            # fails the run with no version made.
            with ExitStack() as stack:
                # Each model file read once: the bytes loaded are the bytes stored (see held_copy).
                copies = {m.name: stack.enter_context(held_copy(run.ws, m.path, m.flavor)) for m in run.models.values()}
                metas = {m.name: _describe(run, m, copies[m.name]) for m in run.models.values()}
                # (each output's overlap with another dataset's folder was refused or allowed, and
                # said, when declared: the add says only one found since)
                # An output that holds no files is recorded (the command ended well: what it
                # made is its product), said as a warning on stderr and in the run's record.
                items = [NewData(paths=list(paths), name=name, message=message or "output of a run", allow_overlap=True,
                                 allow_empty=True)
                         for name, (paths, message) in run.outputs.items()]
                items += [stack.enter_context(model_files(run.ws, m.name, copies[m.name], metas[m.name],
                                                           message=m.message or "model made by a run"))
                          for m in run.models.values()]
                # All in one transaction with the run's end: a failure on any output (a disk
                # error) records none, and a crash records the outputs and the run's end or neither.
                names = [item.name for item in items]
                added = add_together(run.ws, items, run_id=run.id,
                                     then=lambda tx, recorded, left: _record_end(tx, run, "succeeded", exit_code, recorded,
                                                                                 dict(zip(names, left, strict=True))),
                                     said=run._said_overlaps)
            # What the adds found worth saying (names that clash on other systems, a source gone)
            run.warnings += [w for result in added for w in result.warnings if w not in run.warnings]
            warn_user(run.warnings[known:])
            return
        except BaseException as exc:  # an output that cannot be versioned fails the run
            if run.ws.ledger.query("SELECT 1 FROM runs WHERE id = ? AND status <> 'running'", (run.id,)):
                raise  # its outputs and its end were recorded: what failed came after
            error = exc
    if error is not None:
        failure = error.message if isinstance(error, AssayError) else _said(error)
    with run.ws.ledger.transaction() as tx:
        _record_end(tx, run, "failed", exit_code, [])
        if failure:
            _record_failure(tx, run, failure)
    if isinstance(error, AssayError):
        error.details.setdefault("run", run.to_dict())  # (--json: which run it failed)
    if error is not None:
        raise error


def _record_end(tx: Any, run: Run, status: str, exit_code: int | None, recorded: list[tuple[Any, bool]],
                left_out: dict[str, tuple[int, int]] | None = None) -> None:
    """Record how ``run`` ended and the edges to the versions it made (``recorded``: each
    output's ``(version, created)``; ``left_out``: the files and folders ``.assayignore`` left
    out of each, kept under ``ignored`` in its record where there are any)."""
    from assay.data._versions import empty_note

    # An output identical to its latest version, which this run did not make, is not the
    # run's product (and not, through the run, built from the run's inputs).
    run.produced = [v for v, created in recorded if created]
    run.unchanged = [v for v, created in recorded if not created]
    run.status, run.exit_code = status, exit_code
    tx.execute("UPDATE runs SET status = ?, exit_code = ?, ended_at = ? WHERE id = ?",
               (status, exit_code, utcnow(), run.id))
    declared = _relative(run.ws, [p for paths, _ in run.outputs.values() for p in paths]
                         + [m.path for m in run.models.values()])
    if declared:  # (a tracked block declares them as it goes: known only now)
        _update_env(tx, run, {OUTPUT_PATHS: declared})
    if run.exit_unknown:  # (not a NULL exit code alone: a run an exception ended has none either)
        _update_env(tx, run, {"exit_unknown": True})
    if run._python_after:  # its package set changed while it ran (pip install): the set after, too
        _update_env(tx, run, run._python_after)
    empty = [note for v in run.produced if (note := empty_note(tx.execute, v))]
    run.warnings += [note for note in empty if note not in run.warnings]
    if empty:  # (kept in the record: a later `assay lineage` or a pull shows why an output is empty)
        _update_env(tx, run, {"warnings": empty})
    run.ignored = {name: {"files": files, "folders": folders}
                   for name, (files, folders) in (left_out or {}).items() if files or folders}
    if run.ignored:  # (as `add` says it: an output can look smaller than what the command wrote)
        _update_env(tx, run, {"ignored": run.ignored})
    add_edges(tx, [(f"run:{run.id}", v.node, "produced") for v in run.produced]
              + [(f"run:{run.id}", v.node, "reproduced") for v in run.unchanged])


def _record_failure(tx: Any, run: Run, failure: str) -> None:
    """Say in ``run``'s record why it failed where its status and exit code cannot (its outputs
    failed it, the command ended well; an exception; an interrupt): under ``failure`` in its
    ``env``, which every ledger's runs table has."""
    # Every failure, however said (an error's message quotes the command, a URL, a file's
    # text): the record travels with a push.
    failure = redact_text(failure)
    run.failure = failure
    _update_env(tx, run, {"failure": failure})


def _update_env(tx: Any, run: Run, updates: dict[str, Any]) -> None:
    rows = tx.execute("SELECT env FROM runs WHERE id = ?", (run.id,))
    env = json.loads(rows[0][0] or "{}") if rows else {}
    env.update(updates)
    tx.execute("UPDATE runs SET env = ? WHERE id = ?", (json.dumps(env), run.id))


_FAILURE_WIDTH = 500


def _said(error: BaseException) -> str:
    """An exception as a run's record keeps it: one line, its secrets left out (the record
    travels with a push), cut to fit."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt: Ctrl-C)"
    # Each line on its own, before the type is put in front: a secret header ("X-Api-Key: K")
    # is known as such only as the whole of what redact_text is given.
    # A secret known by its form first, in the whole text: a private key's PEM block is many lines.
    said = " ".join(" ".join(redact_text(line.strip()).split())
                    for line in redact_tokens(str(error)).splitlines() if line.strip())
    text = f"{type(error).__name__}: {said}".rstrip(": ")
    return text if len(text) <= _FAILURE_WIDTH else text[:_FAILURE_WIDTH - 3] + "..."


def _describe(run: Run, model: ModelOutput, copy: str) -> dict[str, Any]:
    """``model``'s registration metadata; loading it fails the run, said as such."""
    from assay.models._registry import describe_model

    try:
        return describe_model(copy, flavor=model.flavor, trust=model.trust, label=model.path)
    except AssayError as exc:
        exc.message = f"model output {model.name}: {exc.message} (run {run.id[:12]} failed: no output was versioned)"
        raise


@contextmanager
def track(ws: Workspace, inputs: Sequence[str] = (), *, params: dict[str, Any] | None = None,
          name: str | None = None, check_inputs: bool = True) -> Iterator[Run]:
    """Record a block of Python as a run. Each input's files in the workspace must be that
    version's (unless none of them are there, or ``check_inputs`` is False). The run is
    recorded as ``name``, by default the program's own command line (``python train.py …``).

    >>> with assay.track(ws, inputs=["raw@v1"]) as run:   # doctest: +SKIP
    ...     build_features("data/raw", "data/features")
    ...     run.output("features", "data/features")

    Outputs are snapshotted when the block ends, so ``run.output(...)`` returns None and the
    versions made appear in ``run.produced`` only after the ``with`` block.
    If the block raises, the run is recorded as failed and no output version is made;
    ``sys.exit(0)`` (or ``sys.exit()``) ends it well. SIGTERM or SIGHUP during the block
    (where the program leaves them to their default) ends it as failed with :class:`Terminated`.
    """
    command = [name] if name is not None else ["python", *sys.argv]
    with RunSignals(raise_now=True) as termination:
        run = _start(ws, "python", command, inputs, params, check_inputs)
        try:
            try:
                yield run
            finally:
                termination.raise_now = False  # from here a signal waits until the run is recorded
        except Terminated as exc:
            exc.run = run
            _finish(run, ok=False, exit_code=-exc.signum,  # as for a command the signal ended
                    failure=f"interrupted by {signal_name(exc.signum)}")
            raise
        except SystemExit as exc:
            ok = exc.code in (0, None)
            _finish(run, ok=ok and termination.signum is None, exit_code=0 if ok else _code(exc.code),
                    failure=_interrupted(termination.signum))
            raise
        except BaseException as exc:
            _finish(run, ok=False, exit_code=None, failure=_said(exc))
            raise
        _finish(run, ok=termination.signum is None, exit_code=0, failure=_interrupted(termination.signum))
    if termination.signum is not None:
        raise Terminated(termination.signum, run)


_UNKNOWN = ("the command's exit status is unknown: it was reaped before assay could read how it ended (by the "
            "program's own SIGCHLD handler, or with SIGCHLD ignored); its outputs were not versioned")


def _code(code: object) -> int:
    return code if isinstance(code, int) else 1  # sys.exit("message") exits 1


def _interrupted(signum: int | None) -> str | None:
    """Why a run a signal to this process ended failed (its exit code may be 0: the command's
    own, which ended cleanly when it was told to stop)."""
    if signum is None:
        return None
    return f"interrupted by {signal_name(signum)} while the run was in progress"


def run_command(ws: Workspace, command: list[str], *, inputs: Sequence[str] = (),
                outputs: dict[str, str] | None = None, models: dict[str, str] | None = None, trust: bool = False,
                cwd: Path | None = None, stdout: int | None = None, check_inputs: bool = True,
                allow_overlap: bool = False) -> Run:
    """Run ``command``, then version each output (``name -> path``) if it exits 0. Each
    input's files in the workspace must be that version's (see :func:`track`); each output's
    name and path are checked before the command runs.

    The command's standard output is this process's, or the file descriptor ``stdout`` (e.g. 2,
    so that a caller's own stdout holds only its JSON document). ``Run.exit_code`` is the
    command's (-N when signal N ended it); None, with ``Run.exit_unknown``, where a program's own
    SIGCHLD handler (or SIGCHLD ignored) reaped the command before its exit status could be
    read: the run is recorded as failed, its outputs not versioned. SIGTERM or SIGHUP to this process is passed on to
    the command, and then raised as :class:`Terminated` once the run is recorded as failed.
    Ctrl-C (SIGINT) is passed on likewise (a terminal sends it to the command itself), the
    command waited for, and then raised as :class:`Interrupted`; a second Ctrl-C kills the
    command. A process's SIGINT to assay's whole process group (``kill -INT -PGID``, ``timeout -s
    INT``) reaches the command twice, from the sender and passed on: its siginfo (SI_USER, the
    sender's pid) is that of one sent to assay alone, so the two cannot be told apart; send it
    to assay alone, or send SIGTERM. (Its second, when ``timeout`` sends one to assay and then
    to the group, is not taken for a second Ctrl-C: see RunSignals._SAME.) A command that cannot be run (not found, not executable) is :class:`UsageError`,
    its run recorded as failed with a shell's exit code for it (127, 126). An output in another
    dataset's folder (an input's, say) is refused unless ``allow_overlap``
    (see :mod:`assay.data._overlap`)."""
    if not command:
        raise UsageError("give the command to run after --", hint="assay run --in raw@v1 --out feats=data/f -- python make.py")
    declared: dict[str, list[str]] = {}
    for name, path in (outputs or {}).items():
        check_output(ws, name, [path], allow_overlap=allow_overlap, others=declared)
        declared[name] = [ws.relpath(path)]
    for name, path in (models or {}).items():
        if name in (outputs or {}):
            raise UsageError(f"{name!r} is both an output and a model output", hint="give each its own NAME")
        check_model_output(ws, name, path, flavor=None, trust=trust, message="")
    with RunSignals(raise_now=False) as termination:
        run = _start(ws, "command", list(command), inputs, None, check_inputs, cwd,
                     [*(outputs or {}).values(), *(models or {}).values()])
        try:
            for name, path in (outputs or {}).items():
                run.output(name, path, allow_overlap=allow_overlap)
            for name, path in (models or {}).items():
                run.output_model(name, path, trust=trust)
                run.before[name] = fingerprint(run.models[name].path)
            code: int | None = None
            termination.take_interrupt()
            if termination.signum is None:
                with _started(command, cwd, stdout) as proc:
                    termination.watch(proc)
                    try:
                        code = termination.wait(proc)
                    except BaseException:  # not a Ctrl-C (see RunSignals): end the command too
                        proc.kill()
                        raise
                termination.watch(None)
                run.exit_unknown = code is None
        except _NotRun as exc:
            _finish(run, ok=False, exit_code=exc.code, failure=exc.error.message)
            exc.error.details.setdefault("run", run.to_dict())
            raise exc.error from None
        except BaseException as exc:
            _finish(run, ok=False, exit_code=None, failure=_said(exc))
            raise
        _finish(run, ok=code == 0 and termination.signum is None, exit_code=code,
                failure=_interrupted(termination.signum) or (_UNKNOWN if run.exit_unknown else None))
    if termination.signum == signal.SIGINT:
        raise Interrupted(run)
    if termination.signum is not None:
        raise Terminated(termination.signum, run)
    return run


class _NotRun(Exception):
    """The command could not be started: ``code`` is a shell's exit code for why."""

    def __init__(self, code: int, error: UsageError) -> None:
        super().__init__(error.message)
        self.code, self.error = code, error


def _started(command: list[str], cwd: Path | None, stdout: int | None) -> subprocess.Popen[bytes]:
    """``command``, started; one that cannot be is :class:`_NotRun`, said as a shell would."""
    shell = "assay runs the command itself, not through a shell: for pipes, `&&` or variables write `sh -c '...'`"
    try:
        return subprocess.Popen(command, cwd=cwd, stdout=stdout)
    except FileNotFoundError as exc:
        if cwd is not None and not os.path.isdir(cwd):
            raise
        raise _NotRun(127, UsageError(f"command not found: {command[0]}",
                                      hint=f"check its name, and that it is on PATH or given with its folder; {shell}")
                      ) from exc
    except PermissionError as exc:
        raise _NotRun(126, UsageError(
            f"cannot run {command[0]}: permission denied",
            hint=f"make it executable (`chmod +x {command[0]}`) or name its interpreter (`python FILE`, `sh FILE`)")
        ) from exc
    except OSError as exc:  # ENOEXEC: a script with no #! line, a binary for another machine
        raise _NotRun(126, UsageError(
            f"cannot run {command[0]}: {exc.strerror or exc}",
            hint="give a script a #! line, or name its interpreter (`python FILE`, `sh FILE`)")) from exc
