"""A clean ``assay data status`` answered again before the command line loads.

A clean status of a few big files does almost nothing: it stats them and finds the stat
signature recorded for the version (:mod:`assay.data._sigwalk`). Its time is the
interpreter and the imports (click, the ledger, the stat cache, the config's TOML):
0.14 s cold here, against 0.03 s for the interpreter alone.

So a clean answer is also left in ``.assay/cache/status-answers`` (:func:`record`), with
everything it was computed from: the assay that recorded it, the workspace root, the config
file's bytes, the version the heads file names, the stat cache's file, the dataset's sources
and latest version and the ledger's schema version as the ledger had them, and the stat
signature of the files. When `assay`'s entry point sees ``data status [NAME] [--json]``,
:func:`replay_status` checks each of them again with only ``os``, ``marshal`` and SQLite
loaded: the same files hold the same bytes, the ledger (opened read-only) holds the same
rows, and a fresh walk of the sources gives the same signature. Then the answer is the one status would give, and the entry point
prints it. Anything else (a new version, a checkout, an edited config, a PostgreSQL ledger,
a newer ledger schema, a touched file) falls through to the full command, which takes the
walk (:func:`assay.data._prefetch.walked`) and records again. The file is only a cache:
missing, stale or unreadable, it costs the check.

What a replay does not do that the full command does: write to the stat cache (so a
read-only workspace, where the full command fails, still gets its answer) and decode the
rest of the version's ledger row (its message and metadata, which status does not show).
The stat cache is known by its inode and its header: one deleted and created again under
the same inode number (file systems reuse them), or damaged past its header, is not
noticed, and then ``rehashed`` says 0 where the full command would count the files it
re-read to the same clean verdict.
"""

from __future__ import annotations

import os

from assay._root import WORKSPACE_DIR, find_root
from assay.data._hints import read_hint, read_small, write_hint
from assay.errors import WorkspaceNotFoundError

TYPE_CHECKING = False  # typing itself is not loaded for this (the entry point's first moments)
if TYPE_CHECKING:
    from assay.data._versions import Version
    from assay.workspace import Workspace

__all__ = ["MAX_FILES", "record", "render", "replay_status"]

ANSWERS = "status-answers"
_FORMAT = 4  # 4: the stat cache compares ctime (answers of layout 5 were made without it)
# The stat cache's layout this assay writes (assay.data._statcache._SCHEMA; a test holds the two
# equal). A cache of another layout is rebuilt by the full command, with every file re-hashed:
# an answer recorded over it is not replayed, even by an assay of the same version.
STAT_SCHEMA = 6
# The newest ledger schema this assay knows (assay.ledger._migrations, which is not loaded
# here; a test holds the two equal). A newer ledger: the full command refuses it, so no replay.
LEDGER_SCHEMA = 6
# Up to this many files the tree is walked in this process; above it by forked walkers
# (_sigwalk.walk_groups), as the full command would. At 50,000 files a replayed answer took
# 0.24-0.61 s warm against 0.29-0.82 s for the full command with its walk started early
# (_prefetch.py, which overlaps the walk with loading the command line; A/B medians on a busy
# 2-core machine). A tree found changed loses that overlap: its medians moved from 0.09 s
# slower to 0.13 s faster there, but on an idle machine it can cost up to the load's time.
MAX_FILES = 4096
# What an answer holds, and the type of each.
_FIELDS = {
    "assay": str, "root": str, "config": bytes, "ledger": str, "head": (str, type(None)), "stat": tuple,
    "sources": list, "sources_json": str, "latest": tuple, "against": tuple, "signature": str, "files": int,
}


def replay_status(name: str | None, *, as_json: bool) -> str | None:
    """What ``assay data status [NAME] [--json]`` would print for the dataset ``name`` (None:
    every dataset), if it is a recorded clean answer and nothing it was computed from has
    changed; else None (the full command must run)."""
    try:
        root = find_root()
    except (WorkspaceNotFoundError, OSError):
        return None
    folder = os.path.join(root, WORKSPACE_DIR)
    answers = _read(os.path.join(folder, "cache", ANSWERS))
    if not answers or (name is not None and name not in answers):
        return None
    config = _bytes(os.path.join(folder, "config.toml"))
    heads = _heads(os.path.join(folder, "cache", "heads.json"))
    stat = _file_id(os.path.join(folder, "cache", "stat.db"))
    # stat[2][16:20]: the cache's layout (SQLite user_version; see _file_id)
    if config is None or heads is None or stat is None or stat[2][16:20] != STAT_SCHEMA.to_bytes(4, "big"):
        return None
    from assay import __version__

    now = {"assay": __version__, "root": root, "config": config, "stat": stat}
    names = [name] if name is not None else list(answers)
    fresh = {d for d in names if all(answers[d][k] == v for k, v in now.items())
             and answers[d]["head"] == heads.get(d)}
    if not fresh:
        return None
    ledger = answers[min(fresh)]["ledger"]
    found = _latest(ledger, name)
    if found is None:
        return None
    schema, latest, everyone = found
    if schema != LEDGER_SCHEMA:  # newer: the full command refuses it; older: it migrates first
        return None
    chosen = []
    for dataset, (sources_json, vid, number) in sorted(latest.items()):
        answer = answers.get(dataset)
        if (dataset not in fresh or answer is None or answer["ledger"] != ledger
                or answer["sources_json"] != sources_json or answer["latest"] != (vid, number)):
            return None
        if _shares(answer["sources"], [s for other, s in everyone if other != dataset]):
            return None  # the full command says so (status's shares_folder_with)
        chosen.append((dataset, answer))
    if not chosen:
        return None
    from assay.data._sigwalk import signature, walk_groups, walk_here

    for dataset, answer in chosen:
        groups = walk_groups(root, answer["sources"], small=True) if answer["files"] > MAX_FILES else None
        if groups is None:
            groups = walk_here(root, answer["sources"])
        if groups is None:
            return None
        if signature(groups) != (answer["signature"], answer["files"]):
            from assay.data._prefetch import walked

            walked(root, answer["sources"], dataset, groups)  # status takes this walk instead of walking again
            return None
    try:
        return render([(d, *a["against"], a["files"]) for d, a in chosen], named=name is not None, as_json=as_json)
    except ValueError:
        return None


