"""Writing a report file: atomically, and a path that cannot be written is an input error that
says why (a folder on the way that is a file, a folder that cannot be made or written to)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["check_output_paths", "check_report_path", "write_report_file"]

_WRITABLE_HINT = "give a path in a folder this user can write to"
_OUTSIDE_HINT = "give a path outside the workspace's .assay folder, e.g. report.html"


def check_report_path(path: Path | str, what: str = "report") -> Path:
    """``path`` as a :class:`~pathlib.Path` if :func:`write_report_file` could write it now, else
    the :class:`~assay.errors.InputError` it would raise: a path that names no file, a folder
    where the file must be, a file where a folder must be, or a folder that this user cannot
    write into (or make the missing folders in). Nothing is left written or made (an entry is made
    and removed in the nearest existing folder, to be sure it can be): a command calls
    this before its work, so that a report it cannot write is refused before anything runs
    or is recorded.

    A path inside a workspace's ``.assay/`` folder (where symlinks lead) is refused too: a
    report written over its ledger or config leaves the workspace unreadable. So is an existing
    file that is not of the kind ``what`` names (a Parquet file given as a report): only an earlier
    report, JUnit file or profile is replaced."""
    from assay._root import WORKSPACE_DIR
    from assay.errors import InputError

    if not Path(path).name:  # "" (an unset shell variable) or ".": Path.with_name would raise ValueError
        raise InputError(f"cannot write the {what} {str(path)!r}: it names no file", hint="give a file path, e.g. report.html")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write the {what} {path}: it is a folder", hint="give a file path inside it, e.g. report.html")
    if WORKSPACE_DIR in Path(os.path.abspath(path)).parts[:-1] or WORKSPACE_DIR in path.resolve().parts[:-1]:
        raise InputError(f"cannot write the {what} {path}: it is inside a workspace's {WORKSPACE_DIR} folder, "
                         "which holds its ledger, config and store", hint=_OUTSIDE_HINT)
    _refuse_overwriting_other(path, what)
    for above in path.parents:  # the nearest that exists: the missing ones below it are made in it
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                raise InputError(f"cannot write the {what} {path}: {above} is a file, not a folder", hint=_WRITABLE_HINT)
            if not os.access(above, os.W_OK | os.X_OK) or not _can_make_in(above, folder_entry=above != path.parent):
                raise InputError(f"cannot write the {what} {path}: this user cannot write in the folder {above}",
                                 hint=_WRITABLE_HINT)
            break
    return path


#: how a file each output may replace begins: a report assay wrote before (run again, it is
#: rewritten), never a data file, a model or a suite given where a report was meant
_OVERWRITES = {"report": (b"<!doctype html", b"<html"), "JUnit file": (b"<?xml", b"<testsuites"),
               "profile": (b"{",), "merged profile": (b"{",)}


def _refuse_overwriting_other(path: Path, what: str) -> None:
    """Refuse to replace an existing file that is not of the kind written (``train.parquet``
    given as ``--report`` was overwritten with HTML). An empty file may be replaced."""
    from assay.errors import InputError

    kinds = _OVERWRITES.get(what)
    if kinds is None or not path.is_file():
        return
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return  # (the write says why it cannot, if it cannot)
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if start and not start.startswith(kinds):
        shown = "".join(ch if ch.isprintable() else "." for ch in head[:12].decode("latin-1"))
        raise InputError(f"cannot write the {what} {path}: the file is there and is no {what} (it begins {shown!r}), "
                         "which it would replace", hint="give a new file's path, or remove that file first if it is meant to go")


def _can_make_in(folder: Path, *, folder_entry: bool) -> bool:
    """Whether an entry (a folder, where the missing ones are made; else the temp file) can be
    made in ``folder`` now: one is made and removed at once. ``os.access`` alone says yes to root
    for /proc, /sys and other file systems that refuse every new entry, and the write, after the
    check had run and been recorded, then failed."""
    probe = folder / f".assay-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        if folder_entry:
            probe.mkdir()
            probe.rmdir()
        else:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            probe.unlink()
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)  # a full disk is said when the write finds it
    return True


def check_output_paths(outputs: dict[str, Path | str | None], inputs: Iterable[Path | str | None] = ()) -> None:
    """Refuse, before a command's work, the files it would write (``outputs``: what each is, e.g.
    ``{"report": path, "JUnit file": path}``) that it cannot write (:func:`check_report_path`), that
    are the same file as one of the run's ``inputs`` (a suite, data or model file; entries that are
    no existing file are skipped), or that are given for two outputs, each overwriting the other."""
    from assay.errors import InputError

    files = [Path(p) for p in inputs if p is not None and Path(p).is_file()]
    for what, path in outputs.items():  # first: "it is an input" says more than what the file holds
        if path is not None and Path(path).is_file():
            for used in files:
                if os.path.samefile(path, used):
                    raise InputError(f"cannot write the {what} {path}: it is {used}, an input of this run, which it would overwrite",
                                     hint="give a new file's path, e.g. report.html")
    given = {what: check_report_path(path, what) for what, path in outputs.items() if path is not None}
    seen: dict[str, str] = {}
    for what, path in given.items():
        full = os.path.realpath(path)
        if full in seen:
            raise InputError(f"the {seen[full]} and the {what} are the same file {path}: each would overwrite the other",
                             hint="give them different paths")
        seen[full] = what


def write_report_file(path: Path | str, text: str, what: str = "report") -> Path:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename; missing folders are made);
    :class:`~assay.errors.InputError` naming the path and the reason where it cannot be written
    (see :func:`check_report_path`; a full disk stays a :class:`~assay.errors.NoSpaceError`,
    as everywhere)."""
    from assay.config import atomic_write_bytes
    from assay.errors import InputError

    path = check_report_path(path, what)
    try:
        atomic_write_bytes(path, text.encode("utf-8"))  # (a failed write leaves no temp file)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # a full disk is reported as such, with what to free
        raise InputError(f"cannot write the {what} {path}: {_why(path, exc)}", hint=_WRITABLE_HINT) from None
    return path


def _why(path: Path, exc: OSError) -> str:
    """What stands in the way: a file where a folder of the path should be, else the OS's reason."""
    for above in path.parents:
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                return f"{above} is a file, not a folder"
            break
    return exc.strerror or str(exc)
