"""Which remotes a workspace knows: `assay remote add` and `remove`, and whether this user may
write to a folder remote (a published share is pulled from, never pushed to). Transfers are
:mod:`assay.data._remote` and :mod:`assay.data._pull`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import Remote
from assay.errors import InputError, NotFoundError, UsageError
from assay._warn import warn_user
from assay.store import check_store, open_store
from assay.workspace import Workspace

__all__ = ["RemoteInfo", "add_remote", "list_remotes", "read_only_remote_folder", "refuse_read_only", "refuse_transient",
           "remove_remote"]

_REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass
class RemoteInfo:
    """A remote as :func:`list_remotes` shows it (``assay remote list --json``): its ``name``, its
    ``url`` (a folder, relative to the workspace root or absolute, ``file://`` or ``s3://``), its
    ``options`` with every credential shown as ``***``, and whether it is the ``default`` that
    push and pull use when no remote is named. :func:`add_remote` also says whether this user
    may only read it (``read_only``) and, in ``note``, what the first push will find (a folder
    not made yet, a folder it cannot write to); :meth:`to_dict` then has both keys, as
    ``assay remote add --json`` prints them."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    default: bool = False
    read_only: bool | None = None  # None: not looked at (list_remotes)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "url": self.url, "options": self.options, "default": self.default}
        if self.read_only is not None:
            doc["read_only"] = self.read_only
        if self.note is not None:
            doc["note"] = self.note
        return doc


def list_remotes(ws: Workspace) -> list[RemoteInfo]:
    """The workspace's remotes, in the order they were added.

    >>> [(r.name, r.default) for r in list_remotes(ws)]   # doctest: +SKIP
    [('origin', True), ('share', False)]
    """
    from assay.store import public_options

    return [RemoteInfo(r.name, r.url, public_options(r.options), r.name == ws.config.default_remote)
            for r in ws.config.remotes.values()]


def add_remote(ws: Workspace, name: str, url: str, *, default: bool = False, options: dict[str, Any] | None = None,
               replace: bool = False, check: bool = True) -> RemoteInfo:
    """Add remote ``name`` at ``url``. A name that exists already is refused unless it has the
    same URL and options, or ``replace``. What can be checked is checked now, not at the first
    push, the same way for both kinds:

    - a folder: the folder that holds it must be there (as a bucket must), and the folder, if
      it is there, readable (one this user cannot write to is added to pull from, see
      :func:`read_only_remote_folder`). A folder not there yet is added but not made: the first
      push makes it, and until then pull, verify and log say it does not exist rather than
      read it as an empty remote (a mistyped path is not made into one).
    - an S3 bucket: asked for, with a short timeout. One that is not there, or credentials it
      refuses, raise :class:`InputError`; a server that cannot be reached (offline) is added
      with an :class:`~assay.errors.AssayWarning` that it could not be checked.

    ``check=False`` sends nothing (the URL's and options' shapes are still checked).

    Returns the remote as a :class:`RemoteInfo` (credentials shown as ``***``) with
    ``read_only`` and a ``note`` where the folder is not there yet or not writable. Raises
    :class:`UsageError` for a bad name or a clash with an existing remote, :class:`InputError`
    for a folder or bucket that cannot be used.

    >>> add_remote(ws, "origin", "/mnt/team/assay").note   # doctest: +SKIP
    '/mnt/team/assay does not exist yet; the first push to origin creates it'"""
    from assay.store import folder_of, public_options

    if not _REMOTE_NAME.fullmatch(name):
        raise UsageError(f"invalid remote name {name!r}", hint="use letters, digits, '_', '-' and '.'")
    remote = Remote(name=name, url=url, options=options or {})
    folder = folder_of(url, ws.root)
    if folder is None:
        refuse_transient(url)
    if folder is not None and remote.options:
        raise UsageError(f"remote {name!r} is a folder ({url}): options such as "
                         f"{', '.join(sorted(public_options(remote.options)))} are for object stores",
                         hint="leave out --endpoint-url: it is for s3:// URLs")
    known = ws.config.remotes.get(name)
    if known is not None and not replace and (known.url, known.options) != (remote.url, remote.options):
        there, given = public_options(known.options), public_options(remote.options)
        if known.url != url:
            raise UsageError(f"remote {name!r} exists already, at {known.url}"
                             + "".join(f" {k}={v}" for k, v in sorted(there.items())),
                             hint=f"pass --replace to point {name} at {url} instead, or pick another name")
        differ = sorted(k for k in known.options.keys() | remote.options.keys()
                        if known.options.get(k) != remote.options.get(k))
        raise UsageError(f"remote {name!r} exists already, at {url} with other options: "
                         + "; ".join(f"{k} {there.get(k, '(none)')} there, {given.get(k, '(none)')} given"
                                     for k in differ),
                         hint=f"pass --replace to give {name} the options given, or pick another name")
    unchecked = None
    if folder is not None:
        _check_folder(ws, url)  # fails now, not at the first push, if the folder is unusable
    else:
        open_store(url, ws.root, **remote.options)  # the URL's and options' shapes (opening sends nothing)
    if folder is None and check:
        try:
            unchecked = check_store(url, ws.root, **remote.options)  # a bucket that is not there, refused credentials
        except InputError as exc:  # (a bucket made, or credentials set, later: said how to add it now)
            exc.hint = "; ".join(filter(None, [exc.hint, "to add it unchecked: --no-check"]))
            raise
    ws.config.remotes[name] = remote
    if default or ws.config.default_remote is None:
        ws.config.default_remote = name
    ws.save_config()
    if unchecked is not None:
        warn_user([f"{unchecked}; remote {name} is added unchecked (`assay data verify --remote {name}` checks it "
                   "once the server can be reached)"])
    read_only = read_only_remote_folder(ws, remote) is not None
    note = None
    if read_only:
        note = f"this user cannot write to {remote.url}: pull and verify read it, a push to {name} will fail"
    elif folder is not None and not folder.is_dir():
        note = f"{folder} does not exist yet; the first push to {name} creates it"
    return RemoteInfo(name, url, public_options(remote.options), ws.config.default_remote == name,
                      read_only=read_only, note=note)


def refuse_transient(url: str) -> None:
    """Refuse a remote in fsspec's memory file system: it lives in one process, so every push
    to it "succeeded" and was gone when the command ended (a remote written into config.toml
    by hand is refused at its first use too)."""
    if url.split("://", 1)[0].lower() == "memory":
        raise UsageError(f"{url} cannot be a remote: memory:// keeps its objects only while one assay command runs, "
                         "so what a push sent there would be gone when it ends",
                         hint="give a folder or an s3:// URL")


def _check_folder(ws: Workspace, url: str) -> None:
    """Refuse a folder remote that could never be used by this user: one whose parent folder
    is not there (a mistyped path), a file, a folder it cannot read. A folder not there yet
    is not made: the first push makes it (so a typo never becomes an empty remote)."""
    from assay.store import folder_of

    path: Path | None = folder_of(url, ws.root)
    assert path is not None  # add_remote checks folders only
    if not path.exists() and not path.parent.is_dir():
        raise InputError(f"cannot use {path} as a remote: the folder {path.parent} does not exist",
                         hint=f"check the path; for a new remote there, make that folder first (mkdir -p {path.parent})")
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot use {path} as a remote: it is a file, not a folder", hint="give a folder's path")
    if path.exists() and not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"cannot use {path} as a remote: this user cannot read it",
                         hint="give a folder this user can read (and write to, to push there)")
    _refuse_among_data(ws, path)


