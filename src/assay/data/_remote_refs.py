"""The refs of a remote, read as a remote gives them: untrusted.

A remote names each version in ``versions/<dataset>/<version id>.json`` (written once by a
push, see :func:`assay.data._remote._write_refs`) and, on remotes written before that, in one
list per dataset, ``refs/<dataset>.json``. Each ref is checked field by field before anything
here uses it; the sources it names are narrowed to what this workspace may walk. A version is
named on a remote as in a workspace (``NAME@vN``, ``NAME@latest``, a hash prefix), except that
two workspaces may have pushed versions of one number.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from assay._root import under
from assay.data._history import RUN_ID
from assay.data._versions import Version, check_name, maker_of, parse_ref, pick, read_spec, valid_name
from assay.errors import CorruptionError, InputError, NotFoundError, UsageError
from assay.ledger import utcnow

if TYPE_CHECKING:
    from assay.store import ObjectStore

__all__ = ["check_entry", "fitting_sources", "maker_label", "newest_entry", "read_json", "read_ref", "read_refs",
           "ref_entry", "remote_names", "remote_version", "remote_versions", "run_of", "safe_sources"]


def read_refs(store: ObjectStore, name: str, damaged: list[Any] | None = None) -> dict[str, Any]:
    """``{"name", "kind", "sources", "versions": [entry, ...]}`` of a dataset on the remote, from
    its per-version refs and the single list that older remotes hold. A per-version ref that
    does not read as its version is damage (:class:`CorruptionError`); with ``damaged`` it is
    listed there and left out instead."""
    check_name(name)
    doc: dict[str, Any] = {"name": name, "kind": "dataset", "sources": [], "versions": []}
    legacy = f"refs/{name}.json"
    if store.exists(legacy):
        old = read_json(store, legacy)
        if not isinstance(old, dict) or not isinstance(old.get("versions"), list):
            raise InputError(f"remote object {legacy} has an unexpected shape", hint="fix or remove it on the remote")
        for entry in old["versions"]:
            check_entry(entry, legacy)
        doc.update({k: old[k] for k in ("kind", "sources") if k in old}, versions=list(old["versions"]))
    by_id = {e["id"]: e for e in doc["versions"]}
    for key in store.list(f"versions/{name}/"):
        try:
            entry = read_json(store, key)
            check_entry(entry, key)
            if key != f"versions/{name}/{entry['id']}.json":
                raise InputError(f"remote object {key} names version {entry['id']}")
        except InputError as exc:
            bad = CorruptionError(f"version ref {key} {exc.message.removeprefix(f'remote object {key} ')}",
                                  key=key, hint="`assay data push --repair` from a workspace that has this version "
                                                "writes it again")
            if damaged is None:
                raise bad from None
            damaged.append(bad)
            continue
        by_id[entry["id"]] = entry
    doc["versions"] = sorted(by_id.values(), key=lambda e: (e["number"], e["created_at"]))
    newest = [e for e in doc["versions"] if "kind" in e]
    if newest:
        doc["kind"], doc["sources"] = newest[-1]["kind"], newest[-1].get("sources") or []
    return doc


def read_json(store: ObjectStore, key: str) -> Any:
    try:
        return json.loads(store.get_bytes(key))
    except (ValueError, RecursionError):
        raise InputError(f"remote object {key} is not valid JSON", hint="fix or remove it on the remote") from None
    except IsADirectoryError:
        raise InputError(f"remote object {key} is a folder", hint="fix or remove it on the remote") from None


_ENTRY_FIELDS = {"id": str, "number": int, "snapshot": str, "created_at": str, "files": int, "bytes": int}
_OPTIONAL_FIELDS = {"message": str, "kind": str, "sources": list, "meta": dict, "pushed_at": str}
_SNAPSHOT_ID = re.compile(r"[0-9a-f]{64}")
_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # a version id (this assay writes 32 hex digits)
_COUNT_MAX = 1 << 62  # what a ledger's integer holds, with room


def check_entry(entry: Any, key: str) -> None:
    """A version ref as a remote gives it, checked field by field (a remote is untrusted: a
    number too big for the ledger, a message that is not text or an id that is a path would
    fail later, and less clearly)."""
    if not isinstance(entry, dict) or any(type(entry.get(f)) is not t for f, t in _ENTRY_FIELDS.items()):
        raise InputError(f"remote object {key} has an unexpected shape",
                         hint=f"a version needs {', '.join(_ENTRY_FIELDS)}; fix or remove it on the remote")
    wrong = [f for f, t in _OPTIONAL_FIELDS.items() if entry.get(f) is not None and type(entry[f]) is not t]
    if not _SAFE_ID.fullmatch(entry["id"]):
        wrong.append("id")
    if not _SNAPSHOT_ID.fullmatch(entry["snapshot"]):
        wrong.append("snapshot")
    if not 0 < entry["number"] < _COUNT_MAX:
        wrong.append("number")
    wrong += [f for f in ("files", "bytes") if not 0 <= entry[f] < _COUNT_MAX]
    if wrong:
        raise InputError(f"remote object {key} has a bad {', '.join(wrong)}", hint="fix or remove it on the remote")


def safe_sources(value: Any) -> list[str]:
    """The sources a remote names for a dataset or version, as this workspace may walk them:
    relative paths that stay inside it and are not a .assay or .git folder; the rest dropped
    (a remote is not trusted to say where status and checkout look)."""
    from assay._root import protected_path
    from assay.data._snapshot import check_relpath
    from assay.errors import UnsafePathError

    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            try:
                check_relpath(item)
            except UnsafePathError:
                continue
            if not protected_path(item):
                out.append(item)
    return out


def fitting_sources(sources: list[str], snapshot: Any) -> list[str]:
    """The sources that hold some file or empty folder of ``snapshot``: a remote cannot widen
    where status looks (and what checkout --force would remove) to folders the version has
    nothing in. None without the snapshot."""
    if snapshot is None:
        return []
    paths = list(snapshot.files) + list(snapshot.empty_dirs)
    return [s for s in sources if any(under(p, [s]) for p in paths)]


def run_of(entry: dict[str, Any]) -> str | None:
    """The run that made a remote version, where its ref names one in the form run ids have."""
    run_id = entry.get("run_id")
    return run_id if isinstance(run_id, str) and RUN_ID.fullmatch(run_id) else None


def ref_entry(version: Version, kind: str, sources: list[str]) -> bytes:
    """The ref object of one version on a remote."""
    entry = {**version.to_dict(), "kind": kind, "sources": sources, "pushed_at": utcnow()}
    del entry["by"]  # it travels in meta
    return json.dumps(entry, indent=1).encode()


def read_ref(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The ref object at ``key`` (``versions/NAME/ID.json``) if it reads as the version it
    names, else None."""
    try:
        entry = read_json(store, key)
        check_entry(entry, key)
    except (InputError, NotFoundError):
        return None
    return entry if key.endswith(f"/{entry['id']}.json") else None


