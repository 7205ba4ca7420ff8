"""Writing a report file: atomically, and a path that cannot be written is an input error that
says why (a folder on the way that is a file, a folder that cannot be made or written to)."""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["write_report_file"]


def write_report_file(path: Path | str, text: str, what: str = "report") -> Path:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename; missing folders are made);
    :class:`~assay.errors.InputError` naming the path and the reason where it cannot be written
    (a full disk stays a :class:`~assay.errors.NoSpaceError`, as everywhere)."""
    from assay.config import atomic_write_bytes
    from assay.errors import InputError

    if not Path(path).name:  # "" (an unset shell variable) or ".": Path.with_name would raise ValueError
        raise InputError(f"cannot write the {what} {str(path)!r}: it names no file", hint="give a file path, e.g. report.html")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write the {what} {path}: it is a folder", hint="give a file path inside it, e.g. report.html")
    try:
        atomic_write_bytes(path, text.encode("utf-8"))  # (a failed write leaves no temp file)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # a full disk is reported as such, with what to free
        raise InputError(f"cannot write the {what} {path}: {_why(path, exc)}", hint="give a path in a folder this user can write to") from None
    return path


def _why(path: Path, exc: OSError) -> str:
    """What stands in the way: a file where a folder of the path should be, else the OS's reason."""
    for above in path.parents:
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                return f"{above} is a file, not a folder"
            break
    return exc.strerror or str(exc)
