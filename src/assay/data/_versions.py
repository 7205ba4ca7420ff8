"""Datasets and their versions in the ledger, and references to them.

References: ``name``, ``name@latest``, ``name@v3``, ``name@3``, ``name@<snapshot hash prefix>``.
"""

from __future__ import annotations

import getpass
import json
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import atomic_write_bytes
from assay.data._snapshot import ManifestMemo, Snapshot
from assay.errors import CorruptionError, InputError, NotFoundError, UsageError
from assay.ledger import IntegrityConflict, utcnow
from assay.workspace import Workspace

__all__ = [
    "KINDS",
    "Version",
    "check_kind",
    "kind_of",
    "list_datasets",
    "load_snapshot",
    "log",
    "parse_ref",
    "record_version",
    "resolve",
    "save_snapshot",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_COLUMNS = "id, dataset, number, snapshot, message, created_at, files, bytes, run_id, meta"


@dataclass(frozen=True)
class Version:
    """One recorded version of a dataset (or a registered model), as :func:`log`, :func:`resolve` and
    :func:`add` return it.

    - ``id``: the version's content id (hex; it names the version everywhere, across workspaces).
    - ``dataset``, ``number``: its dataset and its number there (``ref`` is ``NAME@vN``; numbers are
      this workspace's own).
    - ``snapshot``: the id of its snapshot (the file listing, shared by versions with the same files).
    - ``message``: what the user said of it; ``created_at``: when, ISO 8601 in UTC.
    - ``files``, ``bytes``: how many files it holds and their total size in bytes.
    - ``run_id``: the run that made it, or None (added by hand).
    - ``meta``: what else was recorded (``by``, the maker as ``user@host``, is read from it).
    - ``node`` (property): its id in the lineage graph, ``version:<id>``.
    """

    id: str
    dataset: str
    number: int
    snapshot: str
    message: str
    created_at: str
    files: int
    bytes: int
    run_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@v{self.number}"

    @property
    def node(self) -> str:
        return f"version:{self.id}"

    @property
    def by(self) -> str | None:
        """Who made this version (``user@host``); None for versions recorded before makers were."""
        return maker_of(self.meta)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "dataset": self.dataset, "version": f"v{self.number}", "number": self.number,
            "ref": self.ref, "snapshot": self.snapshot, "message": self.message, "created_at": self.created_at,
            "files": self.files, "bytes": self.bytes, "run_id": self.run_id, "meta": self.meta, "by": self.by,
        }

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Version:
        vid, ds, number, snap, msg, created, files, size, run_id, meta = row
        return cls(vid, ds, int(number), snap, msg, created, int(files), int(size), run_id, json.loads(meta or "{}"))


def maker() -> str:
    """``user@host`` of whoever records a version now; either part is ``?`` when it cannot be
    found (no login name in a container, say): a version is recorded all the same."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):  # what getpass raises where no user is known
        user = ""
    try:
        host = socket.gethostname()
    except OSError:
        host = ""
    return re.sub(r"[\x00-\x20\x7f-\x9f]", "_", f"{user or '?'}@{host or '?'}")[:200]  # one word (maker_of)


_MAKER = re.compile(r"[^\x00-\x20\x7f-\x9f]{1,200}")  # one word of printable text: no space, break or control


def maker_of(meta: Any) -> str | None:
    """The maker a version's ``meta`` names. A remote's may hold anything: only one printable
    word counts (a line break in it would print as a second line of `data log`)."""
    by = meta.get("by") if isinstance(meta, dict) else None
    return by if isinstance(by, str) and _MAKER.fullmatch(by) and by.isprintable() else None


def valid_name(name: str) -> bool:
    """Whether ``name`` is a dataset's name (see :func:`check_name`)."""
    return bool(_NAME.fullmatch(name))


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):  # (match allows a trailing newline before $)
        raise UsageError(
            f"invalid dataset name {name!r}",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit (at most 128)",
        )
    return name