def render(clean: list[tuple[str, str, str, int]], *, named: bool, as_json: bool) -> str:
    """What ``assay data status`` prints for clean datasets ``(dataset, against ref, against id,
    files)``: one of them (``named``) or all of them. ValueError for a string JSON would escape.

    A second copy of what the command line prints for them (``status_cmd`` and
    ``Status.to_dict``), which cannot be loaded here; tests hold the two equal."""
    if not as_json:
        return "".join(f"{d}: clean against {ref} ({files} file{'' if files == 1 else 's'})\n" for d, ref, _, files in clean)
    docs = [{"dataset": d, "against": ref, "against_id": vid, "clean": True, "added": [], "removed": [],
             "modified": [], "modes": {}, "unchanged": files, "rehashed": 0, "checked_out": True,
             "shares_folder_with": [], "ignored_sources": []}
            for d, ref, vid, files in clean]
    return _json(docs[0] if named else {"datasets": docs}, 0) + "\n"


def record(ws: Workspace, dataset: str, *, latest: Version, against: Version, sources: list[str],
           head: str | None, signature: str, files: int) -> None:
    """Leave a clean status of ``dataset`` for :func:`replay_status`: ``against`` was found clean by
    the stat signature ``signature`` of its ``files`` files, with ``latest`` the dataset's
    latest version and ``sources`` its sources in the ledger, and ``head`` what the heads file
    said for it, all as that status read them. Only a SQLite ledger at a fixed path is replayed."""
    import json

    from assay import __version__
    from assay.data._statcache import stat_cache_header
    from assay.ledger import SQLiteLedger

    ledger = ws.ledger
    try:  # not opened here: closing a descriptor of it would drop this process's SQLite locks on it
        st = os.stat(os.path.join(ws.cache_dir, "stat.db"))
    except OSError:
        return
    stat = (st.st_dev, st.st_ino, stat_cache_header(ws))
    if not isinstance(ledger, SQLiteLedger) or not ledger.path.is_absolute() or latest.dataset != dataset:
        return
    answer = {
        "assay": __version__, "root": str(ws.root), "config": ws.config.source, "ledger": str(ledger.path),
        "head": head, "stat": stat, "sources": list(sources), "sources_json": json.dumps(sources),
        "latest": (latest.id, latest.number), "against": (against.ref, against.id), "signature": signature,
        "files": files,
    }
    where = os.path.join(ws.cache_dir, ANSWERS)
    answers = _read(where)
    if answers.get(dataset) != answer:
        answers[dataset] = answer
        write_hint(where, {"format": _FORMAT, "answers": answers})


def _latest(ledger: str, name: str | None) -> tuple[int, dict[str, tuple[str, str, int]], list[tuple[str, str]]] | None:
    """The ledger file's schema version, ``{dataset: (sources as JSON, latest version id, its
    number)}`` for ``name`` or for every dataset of kind "dataset" with a version, and ``(name,
    its sources as JSON)`` of every dataset or model with a version (``_overlap.other_sources``);
    None if it cannot be read."""
    try:  # the C module alone: the sqlite3 package adds date adapters (5 ms of a cold start) unused here
        from _sqlite3 import Error, connect
    except ImportError:
        from sqlite3 import Error, connect

    # The latest version's own sources where it has them (what status reads), else the dataset's.
    sql = ("SELECT d.name, COALESCE(s.sources, d.sources), v.id, v.number FROM datasets d "
           "JOIN versions v ON v.dataset = d.name LEFT JOIN version_sources s ON s.version = v.id "
           "WHERE v.number = (SELECT MAX(number) FROM versions WHERE dataset = d.name) AND ")
    sql += "d.name = ?" if name is not None else "d.kind = 'dataset'"
    uri = "file:" + ledger.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    try:
        conn = connect(uri, uri=True, timeout=1.0)
        try:
            conn.execute("BEGIN")  # one snapshot for both reads
            schema = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchall()
            rows = conn.execute(sql, (name,) if name is not None else ()).fetchall()
            everyone = conn.execute("SELECT name, sources FROM datasets "  # models too: status names them
                                    "WHERE name IN (SELECT dataset FROM versions)").fetchall()
        finally:
            conn.close()
    except Error:
        return None
    if not isinstance(schema[0][0], int):
        return None
    return schema[0][0], {r[0]: (r[1], r[2], r[3]) for r in rows}, [(r[0], r[1]) for r in everyone]


