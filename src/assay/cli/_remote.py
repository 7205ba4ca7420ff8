"""`assay remote …`: where `assay data push` and `pull` send and fetch."""

from __future__ import annotations

from typing import Any

import click

from assay.cli._output import echo_err, emit, handle_errors, json_option
from assay.workspace import Workspace


@click.group()
def remote() -> None:
    """Manage remotes (folders or s3:// URLs)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("--endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (for s3:// URLs only).")
@click.option("--replace", is_flag=True, help="Replace a remote of the same NAME that has another URL or options.")
@click.option("--no-check", "no_check", is_flag=True,
              help="Do not ask the server whether the bucket is there (for s3:// URLs; nothing is sent).")
@json_option
@handle_errors
def add_cmd(name: str, url: str, make_default: bool, endpoint_url: str | None, replace: bool, no_check: bool,
            as_json: bool) -> None:
    """Add remote NAME at URL (a folder, file://, or s3://bucket/prefix). A NAME that exists
    already is refused unless it has the same URL and options (--endpoint-url), or --replace
    replaces it.

    What can be checked is checked now rather than at the first push. A folder must be in a
    folder that is there; it is not made here (the first push makes it), so a mistyped path
    never becomes an empty remote. A bucket is asked for, waiting a few seconds: one that is
    not there, or credentials refused, are an error (exit 2); a server that cannot be reached
    (offline) is added with a warning. A bucket is never made."""
    import warnings

    from assay.data import add_remote
    from assay.errors import AssayWarning

    options = {"endpoint_url": endpoint_url} if endpoint_url else {}
    ws = Workspace.open()
    url = _folder_from_here(ws, url)
    with warnings.catch_warnings(record=True) as caught:  # said below, once (not as a Python warning)
        warnings.simplefilter("always", AssayWarning)
        r = add_remote(ws, name, url, default=make_default, options=options, replace=replace, check=not no_check)
    said = [str(w.message) for w in caught if issubclass(w.category, AssayWarning)]
    row = r.to_dict()
    if said:
        row["warnings"] = said

    def render() -> None:
        click.echo(f"remote {r.name} -> {r.url}{_shown(row['options'])}")
        if "note" in row:
            click.echo(f"note: {row['note']}")
        for w in said:
            echo_err(f"warning: {w}")

    emit(row, as_json, render)


@remote.command("list")
@json_option
@handle_errors
def list_cmd(as_json: bool) -> None:
    """List remotes, with their options (credentials shown as ***)."""
    from assay.data import list_remotes

    rows = [r.to_dict() for r in list_remotes(Workspace.open())]
    emit({"remotes": rows}, as_json,
         lambda: [click.echo(f"{'*' if r['default'] else ' '} {r['name']:16} {r['url']}{_shown(r['options'])}")
                  for r in rows])


def _shown(options: dict[str, Any]) -> str:
    return "".join(f"  {k}={v}" for k, v in sorted(options.items()))


@remote.command("remove")
@click.argument("name")
@json_option
@handle_errors
def remove_cmd(name: str, as_json: bool) -> None:
    """Forget remote NAME (nothing on the remote is deleted)."""
    from assay.data import remove_remote

    remove_remote(Workspace.open(), name)
    emit({"removed": name}, as_json, lambda: click.echo(f"removed remote {name}"))


def _folder_from_here(ws: Workspace, url: str) -> str:
    """A relative folder as the shell means it: from the current folder. Kept relative to the
    workspace root where it lies inside the workspace (the config then moves with it), else
    absolute."""
    import os
    from pathlib import Path

    if "://" in url or os.path.isabs(os.path.expanduser(url)):
        return url
    full = Path(os.path.abspath(url))
    try:
        return full.relative_to(ws.root).as_posix()
    except ValueError:
        return str(full)
