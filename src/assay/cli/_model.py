"""`assay model add NAME PATH --flavor F` and `assay model list [NAME]`."""

from __future__ import annotations

from typing import Any

import click

from assay.cli._output import counted, emit, escaped, handle_errors, json_option, size_text


@click.group()
def model() -> None:
    """Register models as versioned snapshots, so check results link to the exact model."""


@model.command("add")
@click.argument("name")
@click.argument("target", metavar="PATH")
@click.option("--flavor", type=click.Choice(["sklearn", "onnx", "python", "http"]), help="How to call it (default: from the file suffix).")
@click.option("-m", "--message", default="", help="A note stored with the version.")
@click.option("--trust", is_flag=True, help="Allow loading a pickle-based file (.joblib, .pkl), or a skops file with types skops does not trust, to "
                                            "validate it (this command only: `assay check` needs its own --trust).")
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
@click.argument("name", required=False)
@json_option
@handle_errors
def list_command(name: str | None, as_json: bool) -> None:
    """List registered models; with NAME, the versions of model NAME, newest first (NAME@REF: that one)."""
    from assay import data as _data
    from assay.workspace import Workspace

    ws = Workspace.open()
    if name is not None:
        _list_versions(ws, name, as_json)
        return
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


def _list_versions(ws: Any, name: str, as_json: bool) -> None:
    from assay.cli._data import _first_line
    from assay.models import model_versions

    versions = model_versions(ws, name)
    docs = [{**v.to_dict(), "flavor": v.meta.get("flavor")} for v in versions]

    def render() -> None:
        for v in versions:
            run = f"  made by run {v.run_id[:12]}" if v.run_id else ""
            by = f"  by {escaped(v.by)}" if v.by else ""
            click.echo(f"{v.ref:24} {v.id[:12]}  {v.meta.get('flavor')!s:8} {v.snapshot[:12]}  {v.created_at[:19]}  "
                       f"{counted(v.files, 'file')}, {size_text(v.bytes)}  {escaped(_first_line(v.message))}{by}{run}")

    emit({"model": versions[0].dataset if versions else name, "versions": docs}, as_json, render)
