from __future__ import annotations

from typing import Any

import click

from assay.cli._output import counted, emit, handle_errors, json_option
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
@click.option("--rule", "rules", multiple=True,
              help="Alert rule (repeatable): drift, share>=0.3, column:NAME, rows<100, accuracy<0.9, mae>2.5, rmse>3. Default: drift.")
@click.option("--webhook", "webhooks", multiple=True, help="URL to POST alerts and the ends of their streaks to (repeatable).")
@click.option("--notify", type=click.Choice(["every", "change"]), default="every", show_default=True,
              help="Which alerts the webhooks get: every breaching window's, or only when a rule starts breaching "
                   "(one post for a streak of breaching windows; every alert is still recorded). Either way they get "
                   "one 'resolved' post when a streak ends (a window the rule judged passes).")
@click.option("--prediction", help="The column holding the model's prediction (labels sent later are compared with it).")
@click.option("--task", type=click.Choice(["classification", "regression"]),
              help="How predictions meet labels: accuracy, or MAE and RMSE. Default: classification for a text prediction, regression for a number.")
@click.option("--min-labels", type=click.IntRange(1, 10_000_000), default=50, show_default=True,
              help="Labelled events a window needs before accuracy<X, mae>X or rmse>X rules judge it.")
@json_option
@handle_errors
def create(name: str, reference: str, columns: tuple[str, ...], window: str, rules: tuple[str, ...], webhooks: tuple[str, ...],
           notify: str, prediction: str | None, task: str | None, min_labels: int, as_json: bool) -> None:
    """Create monitor NAME; its reference profile is built once, now.

    Rules: drift, share>=0.3, column:NAME, rows<100 judge each window when it closes;
    accuracy<0.9, mae>2.5, rmse>3 judge the model on the window's ground-truth labels
    (POST /api/v1/monitors/NAME/labels) once --min-labels of them arrived.
    """
    from assay.monitor import create_monitor

    ws = Workspace.open()
    found = create_monitor(ws, name, reference, columns=_split(columns) or None, window=window, rules=list(rules) or None, webhooks=list(webhooks),
                           drift={"prediction": prediction} if prediction else None, task=task, min_labels=min_labels,
                           notify=notify)
    emit(found.to_dict(), as_json, lambda: click.echo(
        f"Created monitor {found.name} on {found.reference}: {counted(len(found.spec.columns), 'column')}, window {found.spec.window.to_text()}, "
        f"rules {', '.join(r.text for r in found.spec.rules)}"
        + (f"; {counted(len(found.spec.webhooks), 'webhook')} {'gets' if len(found.spec.webhooks) == 1 else 'get'} "
           + ("every alert" if found.spec.notify == "every" else "the first alert of each streak") + " and the end of each streak"
           if found.spec.webhooks else "")))


@monitor.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """List monitors."""
    from assay.monitor import list_monitors

    found = list_monitors(Workspace.open())

    def render() -> None:
        for m in found:
            click.echo(f"{m.name}\t{m.reference}\t{m.spec.window.to_text()}\t{counted(m.events, 'event', grouped=True)}\t{counted(m.next_window, 'window')}")

    emit({"monitors": [m.to_dict() for m in found]}, as_json, render)


@monitor.command("show")
@click.argument("name")
@json_option
@handle_errors
def show(name: str, as_json: bool) -> None:
    """Show a monitor, its last windows, alerts and ends of streaks (resolved). Exit 1 when its last window drifted."""
    import sys

    from assay.monitor import get_monitor, list_alerts, list_resolutions, list_windows

    ws = Workspace.open()
    found = get_monitor(ws, name)
    windows = list_windows(ws, found, limit=20)
    alerts = list_alerts(ws, found, limit=20)
    resolved = list_resolutions(ws, found, limit=20)
    doc = {**found.to_dict(), "windows": windows, "alerts": alerts, "resolved": resolved}

    def render() -> None:
        click.echo(f"{found.name} on {found.reference}: {counted(found.events, 'event', grouped=True)}, {counted(found.next_window, 'window')} closed")
        for w in windows:
            click.echo(f"  window {w['window']}: {counted(w['rows'], 'row', grouped=True)}, " + (f"DRIFT in {', '.join(w['drifted'])}" if w["drift"] else "drift not judged" if not w["rows"] else "no drift")
                       + _performance_text(w.get("performance")))
        events = [(a["created_at"], a["window"], "alert", a) for a in alerts] + [(r["created_at"], r["window"], "resolved", r) for r in resolved]
        for _, _, kind, a in sorted(events, key=lambda e: (e[0], e[1]), reverse=True)[:20]:
            since = f" (breaching since window {a['streak_start']})" if kind == "alert" and a["streak_start"] < a["window"] else ""
            click.echo(f"  {kind} {a['created_at'][:19]} window {a['window']} [{a['rule']}] {a['message']}{since}")

    emit(doc, as_json, render)
    if windows and windows[-1]["drift"]:
        sys.exit(1)


def _performance_text(perf: dict | None) -> str:
    if not perf or not perf.get("n"):
        return ""
    if perf["task"] == "classification":
        low, high = perf["accuracy_ci"]
        return f", accuracy {perf['accuracy']:.3f} [{low:.3f}, {high:.3f}] on {perf['n']} labels"
    ci = perf.get("mae_ci")
    interval = f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""
    return f", MAE {perf['mae']:.4g}{interval}, RMSE {perf['rmse']:.4g} on {perf['n']} labels"


@monitor.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Delete without further notice (required: nothing is asked interactively).")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
@json_option
@handle_errors
def delete(name: str, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Delete monitor NAME with its windows, alerts, labels, pending webhook deliveries and events.

    This cannot be undone, so it needs --yes; --dry-run shows what would go. A running
    `assay serve` answers 404 to events for the deleted monitor from then on.
    """
    from assay.errors import UsageError
    from assay.monitor import delete_monitor

    ws = Workspace.open()
    if dry_run or not yes:
        doc = delete_monitor(ws, name, dry_run=True)
        what = _monitor_parts(doc)
        if not dry_run:
            raise UsageError(f"deleting monitor {name!r} removes {what}; it cannot be undone", hint=f"run `assay monitor delete {name} --yes`")
        emit(doc, as_json, lambda: click.echo(f"Would delete monitor {name}: {what}"))
        return
    doc = delete_monitor(ws, name)
    emit(doc, as_json, lambda: click.echo(
        f"Deleted monitor {name}: {_monitor_parts(doc)} dropped"))


def _monitor_parts(doc: dict[str, Any]) -> str:
    return (f"{counted(doc['events'], 'event', grouped=True)}, {counted(doc['windows'], 'window')}, {counted(doc['alerts'], 'alert')}, "
            f"{counted(doc['labels'], 'label')}, {counted(doc['pending_deliveries'], 'pending webhook delivery', 'pending webhook deliveries')}")
