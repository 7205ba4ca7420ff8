"""Writing a report file: atomically, and a path that cannot be written is an input error that
says why (a folder on the way that is a file, a folder that cannot be made or written to)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["check_report_path", "write_report_file"]

_WRITABLE_HINT = "give a path in a folder this user can write to"


def check_report_path(path: Path | str, what: str = "report") -> Path:
    """``path`` as a :class:`~pathlib.Path` if :func:`write_report_file` could write it now, else
    the :class:`~assay.errors.InputError` it would raise: a path that names no file, a folder
    where the file must be, a file where a folder must be, or a folder that this user cannot
    write into (or make the missing folders in). Nothing is written or made: a command calls
    this before its work, so that a report it cannot write is refused before anything runs
    or is recorded."""
    from assay.errors import InputError

    if not Path(path).name:  # "" (an unset shell variable) or ".": Path.with_name would raise ValueError
        raise InputError(f"cannot write the {what} {str(path)!r}: it names no file", hint="give a file path, e.g. report.html")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write the {what} {path}: it is a folder", hint="give a file path inside it, e.g. report.html")
    for above in path.parents:  # the nearest that exists: the missing ones below it are made in it
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                raise InputError(f"cannot write the {what} {path}: {above} is a file, not a folder", hint=_WRITABLE_HINT)
            if not os.access(above, os.W_OK | os.X_OK):  # the temp file (or a missing folder) is made in it
                raise InputError(f"cannot write the {what} {path}: this user cannot write in the folder {above}",
                                 hint=_WRITABLE_HINT)
            break
    return path


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