def parse_ref(ref: str) -> tuple[str, str]:
    name, at, spec = ref.partition("@")
    if at and not spec:
        raise UsageError(f"{ref!r} names no version after the @",
                         hint=f"write {name} or {name}@latest for the latest, {name}@v3, or {name}@<hash prefix>")
    return check_name(name), (spec or "latest")


def read_spec(ref: str, spec: str) -> tuple[int | None, str | None]:
    """What the version part of ``ref`` can name: a number (``v3``, ``3``), a hash prefix (4 to
    64 hex digits, any case), or both (``1234``); a :class:`UsageError` if neither. A number
    has no leading zero: ``0002`` is a hash prefix."""
    low = spec.lower()
    number = None
    if re.fullmatch(r"v\d{1,18}", low):
        number = int(low[1:])
    elif re.fullmatch(r"[1-9]\d{0,17}", low):
        number = int(low)
    prefix = low if re.fullmatch(r"[0-9a-f]{4,64}", low) else None
    if number is None and prefix is None:
        raise UsageError(f"cannot read the version in {ref!r}",
                         hint="use NAME, NAME@latest, NAME@v3 or NAME@<hash prefix of 4 to 64 hex digits>")
    return number, prefix


def pick(ref: str, name: str, number: int | None, by_number: list[Any], by_prefix: list[Any]) -> list[Any]:
    """The one version ``ref`` names among those its number and its hash prefix match (each a
    list of at most one): an error where a bare number is also another version's prefix."""
    if by_number and by_prefix and by_number[0] != by_prefix[0]:
        raise UsageError(f"{ref} is ambiguous: it is version {number} and the hash prefix of another version",
                         hint=f"write {name}@v{number} for the number, or give more hash characters")
    return by_number or by_prefix


def _unknown_name_hint(name: str, known: list[tuple[str, str]], *, kind: str | None = None) -> str:
    """What to say of ``name``, which is no dataset or model here (no ``kind``, when given): the
    close name ``known`` (``(name, kind)`` rows) holds, if one is (a typo), and the names there are, by kind."""
    import difflib

    if not known:
        if kind == "dataset":
            return "no dataset is registered here: add one with `assay data add PATH --name NAME`, or give a data file"
        if kind == "model":
            return "no model is registered here: add one with `assay model add NAME PATH`"
        return "add one with `assay data add PATH --name NAME` (a model: `assay model add NAME PATH`)"
    kinds = dict(known)
    said = []
    for each in ("dataset", "model"):
        names = [n for n, k in known if k == each]
        if names:
            said.append(f"known {each}s: " + ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else ""))
    close = difflib.get_close_matches(name, list(kinds), n=1)
    return (f"did you mean {close[0]!r} (a {kinds[close[0]]})? " if close else "") + "; ".join(said)


KINDS = ("dataset", "model")


