"""`assay run`: run a command and record its inputs, outputs and environment."""

from __future__ import annotations

import sys

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.errors import UsageError
from assay.workspace import Workspace


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--in", "inputs", multiple=True, metavar="NAME@REF", help="An input dataset version (repeatable).")
@click.option("--out", "outputs", multiple=True, metavar="NAME=PATH", help="An output to version when the command succeeds (repeatable).")
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@handle_errors
def run(inputs: tuple[str, ...], outputs: tuple[str, ...], command: tuple[str, ...], as_json: bool) -> None:
    """Run COMMAND (after --), then version its outputs and record the run.

    A failed command records a failed run and makes no output versions; assay exits
    with the command's own exit code.
    """
    from assay.lineage import run_command

    outs = {}
    for item in outputs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--out {item!r} must look like NAME=PATH")
        outs[name] = path
    ws = Workspace.open()
    result = run_command(ws, list(command), inputs=list(inputs), outputs=outs)
    code = getattr(result, "exit_code", 0)

    def render() -> None:
        click.echo(f"run {result.id[:12]} {result.status} (exit {code})", err=True)
        for ref in (v.ref for v in result.produced):
            click.echo(f"  produced {ref}", err=True)

    emit({**result.to_dict(), "exit_code": code}, as_json, render)
    if code:
        sys.exit(code if 0 < code < 256 else 1)