def _refuse_among_data(ws: Workspace, path: Path) -> None:
    """Refuse a folder remote where a push would write its packs, snapshots and records among
    the workspace's own files: the workspace folder itself, its .assay (or a .git) folder, or
    a dataset's folder (the next status lists every object pushed as added, and the next add
    versions them). A folder of its own inside the workspace is fine."""
    from assay._root import leads_into_protected, under
    from assay.data._overlap import find_overlaps

    real, root = os.path.realpath(path), os.path.realpath(ws.root)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        return
    hint = "give the remote a folder of its own: outside the workspace, or beside its datasets' folders"
    if real == root:
        raise InputError(f"cannot use {path} as a remote: it is the workspace folder itself, where a push would write "
                         "its packs, snapshots and records among the data", hint=hint)
    if leads_into_protected(real, root):
        raise InputError(f"cannot use {path} as a remote: it is inside a .assay or .git folder", hint=hint)
    rel = os.path.relpath(real, root).replace(os.sep, "/")
    met = [o for o in find_overlaps(ws, "", [rel]) if under(rel, [o.theirs])]  # (one that holds a dataset's folder writes beside it)
    if met:
        raise InputError(f"cannot use {path} as a remote: {met[0].where()}, so a push would write its objects among "
                         "that dataset's files (its next status and add would take them as data)", hint=hint)


def read_only_remote_folder(ws: Workspace, remote: Remote) -> Path | None:
    """The folder of ``remote`` if this user cannot write to it (a published, read-only share:
    pull and verify read it, a push fails); None for an object store or a writable folder."""
    from assay.store import folder_of

    folder = folder_of(remote.url, ws.root)
    if folder is None or not folder.is_dir() or os.access(folder, os.W_OK | os.X_OK):
        return None
    packs = folder / "packs"  # a folder whose top alone is locked, its sub-folders writable, takes pushes
    if packs.is_dir() and not packs.is_symlink() and os.access(packs, os.W_OK | os.X_OK):
        return None
    return folder


def refuse_read_only(ws: Workspace, remote: Remote) -> None:
    """A push (or a repair of the remote) to a folder this user cannot write to: refused first."""
    folder = read_only_remote_folder(ws, remote)
    if folder is not None:
        raise InputError(f"cannot push to remote {remote.name}: this user cannot write to its folder {folder} "
                         "(read-only)", hint=f"pull from {remote.name} only; to push, ask for write access to {folder} "
                                             "or add a remote this user can write to (`assay remote add NAME PATH`)")


def remove_remote(ws: Workspace, name: str) -> None:
    """Forget the remote ``name`` (its data stays where it is); if it was the default, the
    next remote configured becomes the default. :class:`NotFoundError` if there is none."""
    if name not in ws.config.remotes:
        raise NotFoundError(f"no remote named {name!r}",
                            hint="known remotes: " + (", ".join(ws.config.remotes) or "none"))
    del ws.config.remotes[name]
    if ws.config.default_remote == name:
        ws.config.default_remote = next(iter(ws.config.remotes), None)
    ws.save_config()