def check_kind(kind: str | None) -> None:
    """Refuse a ``kind`` that is neither of :data:`KINDS` (it would be recorded, or match nothing)."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"kind must be 'dataset' or 'model', not {kind!r}",
                         hint="leave it out for a dataset; register a model with assay.models (`assay model add`)")


def resolve(ws: Workspace, ref: str, *, kind: str | None = None) -> Version:
    """The version a reference names, or :class:`NotFoundError` saying what exists.

    ``kind`` (``"dataset"`` or ``"model"``): the reference must name one of these; the error for
    an unknown name then speaks of that kind only (``--data nosuch@v1`` is no missing model)."""
    check_kind(kind)
    name, spec = parse_ref(ref)
    ledger = ws.ledger
    found = ledger.query("SELECT kind FROM datasets WHERE name = ?", (name,))
    if found and kind is not None and found[0][0] != kind:
        other = found[0][0]
        raise NotFoundError(f"{name!r} is a {other}, not a {kind}",
                            hint=_unknown_name_hint(name, ledger.query("SELECT name, kind FROM datasets WHERE kind = ? "
                                                                       "ORDER BY name", (kind,)), kind=kind))
    if not found:
        known = ledger.query("SELECT name, kind FROM datasets ORDER BY name")
        hint = _unknown_name_hint(name, [k for k in known if kind is None or k[1] == kind], kind=kind)
        # A killed first add of it leaves no version, only its temp files: this command may not
        # open the store, whose opening would remove them (and say so). One listing each, here only.
        left = ws.unswept_temps()
        if left:
            size = sum(t.size for t in left)
            one = len(left) == 1
            hint += (f"; {'a temp file' if one else f'{len(left)} temp files'} ({_size(size)}) that "
                     f"{'an assay command' if one else 'assay commands'} killed mid-write left (an add or a pull of "
                     f"{name!r} interrupted before its first version?) {'is' if one else 'are'} in the workspace: "
                     f"to finish it, run that `assay data add` or `assay data pull` again (either frees "
                     f"{'it' if one else 'them'}, as `assay data gc` does)")
        raise NotFoundError(f"no {kind or 'dataset or model'} named {name!r}", hint=hint,
                            details={"leftover_temp_files": len(left), "leftover_bytes": sum(t.size for t in left)}
                            if left else None)
    if spec == "latest":
        rows = ledger.query(f"SELECT {_COLUMNS} FROM versions WHERE dataset = ? ORDER BY number DESC LIMIT 1", (name,))
    else:
        number, prefix = read_spec(ref, spec)
        by_number = by_prefix = []
        if number is not None:
            by_number = ledger.query(f"SELECT {_COLUMNS} FROM versions WHERE dataset = ? AND number = ?", (name, number))
        if prefix is not None:
            # lower(id): a version pulled from a remote may have capitals in its id, which SQLite's
            # LIKE would match and PostgreSQL's would not (the prefix is lower-case hex, no wildcard)
            by_prefix = ledger.query(
                f"SELECT {_COLUMNS} FROM versions WHERE dataset = ? AND (snapshot LIKE ? OR lower(id) LIKE ?) ORDER BY number",
                (name, prefix + "%", prefix + "%"),
            )
            if len({r[3] for r in by_prefix}) > 1:
                raise UsageError(f"{ref} is ambiguous: it matches {len(by_prefix)} versions", hint="give more hash characters")
            by_prefix = by_prefix[-1:]
        rows = pick(ref, name, number, by_number, by_prefix)
    if not rows:
        lister = "model list" if kind_of(ws, name) == "model" else "data log"
        raise NotFoundError(f"{ref} does not exist", hint=f"`assay {lister} {name}` lists its versions")
    return Version.from_row(rows[0])


def log(ws: Workspace, name: str) -> list[Version]:
    """The versions of dataset ``name``, newest first; ``NAME@REF`` gives only that version.

    Returns a list of :class:`Version` (``assay data log --json`` prints each one's
    :meth:`~Version.to_dict` under ``"versions"``). An unknown name or version raises
    :class:`~assay.errors.NotFoundError`, a reference that does not read :class:`~assay.errors.UsageError`."""
    version = resolve(ws, name)  # raises a helpful error for unknown names
    if "@" in name:
        return [version]
    rows = ws.ledger.query(f"SELECT {_COLUMNS} FROM versions WHERE dataset = ? ORDER BY number DESC", (name,))
    return [Version.from_row(r) for r in rows]


def list_datasets(ws: Workspace, *, kind: str | None = None) -> list[dict[str, Any]]:
    """Every dataset (and registered model) of the workspace, by name, each as a dict:
    ``name``, ``kind`` (``dataset`` or ``model``), ``created_at`` (ISO 8601, UTC), ``versions``
    (how many) and ``latest`` (``"vN"``, or None before the first). ``kind`` keeps only those.

    >>> [d["name"] for d in list_datasets(ws)]   # doctest: +SKIP
    ['customers', 'features']
    """
    check_kind(kind)
    rows = ws.ledger.query(
        "SELECT d.name, d.kind, d.created_at, COUNT(v.id), MAX(v.number) FROM datasets d "
        "LEFT JOIN versions v ON v.dataset = d.name GROUP BY d.name, d.kind, d.created_at ORDER BY d.name"
    )
    out = [{"name": r[0], "kind": r[1], "created_at": r[2], "versions": int(r[3]), "latest": f"v{r[4]}" if r[4] else None} for r in rows]
    return [d for d in out if kind is None or d["kind"] == kind]


def all_versions(ws: Workspace) -> list[Version]:
    return [Version.from_row(r) for r in ws.ledger.query(f"SELECT {_COLUMNS} FROM versions ORDER BY dataset, number")]


def kind_of(ws: Workspace, name: str) -> str | None:
    """What the name ``name`` holds here: "dataset", "model", or None (nothing yet)."""
    rows = ws.ledger.query("SELECT kind FROM datasets WHERE name = ?", (name,))
    return str(rows[0][0]) if rows else None


def dataset_sources(ws: Workspace, name: str) -> list[str]:
    """The files and folders the dataset's latest add named."""
    rows = ws.ledger.query("SELECT sources FROM datasets WHERE name = ?", (name,))
    return json.loads(rows[0][0]) if rows else []


