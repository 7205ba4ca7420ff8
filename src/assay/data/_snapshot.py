"""Snapshots: a Merkle tree of relative paths to file manifests.

A file manifest is a file's size, mode and ordered chunk digests; its id is the
hash of its canonical encoding. A folder's node hashes its sorted entries; the
snapshot id is the root node's hash. The stored object carries the flat list of
manifests, and loading it recomputes the root, so a damaged snapshot cannot pass
for an intact one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from assay.errors import CorruptionError, UnsafePathError

__all__ = ["MAX_CHUNK", "FileManifest", "ManifestMemo", "Snapshot", "check_relpath"]

FORMAT = 1
_BAD_PARTS = frozenset(("", ".", ".."))
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')  # a path JSON writes as it is, between quotes
_SURROGATE = re.compile("[\ud800-\udfff]")
_TREE_LINE = re.compile("\n[fd] [0-9a-f]{64} ")  # how an entry's line starts in a folder's node
# The largest chunk a manifest may name. FastCDC's largest is four times the average, and
# data.chunk_avg is at most 4 MiB; a bigger size is damage (and would let a remote make a
# reader allocate what it claims).
MAX_CHUNK = 64 << 20


@functools.lru_cache(maxsize=1 << 17)  # a long history's snapshots name the same paths again and again
def check_relpath(path: str) -> str:
    """A manifest path must be relative, normalized and free of ``..``; anything else is refused.
    So are names no file system here can hold or that would make the tree's encoding ambiguous:
    a line break followed by what starts an entry's line (a folder's node hashes one line
    ``kind hash name`` per entry, so ``a\nf <hash> b`` could stand for two entries; other line
    breaks are only names), lone surrogates (not UTF-8), and a part longer than 255 bytes."""
    # Plain string checks: this runs once per file of every snapshot loaded.
    if not path or "\x00" in path or "\\" in path:
        raise UnsafePathError(f"refusing path {path!r} in a manifest")
    if "\n" in path and _TREE_LINE.search(path):
        raise UnsafePathError(f"refusing path {path!r} in a manifest: it holds what reads as a second tree entry")
    if path[0] == "/" or any(part in _BAD_PARTS for part in path.split("/")):
        raise UnsafePathError(f"refusing path {path!r} in a manifest: paths must be relative and stay inside the target")
    if not path.isascii() and _SURROGATE.search(path):
        raise UnsafePathError(f"refusing path {path!r} in a manifest: it is not valid UTF-8")
    if len(path) > 255 and any(len(part.encode()) > 255 for part in path.split("/")):
        raise UnsafePathError(f"refusing path {path[:80]!r}... in a manifest: a name in it is longer than 255 bytes")
    return path


@dataclass(frozen=True, slots=True)
class FileManifest:
    """One file of a :class:`Snapshot`: its ``size`` in bytes, its ``mode`` (permission bits, an
    int: ``0o644``) and its ``chunks``, ``(digest, size in bytes)`` in file order; ``id`` is
    the hash of all three."""

    size: int
    mode: int
    chunks: tuple[tuple[bytes, int], ...]  # (digest, raw size) in file order
    # Slots and a hand-cached id: a snapshot holds one of these per file (50,000+).
    _id: str | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        # Cached: status, diff and the Merkle root each ask for it, once per file.
        value = self._id
        return value if value is not None else self.id_and_bytes()[0]

    def id_and_bytes(self) -> tuple[str, bytes]:
        """The id and the encoding it is the hash of, encoded once (the id is then cached)."""
        data = self.encode()
        value = self._id
        if value is None:  # blake3 imported on first use: a clean `status` never hashes
            from blake3 import blake3

            value = blake3(data).hexdigest()
            object.__setattr__(self, "_id", value)
        return value, data

    def encode(self) -> bytes:
        """``SIZE:MODE|`` (decimal, octal) then each chunk's 32-byte digest and 4-byte little-endian size."""
        head = b"%d:%o|" % (self.size, self.mode & 0o777)
        chunks = self.chunks
        if len(chunks) == 1:  # most files: one chunk
            digest, n = chunks[0]
            return head + digest + n.to_bytes(4, "little")
        return head + b"".join([d + n.to_bytes(4, "little") for d, n in chunks])

    @classmethod
    def decode(cls, data: bytes) -> FileManifest:
        """The inverse of :meth:`encode` (used by the local stat cache)."""
        head, sep, body = data.partition(b"|")
        size, _, mode = head.partition(b":")
        if not sep or len(body) % 36:
            raise ValueError("not an encoded file manifest")
        if len(body) == 36:  # one chunk: most files
            return cls(int(size), int(mode, 8), ((body[:32], int.from_bytes(body[32:], "little")),))
        chunks = tuple((body[i:i + 32], int.from_bytes(body[i + 32:i + 36], "little")) for i in range(0, len(body), 36))
        return cls(int(size), int(mode, 8), chunks)

    def to_json(self) -> list[object]:
        return [self.size, self.mode & 0o777, [[d.hex(), n] for d, n in self.chunks]]

    @classmethod
    def from_json(cls, raw: list[object]) -> FileManifest:
        """A manifest as a stored snapshot gives it, checked: it may come from a remote. Its
        id hashes only what :meth:`encode` writes, so anything else (mode bits beyond 0o777,
        a digest of another length, chunks that do not add up to the size) would let two
        different manifests share an id: each is refused as damage."""
        size, mode, chunks = raw
        if type(size) is not int or type(mode) is not int or not 0 <= mode <= 0o777 or type(chunks) is not list:
            raise ValueError("a file manifest holds a size, a mode (at most 0o777) and a chunk list")
        if len(chunks) == 1:  # most files
            (d, n), = chunks
            digest = bytes.fromhex(d)  # (a str, or this raises)
            if len(digest) != 32 or type(n) is not int or not 0 < n <= MAX_CHUNK or n != size:
                raise ValueError(f"bad chunk entry {[d, n]!r} for a file of {size} bytes")
            return cls(size, mode, ((digest, n),))
        out = []
        total = 0
        for d, n in chunks:
            digest = bytes.fromhex(d)
            if len(digest) != 32 or type(n) is not int or not 0 < n <= MAX_CHUNK:
                raise ValueError(f"bad chunk entry {[d, n]!r}")
            out.append((digest, n))
            total += n
        if total != size:
            raise ValueError(f"its chunks hold {total} bytes, its size says {size}")
        return cls(size, mode, tuple(out))


