from __future__ import annotations

import sys

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.errors import UsageError
from assay.workspace import Workspace


@click.group()
def user() -> None:
    """Dashboard users (read access, password hashed with scrypt)."""


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
@click.option("--replace", is_flag=True, help="Set a new password for an existing user.")
@json_option
@handle_errors
def add(name: str, password_stdin: bool, replace: bool, as_json: bool) -> None:
    """Add user NAME, who can log in to the dashboard with a password."""
    from assay.monitor import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise UsageError("no terminal to ask for a password", hint="pass --password-stdin and pipe the password in")
    add_user(Workspace.open(), name, password, replace=replace)
    emit({"user": name}, as_json, lambda: click.echo(f"User {name} can now log in to the dashboard"))


@user.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """List dashboard users."""
    from assay.monitor import list_users

    found = list_users(Workspace.open())
    emit({"users": found}, as_json, lambda: [click.echo(f"{u['name']}\t{u['created_at'][:19]}") for u in found])


@user.command("remove")
@click.argument("name")
@json_option
@handle_errors
def remove(name: str, as_json: bool) -> None:
    """Remove a dashboard user."""
    from assay.monitor import remove_user

    remove_user(Workspace.open(), name)
    emit({"removed": name}, as_json, lambda: click.echo(f"Removed {name}"))
