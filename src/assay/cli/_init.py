from __future__ import annotations

from pathlib import Path

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.workspace import Workspace


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ledger", help='Ledger URL: "sqlite" (default) or postgresql://user@host/db.')
@click.option("--store", help="Object store: a folder (default .assay/objects) or an fsspec URL such as s3://bucket/prefix.")
@click.option("--endpoint-url", help="Endpoint of an S3-compatible server, for an s3:// --store.")
@json_option
@handle_errors
def init(directory: Path, ledger: str | None, store: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Create a workspace (.assay/) in DIRECTORY (default: here)."""
    options = {"endpoint_url": endpoint_url} if endpoint_url else None
    ws = Workspace.init(directory, ledger=ledger, store=store, store_options=options)
    doc = {"root": str(ws.root), "ledger": ws.ledger.url, "store": ws.store.url, "schema_version": ws.ledger.schema_version()}
    emit(doc, as_json, lambda: click.echo(f"Initialized assay workspace in {ws.dir}"))
