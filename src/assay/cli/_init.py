from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import click

from assay.cli._output import echo_err, emit, handle_errors, json_option
from assay.errors import InputError, UsageError
from assay.workspace import WORKSPACE_DIR, Workspace


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--ledger", help='Ledger URL: "sqlite" (default) or postgresql://user@host/db.')
@click.option("--store", help="Object store: a folder (default .assay/objects) or an fsspec URL such as s3://bucket/prefix.")
@click.option("--endpoint-url", help="Endpoint of an S3-compatible server, for an s3:// --store.")
@json_option
@handle_errors
def init(directory: Path | None, ledger: str | None, store: str | None, endpoint_url: str | None,
         as_json: bool) -> None:
    """Create a workspace (.assay/) in DIRECTORY (default: ASSAY_HOME if set, else here). In an
    existing workspace it changes nothing and says so (exit 0), unless asked for other settings
    than it has (exit 2)."""
    from_home = directory is None and bool(os.environ.get("ASSAY_HOME"))
    if directory is None:
        directory = _default_directory()
    existed = _check_existing(directory, ledger=ledger, store=store, endpoint_url=endpoint_url)
    options = {"endpoint_url": endpoint_url} if endpoint_url else None
    try:
        ws = Workspace.init(directory, ledger=ledger, store=store, store_options=options)
    except InputError as exc:
        if exc.details.get("setting") == "ledger" and exc.hint and not existed:
            # (the config.toml a hint names is not there: a failed init leaves none)
            exc.hint = (exc.hint.replace("fix `ledger` in .assay/config.toml", "fix the --ledger URL")
                        .replace("check `ledger` in .assay/config.toml", "check the --ledger URL")
                        .replace("run the command again", "run `assay init` again"))
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # reported as a full disk, with what to free
        where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != directory.expanduser().absolute() else ""
        raise InputError(f"cannot create a workspace in {directory}: {exc.strerror}{where}",
                         hint="give a folder this user can create and write to") from None
    doc: dict[str, Any] = {"root": str(ws.root), "ledger": ws.ledger.url, "store": ws.store.url,
                           "schema_version": ws.ledger.schema_version(), "created": not existed}
    warnings = ws.init_warnings  # (a shared ledger given no --store, a workspace inside another)
    if warnings:
        doc["warnings"] = warnings
    text = (f"{ws.dir} is already an assay workspace; nothing changed" if existed
            else f"Initialized assay workspace in {ws.dir}") + (" (the one ASSAY_HOME names)" if from_home else "")

    def render() -> None:
        click.echo(text)
        for w in warnings:
            echo_err(f"warning: {w}")

    emit(doc, as_json, render)


def _default_directory() -> Path:
    """ASSAY_HOME, as every other command reads it, else the current folder."""
    from assay._root import home_root

    env = os.environ.get("ASSAY_HOME")
    return Path(home_root(env)) if env else Path(".")


def _check_existing(directory: Path, *, ledger: str | None, store: str | None, endpoint_url: str | None) -> bool:
    """Whether DIRECTORY holds a workspace already; one whose settings differ from those asked
    for is refused, as init never rewrites them."""
    from assay.config import Config

    config_file = directory.expanduser().resolve() / WORKSPACE_DIR / "config.toml"
    if not config_file.is_file():
        return False
    config = Config.load(config_file)
    current = {"--ledger": config.ledger, "--store": config.store,
               "--endpoint-url": config.store_options.get("endpoint_url")}
    asked = {"--ledger": ledger, "--store": store, "--endpoint-url": endpoint_url}
    differ = [option for option, value in asked.items() if value is not None and value != current[option]]
    if differ:
        has = ", ".join(f"{option.lstrip('-')} {current[option]!r}" for option in differ)
        raise UsageError(f"{config_file.parent} is already an assay workspace, with {has}; init does not change it",
                         hint=f"edit {config_file} to change its settings, or give another DIRECTORY")
    return True
