"""Two datasets in one folder: told apart before they are recorded, and said where they meet.

The workspace holds one set of files per path. Two datasets added from the same folder, or
one from a folder inside the other's, share those files: a checkout of a version of one
rewrites the other's files there, and each one's status reports the other's changes as its
own. Such an overlap is refused when an add (or a run's output) would make it, unless asked
for (``allow_overlap``). Datasets that overlap already (recorded before, or allowed) keep
working: each add of them says where they meet, and so does a checkout that rewrote the
other's files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from typing import TYPE_CHECKING

from assay._root import under
from assay._wording import counted
from assay.errors import UsageError
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.data._snapshot import Snapshot
    from assay.data._versions import Version

__all__ = ["Overlap", "checkout_note", "find_overlaps", "held_by_others", "other_sources", "refuse_or_note", "sharing"]


@dataclass(frozen=True)
class Overlap:
    """Dataset (or model: ``kind``) ``other``'s source ``theirs`` meets ``ours``: the same path,
    or one inside the other."""

    other: str
    ours: str
    theirs: str
    kind: str = "dataset"

    def where(self) -> str:
        who = f"{self.kind} {self.other!r}"
        if self.ours == self.theirs:
            return f"{self.ours} is where {who} was added from too"
        if under(self.ours, [self.theirs]):
            return f"{self.ours} is inside {self.theirs}, where {who} was added from"
        return f"{self.ours} holds {self.theirs}, where {who} was added from"


def _meet(a: str, b: str) -> bool:
    return under(a, [b]) or under(b, [a])


def find_overlaps(ws: Workspace, name: str, sources: Iterable[str],
                  others: dict[str, list[str]] | None = None,
                  other_kinds: dict[str, str] | None = None) -> list[Overlap]:
    """Where ``sources`` meet the sources of a dataset other than ``name``: each dataset's
    latest add's (and ``others``', datasets about to be added with them, of ``other_kinds``
    where not datasets)."""
    from assay.data._versions import dataset_sources, list_datasets

    # (a dataset with no versions left has nothing to check out over another's files)
    listed = [d for d in list_datasets(ws) if d["versions"]]
    known = {d["name"]: dataset_sources(ws, d["name"]) for d in listed}
    kinds = {d["name"]: d["kind"] for d in listed}
    known.update(others or {})
    kinds.update(other_kinds or {})
    found = []
    for other, theirs in sorted(known.items()):
        if other == name:
            continue
        kind = kinds.get(other, "dataset")
        found += [Overlap(other, ours, t, kind) for ours in sorted(sources) for t in theirs if _meet(ours, t)]
    return found


def other_sources(ws: Workspace, name: str) -> list[tuple[str, str, str]]:
    """``(name, kind, its sources as the ledger holds them, JSON)`` of each dataset or registered
    model other than ``name`` that has a version, by name: one ledger query (status asks it each
    time). Models count: add refuses a folder shared with one as with a dataset."""
    rows = ws.ledger.query(
        "SELECT name, kind, sources FROM datasets WHERE name != ? "
        "AND name IN (SELECT dataset FROM versions) ORDER BY name", (name,))
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def sharing(ws: Workspace, name: str, sources: Iterable[str],
            others: list[tuple[str, str, str]] | None = None) -> list[Overlap]:
    """Where ``sources`` of dataset ``name`` meet another dataset's or model's (``others``,
    default :func:`other_sources`): what `assay data status` says, as the files there are both's."""
    import json

    found = []
    for other, kind, theirs in (other_sources(ws, name) if others is None else others):
        paths = json.loads(theirs)
        found += [Overlap(other, ours, t, kind) for ours in sorted(sources) for t in paths if _meet(ours, t)]
    return found


_EFFECT = ("so checking out a version of either rewrites the other's, and `assay data status` of each reports "
           "the other's changes as its own")


