"""`assay lineage`: the graph upstream and downstream of a version or run."""

from __future__ import annotations

import click

from assay.cli._output import emit, handle_errors, json_option
from assay.workspace import Workspace


@click.command()
@click.argument("ref")
@click.option("--up", "direction", flag_value="up", help="Only what REF was built from.")
@click.option("--down", "direction", flag_value="down", help="Only what was built from REF.")
@click.option("--dot", is_flag=True, help="Print Graphviz DOT.")
@json_option
@handle_errors
def lineage(ref: str, direction: str | None, dot: bool, as_json: bool) -> None:
    """Show the lineage of NAME@REF (or run:<id>, record:<id>, version:<id>; an id may be
    shortened to a unique prefix, such as the 12 characters `assay run` prints). An id or a
    version that does not exist exits 2."""
    from assay.lineage import lineage as build

    ws = Workspace.open()
    if ref.split(":", 1)[0] in ("run", "record", "version"):
        node = ref
    else:
        from assay.data import resolve

        node = resolve(ws, ref).node
    graph = build(ws, node, up=direction in (None, "up"), down=direction in (None, "down"))
    node = graph.root  # the full id
    if dot:
        click.echo(graph.to_dot())
        return

    def render() -> None:
        click.echo(f"{graph.nodes[node]['label']}")
        for src, dst, relation in graph.edges:
            click.echo(f"  {graph.nodes[src]['label']}  --{relation}-->  {graph.nodes[dst]['label']}")
        for note in graph.notes:
            click.echo(f"note: {note}", err=True)

    emit(graph, as_json, render)
