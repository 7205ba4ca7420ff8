"""The history that travels with versions on a remote: the record of each run that made or
reproduced one (``runs/ID.json``; a run that reproduced a version is filed under it as
``reproduced/VERSION/RUN``) and of each check or drift report that judged one
(``records/VERSION/ID.json``: one copy under each version the record names). A push or pull
of a few versions lists only those versions' folders; of many, each prefix once.

A remote is not trusted to rewrite what this workspace knows. What it says is recorded only
where it fits what is here:

- A run recorded here (its ``env`` names this ledger) made the versions its ``produced``
  edges say; a pulled version that names it as its maker is recorded without a maker.
- A run learned from a remote made the versions its record listed when it was first read
  (kept in ``env["imported"]``, with the remote's name for each version it read or made, so
  that lineage can name a version that was never pulled, and a push of the run sends what
  it made whether or not those versions are here).
- A run recorded by an assay that did not yet mark its runs is taken as before: a pulled
  version that names it is joined to it.
- A check or drift record from a remote is kept with ``"imported"`` in its body (the remote,
  and the name there of each version it judged); `assay check log` says where it came from.
  Its verdict is read from its body, and a check's edges are the versions its body names.
  One that does not read as its kind (a check result that some reader could not show) is
  skipped, with a note.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from assay.data._versions import valid_name
from assay.errors import AssayError

if TYPE_CHECKING:
    from assay.data._versions import Version
    from assay.store import ObjectStore
    from assay.workspace import Workspace

__all__ = ["RUN_ID", "damaged_reproduced", "damaged_run_records", "import_reproducers", "import_runs",
           "missing_version_label", "read_run_record", "reproduced_markers", "run_origin", "write_runs"]

RUN_ID = re.compile(r"[0-9a-f]{32}")  # run, version and record ids alike; used with fullmatch
_MAX_RECORD = 64 << 20  # bytes: a run's or check's record is JSON; more is no record's
_BATCH = 500  # ids in one IN (...) query
_FEW = 32  # versions (runs): up to this many, each one's folder (record) is looked for; more, the whole prefix listed once
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- runs --------------------------------------------------------------------------------

def write_runs(ws: Workspace, store: ObjectStore, versions: list[Version], *, again: set[str] | None = None,
               notes: list[str] | None = None) -> list[str]:
    """The record of each run that made or reproduced a version being pushed (``runs/ID.json``:
    its command, environment, status, and the versions it read, made and reproduced, by id),
    so that a workspace that pulls the version also learns where it came from. A record
    already there is written again only if its run is in ``again`` (a repair's). The runs
    written; with ``notes``, one that cannot be written is said there instead of raised."""
    reproducers = _reproducers(ws, versions)  # (run id, version id): a run that reproduced one of them
    run_ids = sorted({v.run_id for v in versions if v.run_id and RUN_ID.fullmatch(v.run_id)} | (again or set())
                     | {r for r, _ in reproducers})
    if not run_ids:
        return []
    there = _runs_there(store, run_ids)
    written = []
    for run_id in run_ids:
        try:
            if _write_run(ws, store, run_id, there, again):
                written.append(run_id)
        except OSError as exc:  # e.g. a folder where the record goes (a refusal of the remote's own stands)
            if notes is None:
                raise
            notes.append(f"could not send the record of run {run_id[:12]}: {exc}")
    if reproducers:  # each filed under the version it reproduced, after its record
        marked = _listed(store, "reproduced", sorted({v for _, v in reproducers}))
        for run_id, version_id in sorted(reproducers):
            key = f"reproduced/{version_id}/{run_id}"
            if key not in marked and f"runs/{run_id}.json" in there:
                try:
                    store.put_bytes(key, b"")
                except OSError as exc:  # as for its record, above
                    if notes is None:
                        raise
                    notes.append(f"could not file run {run_id[:12]} as one that reproduced {version_id[:12]}: {exc}")
    return written


def _write_run(ws: Workspace, store: ObjectStore, run_id: str, there: set[str], again: set[str] | None) -> bool:
    """Write ``runs/RUN_ID.json`` unless it is ``there`` (and not to be written ``again``), or
    this workspace has no record of the run to send; whether it was written (and is ``there``
    now)."""
    key = f"runs/{run_id}.json"
    if key in there and run_id not in (again or ()):
        return False
    rows = ws.ledger.query("SELECT kind, command, params, env, status, exit_code, started_at, ended_at "
                           "FROM runs WHERE id = ?", (run_id,))
    if not rows:
        return False  # pulled without its run record: nothing known here to send
    kind, command, params, env, status, exit_code, started, ended = rows[0]
    node = f"run:{run_id}"
    env_doc = _loads(env)
    imported = env_doc.pop("imported", None)  # this workspace's note of where it learned of the run
    imported = imported if isinstance(imported, dict) else {}
    inputs = [r[0] for r in ws.ledger.query("SELECT src FROM edges WHERE dst = ? AND relation = 'input_of'", (node,))]
    out = ws.ledger.query("SELECT dst, relation FROM edges WHERE src = ? AND relation IN ('produced', 'reproduced')",
                          (node,))
    # a run learned from a remote made what its record said, here or not
    made = {d for d, r in out if r == "produced"} | {f"version:{v}" for v in imported.get("outputs") or []
                                                      if isinstance(v, str) and RUN_ID.fullmatch(v)}
    refs = imported.get("refs") if isinstance(imported.get("refs"), dict) else {}
    doc = {"id": run_id, "kind": kind, "command": json.loads(command or "[]"), "params": json.loads(params or "{}"),
           "env": env_doc, "status": status, "exit_code": exit_code, "started_at": started, "ended_at": ended,
           "inputs": _labelled(ws, inputs, refs), "outputs": _labelled(ws, sorted(made), refs),
           "reproduced": _labelled(ws, [d for d, r in out if r == "reproduced"], refs)}
    store.put_bytes(key, json.dumps(doc, indent=1, default=str).encode())
    there.add(key)
    return True


def _reproducers(ws: Workspace, versions: list[Version]) -> set[tuple[str, str]]:
    """``(run id, version id)`` for each run that reproduced one of ``versions`` (its output was
    identical to that version, so it made none)."""
    rows = _in_batches(ws, "SELECT src, dst FROM edges WHERE relation = 'reproduced' AND dst IN ({})",
                       [v.node for v in versions])
    return {(src[len("run:"):], dst[len("version:"):]) for src, dst in rows if RUN_ID.fullmatch(src[len("run:"):])}


def read_run_record(store: ObjectStore, run_id: str) -> dict[str, Any] | None:
    """The remote's record of run ``run_id`` if it reads as one (the shape :func:`write_runs`
    writes, naming that run); None if it is missing or damaged."""
    doc = _read_json(store, f"runs/{run_id}.json")
    ok = (isinstance(doc, dict) and doc.get("id") == run_id
          and all(isinstance(doc.get(f), str) and len(doc[f]) <= 64 and not _CONTROL.search(doc[f])
                  for f in ("kind", "status"))
          and _utc_time(doc.get("started_at")) is not None
          and (doc.get("ended_at") is None or _utc_time(doc["ended_at"]) is not None)
          and all(isinstance(doc.get(f), list) for f in ("inputs", "outputs", "command"))
          and isinstance(doc.get("reproduced", []), list))
    if not ok:
        return None
    doc.setdefault("reproduced", [])  # (records written before reproducing runs travelled)
    return doc


def damaged_run_records(store: ObjectStore, versions: list[Version]) -> list[str]:
    """The run records on a remote, of runs that made ``versions`` or are filed as having
    reproduced one, that are there but that a pull skips: they do not read as their run, or
    name what is not a version (a missing one is no damage: remotes pushed before records
    travelled have none; a reproducing run's is, see :func:`damaged_reproduced`)."""
    filed = {run_id for _, _, run_id in reproduced_markers(store, [v.id for v in versions])}
    run_ids = sorted({v.run_id for v in versions if v.run_id and RUN_ID.fullmatch(v.run_id)} | filed)
    there = _runs_there(store, run_ids)
    return [r for r in run_ids if f"runs/{r}.json" in there and _run_problem(read_run_record(store, r))]


def damaged_reproduced(store: ObjectStore, version_ids: list[str] | None) -> list[tuple[str, str]]:
    """``(key, why)`` of each marker on a remote, filed under one of ``version_ids`` (None: any),
    of a run that reproduced that version, which a pull cannot take: its run's record is missing
    (a push writes the record first), or reads but does not list that version as one it
    reproduced. (A record there that does not read is :func:`damaged_run_records`'s.)"""
    markers = reproduced_markers(store, version_ids)
    there = _runs_there(store, sorted({r for _, _, r in markers}))
    out = []
    for key, version_id, run_id in markers:
        if f"runs/{run_id}.json" not in there:
            out.append((key, f"names run {run_id[:12]}, whose record runs/{run_id}.json is not on the remote"))
            continue
        doc = read_run_record(store, run_id)
        if not _run_problem(doc) and f"version:{version_id}" not in {e["node"] for e in doc["reproduced"]}:
            out.append((key, f"the record of its run, runs/{run_id}.json, does not list version {version_id[:12]} "
                             "as one it reproduced"))
    return out


def reproduced_markers(store: ObjectStore, version_ids: list[str] | None) -> list[tuple[str, str, str]]:
    """``(key, version id, run id)`` of each reproducing run's marker on a remote (filed under
    one of ``version_ids``, or any)."""
    out = []
    for key in sorted(_listed(store, "reproduced", version_ids)):
        parts = key[len("reproduced/"):].split("/")
        if len(parts) == 2 and RUN_ID.fullmatch(parts[0]) and RUN_ID.fullmatch(parts[1]):
            out.append((key, parts[0], parts[1]))
    return out


def _run_problem(doc: dict[str, Any] | None) -> str | None:
    """Why a pull skips a run record :func:`read_run_record` gave (None: it takes it)."""
    if doc is None:
        return "is missing or damaged"
    nodes = [e.get("node") if isinstance(e, dict) else None for e in doc["inputs"] + doc["outputs"] + doc["reproduced"]]
    if not all(isinstance(n, str) and n.startswith("version:") and RUN_ID.fullmatch(n[len("version:"):]) for n in nodes):
        return "names versions it cannot"
    return None


def _runs_there(store: ObjectStore, run_ids: list[str]) -> set[str]:
    """The keys of ``run_ids``'s records on a remote: each looked for when they are few, else
    the whole ``runs/`` prefix listed once."""
    if len(run_ids) <= _FEW:
        return {key for r in run_ids if store.exists(key := f"runs/{r}.json")}
    return set(store.list("runs/"))


def _labelled(ws: Workspace, nodes: Iterable[str], refs: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Each version node with its name here, else the one ``refs`` (a remote's) gave it."""
    out = []
    for node in sorted(nodes):
        if node.startswith("version:"):
            ident = node[len("version:"):]
            ref = _ref_here(ws, ident) or (refs or {}).get(ident)
            out.append({"node": node, "ref": ref if _is_ref(ref) else ""})
    return out


def _ref_here(ws: Workspace, version_id: str) -> str | None:
    rows = ws.ledger.query("SELECT dataset, number FROM versions WHERE id = ?", (version_id,))
    return f"{rows[0][0]}@v{rows[0][1]}" if rows else None


def _is_ref(value: Any) -> bool:
    """Whether ``value`` is a version's name as a remote may give it: ``NAME@vN``."""
    if not isinstance(value, str):
        return False
    name, _, number = value.rpartition("@v")
    return valid_name(name) and number.isdigit() and len(number) <= 18


def run_origin(env: Any, ledger_id: str) -> str:
    """Where a run was recorded: ``here`` (this ledger's own run), ``imported`` (learned from a
    remote), or ``unknown`` (recorded by an assay that did not mark its runs)."""
    if not isinstance(env, dict):
        return "unknown"
    if isinstance(env.get("imported"), dict):
        return "imported"
    return "here" if env.get("ledger") == ledger_id else "unknown"


def import_runs(ws: Workspace, store: ObjectStore, remote: str, run_ids: set[str], notes: list[str]) -> None:
    """Record the runs that made pulled versions, from the remote's run records: the run and
    its edges (the versions it read and made, by id, whether or not they are here). A record
    that is missing or does not read is skipped, with a note. A pulled version that names as
    its maker a run that did not make it (by what is known here of that run) is recorded
    without a maker, with a note."""
    from assay.lineage._graph import add_edges

    for run_id in sorted(run_ids):
        if not RUN_ID.fullmatch(run_id):
            continue
        node = f"run:{run_id}"
        claimed = {r[0] for r in ws.ledger.query("SELECT id FROM versions WHERE run_id = ?", (run_id,))}
        rows = ws.ledger.query("SELECT env FROM runs WHERE id = ?", (run_id,))
        doc, origin = None, "remote"
        if rows:  # known here (its own run, or from an earlier pull of another of its outputs)
            env = _loads(rows[0][0])
            origin = run_origin(env, ws.ledger_id)
            if origin == "here":
                made = {r[0][len("version:"):] for r in ws.ledger.query(
                    "SELECT dst FROM edges WHERE src = ? AND relation = 'produced'", (node,))}
            elif origin == "imported":
                made = {v for v in env["imported"].get("outputs") or [] if isinstance(v, str)}
            else:
                made = claimed
        else:
            doc = _readable_run(store, run_id, notes)
            if doc is None:
                continue
            made = {e["node"][len("version:"):] for e in doc["outputs"]}
        wrong = claimed - made
        with ws.ledger.transaction() as tx:
            if doc is not None:
                _insert_run(tx, doc, remote)
            add_edges(tx, [(node, f"version:{v}", "produced") for v in sorted(claimed & made)])
            for version_id in sorted(wrong):
                tx.execute("UPDATE versions SET run_id = NULL WHERE id = ?", (version_id,))
        if wrong:
            named = ", ".join(sorted(_ref_here(ws, v) or v[:12] for v in wrong))
            why = ("a run of this workspace's that did not make it" if origin == "here"
                   else "a run whose record does not list it among what it made")
            notes.append(f"remote {remote} says {named} was made by run {run_id[:12]}, {why}: "
                         "recorded here without the run that made it")


def import_reproducers(ws: Workspace, store: ObjectStore, remote: str, notes: list[str],
                       version_ids: list[str] | None = None) -> None:
    """Record the runs on the remote that reproduced a version this workspace has (of
    ``version_ids``, or of any) and that it does not know yet: the run, what it read, and the
    versions it reproduced."""
    filed: dict[str, set[str]] = {}  # run id -> the versions it is filed under
    for _, version_id, run_id in reproduced_markers(store, version_ids):
        filed.setdefault(run_id, set()).add(version_id)
    if not filed:
        return
    here = _present(ws, "versions", {v for vs in filed.values() for v in vs})
    wanted = sorted(r for r, vs in filed.items() if vs & here)
    known = _present(ws, "runs", wanted)
    for run_id in wanted:
        if run_id in known:
            continue
        doc = _readable_run(store, run_id, notes)
        if doc is None:
            continue
        if not filed[run_id] & here & {e["node"][len("version:"):] for e in doc["reproduced"]}:
            notes.append(f"the record of run {run_id[:12]} on the remote does not list the version it is filed "
                         "under as one it reproduced: skipped")
            continue
        with ws.ledger.transaction() as tx:
            _insert_run(tx, doc, remote)


def _readable_run(store: ObjectStore, run_id: str, notes: list[str]) -> dict[str, Any] | None:
    """The remote's record of run ``run_id``, if it reads and names only versions; else None,
    with a note."""
    doc = read_run_record(store, run_id)
    problem = _run_problem(doc)
    if problem is None:
        return doc
    notes.append(f"the record of run {run_id[:12]} is missing or damaged on the remote: its lineage is not known here"
                 if doc is None else f"the record of run {run_id[:12]} on the remote {problem}: skipped")
    return None


def _insert_run(tx: Any, doc: dict[str, Any], remote: str) -> None:
    """Record a run learned from ``remote`` (its record ``doc``, read by :func:`_readable_run`):
    the run, marked as imported with what it made and the remote's name for each version it
    names, the versions it read, and those it reproduced. What it made is joined to it by the
    caller, version by version, as each is here."""
    from assay.ledger import utcnow
    from assay.lineage._graph import add_edges

    node = f"run:{doc['id']}"
    env = doc.get("env") if isinstance(doc.get("env"), dict) else {}
    named = doc["inputs"] + doc["outputs"] + doc["reproduced"]
    env["imported"] = {"remote": remote, "at": utcnow(), "outputs": sorted(e["node"][len("version:"):] for e in doc["outputs"]),
                       "refs": {e["node"][len("version:"):]: e["ref"] for e in named if _is_ref(e.get("ref"))}}
    exit_code = doc.get("exit_code")
    tx.execute(
        "INSERT INTO runs (id, kind, command, params, env, status, exit_code, started_at, ended_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (doc["id"], doc["kind"], json.dumps(doc["command"]), json.dumps(doc.get("params") or {}), json.dumps(env),
         doc["status"], exit_code if type(exit_code) is int and -(1 << 31) <= exit_code < 1 << 31 else None,
         _utc_time(doc["started_at"]), _utc_time(doc.get("ended_at"))),
    )
    add_edges(tx, [(e["node"], node, "input_of") for e in doc["inputs"]]
              + [(node, e["node"], "reproduced") for e in doc["reproduced"]])


def _listed(store: ObjectStore, folder: str, version_ids: list[str] | None) -> set[str]:
    """The keys under ``folder/`` on a remote: under each of ``version_ids``'s folders when they
    are few (or given as None: all of them)."""
    if version_ids is not None and len(version_ids) <= _FEW:
        return {k for v in version_ids if RUN_ID.fullmatch(v) for k in store.list(f"{folder}/{v}/")}
    return set(store.list(f"{folder}/"))


def missing_version_label(ws: Workspace, version_id: str) -> tuple[str, str] | None:
    """``(NAME@vN, remote)``: the name a remote gave a version this workspace does not have,
    as a run or record learned from that remote named it; None if none did."""
    node = f"version:{version_id}"
    for src, dst in ws.ledger.query("SELECT src, dst FROM edges WHERE src = ? OR dst = ?", (node, node)):
        other = dst if src == node else src
        kind, _, ident = other.partition(":")
        if kind not in ("run", "record"):
            continue
        rows = ws.ledger.query(f"SELECT {'env' if kind == 'run' else 'body'} FROM {kind}s WHERE id = ?", (ident,))
        imported = _loads(rows[0][0]).get("imported") if rows else None
        if isinstance(imported, dict) and isinstance(imported.get("refs"), dict):
            ref = imported["refs"].get(version_id)
            if _is_ref(ref):
                return ref, str(imported.get("remote", ""))
    return None


def _in_batches(ws: Workspace, sql: str, ids: Iterable[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (whose ``{}`` is an ``IN`` list) over ``ids``, a batch at a time."""
    ids = sorted(ids)
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), _BATCH):
        batch = ids[start:start + _BATCH]
        rows += ws.ledger.query(sql.format(", ".join("?" * len(batch))), tuple(batch))
    return rows


def _present(ws: Workspace, table: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the ledger's ``table`` holds."""
    return {r[0] for r in _in_batches(ws, f"SELECT id FROM {table} WHERE id IN ({{}})", ids)}


def _utc_time(value: Any) -> str | None:
    """``value``, an ISO time with a zone not later than a day from now, as this workspace
    writes times (UTC, extended form); None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None or when > _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=1):
        return None
    return when.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


def _read_json(store: ObjectStore, key: str) -> Any:
    """The JSON at ``key`` on a remote; None if it is missing, too big, or does not read."""
    try:
        if store.size(key) > _MAX_RECORD:
            return None
        value = json.loads(store.get_bytes(key))
        json.dumps(value, ensure_ascii=False).encode()  # a lone surrogate (\ud800) no database can store
        return value
    except (AssayError, ValueError, RecursionError, OSError):  # a remote's bytes: anything may be in them
        return None


def _loads(text: Any) -> dict[str, Any]:
    """The JSON object in a ledger column; empty if it is not one."""
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
