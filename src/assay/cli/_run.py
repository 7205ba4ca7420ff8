"""`assay run`: run a command and record its inputs, outputs and environment."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from assay.cli._output import counted, emit, escaped, handle_errors
from assay.errors import UsageError
from assay.workspace import Workspace


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--in", "inputs", multiple=True, metavar="NAME@REF", help="An input version, of a dataset or a model (repeatable).")
@click.option("--out", "outputs", multiple=True, metavar="NAME=PATH", help="An output to version when the command succeeds (repeatable).")
@click.option("--model", "models", multiple=True, metavar="NAME=PATH",
              help="A model file the command writes (.skops, .onnx; .joblib/.pkl with --trust), registered as "
                   "the next version of model NAME when the command succeeds (repeatable).")
@click.option("--trust", is_flag=True,
              help="Allow loading a --model file that can run code when loaded (a .joblib/.pkl pickle, or a "
                   ".skops file holding types skops does not trust) once to validate it.")
@click.option("--no-input-check", "no_input_check", is_flag=True,
              help="Do not require each --in version's files in the workspace to be that version "
                   "(for a command that reads its input from elsewhere).")
@click.option("--allow-overlap", is_flag=True,
              help="Allow an --out PATH that is, holds or is inside another dataset's folder (an input's, say): "
                   "refused otherwise, since the two would share its files.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document on stdout; COMMAND's own stdout then goes to stderr.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@handle_errors
def run(inputs: tuple[str, ...], outputs: tuple[str, ...], models: tuple[str, ...], trust: bool,
        command: tuple[str, ...], no_input_check: bool, allow_overlap: bool, as_json: bool) -> None:
    """Run COMMAND (after --), then version its outputs and record the run.

    Each --in version's files in the workspace must be that version (check it out
    first), unless none of them are there. Each --out and --model NAME and PATH is
    checked before COMMAND runs. A failed command records a failed run and makes no
    output versions; an output identical to its latest version makes none either (the
    run is recorded as having reproduced that version). A --model file is loaded once
    when the command has succeeded, as `assay model add` does; one that does not load
    fails the run. `assay lineage MODEL@vN --up` then shows the data it was trained on.

    assay exits with the command's own exit code, or, when a signal ended the command,
    128 + the signal's number, as a shell does (137 for SIGKILL). SIGTERM or SIGHUP to
    assay is passed on to COMMAND, the run is recorded as failed, and assay exits 143 or
    129. Ctrl-C (SIGINT) reaches COMMAND too, which is waited for while it cleans up (a
    second Ctrl-C kills it); the run is recorded as failed (interrupted) and assay exits
    130. A command that cannot be run (not found, not executable) exits 2. With --json, COMMAND's own standard output goes to stderr, so that stdout holds
    only assay's JSON document.
    """
    from assay.lineage import Interrupted, Terminated, run_command
    from assay.lineage._graph import signal_name

    outs, model_outs = _pairs("--out", outputs), _pairs("--model", models)
    both = sorted(set(outs) & set(model_outs))
    if both:
        raise UsageError(f"{both[0]} is both an --out and a --model", hint="give each output its own NAME")
    # SIGCHLD ignored, as a parent may leave it (inherited across exec): every child is reaped
    # by the kernel, and no exit status (the command's, git's) can be read. assay's own process:
    # taken back to the default, which the command then starts with.
    if hasattr(signal, "SIGCHLD") and signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    ws = Workspace.open()
    child_stdout = None
    if as_json:
        sys.stdout.flush()
        sys.stderr.flush()
        child_stdout = _fd(sys.stderr, 2)
    terminated: Terminated | Interrupted | None = None
    try:
        result = run_command(ws, list(command), inputs=list(inputs), outputs=outs, models=model_outs, trust=trust,
                             stdout=child_stdout, check_inputs=not no_input_check, allow_overlap=allow_overlap)
    except (Terminated, Interrupted) as exc:
        if exc.run is None:
            raise
        terminated, result = exc, exc.run
    raw = result.exit_code or 0
    ended_by = -raw if raw < 0 else None
    code: int | None = 128 + ended_by if ended_by is not None else raw  # as a shell reports it
    if result.exit_unknown:  # (reaped before it could be read: not a success, and no code made up)
        code = None
    doc: dict[str, Any] = {**result.to_dict(), "exit_code": code}
    if ended_by is not None:
        doc["signal"] = signal_name(ended_by)
    if terminated is not None:
        doc["terminated_by"] = signal_name(terminated.signum)

    def render() -> None:
        how = "exit status unknown" if code is None else f"exit {code}" + (f", {doc['signal']}" if "signal" in doc else "")
        click.echo(f"run {result.id[:12]} {result.status} ({how})", err=True)
        for ref in (v.ref for v in result.produced):
            click.echo(f"  produced {ref}", err=True)
        for ref in (v.ref for v in result.unchanged):
            click.echo(f"  reproduced {ref} (identical to it: no new version)", err=True)
        for name, left in result.ignored.items():  # as `data add` says it
            said = ", ".join(counted(n, what) for n, what in ((left["files"], "file"), (left["folders"], "folder")) if n)
            click.echo(f"  output {name}: ignored: {said} (.assayignore)", err=True)
        for w in result.warnings:
            click.echo(f"warning: {escaped(w)}", err=True)
        if terminated is not None and result.status == "succeeded":
            click.echo(f"assay: {doc['terminated_by']} came after the command had ended well: the run and its "
                       "outputs are recorded", err=True)
        elif isinstance(terminated, Interrupted):
            click.echo("assay: interrupted: the run is recorded as failed", err=True)
        elif terminated is not None:
            click.echo(f"assay: {doc['terminated_by']}: passed on to the command, and the run recorded as failed",
                       err=True)

    emit(doc, as_json, render)
    if isinstance(terminated, Interrupted):
        sys.exit(130)  # as a shell reports Ctrl-C (the run's document is already printed)
    if terminated is not None:
        raise terminated
    if code is None:
        sys.exit(1)
    if code:
        sys.exit(code if 0 < code < 256 else 1)


def _pairs(option: str, items: tuple[str, ...]) -> dict[str, str]:
    """``NAME=PATH`` options as a dict, each NAME once."""
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"{option} {item!r} must look like NAME=PATH")
        if name in pairs:
            raise UsageError(f"{option} {name} is given twice ({name}={pairs[name]} and {item})",
                             hint="give each output its own NAME")
        pairs[name] = path
    return pairs


def _fd(stream: object, default: int) -> int:
    """The file descriptor under ``stream``; ``default`` where it has none (a test's capture)."""
    try:
        return stream.fileno()  # type: ignore[attr-defined, no-any-return]
    except (AttributeError, OSError, ValueError):
        return default