def _set_sources(tx: Any, version_id: str, sources: list[str]) -> None:
    tx.execute("DELETE FROM version_sources WHERE version = ?", (version_id,))
    tx.execute("INSERT INTO version_sources (version, sources) VALUES (?, ?)", (version_id, json.dumps(sources)))


def version_sources(ws: Workspace, version: Version) -> list[str]:
    """The files and folders ``version`` was added from: where status and checkout look for it
    on disk. Versions recorded before these were kept (and pulled ones whose remote did not
    say) use the dataset's latest."""
    rows = ws.ledger.query("SELECT sources FROM version_sources WHERE version = ?", (version.id,))
    return json.loads(rows[0][0]) if rows else dataset_sources(ws, version.dataset)


def model_folder(name: str) -> str:
    """The folder, relative to the workspace root, that a registered model's files are stored
    under in its snapshot (``.assay-model-NAME``), so where a checkout of it in place writes them."""
    return f".assay-model-{name}"


def sources_on_disk(ws: Workspace, version: Version) -> list[str]:
    """Where status, diff and checkout look for ``version`` in the workspace: its
    :func:`version_sources`, or for a registered model (stored from a file outside the
    workspace, so with none) its :func:`model_folder`, which a checkout writes."""
    sources = version_sources(ws, version)
    if not sources and kind_of(ws, version.dataset) == "model":
        return [model_folder(version.dataset)]
    return sources


def record_version(
    ws: Workspace,
    name: str,
    snapshot: Snapshot,
    *,
    message: str = "",
    sources: list[str] | None = None,
    kind: str = "dataset",
    meta: dict[str, Any] | None = None,
    run_id: str | None = None,
    skip_if_latest: bool = True,
) -> tuple[Version, bool]:
    """Append ``snapshot`` as the next version of ``name``; ``(version, created)``.

    The number is taken inside the transaction and a unique (dataset, number)
    constraint backs it, so concurrent writers each get their own number.
    """
    item = NewVersion(name, snapshot, message=message, sources=sources, kind=kind, meta=meta)
    return record_versions(ws, [item], run_id=run_id, skip_if_latest=skip_if_latest)[0]


@dataclass
class NewVersion:
    """One version to record with :func:`record_versions`."""

    name: str
    snapshot: Snapshot
    message: str = ""
    sources: list[str] | None = None
    kind: str = "dataset"
    meta: dict[str, Any] | None = None
    allow_empty: bool = False  # record no files even where the latest version has files