def _shares(ours: list[str], theirs: list[str]) -> bool:
    """Whether a path of ``ours`` is, holds or is inside one of the sources in ``theirs`` (each
    a JSON list, as the ledger holds it), as ``_overlap.sharing`` finds it; True (the full command
    decides) for a list this reading does not cover: ``json.dumps`` of plain strings, no escapes."""
    for text in theirs:
        if not isinstance(text, str) or "\\" in text:
            return True
        tokens = text.split('"')  # outside strings (the even pieces) only JSON's punctuation and spaces
        between = [t.strip(" ") for t in tokens[::2]]
        if between == ["[]"]:
            continue
        if len(tokens) % 2 == 0 or between[0] != "[" or between[-1] != "]" or any(b != "," for b in between[1:-1]):
            return True
        if any(a == b or a.startswith(b + "/") or b.startswith(a + "/") for a in ours for b in tokens[1::2]):
            return True
    return False


def _read(path: str) -> dict[str, dict]:
    """The answers in the file at ``path`` whose fields are all there; empty if none or unreadable."""
    document = read_hint(path)
    if not isinstance(document, dict) or document.get("format") != _FORMAT or not isinstance(document.get("answers"), dict):
        return {}
    return {d: a for d, a in document["answers"].items() if isinstance(d, str) and _well_formed(a)}


def _well_formed(answer: object) -> bool:
    if not isinstance(answer, dict) or not all(k in answer and isinstance(answer[k], t) for k, t in _FIELDS.items()):
        return False
    latest, against = answer["latest"], answer["against"]
    return (all(isinstance(s, str) for s in answer["sources"])
            and len(latest) == 2 and isinstance(latest[0], str) and isinstance(latest[1], int)
            and len(against) == 2 and all(isinstance(s, str) for s in against))


def _file_id(path: str) -> tuple[int, int, bytes] | None:
    """The stat cache's file: its ``(device, inode, SQLite header fields)`` (its format, its
    layout's version and the chunk settings it was built for: ``_statcache.stat_cache_header``);
    None if there is none. Another file, or one whose header says otherwise, is one the full
    command would rebuild and re-hash the files into, and say so in ``rehashed``. Read only
    where no SQLite connection to it is open in this process (the entry point's first moments)."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            st = os.fstat(f.fileno())
    except OSError:
        return None
    return st.st_dev, st.st_ino, header[:16] + header[60:64] + header[68:72]


def _heads(path: str) -> dict[str, str] | None:
    """What the heads file says, ``{dataset: version id}`` (empty: no file), or None for what
    this reading does not cover: ``json.loads`` of an object of plain strings (no escapes), as
    `set_head` writes it, without loading ``json``."""
    try:
        data = read_small(path)
    except FileNotFoundError:
        return {}
    except OSError:
        return None  # the full command fails on it, and says why
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\\" in text:
        return None
    tokens = text.split('"')  # outside strings (the even pieces) only JSON's punctuation and spaces
    if len(tokens) % 2 == 0:
        return None
    between = [t.strip(" \t\n\r") for t in tokens[::2]]
    strings = tokens[1::2]
    if any(c < " " for t in strings for c in t):
        return None  # json.loads refuses control characters in a string
    if not strings:
        return {} if between == ["{}"] else None
    if between[0] != "{" or between[-1] != "}" or len(strings) % 2:
        return None
    if any(sep != (":" if i % 2 == 0 else ",") for i, sep in enumerate(between[1:-1])):
        return None
    return dict(zip(strings[::2], strings[1::2]))  # a repeated key: the last one, as json.loads


def _bytes(path: str) -> bytes | None:
    """The file's bytes; None if it cannot be read or is bigger than any answer records."""
    try:
        return read_small(path)
    except OSError:
        return None


def _json(value: object, level: int) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)`` for the plain values of a status,
    without loading ``json`` (and its ``re``)."""
    pad = "  " * (level + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if any(c in '"\\' or c < " " for c in value):
            raise ValueError(f"{value!r} needs escaping")
        return f'"{value}"'
    if isinstance(value, dict):
        opening, closing = "{", "}"
        items = [f"{pad}{_json(k, level + 1)}: {_json(v, level + 1)}" for k, v in value.items()]
    elif isinstance(value, list):
        opening, closing = "[", "]"
        items = [pad + _json(v, level + 1) for v in value]
    else:
        raise TypeError(f"no JSON for {type(value).__name__}")
    if not items:
        return opening + closing
    return opening + "\n" + ",\n".join(items) + "\n" + "  " * level + closing
