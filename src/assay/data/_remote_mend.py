"""Mending what a remote holds beside its chunks (`push --repair`): version refs, run records,
reproducing runs' markers and check or drift records, written again from this workspace's
ledger; and the snapshots a remote's refs keep live (repair, :mod:`assay.data._repair`)."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from assay.data._versions import all_versions, kind_of
from assay.errors import NotFoundError
from assay.store import ObjectStore
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.data._repair import RepairResult

__all__ = ["live_on_remote", "mend_refs", "mend_runs"]


_NUMBER = re.compile(rb'"number"\s*:\s*(\d{1,9})\s*[,}\n]')  # whole: a ref cut inside its number has none


def mend_refs(ws: Workspace, store: ObjectStore, result: RepairResult) -> dict[str, dict[str, Any]]:
    """Write again each version ref on the remote that does not read as its version, from
    this workspace's ledger where it has that version, keeping the number the damaged ref
    still shows (the remote's own: a pull may have renumbered the version here). Every ref
    that reads now, by key."""
    from assay.data._remote_refs import read_ref, ref_entry
    from assay.data._versions import valid_name, version_sources

    refs = {k: read_ref(store, k) for k in sorted(store.list("versions/"))
            if len(k.split("/")) == 3 and k.endswith(".json") and valid_name(k.split("/")[1])}
    readable = {k: e for k, e in refs.items() if e is not None}
    damaged = [k for k, e in refs.items() if e is None]
    here = {(v.dataset, v.id): v for v in all_versions(ws)} if damaged else {}
    for key in damaged:
        name, version_id = key.split("/")[1], key.split("/")[2][:-len(".json")]
        version = here.get((name, version_id))
        try:
            found = _NUMBER.search(store.get_bytes(key))
        except NotFoundError:
            continue
        taken = {e["number"] for k, e in readable.items() if k.startswith(f"versions/{name}/")}
        # The number the damaged ref still shows; where none shows, this workspace's own (a
        # push wrote that one, unless a pull renumbered the version here) if no other ref holds it.
        number = int(found.group(1)) if found is not None else (version.number if version is not None else None)
        if version is None or number is None or number in taken | _legacy_numbers(store, name):
            result.unmended_refs.append(key)  # not known here, or its number is lost or doubtful
            continue
        kind = kind_of(ws, name)
        version = dataclasses.replace(version, number=number)
        data = ref_entry(version, kind, version_sources(ws, version))
        store.put_bytes(key, data)
        readable[key] = json.loads(data)
        result.repaired.append(f"ref {key}")
    return readable


def mend_runs(ws: Workspace, store: ObjectStore, result: RepairResult) -> None:
    """Write again each run record on the remote that a pull skips (it does not read as its
    run, or is missing or wrong for a version its run is filed under as reproducing), and
    each check or drift record that does not read, from this workspace's ledger where it has
    them (a damaged one is never replaced by a push). A reproducing run's marker that its
    run's record still does not bear out is moved under ``lost/``, as a record copy is."""
    from assay.data._history import damaged_reproduced, damaged_run_records, write_runs
    from assay.data._records import damaged_records, rewrite_records

    versions = all_versions(ws)
    markers = [key for key, _ in damaged_reproduced(store, None)]  # under any version, here or not
    damaged = set(damaged_run_records(store, versions)) | {key.split("/")[2] for key in markers}
    if damaged:
        for run_id in write_runs(ws, store, [], again=damaged):
            result.repaired.append(f"run record runs/{run_id}.json")
    for key, _ in damaged_reproduced(store, None) if markers else []:
        store.move(key, f"lost/{key}.{uuid.uuid4().hex[:12]}")
        result.kept_aside.append(f"reproducing run marker {key}")
    written, aside = rewrite_records(ws, store, damaged_records(store, None))  # under any version, here or not
    result.repaired += [f"check or drift record {key}" for key in written]
    result.kept_aside += [f"check or drift record {key}" for key in aside]  # no good copy of it anywhere


def _legacy_numbers(store: ObjectStore, name: str) -> set[int]:
    """The version numbers the single list of an older remote (``refs/NAME.json``) holds."""
    from assay.data._remote_refs import read_json

    if not store.exists(f"refs/{name}.json"):
        return set()
    doc = read_json(store, f"refs/{name}.json")
    entries = doc.get("versions", []) if isinstance(doc, dict) else []
    return {e["number"] for e in entries if isinstance(e, dict) and isinstance(e.get("number"), int)}


def live_on_remote(store: ObjectStore, refs: dict[str, dict[str, Any]]) -> set[str]:
    """The snapshots of the versions the remote lists: in ``refs`` (every per-version ref that
    reads) and in the single lists older remotes hold."""
    from assay.data._remote_refs import check_entry, read_json

    live = {entry["snapshot"] for entry in refs.values()}
    for key in store.list("refs/"):
        if key.endswith(".json"):
            doc = read_json(store, key)
            for entry in doc.get("versions", []) if isinstance(doc, dict) else []:
                check_entry(entry, key)
                live.add(entry["snapshot"])
    return live