def record_versions(ws: Workspace, items: list[NewVersion], *, run_id: str | None = None,
                    skip_if_latest: bool = True,
                    then: Callable[[Any, list[tuple[Version, bool]]], None] | None = None) -> list[tuple[Version, bool]]:
    """Record each of ``items`` as the next version of its dataset, all in one transaction:
    every one of them, or (on an error) none. ``(version, created)`` for each, in order; an
    item identical to its dataset's latest version makes none (``created`` False). ``then``
    is called with the transaction and that list before the commit, to record what goes with
    the versions (a run's end); it may be called again if the transaction is retried."""
    for item in items:
        check_name(item.name)
    for attempt in range(50):
        try:
            with ws.ledger.transaction() as tx:
                ws.claim_store(tx)  # a shared ledger's first version names its store
                done = [_record(tx, item, run_id, skip_if_latest) for item in items]
                if then is not None:
                    then(tx, done)
                ws.check_lock()  # last, before the commit: the store's lock was held all along (see Workspace.lock)
                return done
        except IntegrityConflict:
            time.sleep(0.01 * (attempt + 1))  # another writer took a number; take the next
    names = ", ".join(repr(item.name) for item in items)
    raise InputError(f"could not record a version of {names}: too many concurrent writers", hint="retry")


def _record(tx: Any, item: NewVersion, run_id: str | None, skip_if_latest: bool) -> tuple[Version, bool]:
    name, snapshot, sources, meta = item.name, item.snapshot, item.sources, item.meta
    row = tx.execute("SELECT kind FROM datasets WHERE name = ?", (name,))
    if not row:
        tx.execute(
            "INSERT INTO datasets (name, kind, created_at, sources) VALUES (?, ?, ?, ?)",
            (name, item.kind, utcnow(), json.dumps(sources or [])),
        )
    elif row[0][0] != item.kind:
        raise InputError(f"{name!r} is a {row[0][0]}, not a {item.kind}", hint="choose another name")
    elif sources is not None:
        tx.execute("UPDATE datasets SET sources = ? WHERE name = ?", (json.dumps(sources), name))
    latest = tx.execute(
        f"SELECT {_COLUMNS} FROM versions WHERE dataset = ? ORDER BY number DESC LIMIT 1", (name,)
    )
    if latest and skip_if_latest and latest[0][3] == snapshot.id and (meta or {}) == _own_meta(latest[0][9]):
        if sources is not None:  # the same data, named from other paths: status looks there now
            _set_sources(tx, latest[0][0], sources)
        return Version.from_row(latest[0]), False
    number = (int(latest[0][2]) if latest else 0) + 1
    if not snapshot.files and latest and int(latest[0][6]) and not item.allow_empty:
        # An emptied folder (a checkout that crashed, a job that wrote nothing) would
        # otherwise become everyone's latest without a word.
        had = Version.from_row(latest[0])
        raise UsageError(
            f"{name}@v{number} would hold no files, while its latest version, {had.ref} "
            f"({had.snapshot[:12]}), has {had.files} file{'s' if had.files != 1 else ''} ({_size(had.bytes)}); "
            "no version made",
            hint="check the folder (an interrupted checkout or a job that wrote nothing leaves it empty); "
                 "`--allow-empty` (allow_empty=True) records the empty version anyway")
    version = Version(
        id=uuid.uuid4().hex, dataset=name, number=number, snapshot=snapshot.id, message=item.message,
        created_at=utcnow(), files=len(snapshot.files), bytes=snapshot.total_bytes, run_id=run_id,
        meta={**(meta or {}), "by": maker()},
    )
    tx.execute(
        f"INSERT INTO versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (version.id, name, number, version.snapshot, item.message, version.created_at, version.files,
         version.bytes, run_id, json.dumps(version.meta, sort_keys=True)),
    )
    if sources is not None:
        _set_sources(tx, version.id, sources)
    return version, True


def empty_note(query: Callable[[str, tuple[Any, ...]], Any], version: Version, *, left_out: bool = False) -> str | None:
    """What to say of ``version`` if it holds no files (None if it holds some): the first
    version of an empty folder (``left_out``: of one whose files were all skipped or ignored),
    or an empty version let through (``allow_empty``) after one with files. ``query`` runs SQL
    on the ledger (a transaction's ``execute`` or ``ledger.query``)."""
    if version.files:
        return None
    if version.number == 1:
        return f"{version.ref} holds no files: " + ("each file there was left out (skipped or ignored, as said)"
                                                    if left_out else "the folder was empty")
    rows = query("SELECT files FROM versions WHERE dataset = ? AND number = ?", (version.dataset, version.number - 1))
    had = int(rows[0][0]) if rows else 0
    if not had:
        return f"{version.ref} holds no files"
    return (f"{version.ref} holds no files, while {version.dataset}@v{version.number - 1} had "
            f"{had} file{'s' if had != 1 else ''}: it is the dataset's latest version now")


