"""The lineage graph: nodes are versions, runs and records; edges say how they relate.

Node ids are typed strings: ``version:<id>``, ``run:<id>``, ``record:<id>``.
Edges point from cause to effect: an input version -> the run that read it
(``input_of``), a run -> the version it produced (``produced``), a version -> the
check or drift record that judged it (``judged_by``).

A run whose output was identical to the dataset's latest version made no version: its edge
to that version is ``reproduced``. No walk goes on through it (the version was made earlier,
by another run or an add; the run is neither its cause nor, through it, the cause of what
was built from it): it is shown among a run's outputs, and among the runs of the version
asked about. A ``produced`` edge to a version the run did not make (recorded before such
runs were kept apart) reads as ``reproduced`` too.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from assay._wording import counted
from assay.errors import NotFoundError, UsageError
from assay.ledger import utcnow
from assay.workspace import Workspace

__all__ = ["LineageGraph", "LineageStep", "add_edges", "downstream_versions", "lineage", "resolve_node", "signal_name"]

# The node kinds a user names by id, and the table that holds each one's ids.
_TABLES = {"version": "versions", "run": "runs", "record": "records"}
_IDENT = re.compile(r"[0-9A-Za-z_.\-]{1,128}")
# Relations a walk follows; any other (``reproduced``) is shown, one step, and not followed.
_CAUSAL = frozenset({"input_of", "produced", "judged_by"})
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
    """What :func:`lineage` found around ``root`` (``assay lineage --json`` prints :meth:`to_dict`).

    - ``root``: the full id of the node asked about (``version:<id>``, ``run:<id>`` or ``record:<id>``).
    - ``nodes``: node id -> what is known of it: ``type`` (``version``, ``run``, ``record``) and
      ``label`` always; a version's ``dataset``, ``version``, ``snapshot``, ``created_at`` (ISO 8601,
      UTC), ``by``, ``run_id``; a run's ``kind``, ``status``, ``exit_code`` (``exit_unknown``
      where its command ended but how is not known), ``output_paths`` (where its outputs were
      declared, relative to the workspace), ``started_at``,
      ``ended_at``, ``command``, ``params``, ``env`` (:func:`run_record` gives a run's as a typed record);
      ``missing`` where the node is not in this workspace.
    - ``edges``: ``(src, dst, relation)`` triples, such as ``input_of``, ``produced``, ``reproduced``.
    - ``notes``: what the graph cannot show (a cut at ``depth``, a run recorded elsewhere), in words.
    """

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

    def steps(self) -> list[LineageStep]:
        """The graph as steps in the order the data flowed: each run with its inputs and
        outputs, each check or drift record with the versions it judged. Upstream steps come
        first, farthest from the root first, then the root's own step (a run's or a record's),
        then the downstream ones, nearest first; a step never comes before one that made
        what it read. Ties go by when the step ran, then by label."""
        return _steps(self)

    def to_dot(self) -> str:
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node_id, info in sorted(self.nodes.items()):
            shape = {"version": "box", "run": "ellipse", "record": "note"}.get(info["type"], "box")
            style = ', style=filled, fillcolor="#f4cccc"' if node_id == self.root else ""
            label = info["label"]
            if info["type"] == "run" and not info.get("missing") and info.get("status") != "succeeded":
                # (a failed run made nothing: drawn apart from the runs that did)
                code = info.get("exit_code")
                how = (f", exit {128 - code}" if isinstance(code, int) and code < 0 else
                       f", exit {code}" if code is not None else
                       ", exit status unknown" if info.get("exit_unknown") is True else "")
                label += f" [{'abandoned' if info.get('abandoned') else info.get('status')}{how}]"
                style = ', style="dashed,filled", fillcolor="#f4cccc"' if node_id == self.root else ", style=dashed"
            lines.append(f"  {_q(node_id)} [label={_q(label)}, shape={shape}{style}];")
        for src, dst, relation in self.edges:
            lines.append(f"  {_q(src)} -> {_q(dst)} [label={_q(relation)}];")
        lines.append("}")
        return "\n".join(lines)


@dataclass
class LineageStep:
    """One step of a lineage graph: ``node`` (a run, a record, or, for an edge of a kind this
    version does not know, its source) with the graph's edges into it (``inputs``) and out of
    it (``outputs``; ``reproduced``: versions a run's output was identical to; ``roles``: the
    relation of each of a record's inputs, ``checked_as_candidate``, ``judged_by``...). ``side`` is
    ``up``, ``root`` or ``down``; ``distance``, the fewest edges between ``node`` and the root."""

    node: str
    side: str
    distance: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    reproduced: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # a record's inputs: how each was judged
    relation: str | None = None  # set only for an edge of a kind the steps do not group


_SIDES = {"up": 0, "root": 1, "down": 2}


def _steps(graph: LineageGraph) -> list[LineageStep]:
    steps: dict[str, LineageStep] = {}
    up = _distances(graph, forward=False)
    down = _distances(graph, forward=True)
    built_root = _distances(graph, forward=False, causal=True)

    def step(node: str) -> LineageStep:
        if node not in steps:
            # (a run that read the root and reproduced it is downstream: it did not build it)
            side = ("root" if node == graph.root else "up" if node in built_root or node not in down
                    else "down")
            steps[node] = LineageStep(node, side, {"up": up, "down": down}.get(side, {}).get(node, 0))
        return steps[node]

    for src, dst, relation in graph.edges:
        if relation == "input_of" or dst.startswith("record:"):  # a check's or a drift report's versions
            step(dst).inputs.append(src)
            if relation != "input_of":
                step(dst).roles[src] = relation
        elif relation == "produced":
            step(src).outputs.append(dst)
        elif relation == "reproduced":
            step(src).reproduced.append(dst)
        else:
            odd = step(f"{src} {relation} {dst}")  # (its own step: not a run's nor a record's)
            odd.side, odd.distance = ("up", up.get(src, 0)) if src in up else ("down", down.get(dst, 0))
            odd.inputs, odd.outputs, odd.relation = [src], [dst], relation
    # A step waits for the steps that made what it read (Kahn's order; a cycle, which only a
    # damaged or forged record makes, is broken at the step that would come first).
    makers = {out: node for node, st in steps.items() for out in st.outputs}
    waits = {node: {makers[i] for i in st.inputs if makers.get(i) not in (None, node)} for node, st in steps.items()}
    waited_by: dict[str, list[str]] = {}
    for node, w in waits.items():
        for maker in w:
            waited_by.setdefault(maker, []).append(node)

    def key(node: str) -> tuple[Any, ...]:
        st, info = steps[node], graph.nodes.get(node, {})
        when = info.get("started_at") or info.get("created_at") or ""
        return (_SIDES[st.side], -st.distance if st.side == "up" else st.distance, str(when),
                str(info.get("label", node)), node)

    def label(node: str) -> str:
        return str(graph.nodes.get(node, {}).get("label", node))

    ready = [key(n) for n, w in waits.items() if not w]
    heapq.heapify(ready)
    out: list[LineageStep] = []
    done: set[str] = set()
    while len(out) < len(steps):
        if not ready:  # a cycle
            ready.append(min(key(n) for n in waits if n not in done))
        node = heapq.heappop(ready)[-1]
        if node in done:
            continue
        done.add(node)
        st = steps[node]
        st.inputs.sort(key=label)
        st.outputs.sort(key=label)
        st.reproduced.sort(key=label)
        out.append(st)
        for other in waited_by.get(node, []):
            waits[other].discard(node)
            if not waits[other] and other not in done:
                heapq.heappush(ready, key(other))
    return out


def _distances(graph: LineageGraph, *, forward: bool, causal: bool = False) -> dict[str, int]:
    """The fewest edges from the root to each node downstream (``forward``) or upstream of it,
    through the edges a walk follows (a ``reproduced`` edge is one step, not followed; with
    ``causal``, not taken at all)."""
    nxt: dict[str, list[tuple[str, str]]] = {}
    for src, dst, relation in graph.edges:
        if causal and relation not in _CAUSAL:
            continue
        a, b = (src, dst) if forward else (dst, src)
        nxt.setdefault(a, []).append((b, relation))
    dist = {graph.root: 0}
    queue = deque([graph.root])
    while queue:
        current = queue.popleft()
        for other, relation in nxt.get(current, []):
            if other not in dist:
                dist[other] = dist[current] + 1
                if relation in _CAUSAL:
                    queue.append(other)
    del dist[graph.root]
    return dist


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve_node(ws: Workspace, node: str) -> str:
    """The full id of ``node`` (``run:<id>``, ``record:<id>`` or ``version:<id>``), where the id
    may be a unique prefix of 4 or more characters, such as the 12 that `assay run` prints;
    or the version ``NAME@REF`` (or ``NAME``, its latest) names, as ``version:<id>``.
    An id that names nothing this workspace knows is :class:`NotFoundError`: an empty graph
    would read as "no lineage" when the id is only mistyped."""
    kind, sep, ident = node.partition(":")
    if not sep:  # NAME@REF, or NAME for its latest version: as the command line takes it
        from assay.data import resolve

        return resolve(ws, node).node
    if kind not in _TABLES:
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


def lineage(ws: Workspace, node: str, *, up: bool = True, down: bool = True, depth: int | None = None) -> LineageGraph:
    """The graph reachable from ``node`` upstream and/or downstream: all of it, or with ``depth``
    the nodes at most that many edges away (the graph's notes then say where it was cut).
    ``node`` is what :func:`resolve_node` reads (``NAME@REF``, ``run:<id>`` with a prefix of
    the id, ...); one that names nothing is an error.

    >>> lineage(ws, "features@v1", down=False).edges   # doctest: +SKIP
    [('run:9f2c…', 'version:4d1a…', 'produced'), ('version:77b0…', 'run:9f2c…', 'input_of')]
    """
    if depth is not None and depth < 1:
        raise UsageError(f"depth must be 1 or more, not {depth}", hint="leave it out for the whole graph")
    node = resolve_node(ws, node)
    graph = LineageGraph(root=node)
    seen_edges: set[tuple[str, str, str]] = set()
    makers: dict[str, str | None] = {}
    cut = 0
    for direction, enabled in (("up", up), ("down", down)):
        if not enabled:
            continue
        column = "dst" if direction == "up" else "src"
        queue = deque([(node, 0)])
        visited = {node}  # each node is expanded once: a cycle (in records from elsewhere) ends the walk
        while queue:
            current, d = queue.popleft()
            rows = ws.ledger.query(f"SELECT src, dst, relation FROM edges WHERE {column} = ?", (current,))
            if depth is not None and d >= depth:
                cut += any(_relation(ws, makers, *row) in _CAUSAL for row in rows)
                continue
            for src, dst, relation in rows:
                relation = _relation(ws, makers, src, dst, relation)
                if relation not in _CAUSAL and direction == "up" and current != node:
                    continue  # who else reproduced a version upstream is not how the root was built
                if (src, dst, relation) not in seen_edges:
                    seen_edges.add((src, dst, relation))
                    graph.edges.append((src, dst, relation))
                nxt = src if direction == "up" else dst
                if relation in _CAUSAL and nxt not in visited:
                    visited.add(nxt)
                    queue.append((nxt, d + 1))
    ids = {node} | {s for s, _, _ in graph.edges} | {d for _, d, _ in graph.edges}
    for node_id in ids:
        graph.nodes[node_id] = describe(ws, node_id)
    graph.edges.sort()
    if cut:
        graph.notes.append(f"cut at depth {depth}: {counted(cut, 'node')} there {'has' if cut == 1 else 'have'} more lineage; leave out --depth "
                           "(depth=None) for the whole graph")
    run_id = graph.nodes[node].get("run_id")
    if up and run_id and f"run:{run_id}" not in graph.nodes:
        # e.g. a version pulled from a remote: the run that made it is recorded where it ran
        graph.notes.append(f"{graph.nodes[node]['label']} was made by run {run_id[:12]}, which this workspace "
                           "has no record of: its inputs are not known here")
    root = graph.nodes[node]
    if not graph.edges and root.get("type") == "version" and not root.get("missing"):
        # An empty listing reads as "nothing found", or as a command that did not work.
        made, used, label = not up or bool(run_id), not down, root["label"]
        if not made and not used:
            graph.notes.append(f"no run made {label} (it was added directly), and none has read it; "
                               "nothing judged it")
        elif not made:
            graph.notes.append(f"no run made {label} (it was added directly)")
        elif not used:
            graph.notes.append(f"no run has read {label}, and nothing judged it")
    for info in sorted((i for i in graph.nodes.values() if i.get("pull")), key=lambda i: i["label"]):
        graph.notes.append(f"{info['ref']} was not pulled from {info['remote']}: `{info['pull']}` fetches it "
                           "(if it was pushed there)")
    return graph


def _relation(ws: Workspace, makers: dict[str, str | None], src: str, dst: str, relation: str) -> str:
    """``relation`` as the walk reads it: a ``produced`` edge to a version the run did not make
    (recorded before such runs were kept apart) is ``reproduced``."""
    if relation != "produced" or not dst.startswith("version:"):
        return relation
    if dst not in makers:
        rows = ws.ledger.query("SELECT run_id FROM versions WHERE id = ?", (dst[len("version:"):],))
        makers[dst] = rows[0][0] if rows else src[len("run:"):]  # not here: the record is all there is
    return relation if makers[dst] == src[len("run:"):] else "reproduced"


def describe(ws: Workspace, node_id: str) -> dict[str, Any]:
    kind, _, ident = node_id.partition(":")
    if kind == "version":
        rows = ws.ledger.query("SELECT dataset, number, snapshot, created_at, run_id, meta FROM versions WHERE id = ?",
                               (ident,))
        if rows:
            from assay.data._versions import maker_of

            ds, number, snap, created, run_id, meta = rows[0]
            return {"type": "version", "label": f"{ds}@v{number}", "dataset": ds, "version": f"v{number}", "snapshot": snap,
                    "created_at": created, "by": maker_of(_loads(meta, {})), **({"run_id": run_id} if run_id else {})}
    elif kind == "run":
        rows = ws.ledger.query("SELECT kind, command, params, env, status, exit_code, started_at, ended_at "
                               "FROM runs WHERE id = ?", (ident,))
        if rows:
            rkind, command, params, env, status, code, started, ended = rows[0]
            cmd = _loads(command, [])
            cmd = [str(c) for c in cmd] if isinstance(cmd, list) else []
            params = _loads(params, {})
            info = {"type": "run", "label": _run_label(cmd, params, ident), "kind": rkind, "status": status,
                    "exit_code": code, "started_at": started, "ended_at": ended, "command": cmd, "params": params,
                    "env": _loads(env, {})}
            if isinstance(info["env"], dict):
                # kept there, not the run's environment: see _run._record_failure, data._history
                for key in ("failure", "exit_unknown", "output_paths", "imported", "ledger", "pid", "host_tag"):
                    if key in info["env"]:
                        info[key] = info["env"].pop(key)
                if isinstance(info.get("imported"), dict):
                    info["pulled_from"] = info["imported"].get("remote")
                if status == "running" and _abandoned(ws, info):
                    info["abandoned"] = True
            if isinstance(code, int) and code < 0:  # (as Python reports a child a signal ended)
                info["signal"] = signal_name(-code)
            return info
    elif kind == "record":
        rows = ws.ledger.query("SELECT kind, name, verdict, created_at, body FROM records WHERE id = ?", (ident,))
        if rows:
            rkind, name, verdict, created, body = rows[0]
            info = {"type": "record", "label": f"{rkind} {name}".strip(), "kind": rkind, "verdict": verdict,
                    "created_at": created}
            doc = _loads(body, {}) if '"imported"' in (body or "") else {}
            imported = doc.get("imported") if isinstance(doc, dict) else None
            if isinstance(imported, dict) and isinstance(imported.get("remote"), str):
                info["label"] += f" (from {imported['remote']})"
                info["remote"] = imported["remote"]
            return info
    if kind == "version" and ident:  # made or read elsewhere (a pulled run's record names it)
        from assay.data._history import missing_version_label

        named = missing_version_label(ws, ident)
        if named:
            ref, remote = named
            return {"type": "version", "label": f"{ref} on {remote} (not pulled)", "missing": True, "ref": ref,
                    "remote": remote, "pull": f"assay data pull {ref.split('@')[0]}@{ident[:12]} --remote {remote}"}
        return {"type": "version", "label": f"version {ident[:12]} (not in this workspace)", "missing": True}
    return {"type": kind or "unknown", "label": node_id, "missing": True}


def _abandoned(ws: Workspace, info: dict[str, Any]) -> bool:
    """Whether a run recorded as running was run here, on this machine, by a process that has
    ended (SIGKILL, the OOM killer, a crash: it had no chance to record how the run ended)."""
    from datetime import datetime

    from assay._process import host_tag, writer_gone

    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0 or info.get("ledger") != ws.ledger_id:
        return False
    # This machine, boot and PID namespace (see host_tag): a host name alone is shared by
    # containers (--uts=host) whose process numbers are their own.
    if info.get("host_tag") != host_tag():
        return False  # (another machine's process, or another namespace's: not for this one to judge)
    started = info.get("started_at")
    try:
        when = (started if isinstance(started, datetime) else datetime.fromisoformat(str(started))).timestamp()
    except ValueError:
        when = time.time()  # (not known: only "no such process" says it ended)
    return writer_gone(pid, when)  # (gone, or its number used again by a process started since)


def _run_label(command: list[str], params: Any, ident: str = "") -> str:
    """A run as one short line: its command, and its parameters (``lr=0.1``), each cut to fit;
    the whole of both is in the run's node."""
    text = " ".join(" ".join(command).split())
    if isinstance(params, dict) and params:
        shown = ", ".join(f"{k}={json.dumps(v, default=str) if not isinstance(v, str) else v}" for k, v in params.items())
        shown = " ".join(shown.split())
        text = f"{_cut(text, 60)} ({_cut(shown, 40)})" if text else _cut(shown, 60)
    else:
        text = _cut(text, 80)
    return text or f"run {ident[:8]}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _loads(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:  # a record from elsewhere: shown as it is rather than not at all
        return text


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15, as the platform names it; ``signal 99`` for one it does not know."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def downstream_versions(ws: Workspace, versions: list[Any]) -> list[dict[str, Any]]:
    """Every version built (through runs, transitively) from any of ``versions``: made by a
    run that read one of them or one built from them (not one a run only reproduced)."""
    out: dict[str, dict[str, Any]] = {}
    for v in versions:
        graph = lineage(ws, f"version:{v.id}", up=False, down=True)
        made = {dst for _, dst, relation in graph.edges if relation == "produced"}
        for node_id, info in graph.nodes.items():
            if node_id != graph.root and node_id in made and info.get("type") == "version":
                entry = out.setdefault(node_id, {"ref": info["label"], "built_from": []})
                entry["built_from"].append(v.ref)
    return sorted(out.values(), key=lambda e: e["ref"])
