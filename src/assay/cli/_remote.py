"""`assay remote …`: where `assay data push` and `pull` send and fetch."""

from __future__ import annotations

from typing import Any

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.config import Remote
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
@json_option
@handle_errors
def add_cmd(name: str, url: str, make_default: bool, endpoint_url: str | None, replace: bool, as_json: bool) -> None:
    """Add remote NAME at URL (a folder, file://, or s3://bucket/prefix). A NAME that exists
    already is refused unless it has the same URL and options (--endpoint-url), or --replace
    replaces it. A folder is made if its parent folder is there; a bucket is not made."""
    from assay.data import add_remote
    from assay.data._remote_config import read_only_remote_folder

    options = {"endpoint_url": endpoint_url} if endpoint_url else {}
    ws = Workspace.open()
    url = _folder_from_here(ws, url)
    r = add_remote(ws, name, url, default=make_default, options=options, replace=replace)
    row = {**_row(ws, r), "read_only": read_only_remote_folder(ws, r) is not None}
    if row["read_only"]:
        row["note"] = (f"this user cannot write to {r.url}: pull and verify read it, a push to {r.name} will fail")
    emit(row, as_json, lambda: click.echo(f"remote {r.name} -> {r.url}{_shown(row['options'])}"
                                          + (f"\nnote: {row['note']}" if row["read_only"] else "")))


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


def _row(ws: Workspace, r: Remote) -> dict[str, Any]:
    from assay.data._remote_config import RemoteInfo
    from assay.store import public_options

    return RemoteInfo(r.name, r.url, public_options(r.options), r.name == ws.config.default_remote).to_dict()


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