def _own_meta(stored: str | None) -> dict[str, Any]:
    """A stored version's meta as its caller gave it: without the maker recorded with it."""
    meta = json.loads(stored or "{}")
    meta.pop("by", None)
    return meta


def save_snapshot(ws_store: Any, snapshot: Snapshot) -> bytes | None:
    """Store ``snapshot`` unless the store has it; the BLAKE3 hash of the bytes stored, if it
    stored them (see :mod:`assay.data._checked`)."""
    import zstandard
    from blake3 import blake3

    key = f"snapshots/{snapshot.id}"
    if ws_store.exists(key):
        return None
    data = zstandard.ZstdCompressor(level=3).compress(snapshot.encode())
    ws_store.put_bytes(key, data)
    return blake3(data).digest()


def load_snapshot(store: Any, snapshot_id: str, *, memo: ManifestMemo | None = None) -> Snapshot:
    return load_snapshot_object(store, snapshot_id, memo=memo)[0]


def load_snapshot_object(store: Any, snapshot_id: str, *, memo: ManifestMemo | None = None) -> tuple[Snapshot, bytes]:
    """The snapshot (Merkle-checked) and its stored bytes, which :func:`copy_snapshot` can
    write elsewhere without encoding it again. ``memo``: one :class:`ManifestMemo` for many
    snapshots read in turn (see :meth:`Snapshot.decode`)."""
    data, raw = _read_snapshot(store, snapshot_id)
    return Snapshot.decode(raw, expect_id=snapshot_id, memo=memo), data


def _read_snapshot(store: Any, snapshot_id: str) -> tuple[bytes, bytes]:
    """A snapshot object's stored bytes and what they decompress to (not checked yet)."""
    import zstandard

    key = f"snapshots/{snapshot_id}"
    try:
        data = store.get_bytes(key)
    except NotFoundError:  # a version names it: its loss is damage, as a damaged one is
        raise CorruptionError(f"snapshot object {key} is missing from {store.url}", key=key) from None
    except IsADirectoryError:
        raise CorruptionError(f"snapshot object {key} in {store.url} is a folder", key=key) from None
    # Bounded by what a snapshot compresses to at most (its hashes do not compress): a small
    # object that claims gigabytes is damage, not something to hold in memory.
    # (zstd takes a size the frame declares over max_output_size: it is checked first.)
    limit = max(256 << 20, 256 * len(data))
    try:
        if zstandard.frame_content_size(data) > limit:
            raise CorruptionError(f"snapshot object {key} is damaged (it claims to hold more than a snapshot of its "
                                  "size can)", key=key)
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError:
        raise CorruptionError(f"snapshot object {key} is damaged (does not decompress, or to more than a snapshot "
                              "of its size can hold)", key=key) from None
    except MemoryError:
        raise CorruptionError(f"snapshot object {key} is damaged (it decompresses to more than fits in memory)",
                              key=key) from None
    return data, raw


def copy_snapshot(store: Any, snapshot_id: str, data: bytes) -> None:
    """Store a snapshot object read by :func:`load_snapshot_object` (and so already checked)."""
    key = f"snapshots/{snapshot_id}"
    if not store.exists(key):
        store.put_bytes(key, data)


def each_snapshot(store: Any, snapshot_ids: Iterable[str]) -> Iterator[tuple[str, Snapshot, bytes]]:
    """Each snapshot (Merkle-checked) with a fingerprint of its stored bytes, one at a time,
    each read with the manifests of the one before: a long history's snapshots together
    would not fit in memory. :func:`copy_checked_snapshot` later copies one whose bytes
    still have that fingerprint, without decoding it again."""
    from blake3 import blake3

    memo = ManifestMemo()
    for sid in snapshot_ids:
        snap, data = load_snapshot_object(store, sid, memo=memo)
        yield sid, snap, blake3(data).digest()