@dataclass
class Snapshot:
    """An immutable tree of files (and empty folders) keyed by relative posix path."""

    files: dict[str, FileManifest]
    empty_dirs: tuple[str, ...] = ()
    _id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for path in self.files:
            check_relpath(path)
        for path in self.empty_dirs:
            check_relpath(path)
        self.empty_dirs = tuple(sorted(set(self.empty_dirs)))

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = self._merkle_root()
        return self._id

    @property
    def total_bytes(self) -> int:
        return sum(m.size for m in self.files.values())

    def chunk_digests(self) -> set[bytes]:
        return {d for m in self.files.values() for d, _ in m.chunks}

    def _merkle_root(self) -> str:
        # children[folder] = {name: (kind, hash)}; build bottom-up by depth.
        tree: dict[str, dict[str, tuple[str, str]]] = {"": {}}
        for path, manifest in self.files.items():
            _place(tree, path, ("f", manifest.id))
        for path in self.empty_dirs:
            _ensure_dir(tree, path)
        hashes: dict[str, str] = {}
        from blake3 import blake3

        for folder in sorted(tree, key=lambda f: f.count("/") + (1 if f else 0), reverse=True):
            lines = []
            for name, (kind, h) in sorted(tree[folder].items()):
                if kind == "d":
                    h = hashes[name if not folder else f"{folder}/{name}"]
                lines.append(f"{kind} {h} {name}\n")
            hashes[folder] = blake3("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
        return hashes[""]

    def encode(self) -> bytes:
        """The stored form: ``{"format", "id", "files": {path: [size, mode, [[digest hex, size], ...]]},
        "empty_dirs"}`` as compact JSON, the bytes ``json.dumps(doc, separators=(",", ":"),
        ensure_ascii=False)`` gives, written out directly (a third of the time, on 50,000 files)."""
        files = self.files
        parts = []
        for path in sorted(files):
            m = files[path]
            chunks = ",".join([f'["{d.hex()}",{n}]' for d, n in m.chunks])
            name = f'"{path}"' if _PLAIN.fullmatch(path) else json.dumps(path, ensure_ascii=False)
            parts.append(f"{name}:[{m.size},{m.mode & 0o777},[{chunks}]]")
        dirs = json.dumps(list(self.empty_dirs), separators=(",", ":"), ensure_ascii=False)
        text = f'{{"format":{FORMAT},"id":"{self.id}","files":{{{",".join(parts)}}},"empty_dirs":{dirs}}}'
        return text.encode("utf-8", "surrogateescape")

    @classmethod
    def decode(cls, data: bytes, *, expect_id: str | None = None, memo: ManifestMemo | None = None) -> Snapshot:
        """The stored form read back and checked against ``expect_id``. ``memo``: where many
        snapshots are read in turn (gc, verify, push, pull), the manifests of the one read
        before, so that a file that did not change is not checked and hashed again."""
        try:
            doc = json.loads(data.decode("utf-8", "surrogateescape"))
            if memo is None:
                files = {path: FileManifest.from_json(raw) for path, raw in doc["files"].items()}
            else:
                files = memo.manifests(doc["files"])
            snap = cls(files=files, empty_dirs=tuple(doc.get("empty_dirs", ())))
        except UnsafePathError as exc:  # a stored snapshot no add makes: damage (or a forgery), named as such
            raise CorruptionError(f"snapshot {expect_id or '?'} is damaged: {exc.message}", key=expect_id) from None
        except Exception as exc:
            raise CorruptionError(f"snapshot {expect_id or '?'} is damaged: {exc}", key=expect_id) from None
        if expect_id is not None and snap.id != expect_id:
            raise CorruptionError(f"snapshot {expect_id} is damaged: its content hashes to {snap.id}", key=expect_id)
        return snap

    def subset(self, prefixes: Iterable[str]) -> Snapshot:
        prefixes = list(prefixes)
        keep = {p: m for p, m in self.files.items() if any(p == x or p.startswith(x + "/") for x in prefixes)}
        dirs = tuple(d for d in self.empty_dirs if any(d == x or d.startswith(x + "/") for x in prefixes))
        return Snapshot(keep, dirs)


class ManifestMemo:
    """The manifests of the snapshot decoded last, by their stored form: the next snapshot
    reuses each one it holds unchanged (already checked, its id already hashed), which is
    most of them between two versions of a dataset. Only the last snapshot's are kept, so
    reading a long history takes the memory of two snapshots, not of all of them.

    A stored form is reused only where its values have exactly the types a checked one had
    (``true`` equals ``1`` as a key, but :meth:`FileManifest.from_json` refuses it)."""

    def __init__(self) -> None:
        self._last: dict[tuple[object, ...], FileManifest] = {}

    def manifests(self, raw_files: dict[str, list[object]]) -> dict[str, FileManifest]:
        last = self._last
        now: dict[tuple[object, ...], FileManifest] = {}
        files = {}
        for path, raw in raw_files.items():
            key = _stored_key(raw)
            if key is None:
                files[path] = FileManifest.from_json(raw)  # (raises for what is no manifest)
                continue
            m = last.get(key) or now.get(key)
            if m is None:
                m = FileManifest.from_json(raw)
            files[path] = now[key] = m
        self._last = now
        return files


def _stored_key(raw: object) -> tuple[object, ...] | None:
    """A manifest's stored form as a key, or None where some value is not of the exact type
    a manifest's is (then it is checked on its own, and refused)."""
    if type(raw) is not list or len(raw) != 3:
        return None
    size, mode, chunks = raw
    if type(size) is not int or type(mode) is not int or type(chunks) is not list:
        return None
    if len(chunks) == 1:  # most files
        chunk = chunks[0]
        if type(chunk) is not list or len(chunk) != 2 or type(chunk[0]) is not str or type(chunk[1]) is not int:
            return None
        return size, mode, chunk[0], chunk[1]
    flat: list[object] = [size, mode]
    for chunk in chunks:
        if type(chunk) is not list or len(chunk) != 2 or type(chunk[0]) is not str or type(chunk[1]) is not int:
            return None
        flat += chunk
    return tuple(flat)


def _ensure_dir(tree: dict[str, dict[str, tuple[str, str]]], folder: str) -> None:
    if folder in tree:
        return
    parent, _, name = folder.rpartition("/")
    _ensure_dir(tree, parent)
    if tree[parent].get(name, ("d", ""))[0] == "f":
        raise UnsafePathError(f"{folder} is both a file and a folder in one snapshot")
    tree[folder] = {}
    tree[parent][name] = ("d", "")


def _place(tree: dict[str, dict[str, tuple[str, str]]], path: str, entry: tuple[str, str]) -> None:
    folder, _, name = path.rpartition("/")
    _ensure_dir(tree, folder)
    if tree[folder].get(name, ("f", ""))[0] == "d":
        raise UnsafePathError(f"{path} is both a file and a folder in one snapshot")
    tree[folder][name] = entry
