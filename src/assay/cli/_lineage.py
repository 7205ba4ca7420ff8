"""`assay lineage`: the graph upstream and downstream of a version or run."""

from __future__ import annotations

import json
from typing import Any

import click

from assay.cli._output import emit, escaped, handle_errors, json_option
from assay.errors import UsageError
from assay.workspace import Workspace


@click.command()
@click.argument("ref")
@click.option("--up", is_flag=True, help="What REF was built from.")
@click.option("--down", is_flag=True, help="What was built from REF.")
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only nodes at most N edges away (a note says where the graph was cut). Default: all.")
@click.option("--dot", is_flag=True, help="Print Graphviz DOT instead of text (not with --json).")
@json_option
@handle_errors
def lineage(ref: str, up: bool, down: bool, depth: int | None, dot: bool, as_json: bool) -> None:
    """Show the lineage of NAME@REF (or run:<id>, record:<id>, version:<id>; an id may be
    shortened to a unique prefix, such as the 12 characters `assay run` prints). With
    neither --up nor --down, or with both, both directions are shown. A run shows its
    whole record: command, parameters, environment, status (and why, when its outputs failed
    it) and times. An id or a version that does not exist exits 2.

    The text lists the steps in the order the data flowed, upstream (farthest first), then
    downstream (nearest first): each run as INPUTS --> RUN --> OUTPUTS, each check or drift
    record as the versions it judged --> the record. An output marked "(reproduced)" was
    identical to an existing version, so the run made none: the version was made earlier,
    and is not built from that run's inputs.
    """
    from assay.lineage import lineage as build

    if dot and as_json:
        raise UsageError("--dot and --json are two formats of the same graph: choose one",
                         hint="--json for a document with the nodes' details, --dot for Graphviz")
    ws = Workspace.open()
    both = up == down
    graph = build(ws, ref, up=up or both, down=down or both, depth=depth)
    node = graph.root  # the full id
    if dot:
        click.echo(graph.to_dot())
        for note in graph.notes:
            click.echo(f"note: {note}", err=True)
        return

    def render() -> None:
        info = graph.nodes[node]
        click.echo(_shown(node, info) + (f"  (by {info['by']})" if info.get("by") else ""))
        side = None
        for step in graph.steps():
            if step.side != side:
                side = step.side
                click.echo({"up": "upstream:", "down": "downstream:"}.get(side, f"this {info.get('type')}:"))
            click.echo(f"  {_step(step, graph.nodes)}")
        if info.get("type") == "run":
            _render_run(node, info, graph)
        for note in graph.notes:
            click.echo(f"note: {note}", err=True)

    emit(graph, as_json, render)


_ROLES = {"checked_as_candidate": "candidate", "checked_as_baseline": "baseline", "checked_on": "data"}


def _step(step: Any, nodes: dict[str, dict[str, Any]]) -> str:
    """A step on one line, as the data flowed: ``inputs  -->  run  -->  outputs``."""
    def shown(ids: list[str]) -> str:
        return ", ".join(_shown(i, nodes[i]) for i in ids)

    if step.relation is not None:  # an edge of a kind this version does not know
        return f"{shown(step.inputs)}  --{step.relation}-->  {shown(step.outputs)}"
    if step.roles:  # a check's candidate, baseline and data
        ins = ", ".join(_shown(i, nodes[i]) + (f" as {_ROLES.get(step.roles[i], step.roles[i])}"
                                               if step.roles.get(i, "judged_by") != "judged_by" else "")
                        for i in step.inputs)
        return f"{ins}  -->  {_shown(step.node, nodes[step.node])}"
    made = [_shown(i, nodes[i]) for i in step.outputs] + [f"{_shown(i, nodes[i])} (reproduced)" for i in step.reproduced]
    return "  -->  ".join(part for part in (shown(step.inputs), _shown(step.node, nodes[step.node]), ", ".join(made))
                          if part)


def _shown(node_id: str, info: dict[str, Any]) -> str:
    """A node in the text listing: a run with its id and how it ended, a check or drift
    record with its verdict and id (runs of one command, or checks of one suite, are told
    apart; ``--json`` has every field)."""
    ident = node_id.partition(":")[2][:12]
    if info.get("type") == "run" and not info.get("missing"):
        return f"{info['label']}  [run {ident}, {'abandoned' if info.get('abandoned') else info.get('status')}]"
    if info.get("type") == "record" and not info.get("missing"):
        # a stored drift profile has no verdict: its id alone
        return f"{info['label']}  [{info['verdict']}, {ident}]" if info.get("verdict") else f"{info['label']}  [{ident}]"
    return str(info["label"])


def _render_run(node: str, info: dict[str, Any], graph: Any) -> None:
    """A run's whole record, after its edges."""
    import shlex

    command = info.get("command") or []
    code = info.get("exit_code")
    if info.get("signal"):  # recorded as Python reports it (-N); said as a shell would
        status = f"{info.get('status')} (exit {128 - code}, {info['signal']})"
    elif info.get("abandoned"):
        env = info.get("env") if isinstance(info.get("env"), dict) else {}
        status = (f"abandoned: recorded as running, but its process ({info.get('pid')} on {env.get('hostname')}) "
                  "has ended without recording how the run ended (killed, or the machine stopped)")
    elif code is None and info.get("exit_unknown") is True:  # (its command was reaped before it could be read)
        status = f"{info.get('status')} (exit status unknown)"
    else:
        status = f"{info.get('status')}" + (f" (exit {code})" if code is not None else "")
    env = info.get("env") if isinstance(info.get("env"), dict) else {}
    lines = [
        ("run", node.partition(":")[2]),
        ("kind", info.get("kind")),
        ("command", shlex.join(command) if isinstance(command, list) else str(command)),
        ("params", json.dumps(info.get("params"), sort_keys=True, default=str) if info.get("params") else None),
        ("status", status),
        ("failure", info.get("failure")),
        ("pulled from", f"remote {info['pulled_from']} (the run ran in another workspace)" if info.get("pulled_from") else None),
        ("started", info.get("started_at")),
        ("ended", info.get("ended_at")),
        ("environment", ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or None),
    ]
    for relation, label in (("input_of", "inputs"), ("produced", "outputs"), ("reproduced", "reproduced")):
        ends = sorted(graph.nodes[s if relation == "input_of" else d]["label"] for s, d, r in graph.edges
                      if r == relation and (d if relation == "input_of" else s) == node)
        lines.append((label, ", ".join(ends) or None))
    click.echo("record:")
    for key, value in lines:
        if value not in (None, ""):  # one line each: a value with a line break (from a remote's record) is escaped
            text = escaped(str(value)).replace("\n", "\\n")
            click.echo(f"  {key + ':':<13}{text}")