def each_snapshot_chunks(store: Any, snapshot_ids: Iterable[str],
                         checked: Mapping[str, bytes]) -> Iterator[tuple[str, set[bytes], bytes]]:
    """``(id, its chunks, fingerprint)`` of each snapshot, as :func:`each_snapshot` checks and
    fingerprints them; but one whose stored bytes have the fingerprint ``checked`` holds for
    it (bytes checked before: :mod:`assay.data._checked`) is only read for its chunks."""
    from blake3 import blake3

    memo = ManifestMemo()
    for sid in snapshot_ids:
        data, raw = _read_snapshot(store, sid)
        fingerprint = blake3(data).digest()
        if checked.get(sid) == fingerprint:
            doc = json.loads(raw.decode("utf-8", "surrogateescape"))
            yield sid, {bytes.fromhex(d) for m in doc["files"].values() for d, _ in m[2]}, fingerprint
            continue
        yield sid, Snapshot.decode(raw, expect_id=sid, memo=memo).chunk_digests(), fingerprint


def copy_checked_snapshot(source: Any, target: Any, snapshot_id: str, fingerprint: bytes) -> None:
    """Copy a snapshot that :func:`each_snapshot` read from ``source``: its bytes read again
    must be the ones checked then."""
    from blake3 import blake3

    key = f"snapshots/{snapshot_id}"
    try:
        data = source.get_bytes(key)
    except NotFoundError:
        data = b""
    if blake3(data).digest() != fingerprint:
        raise CorruptionError(f"snapshot object {key} in {source.url} changed after it was checked",
                              key=key, hint="rerun; if it changes again, run `assay data verify` on it")
    copy_snapshot(target, snapshot_id, data)


def ls(ws: Workspace, ref: str) -> tuple[Version, list[dict[str, Any]]]:
    """The files of a version: returns ``(version, files)``, the :class:`Version` and one dict per
    file, sorted by path: ``path``, ``size``, ``mode`` (octal, as ``"644"``), ``chunks`` (how
    many) and ``manifest`` (its hash); an empty folder as ``path`` ending in ``/``, ``mode``
    ``"dir"``. ``assay data ls REF --json`` prints ``{"version": ..., "files": ...}``. Errors as
    :func:`resolve`'s.

    >>> ls(ws, "customers@v1")[1][0]["path"]   # doctest: +SKIP
    'data/a.csv'"""
    version = resolve(ws, ref)
    snap = load_snapshot(ws.store, version.snapshot)
    files = [{"path": p, "size": m.size, "mode": f"{m.mode:o}", "chunks": len(m.chunks), "manifest": m.id}
             for p, m in sorted(snap.files.items())]
    files += [{"path": d + "/", "size": 0, "mode": "dir", "chunks": 0, "manifest": None} for d in snap.empty_dirs]
    return version, files


# -- the version on disk (local to this machine, beside the stat cache) ------------------


def _heads_path(ws: Workspace) -> Path:
    return ws.cache_dir / "heads.json"


def get_head(ws: Workspace, name: str) -> str | None:
    """The id of the version of ``name`` last added or checked out here (None: not recorded)."""
    return _read_heads(ws).get(name)


def set_head(ws: Workspace, name: str, version: Version) -> None:
    """Record ``version`` as the one on disk for its dataset (a local cache file, atomically)."""
    heads = _read_heads(ws)
    heads[name] = version.id
    atomic_write_bytes(_heads_path(ws), json.dumps(heads, indent=1).encode())


def _read_heads(ws: Workspace) -> dict[str, Any]:
    try:
        heads = json.loads(_heads_path(ws).read_bytes())
    except (FileNotFoundError, ValueError):
        return {}
    return heads if isinstance(heads, dict) else {}


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"
