from __future__ import annotations

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.workspace import Workspace


@click.group()
def monitor() -> None:
    """Monitors: watch production data against a dataset version, window by window."""


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@monitor.command("create")
@click.argument("name")
@click.option("--reference", required=True, help="Dataset version to compare with: NAME@REF.")
@click.option("--columns", multiple=True, help="Columns to watch (comma-separated or repeated; default: all).")
@click.option("--window", default="10000rows", show_default=True, help="When a window closes: 10000rows, or a duration such as 15m, 1h, 1d.")
@click.option("--rule", "rules", multiple=True, help="Alert rule (repeatable): drift, share>=0.3, column:NAME, rows<100. Default: drift.")
@click.option("--webhook", "webhooks", multiple=True, help="URL to POST alerts to (repeatable).")
@click.option("--prediction", help="The column holding the model's prediction (labels sent later are compared with it).")
@json_option
@handle_errors
def create(name: str, reference: str, columns: tuple[str, ...], window: str, rules: tuple[str, ...], webhooks: tuple[str, ...],
           prediction: str | None, as_json: bool) -> None:
    """Create monitor NAME; its reference profile is built once, now."""
    from assay.monitor import create_monitor

    ws = Workspace.open()
    found = create_monitor(ws, name, reference, columns=_split(columns) or None, window=window, rules=list(rules) or None, webhooks=list(webhooks),
                           drift={"prediction": prediction} if prediction else None)
    emit(found.to_dict(), as_json, lambda: click.echo(
        f"Created monitor {found.name} on {found.reference}: {len(found.spec.columns)} column(s), window {found.spec.window.to_text()}, "
        f"rules {', '.join(r.text for r in found.spec.rules)}"))


@monitor.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """List monitors."""
    from assay.monitor import list_monitors

    found = list_monitors(Workspace.open())

    def render() -> None:
        for m in found:
            click.echo(f"{m.name}\t{m.reference}\t{m.spec.window.to_text()}\t{m.events} events\t{m.next_window} windows")

    emit({"monitors": [m.to_dict() for m in found]}, as_json, render)


@monitor.command("show")
@click.argument("name")
@json_option
@handle_errors
def show(name: str, as_json: bool) -> None:
    """Show a monitor, its last windows and alerts. Exit 1 when its last window drifted."""
    import sys

    from assay.monitor import get_monitor, list_alerts, list_windows

    ws = Workspace.open()
    found = get_monitor(ws, name)
    windows = list_windows(ws, found, limit=20)
    alerts = list_alerts(ws, found, limit=20)
    doc = {**found.to_dict(), "windows": windows, "alerts": alerts}

    def render() -> None:
        click.echo(f"{found.name} on {found.reference}: {found.events} events, {found.next_window} window(s) closed")
        for w in windows:
            click.echo(f"  window {w['window']}: {w['rows']} rows, " + (f"DRIFT in {', '.join(w['drifted'])}" if w["drift"] else "no drift"))
        for a in alerts:
            click.echo(f"  alert {a['created_at'][:19]} window {a['window']} [{a['rule']}] {a['message']}")

    emit(doc, as_json, render)
    if windows and windows[-1]["drift"]:
        sys.exit(1)
