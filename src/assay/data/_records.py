"""Check and drift records on a remote (``records/VERSION/ID.json``: one copy under each
version a record names), pushed with the versions they judged and recorded by a pull; see
:mod:`assay.data._history` for what a remote is trusted with."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from assay.data._history import (
    _CONTROL,
    RUN_ID,
    _in_batches,
    _is_ref,
    _listed,
    _loads,
    _present,
    _read_json,
    _ref_here,
    _utc_time,
)

if TYPE_CHECKING:
    from assay.data._versions import Version
    from assay.store import ObjectStore
    from assay.workspace import Workspace

__all__ = ["damaged_records", "import_records", "rewrite_records", "write_records"]

# The records that travel, and the edges from a version that each kind may have.
_RECORD_EDGES = {"check": {"checked_as_candidate", "checked_as_baseline", "checked_on"}, "drift_report": {"judged_by"}}


def write_records(ws: Workspace, store: ObjectStore, versions: list[Version], notes: list[str]) -> int:
    """Send the check and drift records that judged ``versions`` and are not on the remote yet,
    each under every version it names. How many records were sent; a copy that cannot be
    written (something else is at its key) is said in ``notes``."""
    links = {dst[len("record:"):] for _, dst in _in_batches(
        ws, "SELECT src, dst FROM edges WHERE src IN ({})", [v.node for v in versions]) if dst.startswith("record:")}
    docs = [found for record_id in sorted(links) if (found := _record_doc(ws, record_id)) is not None]
    if not docs:
        return 0
    there = _listed(store, "records", sorted({key.split("/")[1] for _, keys in docs for key in keys}))
    sent = 0
    for data, keys in docs:
        if all(k in there for k in keys):
            continue
        try:
            for key in keys:
                if key not in there:
                    store.put_bytes(key, data)
        except OSError as exc:  # e.g. a folder where the copy goes (a refusal of the remote's own stands)
            notes.append(f"could not send the check or drift record {key}: {exc} (`assay data verify --remote` "
                         "and `push --repair` look at it)")
            continue
        sent += 1
    return sent


def _record_doc(ws: Workspace, record_id: str) -> tuple[bytes, list[str]] | None:
    """The remote's copy of record ``record_id`` and the keys it is filed under; None if it is
    not here or not of a kind that travels. A check result goes without what must not leave
    the workspace (see :func:`assay.checks.shareable_check`)."""
    rows = ws.ledger.query("SELECT kind, name, created_at, verdict, body FROM records WHERE id = ?", (record_id,))
    if not rows or rows[0][0] not in _RECORD_EDGES:
        return None
    kind, name, created, verdict, body = rows[0]
    edges = [(src[len("version:"):], relation) for src, relation in ws.ledger.query(
        "SELECT src, relation FROM edges WHERE dst = ?", (f"record:{record_id}",))
        if src.startswith("version:") and relation in _RECORD_EDGES[kind]]
    body_doc = _loads(body)
    imported = body_doc.pop("imported", None)  # this workspace's note of where it learned of the record
    refs = imported.get("refs") if isinstance(imported, dict) and isinstance(imported.get("refs"), dict) else {}
    if kind == "check":
        from assay.checks import shareable_check

        body_doc = shareable_check(body_doc)
    doc = {"id": record_id, "kind": kind, "name": name, "created_at": created, "verdict": verdict, "body": body_doc,
           "edges": [{"src": f"version:{v}", "relation": r,
                      "ref": _ref_here(ws, v) or (refs.get(v) if _is_ref(refs.get(v)) else "")} for v, r in sorted(edges)]}
    keys = [f"records/{v}/{record_id}.json" for v in sorted({v for v, _ in edges})]
    return json.dumps(doc, default=str).encode(), keys


def import_records(ws: Workspace, store: ObjectStore, remote: str, notes: list[str],
                   version_ids: list[str] | None = None) -> int:
    """Record the check and drift records on the remote that judged a version this workspace
    has (of ``version_ids``, or of any) and that it does not know yet. How many were recorded."""
    from assay.ledger import utcnow
    from assay.lineage._graph import add_edges

    copies: dict[str, list[str]] = {}  # record id -> the versions it is filed under
    for _, version_id, record_id in _filed(store, version_ids):
        copies.setdefault(record_id, []).append(version_id)
    if not copies:
        return 0
    here = _present(ws, "versions", {v for vs in copies.values() for v in vs})
    wanted = {r: sorted(set(vs) & here) for r, vs in copies.items() if set(vs) & here}
    known = _present(ws, "records", wanted)
    recorded = 0
    for record_id, filed_under in sorted(wanted.items()):
        if record_id in known:
            continue
        problems = []
        for version_id in filed_under:  # the first copy that reads
            doc = _read_json(store, f"records/{version_id}/{record_id}.json")
            problem, edges, verdict = _record_problem(doc, record_id, version_id)
            if problem is None:
                break
            problems.append(problem)
        else:
            notes.append(f"the check or drift record {record_id[:12]} on remote {remote} {problems[0]}: skipped")
            continue
        created = _utc_time(doc["created_at"])  # one form, so that the log sorts it among this workspace's
        body = {**doc["body"], "id": record_id, "created_at": created}
        body.pop("report", None)  # a path on the machine it ran on
        listed = doc.get("edges") if isinstance(doc.get("edges"), list) else []  # (a check's are not read: only names)
        body["imported"] = {"remote": remote, "at": utcnow(),
                            "refs": {e["src"][len("version:"):]: e["ref"] for e in listed if isinstance(e, dict)
                                     and isinstance(e.get("src"), str) and e["src"].startswith("version:")
                                     and _is_ref(e.get("ref"))}}
        with ws.ledger.transaction() as tx:
            tx.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT DO NOTHING",
                       (record_id, doc["kind"], doc["name"], created, verdict, json.dumps(body)))
            add_edges(tx, [(f"version:{v}", f"record:{record_id}", relation) for v, relation in edges])
        recorded += 1
    return recorded


def _record_problem(doc: Any, record_id: str, filed_under: str) -> tuple[str | None, list[tuple[str, str]], str]:
    """``(why, edges, verdict)``: why ``doc`` is not a record this workspace can keep (None: it
    is), and if it is, its edges (version id, relation) and its verdict, both read from what
    it says it found (a check's body names the versions it judged)."""
    try:
        return _record_reading(doc, record_id, filed_under)
    except Exception as exc:  # noqa: BLE001 - a remote's document: no shape of it may stop a pull
        return f"does not read as a record ({type(exc).__name__})", [], ""


def _record_reading(doc: Any, record_id: str, filed_under: str) -> tuple[str | None, list[tuple[str, str]], str]:
    if not isinstance(doc, dict) or doc.get("id") != record_id:
        return "does not read as a record", [], ""
    kind, body = doc.get("kind"), doc.get("body")
    if kind not in _RECORD_EDGES:
        return f"is of a kind this assay does not take from a remote ({str(kind)[:40]!r})", [], ""
    name, created = doc.get("name"), doc.get("created_at")
    if not (isinstance(name, str) and len(name) <= 1000 and not _CONTROL.search(name) and isinstance(body, dict)):
        return "does not read as a record", [], ""
    if _utc_time(created) is None:
        return "does not say when it was made as a time in the past", [], ""
    if kind == "check":
        from assay.checks import check_edges, readable_check

        why = readable_check(body)
        if why:
            return f"does not read as a check result ({why})", [], ""
        edges = check_edges(body)
        verdict = "pass" if body["passed"] else str(body["verdict"])
    else:
        raw = doc.get("edges")
        edges = sorted({(e["src"][len("version:"):], e["relation"]) for e in raw if isinstance(e, dict)
                        and isinstance(e.get("src"), str) and e["src"].startswith("version:")
                        and RUN_ID.fullmatch(e["src"][len("version:"):]) and e.get("relation") in _RECORD_EDGES[kind]}) \
            if isinstance(raw, list) else []
        if not isinstance(body.get("drift"), bool) or not edges or len(edges) > 2:
            return "does not read as a drift report", [], ""
        from assay.drift._record import readable_report

        why = readable_report(body)
        if why:  # what `assay drift show` and `drift log` read
            return f"does not read as a drift report ({why})", [], ""
        verdict = "drift" if body["drift"] else "no_drift"
    if filed_under not in {v for v, _ in edges}:
        return f"is filed under version {filed_under[:12]}, which it does not name", [], ""
    return None, edges, verdict


def damaged_records(store: ObjectStore, versions: list[Version] | None) -> list[str]:
    """The keys of the check and drift records on a remote, filed under ``versions`` (None: any),
    that do not read as a record this assay takes (a pull skips them)."""
    filed = _filed(store, None if versions is None else [v.id for v in versions])
    return [key for key, version_id, record_id in filed if _record_problem(_read_json(store, key), record_id, version_id)[0]]


def rewrite_records(ws: Workspace, store: ObjectStore, keys: list[str]) -> tuple[list[str], list[str]]:
    """Mend each record copy at ``keys``: from this workspace's ledger where it has that record
    (filed there), else from another copy of it on the remote that reads; one that neither
    mends is moved under ``lost/`` (nothing reads it there, and it is not lost). ``(written,
    moved aside)``."""
    written, aside = [], []
    every = _filed(store, None) if keys else []
    for key in keys:
        _, version_id, name = key.split("/")
        record_id = name[:-len(".json")]
        found = _record_doc(ws, record_id)
        data = found[0] if found is not None and key in found[1] else None
        if data is None:
            for other, _, same in every:
                if same == record_id and other != key:
                    doc = _read_json(store, other)
                    if _record_problem(doc, record_id, version_id)[0] is None:
                        data = json.dumps(doc, default=str).encode()
                        break
        if data is not None:
            store.put_bytes(key, data)
            written.append(key)
        else:
            store.move(key, f"lost/{key}.{uuid.uuid4().hex[:12]}")  # beside any copy kept aside before
            aside.append(key)
    return written, aside


def _filed(store: ObjectStore, version_ids: list[str] | None) -> list[tuple[str, str, str]]:
    """``(key, version id, record id)`` of each record copy on a remote (filed under one of
    ``version_ids``, or any)."""
    out = []
    for key in _listed(store, "records", version_ids):
        parts = key[len("records/"):].split("/")
        if len(parts) == 2 and parts[1].endswith(".json") and RUN_ID.fullmatch(parts[0]) \
                and RUN_ID.fullmatch(parts[1][:-len(".json")]):
            out.append((key, parts[0], parts[1][:-len(".json")]))
    return out
