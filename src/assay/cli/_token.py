from __future__ import annotations

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.workspace import Workspace


@click.group()
def token() -> None:
    """API tokens for `assay serve` (stored hashed; shown once)."""


@token.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["ingest", "read", "admin"]), help="Repeatable; admin implies all.")
@click.option("--name", default="", help="A note saying what the token is for.")
@json_option
@handle_errors
def create(scopes: tuple[str, ...], name: str, as_json: bool) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    from assay.monitor import create_token

    doc = create_token(Workspace.open(), list(scopes), name=name)
    emit(doc, as_json, lambda: click.echo(doc["token"]))


@token.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """List tokens (ids and scopes, never secrets)."""
    from assay.monitor import list_tokens

    found = list_tokens(Workspace.open())

    def render() -> None:
        for t in found:
            click.echo(f"{t['id']}\t{','.join(t['scopes'])}\t{t['name']}\t{'revoked' if t['revoked_at'] else 'active'}")

    emit({"tokens": found}, as_json, render)


@token.command("revoke")
@click.argument("token_id")
@json_option
@handle_errors
def revoke(token_id: str, as_json: bool) -> None:
    """Revoke a token by id (effective within a few seconds on a running service)."""
    from assay.monitor import revoke_token

    revoke_token(Workspace.open(), token_id)
    emit({"revoked": token_id}, as_json, lambda: click.echo(f"Revoked {token_id}"))
