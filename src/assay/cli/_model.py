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

    ws = Workspace.open()
    rows = _data.list_datasets(ws, kind="model")
    for row in rows:  # the latest version's flavor, and the run that made it (None: registered by hand)
        latest = _data.resolve(ws, f"{row['name']}@latest")
        row["flavor"], row["run_id"] = latest.meta.get("flavor"), latest.run_id

    def render() -> None:
        for r in rows:
            made = f", made by run {r['run_id'][:12]}" if r["run_id"] else ""
            count = f"{r['versions']} version{'s' if r['versions'] != 1 else ''}"
            click.echo(f"{r['name']}  {r['latest']}  ({r['flavor']}{made}; {count})")

    emit({"models": rows}, as_json, render)
