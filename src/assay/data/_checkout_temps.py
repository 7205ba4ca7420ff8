"""Checkout's temp files: how they are named, the notes that say where a checkout writes
them, and the sweeps that remove those a killed checkout left.

A file is written to ``.assay-tmp-<pid>-<random>`` beside its destination and renamed
into place (see :mod:`assay.data._checkout`). A checkout that is interrupted removes its
own; one killed outright cannot, so the next checkout (or gc) removes those whose
writer is gone.
"""

from __future__ import annotations

import os

from assay._root import CHECKOUT_TMP, not_data
from assay.workspace import Workspace

_TMP = CHECKOUT_TMP  # + the checking-out process's pid + "-" + random


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
    """Remove (with ``dry_run``, count) the checkout temp files among ``names`` in ``folder``
    whose writer is gone: named exactly ``.assay-tmp-<pid>-<8 hex digits>`` (any other name
    is a user's file), by a process that has ended. ``(files, bytes)`` found."""
    from assay._process import writer_gone

    found = size = 0
    for name in names:
        if not not_data(name, False):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if writer_gone(int(name[len(_TMP):].partition("-")[0]), st.st_mtime):
            found += 1
            size += st.st_size
            if not dry_run:
                _unlink(path)
    return found, size


def _sweep(folders: set[str], tag: int) -> None:
    """Remove the temp files a checkout by process ``tag`` (or its workers) left in ``folders``."""
    prefix = f"{_TMP}{tag}-"
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                leftovers = [e.path for e in it if e.name.startswith(prefix) and not_data(e.name, False)]
        except OSError:
            continue
        for path in leftovers:
            _unlink(path)
