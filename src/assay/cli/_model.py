"""`assay model add NAME PATH --flavor F` and `assay model list`."""

from __future__ import annotations

import click

from assay.cli._output import emit, handle_errors, json_option


@click.group()
def model() -> None:
    """Register models as versioned snapshots, so check results link to the exact model."""


@model.command("add")
@click.argument("name")
@click.argument("target", metavar="PATH")
@click.option("--flavor", type=click.Choice(["sklearn", "onnx", "python", "http"]), help="How to call it (default: from the file suffix).")
@click.option("-m", "--message", default="", help="A note stored with the version.")
@click.option("--trust", is_flag=True, help="Allow loading a pickle-based file (.joblib, .pkl) to validate it.")
@json_option
@handle_errors
def add_command(name: str, target: str, flavor: str | None, message: str, trust: bool, as_json: bool) -> None:
    """Register PATH (a model file, module:function or URL) as the next version of model NAME.

    A model registered here has no lineage. To record what it was trained on, let the
    training command register it: `assay run --in DATA@vN --model NAME=PATH -- CMD`.
    """
    from assay.models import register_model
    from assay.workspace import Workspace

    result = register_model(Workspace.open(), name, target, flavor=flavor, message=message, trust=trust)
    v = result.version
    doc = {"name": name, "version": f"v{v.number}", "ref": v.ref, "id": v.id, "snapshot": v.snapshot,
           "flavor": v.meta.get("flavor"), "created": result.created}
    emit(doc, as_json, lambda: click.echo(f"{'registered' if result.created else 'unchanged'} {v.ref} ({doc['flavor']}, {v.snapshot[:12]})"))


@model.command("list")
@json_option
@handle_errors
def list_command(as_json: bool) -> None:
    """List registered models."""
    from assay import data as _data
    from assay.workspace import Workspace

    rows = _data.list_datasets(Workspace.open(), kind="model")
    emit({"models": rows}, as_json, lambda: [click.echo(f"{r['name']}  {r['latest']}  ({r['versions']} versions)") for r in rows])