def remote_version(store: ObjectStore, ref: str) -> Version:
    """The version ``ref`` (``NAME@vN``, ``NAME@latest``, ``NAME@<hash prefix>``) on a remote."""
    (name, entry), *_ = remote_versions(store, ref)
    return _as_version(name, entry)


def _as_version(name: str, entry: dict[str, Any]) -> Version:
    return Version(entry["id"], name, int(entry["number"]), entry["snapshot"], entry.get("message", ""),
                   entry.get("created_at", ""), int(entry.get("files", 0)), int(entry.get("bytes", 0)),
                   entry.get("run_id"), entry.get("meta") or {})


def remote_versions(store: ObjectStore, ref: str | None, damaged: list[Any] | None = None,
                     strays: list[str] | None = None, *, every_version: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The versions ``ref`` names on a remote (None: all of them; with ``every_version``, ``ref`` is
    a name and all of its versions). With ``damaged``, refs that
    do not read are listed there instead of raised; folders under ``versions/`` that are no
    dataset's name (no push makes them) are listed there too, or in ``strays``, and passed over."""
    if ref is None:
        names = _listed_names(store)
        valid = [n for n in names if valid_name(n)]
        for n in (n for n in names if not valid_name(n)):
            if damaged is not None:
                damaged.append(CorruptionError(f"remote folder versions/{n}/ is no dataset's: {n!r} is not a dataset "
                                               "name", key=f"versions/{n}/"))
            elif strays is not None:
                strays.append(n)
        return [(n, e) for n in valid for e in read_refs(store, n, damaged)["versions"]]
    name, spec = parse_ref(ref)
    entries = read_refs(store, name)["versions"]
    if not entries:
        raise NotFoundError(f"the remote has no dataset named {name!r}", details={"missing": "dataset"})
    if every_version:
        return [(name, e) for e in entries]
    if spec == "latest":
        return [(name, newest_entry(name, entries, ref=ref))]
    number, prefix = read_spec(ref, spec)
    by_number = [e for e in entries if e["number"] == number] if number is not None else []
    if len({e["id"] for e in by_number}) > 1:  # pushed from two workspaces that each numbered their own
        raise UsageError(f"{ref} names {len(by_number)} versions on the remote, pushed from different workspaces",
                         hint=_pick_one(name, by_number))
    by_number = by_number[-1:]
    by_prefix = []
    if prefix is not None:
        by_prefix = [e for e in entries if e["snapshot"].startswith(prefix) or e["id"].startswith(prefix)]
        if len({e["snapshot"] for e in by_prefix}) > 1:
            raise UsageError(f"{ref} is ambiguous on the remote: it matches {len(by_prefix)} versions",
                             hint="give more hash characters")
        by_prefix = by_prefix[-1:]
    found = pick(ref, name, number, by_number, by_prefix)
    if not found:
        raise NotFoundError(f"the remote has no version {ref}", details={"missing": "version"})
    return [(name, found[-1])]


def newest_entry(name: str, entries: list[dict[str, Any]], *, ref: str | None = None) -> dict[str, Any]:
    """The remote's newest version of ``name`` among ``entries`` (its highest number there).
    Where two workspaces each pushed their own version with that number, a UsageError naming
    each by its hash prefix and its maker: neither ``pull NAME`` (``ref``) nor ``pull --checkout``
    (``ref`` None: it would check that one out) chooses between them for the user."""
    top = max(e["number"] for e in entries)
    newest = [e for e in entries if e["number"] == top]
    if len({e["id"] for e in newest}) == 1:
        return newest[-1]
    if ref is not None:
        raise UsageError(f"{ref} is ambiguous on the remote: {len(newest)} versions there have number {top}",
                         hint=_pick_one(name, newest))
    raise UsageError(
        f"cannot tell which version of {name} to check out: {len(newest)} versions on the remote have its newest "
        f"number, {top} (pushed from different workspaces)",
        hint=_pick_one(name, newest) + f", as in `assay data pull {name}@HASH --checkout`; or pull without "
             f"--checkout (which fetches them all) and `assay data checkout {name}@HASH`")


def _listed_names(store: ObjectStore) -> list[str]:
    """The names the remote files versions under (not yet checked to be dataset names)."""
    return sorted({k[len("versions/"):].split("/")[0] for k in store.list("versions/") if k.endswith(".json")}
                  | {k[len("refs/"):-len(".json")] for k in store.list("refs/") if k.endswith(".json")})


def remote_names(store: ObjectStore) -> list[str]:
    """The datasets and models a remote holds versions of, by name, sorted (from its listing:
    a name whose refs do not read is still named)."""
    return [n for n in _listed_names(store) if valid_name(n)]


def _pick_one(name: str, entries: list[dict[str, Any]]) -> str:
    """How to name each of ``entries`` (one number, pushed from two workspaces): by its
    content's hash prefix, or by its version id's where two hold the same content."""
    snapshots = [e["snapshot"] for e in entries]
    if len(set(snapshots)) == len(snapshots):
        return "name one by its hash prefix: " + ", ".join(f"{name}@{e['snapshot'][:12]}{maker_label(e)}" for e in entries)
    return ("they hold the same data; name one by its version id's prefix (its lineage differs): "
            + ", ".join(f"{name}@{e['id'][:12]}{maker_label(e)}" for e in entries))


def maker_label(entry: dict[str, Any]) -> str:
    """`` (by alice@host)`` for a remote version that names its maker; nothing for one made
    before versions did."""
    by = maker_of(entry.get("meta"))
    return f" (by {by})" if by else ""
