"""The lineage graph: nodes are versions, runs and records; edges say how they relate.

Node ids are typed strings: ``version:<id>``, ``run:<id>``, ``record:<id>``.
Edges point from cause to effect: an input version -> the run that read it
(``input_of``), a run -> the version it produced (``produced``), a version -> the
check or drift record that judged it (``judged_by``).
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from assay.errors import NotFoundError, UsageError
from assay.ledger import utcnow
from assay.workspace import Workspace

__all__ = ["LineageGraph", "add_edges", "downstream_versions", "lineage", "resolve_node"]

# The node kinds a user names by id, and the table that holds each one's ids.
_TABLES = {"version": "versions", "run": "runs", "record": "records"}
_IDENT = re.compile(r"[0-9A-Za-z_.\-]{1,128}")
_HINTS = {
    "run": "`assay run` prints a run's id (its first 12 characters are enough); `assay data log NAME` names "
           "the run that made each version",
    "record": "`assay check log` lists check results; a drift report's id is its record_id in `--json`",
    "version": "name a version as NAME@v3 instead; `assay data log NAME` lists them",
}


def add_edges(tx: Any, edges: list[tuple[str, str, str]]) -> None:
    now = utcnow()
    for src, dst, relation in edges:
        tx.execute(
            "INSERT INTO edges (src, dst, relation, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (src, dst, relation, now),
        )


@dataclass
class LineageGraph:
    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the graph cannot show, said in words

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [{"id": k, **v} for k, v in sorted(self.nodes.items())],
            "edges": [{"src": s, "dst": d, "relation": r} for s, d, r in self.edges],
            "notes": list(self.notes),
        }

    def to_dot(self) -> str:
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node_id, info in sorted(self.nodes.items()):
            shape = {"version": "box", "run": "ellipse", "record": "note"}.get(info["type"], "box")
            style = ', style=filled, fillcolor="#f4cccc"' if node_id == self.root else ""
            lines.append(f"  {_q(node_id)} [label={_q(info['label'])}, shape={shape}{style}];")
        for src, dst, relation in self.edges:
            lines.append(f"  {_q(src)} -> {_q(dst)} [label={_q(relation)}];")
        lines.append("}")
        return "\n".join(lines)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve_node(ws: Workspace, node: str) -> str:
    """The full id of ``node`` (``run:<id>``, ``record:<id>`` or ``version:<id>``), where the id
    may be a unique prefix of 4 or more characters, such as the 12 that `assay run` prints.
    An id that names nothing this workspace knows is :class:`NotFoundError`: an empty graph
    would read as "no lineage" when the id is only mistyped."""
    kind, sep, ident = node.partition(":")
    if not sep or kind not in _TABLES:
        raise UsageError(f"cannot read the node {node!r}",
                         hint="use run:<id>, record:<id> or version:<id> (or NAME@REF for a dataset version)")
    if not _IDENT.fullmatch(ident):
        raise UsageError(f"{node!r} has no valid id after '{kind}:'", hint=_HINTS[kind])
    table = _TABLES[kind]
    if ws.ledger.query(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)):
        return node
    rows = [] if len(ident) < 4 else ws.ledger.query(
        f"SELECT id FROM {table} WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2", (len(ident), ident))
    if len(rows) > 1:
        raise UsageError(f"{node} is ambiguous: more than one {kind} id starts with {ident!r}",
                         hint="give more characters of the id")
    if rows:
        return f"{kind}:{rows[0][0]}"
    if ws.ledger.query("SELECT 1 FROM edges WHERE src = ? OR dst = ? LIMIT 1", (node, node)):
        return node  # known to the graph though its row is not here
    raise NotFoundError(f"no {kind} with id {ident!r} in this workspace", hint=_HINTS[kind])


def lineage(ws: Workspace, node: str, *, up: bool = True, down: bool = True, depth: int = 50) -> LineageGraph:
    """The graph reachable from ``node`` upstream and/or downstream; ``node`` may name its id
    by a unique prefix (see :func:`resolve_node`), and one that names nothing is an error."""
    node = resolve_node(ws, node)
    graph = LineageGraph(root=node)
    seen_edges: set[tuple[str, str, str]] = set()
    for direction, enabled in (("up", up), ("down", down)):
        if not enabled:
            continue
        queue = deque([(node, 0)])
        visited = {node}
        while queue:
            current, d = queue.popleft()
            if d >= depth:
                continue
            column, other = ("dst", "src") if direction == "up" else ("src", "dst")
            rows = ws.ledger.query(f"SELECT src, dst, relation FROM edges WHERE {column} = ?", (current,))
            for src, dst, relation in rows:
                if (src, dst, relation) not in seen_edges:
                    seen_edges.add((src, dst, relation))
                    graph.edges.append((src, dst, relation))
                nxt = src if other == "src" else dst
                if nxt not in visited:
                    visited.add(nxt)
                    queue.append((nxt, d + 1))
    ids = {node} | {s for s, _, _ in graph.edges} | {d for _, d, _ in graph.edges}
    for node_id in ids:
        graph.nodes[node_id] = describe(ws, node_id)
    graph.edges.sort()
    run_id = graph.nodes[node].get("run_id")
    if up and run_id and f"run:{run_id}" not in graph.nodes:
        # e.g. a version pulled from a remote: the run that made it is recorded where it ran
        graph.notes.append(f"{graph.nodes[node]['label']} was made by run {run_id[:12]}, which this workspace "
                           "has no record of: its inputs are not known here")
    return graph


def describe(ws: Workspace, node_id: str) -> dict[str, Any]:
    kind, _, ident = node_id.partition(":")
    if kind == "version":
        rows = ws.ledger.query("SELECT dataset, number, snapshot, created_at, run_id FROM versions WHERE id = ?", (ident,))
        if rows:
            ds, number, snap, created, run_id = rows[0]
            return {"type": "version", "label": f"{ds}@v{number}", "dataset": ds, "version": f"v{number}", "snapshot": snap,
                    "created_at": created, **({"run_id": run_id} if run_id else {})}
    elif kind == "run":
        rows = ws.ledger.query("SELECT kind, command, status, exit_code, started_at FROM runs WHERE id = ?", (ident,))
        if rows:
            rkind, command, status, code, started = rows[0]
            cmd = json.loads(command or "[]")
            text = " ".join(" ".join(str(c) for c in cmd).split()) if isinstance(cmd, list) else ""
            label = (text[:57] + "...") if len(text) > 60 else (text or f"run {ident[:8]}")
            return {"type": "run", "label": label, "kind": rkind, "status": status, "exit_code": code, "started_at": started}
    elif kind == "record":
        rows = ws.ledger.query("SELECT kind, name, verdict, created_at FROM records WHERE id = ?", (ident,))
        if rows:
            rkind, name, verdict, created = rows[0]
            return {"type": "record", "label": f"{rkind} {name}".strip(), "kind": rkind, "verdict": verdict, "created_at": created}
    return {"type": kind or "unknown", "label": node_id, "missing": True}


def downstream_versions(ws: Workspace, versions: list[Any]) -> list[dict[str, Any]]:
    """Every version built (through runs, transitively) from any of ``versions``."""
    out: dict[str, dict[str, Any]] = {}
    for v in versions:
        graph = lineage(ws, f"version:{v.id}", up=False, down=True)
        for node_id, info in graph.nodes.items():
            if node_id != graph.root and info.get("type") == "version":
                entry = out.setdefault(node_id, {"ref": info["label"], "built_from": []})
                entry["built_from"].append(v.ref)
    return sorted(out.values(), key=lambda e: e["ref"])
