"""Checkout's temp files: how they are named, the notes that say where a checkout writes
them, and the sweeps that remove those a killed checkout left.

A file is written to ``.assay-tmp-<pid>-<random>`` beside its destination and renamed
into place (see :mod:`assay.data._checkout`); a folder that does not exist yet is made
under such a name, its files written under their own names inside, and renamed into
place whole. A checkout that is interrupted removes its own; one killed outright cannot,
so the next checkout (or gc) removes those whose writer is gone.
"""

from __future__ import annotations

import os
import shutil
import stat

from assay._root import CHECKOUT_TMP, TMP_TAIL, not_data
from assay.errors import UsageError
from assay.workspace import Workspace

_TMP = CHECKOUT_TMP  # + the checking-out process's pid + "-" + random


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def make_temp_folder(folder: str) -> str:
    """Make a folder named as a checkout's temp file beside ``folder``, to be renamed to
    it; its path. An error names ``folder`` (a user knows no temp name)."""
    parent = folder.rpartition("/")[0]
    for attempt in range(8):
        path = f"{parent}/{_TMP}{os.getpid()}-{os.urandom(TMP_TAIL // 2).hex()}"
        try:
            os.mkdir(path)
        except FileExistsError:
            if attempt == 7:
                raise
            continue
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, folder) from None  # (of the same subclass: PermissionError...)
        return path
    raise AssertionError("unreachable")


def move_folder_into_place(temp: str, folder: str, ref: str) -> None:
    """Rename the temp folder ``temp``, which holds what ``ref`` has in ``folder``, to it.
    ``folder`` was not there when the checkout was planned; if something is there now (made
    meanwhile by someone else), it is left alone and the checkout stops, its new folders
    swept (an empty folder is replaced: nothing is lost)."""
    try:
        os.rename(temp, folder)
    except OSError:
        if os.path.lexists(folder):
            raise UsageError(f"{folder} appeared while {ref} was being checked out; it was left as it is",
                             hint="move it away and check out again") from None
        raise


def _mark_writes(ws: Workspace, folders: set[str]) -> str | None:
    """Note, for as long as this checkout writes, the folders it writes temp files in
    (``cache/checkouts/<pid>-<random>``): a checkout killed outright (SIGKILL, a power cut)
    cannot remove them, and the next one then can (:func:`_sweep_killed`), also in a
    ``--to`` folder, where no gc looks. None where the note cannot be written."""
    from assay._process import host_tag

    folder = ws.cache_dir / "checkouts"
    path = f"{folder}/{os.getpid()}-{host_tag()}-{os.urandom(4).hex()}"  # (a workspace on a file server)
    try:
        folder.mkdir(exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("\n".join(sorted(folders)))
    except OSError:
        return None
    return path


def _sweep_killed(ws: Workspace) -> None:
    """Remove the temp files of checkouts killed outright, in the folders their notes name
    (see :func:`_mark_writes`), and the notes."""
    from assay._process import host_tag, writer_gone

    try:
        notes = list(os.scandir(ws.cache_dir / "checkouts"))
    except OSError:
        return
    for note in notes:
        pid, _, rest = note.name.partition("-")
        try:
            if not pid.isdigit() or not rest.startswith(host_tag() + "-"):  # another machine's: its own to sweep
                continue
            if not writer_gone(int(pid), note.stat().st_mtime):
                continue
            with open(note.path, encoding="utf-8", errors="surrogateescape") as fh:
                folders = fh.read().split("\n")
        except OSError:
            continue
        for folder in folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            remove_dead_temps(folder, names)
        _unlink(note.path)


def remove_dead_temps(folder: str, names: list[str], *, dry_run: bool = False) -> tuple[int, int]:
    """Remove (with ``dry_run``, count) the checkout temp files and folders among ``names``
    in ``folder`` whose writer is gone: named exactly ``.assay-tmp-<pid>-<8 hex digits>``
    (any other name is a user's file), by a process that has ended. ``(files, bytes)``
    found, a temp folder counted by the files it holds."""
    found = size = 0
    for name in names:
        if not not_data(name, False):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if temp_writer_gone(name, st.st_mtime):
            files, nbytes = _held(path) if stat.S_ISDIR(st.st_mode) else (1, st.st_size)
            found += files
            size += nbytes
            if not dry_run:
                _remove(path)
    return found, size


def temp_writer_gone(name: str, mtime: float) -> bool:
    """Whether the checkout that made the temp file or folder ``name`` (``.assay-tmp-<pid>-<hex>``,
    see :func:`~assay._root.not_data`), last modified at ``mtime``, has ended."""
    from assay._process import writer_gone

    return writer_gone(int(name[len(_TMP):].partition("-")[0]), mtime)


def _held(folder: str) -> tuple[int, int]:
    """The files under ``folder`` (a temp folder: symlinks are not followed) and their bytes."""
    files = size = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                size += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                continue
            files += 1
    return files, size


def _remove(path: str) -> None:
    """Remove a temp file, or a temp folder with all it holds (links in it, never what they lead to)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)


def _sweep(folders: set[str], tag: int) -> None:
    """Remove the temp files and folders a checkout by process ``tag`` (or its workers) left in ``folders``."""
    prefix = f"{_TMP}{tag}-"
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                leftovers = [e.path for e in it if e.name.startswith(prefix) and not_data(e.name, False)]
        except OSError:
            continue
        for path in leftovers:
            _remove(path)
