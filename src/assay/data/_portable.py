"""Paths that one file system tells apart and another does not.

Linux keeps ``A.csv`` and ``a.csv`` apart, and ``é`` written as one code point or as ``e``
plus an accent; macOS (APFS, HFS+) and Windows (NTFS, exFAT, FAT) by default do not. A
version added on Linux may hold both: checked out where they are one name, one file would
overwrite the other and the checkout would say it wrote the version. `add` says so when a
version holds such paths, and checkout refuses them on a file system that folds them.
"""

from __future__ import annotations

import errno
import os
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from assay.errors import UsageError

__all__ = ["colliding", "collisions_note", "refuse_collisions"]


def _case_folded(path: str) -> str:
    """``path`` as a file system that ignores case keeps it: each character folded to one
    (simple folding, as APFS and NTFS do), never ``str.casefold``'s full folding, which makes
    ``straße`` and ``strasse`` one name where no file system does."""
    if path.isascii():
        return path.lower()
    folded = path.casefold()
    if len(folded) == len(path):  # each character folded to one (no character folds to none)
        return folded
    out = []
    for ch in path:
        folded = ch.casefold()
        out.append(folded if len(folded) == 1 else ch.lower() if len(ch.lower()) == 1 else ch)
    return "".join(out)


def _folded(path: str) -> str:
    return _case_folded(unicodedata.normalize("NFC", path))


def _paths_and_folders(paths: list[str]) -> set[str]:
    out = set(paths)
    folders = {path.rpartition("/")[0] for path in paths if "/" in path}  # few, beside the files
    while folders:
        out |= folders
        folders = {f.rpartition("/")[0] for f in folders if "/" in f} - out
    return out


def colliding(paths: Iterable[str], key: Callable[[str], str] = _folded) -> list[list[str]]:
    """Groups of paths (files, or the folders they are in) that ``key`` makes one: by default
    those equal but for case or Unicode form."""
    paths = list(paths)
    joined = "\n".join(paths)
    if joined.isascii() and joined == joined.lower():
        return []  # nothing to fold (most versions): checked at C speed
    names = _paths_and_folders(paths)
    if joined.isascii() and key is _folded and len(set(map(str.lower, names))) == len(names):
        return []  # ASCII names fold only by case, and none folds onto another
    groups: dict[str, list[str]] = {}
    for path in names:
        if path.isascii() and path.islower():
            groups.setdefault(path, []).append(path)  # (its own key: most paths, cheaply)
        else:
            groups.setdefault(key(path), []).append(path)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


def _said(groups: list[list[str]]) -> str:
    def name(path: str, group: list[str]) -> str:  # two Unicode forms print alike: then their code points
        alike = sum(unicodedata.normalize("NFC", p) == unicodedata.normalize("NFC", path) for p in group) > 1
        if not alike or path.isascii():
            return path
        return "".join(ch if ch.isascii() else f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}"
                       for ch in path)

    shown = "; ".join(" and ".join(name(p, group) for p in group) for group in groups[:3])
    return shown + (f"; and {len(groups) - 3} more" if len(groups) > 3 else "")


def collisions_note(ref: str, groups: list[list[str]]) -> str:
    return (f"{ref} holds paths that differ only in case or Unicode form ({_said(groups)}): a checkout on a file "
            "system that does not tell them apart (macOS, Windows) will refuse it; rename one to share it there")


def folds(root: Path) -> tuple[bool, bool]:
    """Whether the file system of the folder ``root`` takes names that differ in case, and in
    Unicode form, for one name: a probe file made and removed there."""
    name = f".assay-probe-{os.getpid()}-{os.urandom(4).hex()}-a\u00e9"
    probe = root / name
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        return _folds_by_names(root)  # (a read-only target: a checkout with nothing to write goes on)
    os.close(fd)
    try:
        case = os.path.lexists(root / name.upper()) if name.upper() != name else False
        form = os.path.lexists(root / unicodedata.normalize("NFD", name))
    finally:
        os.unlink(probe)
    return case, form


def _folds_by_names(root: Path) -> tuple[bool, bool]:
    """:func:`folds` where no probe can be written: the names already in ``root`` looked up in
    another case and form. Where none can tell, neither is said (no file can be written there
    by this user to overwrite another; a write the checkout needs fails on its own)."""
    names = set(os.listdir(root))
    case = form = False
    for name in sorted(names):
        other = name.swapcase()
        if name.isascii() and other != name and other not in names:
            case = os.path.lexists(root / other)
            break
    for name in sorted(names):
        nfc, nfd = unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)
        other = nfd if name == nfc else nfc
        if other != name and other not in names:
            form = os.path.lexists(root / other)
            break
    return case, form


def refuse_collisions(root: Path, ref: str, paths: list[str]) -> None:
    """Refuse to check ``paths`` of ``ref`` out into ``root`` where two of them would be one
    name there. The probe runs only where the version holds such paths."""
    if not colliding(paths):
        return
    case, form = folds(root)
    if not (case or form):
        return

    def key(path: str) -> str:
        path = unicodedata.normalize("NFC", path) if form else path
        return _case_folded(path) if case else path

    groups = colliding(paths, key)
    if groups:
        how = " and ".join(w for w, on in (("case", case), ("Unicode form", form)) if on)
        raise UsageError(
            f"refusing to check out {ref} into {root}: its file system does not tell apart names that differ in "
            f"{how}, and the version holds such paths ({_said(groups)}); one would overwrite the other",
            hint="check it out on a file system that tells them apart (Linux, or a case-sensitive volume), or "
                 "rename one of each and add that as a new version where they were added")
