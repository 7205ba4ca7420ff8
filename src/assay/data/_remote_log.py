"""`assay data log --remote` and `assay data ls --remote`: what a remote holds, without a pull.

Only the remote's refs (``versions/NAME/ID.json``, and the older ``refs/NAME.json``) and, for
``ls``, the one snapshot named are read; no chunk is. Nothing is written here or there, so no
hold is taken: a gc on the remote that removes what is being read makes the read fail, said as
damage on the remote, and the command can be run again.
"""

from __future__ import annotations

from typing import Any

from assay.data._remote import open_remote, remote_damage, versions_on
from assay.data._remote_refs import _as_version, read_refs, remote_names
from assay.data._versions import check_name, load_snapshot_object, parse_ref, valid_name
from assay.workspace import Workspace

__all__ = ["remote_log", "remote_ls"]


def remote_log(ws: Workspace, name: str | None = None, *, remote: str | None = None) -> dict[str, Any]:
    """The versions of dataset ``name`` on ``remote`` (None: the default remote), newest first;
    ``NAME@REF`` gives only that version. Each is as ``assay data log --json`` gives a version,
    numbered as the remote numbers it, with ``here``: its reference in this workspace where it
    was pulled or pushed from here (the number may differ), else None. Without ``name``: the
    names the remote holds, each with its count of versions and its latest one, and
    ``latest_ambiguous``: where versions pushed from two workspaces share that latest number
    (so that ``NAME`` alone names none of them there), each as ``NAME@<hash prefix>``.

    Raises :class:`~assay.errors.UsageError` where no remote is configured or ``remote`` names
    none, :class:`~assay.errors.NotFoundError` where the remote lacks the name or version (naming
    what it holds), :class:`~assay.errors.CorruptionError` for a version listing there that does
    not read.

    >>> remote_log(ws, "customers", remote="origin")["versions"][0]["ref"]  # doctest: +SKIP
    'customers@v2'
    """
    spec, store = open_remote(ws, remote)
    damaged: list[Any] = []
    if name is None:
        datasets = []
        for n in remote_names(store):
            with remote_damage(spec.name):
                doc = read_refs(store, n, damaged)
            if not doc["versions"]:
                continue  # every ref of it damaged: said under "damaged"
            latest = _entry(ws, n, doc["versions"][-1])
            # Two workspaces that each pushed their own vN: a pull of NAME refuses to pick one.
            top = [e for e in doc["versions"] if e["number"] == latest["number"]]
            ambiguous = sorted({f"{n}@{e['snapshot'][:12]}" for e in top}) if len({e["id"] for e in top}) > 1 else []
            datasets.append({"name": n, "kind": doc["kind"], "versions": len(doc["versions"]), "latest": latest,
                             "latest_ambiguous": ambiguous})
        return {"remote": spec.name, "datasets": datasets, "damaged": [d.key for d in damaged]}
    base = parse_ref(name)[0] if "@" in name else check_name(name)
    if "@" in name:
        wanted = versions_on(ws, spec, store, name, command="log")
    else:
        with remote_damage(spec.name):
            wanted = [(base, e) for e in read_refs(store, base, damaged)["versions"]]
        if not wanted and not damaged:
            versions_on(ws, spec, store, base, command="log")  # refused, saying what the remote holds
    entries = [_entry(ws, n, e) for n, e in reversed(wanted)]
    return {"remote": spec.name, "dataset": base, "versions": entries, "damaged": [d.key for d in damaged]}


def remote_ls(ws: Workspace, ref: str, *, remote: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The files of the version ``ref`` (``NAME@vN`` as the remote numbers it, ``NAME@latest``,
    ``NAME@<hash prefix>``) on ``remote``, as :func:`assay.data.ls` gives a local version's: read
    from its snapshot alone (checked against its hash), no chunk fetched: ``(version entry,
    files)``. Raises as :func:`remote_log` does, and :class:`~assay.errors.CorruptionError` for a
    snapshot on the remote that does not match its hash."""
    spec, store = open_remote(ws, remote)
    if "@" not in ref and valid_name(ref):
        ref = f"{ref}@latest"
    (name, entry), *_ = versions_on(ws, spec, store, ref, command="ls")
    with remote_damage(spec.name):
        snap, _ = load_snapshot_object(store, entry["snapshot"])
    files = [{"path": p, "size": m.size, "mode": f"{m.mode:o}", "chunks": len(m.chunks), "manifest": m.id}
             for p, m in sorted(snap.files.items())]
    files += [{"path": d + "/", "size": 0, "mode": "dir", "chunks": 0, "manifest": None} for d in snap.empty_dirs]
    return {**_entry(ws, name, entry), "remote": spec.name}, files


def _entry(ws: Workspace, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A remote version as ``data log --json`` shows one, with when it was pushed and its
    reference here (None where this workspace lacks it)."""
    doc = _as_version(name, entry).to_dict()
    rows = ws.ledger.query("SELECT dataset, number FROM versions WHERE id = ?", (entry["id"],))
    doc["pushed_at"] = entry.get("pushed_at")
    doc["here"] = f"{rows[0][0]}@v{rows[0][1]}" if rows else None
    return doc