def refuse_or_note(ws: Workspace, name: str, sources: list[str], *, allow_overlap: bool,
                   others: dict[str, list[str]] | None = None, other_kinds: dict[str, str] | None = None,
                   what: str = "", hint: str = "", said: set[frozenset[tuple[str, str]]] | None = None) -> list[str]:
    """Refuse ``sources`` of dataset ``name`` that would newly share files with another dataset,
    unless ``allow_overlap``; the warnings to give for each overlap let through. An overlap
    that ``name``'s latest add had already (a workspace made before overlaps were refused, or
    one allowed then) is let through, with its warning. ``what`` says what is added (an
    output of a run, a pulled dataset), ``hint`` what to do instead of an add's advice;
    ``said``: the overlaps warned of already, each the two ``(dataset, folder)`` that meet (an
    overlap of two pulled datasets is found from both sides, or from one only): those are not
    said again, and those said here are added to it."""
    from assay.data._versions import dataset_sources

    found = find_overlaps(ws, name, sources, others, other_kinds)
    if not found:
        return []
    before = {o.other for o in find_overlaps(ws, name, dataset_sources(ws, name), others, other_kinds)}
    new = [o for o in found if o.other not in before]
    if new and not allow_overlap:
        o = new[0]
        raise UsageError(
            f"{what or 'dataset ' + repr(name)}: {o.where()}: the two would share those files, {_EFFECT}",
            hint=hint or (f"{'have the run write it to' if what else 'add it from'} a folder of its own; "
                          + (f"to make it the next version of {o.other!r}, name it {o.other!r}; "
                             if o.kind == "dataset" else "")
                          + "or pass --allow-overlap (allow_overlap=True) to share the files anyway"),
            details={"overlaps": [{"dataset": x.other, "path": x.ours, "theirs": x.theirs} for x in new]})
    def pair(o: Overlap) -> frozenset[tuple[str, str]]:
        return frozenset({(name, o.ours), (o.other, o.theirs)})

    tell = [o for o in found if said is None or pair(o) not in said]
    if said is not None:
        said.update(pair(o) for o in tell)
    return [f"{what or 'dataset ' + repr(name)}: {o.where()}: the two share those files, {_EFFECT}" for o in tell]


def checkout_note(ws: Workspace, version: Version, snapshot: Snapshot, written: list[str],
                  removed: list[str]) -> list[str]:
    """After an in-place checkout of ``version`` (``snapshot``) wrote ``written`` and removed
    ``removed``: a warning for each other dataset whose folders hold some of them and whose
    version on disk (its head, else its latest) differs there: that dataset's files changed."""
    from assay.data._versions import dataset_sources, list_datasets, load_snapshot, version_sources

    ours = version_sources(ws, version)
    notes = []
    for d in list_datasets(ws, kind="dataset"):
        other = d["name"]
        theirs = dataset_sources(ws, other)
        if other == version.dataset or not d["versions"] or not any(_meet(a, b) for a in ours for b in theirs):
            continue  # (the files are looked at only where two datasets' folders meet: rarely)
        on_disk = _on_disk(ws, other)
        files = load_snapshot(ws.store, on_disk.snapshot).files
        changed = [rel for rel in written if under(rel, theirs)
                   and (rel not in files or files[rel].id != snapshot.files[rel].id)]
        changed += [rel for rel in removed if rel in files and under(rel, theirs)]
        if not changed:
            continue
        one = len(changed) == 1
        notes.append(
            f"{counted(len(changed), 'file')} this checkout wrote or removed ({', '.join(sorted(changed)[:3])}"
            f"{' and more' if len(changed) > 3 else ''}) {'is' if one else 'are'} in {', '.join(theirs)}, where "
            f"dataset {other!r} was added from too, and {'differs' if one else 'differ'} from {on_disk.ref}: "
            f"`assay data status {other}` shows {'it' if one else 'them'} as changed, and `assay data checkout "
            f"{on_disk.ref}` writes {other}'s back")
    return notes


def held_by_others(ws: Workspace, dataset: str, current: dict[str, str | None]) -> set[str]:
    """Those of the files ``current`` (path: the id of its content on disk) that are, as they
    are, the file at that path of the version on disk of another dataset added from a folder
    that holds it: not local changes of ``dataset``'s, and stored, so nothing is lost when a
    checkout of ``dataset`` overwrites them (its warning names that dataset)."""
    from assay.data._versions import dataset_sources, list_datasets, load_snapshot

    held: set[str] = set()
    for d in list_datasets(ws, kind="dataset"):
        other = d["name"]
        theirs = dataset_sources(ws, other)
        hit = [rel for rel in current if rel not in held and under(rel, theirs)] if other != dataset else []
        if hit and d["versions"]:
            files = load_snapshot(ws.store, _on_disk(ws, other).snapshot).files
            held.update(rel for rel in hit if rel in files and files[rel].id == current[rel])
    return held


def _on_disk(ws: Workspace, name: str) -> Version:
    """The version of ``name`` on disk, as status finds it: its head, else its latest."""
    from assay.data._versions import get_head, log, resolve

    head = get_head(ws, name)
    return next((v for v in log(ws, name) if v.id == head), None) or resolve(ws, name)
