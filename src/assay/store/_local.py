"""Object store in a local folder: one file per object, written atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat as _stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from assay._process import WRITER_SLACK, host_tag, writer_gone
from assay.config import fsync_dir, make_folder
from assay.errors import InputError, NotFoundError
from assay.store._base import ObjectStore, check_key

__all__ = ["Leftover", "LocalStore", "dead_writers_files", "remove_dead_writers_files", "remove_leftovers",
           "sweep_leftovers"]


class LocalStore(ObjectStore):
    """Objects in the folder ``root``. A ``confined`` store (a remote, which others write too)
    writes, moves and deletes only in folders of its own: a sub-folder that is a symlink
    (``packs`` leading to some other folder, say) is refused, as :class:`InputError` naming
    it, not written through. The root itself may be a link: whoever named it chose it."""

    def __init__(self, root: Path, *, confined: bool = False) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self.confined = confined
        self._tmp = self.root / ".tmp"
        if confined:
            self._refuse_link(self._tmp)
        try:
            make_folder(self._tmp, f"cannot use the folder {self.root} as an object store")
        except InputError:
            # A read-only share (published for pulls) is read without one; a write there fails.
            if not confined or not self.root.is_dir() or os.access(self.root, os.W_OK):
                raise
        if confined:
            self._refuse_link(self._tmp)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _refuse_link(self, path: Path) -> None:
        if path.is_symlink():
            raise InputError(f"{path} is a symlink (to {os.readlink(path)}): assay writes only into the store "
                             f"{self.root}'s own folders, not through links to others",
                             hint="replace the link with a folder of its own (move what it leads to into place), "
                                  "or remove it, then rerun")

    def _parent_fd(self, key: str, *, make: bool) -> int:
        """An open descriptor of the folder holding ``key``, reached from the root one folder
        at a time without following a symlink (made where missing, with ``make``): what is
        renamed or removed in it cannot land elsewhere, even if a folder is swapped for a
        link meanwhile."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, part in enumerate(check_key(key).split("/")[:-1]):
                if make:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                try:
                    inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        where = self.root.joinpath(*key.split("/")[:i + 1])
                        self._refuse_link(where)
                        raise InputError(f"{where} is a file where the store {self.root} keeps a folder",
                                         hint="move the file aside (it is not one assay writes), then rerun") from None
                    raise
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _tmp_path(self, key: str) -> Path:
        # The host is in the name: a store on a file server may be written from several
        # machines, and only this one can tell whether one of its processes is gone.
        return self._tmp / f"{os.getpid()}-{host_tag()}-{os.urandom(6).hex()}-{key.rsplit('/', 1)[-1]}"

    def _commit(self, tmp: Path, key: str) -> None:
        try:
            self._rename_into(tmp, key)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise
            # rename(2) names its source, which may be the caller's own temp file: the
            # folder that refused it (unwritable, read-only, full) is this store's.
            raise OSError(exc.errno, exc.strerror, str(self._path(key))) from exc

    def _rename_into(self, tmp: Path, key: str) -> None:
        if self.confined:
            fd = self._parent_fd(key, make=True)
            try:
                os.replace(tmp, key.rsplit("/", 1)[-1], dst_dir_fd=fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            return
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        """Store ``key`` with what ``fill`` writes: temp file, fsync, rename. A failure (a full
        disk, an interrupt) removes the part written: it would hold the space for ever."""
        tmp = self._tmp_path(key)
        try:
            try:
                with open(tmp, "wb") as fh:
                    fill(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT) and exc.filename is None:
                    raise OSError(exc.errno, exc.strerror, str(tmp)) from exc  # which disk is full: this store's
                raise
            self._commit(tmp, key)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write(key, lambda fh: fh.write(data))

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        path = Path(path)
        if move and path.stat().st_dev == self._tmp.stat().st_dev:
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
            try:
                self._commit(path, key)
                return
            except OSError as exc:
                # A bind mount of the same file system shows the same st_dev, yet rename(2)
                # across it fails: copy into the store's temp folder, then rename there.
                if exc.errno != errno.EXDEV:
                    raise
        with open(path, "rb") as src:
            self._write(key, lambda fh: shutil.copyfileobj(src, fh, 8 << 20))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                return os.pread(fh.fileno(), length, start)
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def modified(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(self.root) and d == ".tmp"))
            rel = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                yield name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"

    def delete(self, key: str) -> None:
        if self.confined:
            try:
                fd = self._parent_fd(key, make=False)
            except FileNotFoundError:
                return
            try:
                os.unlink(key.rsplit("/", 1)[-1], dir_fd=fd)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)
            return
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def move(self, key: str, new_key: str) -> None:
        source = self._path(key)
        if not source.is_file():
            raise NotFoundError(f"object {key} is missing from {self.url}")
        if self.confined:
            fd = self._parent_fd(key, make=False)
            os.close(fd)  # the object moved is the store's own, not a file a link leads to
        self._commit(source, new_key)
        fsync_dir(source.parent)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def clean_tmp(self) -> int:
        """Remove temp files left by processes that died mid-write (see :meth:`dead_tmp_files`)."""
        found = self.dead_tmp_files()
        remove_leftovers(found)
        return len(found)

    def dead_tmp_files(self) -> list[Leftover]:
        """Temp files left by processes that died mid-write. A store may be a folder that
        several machines write (a file server): only this machine's writers are judged by
        their process; other files wait a day (see :func:`dead_writers_files`)."""
        if self.confined:
            self._refuse_link(self._tmp)
        return dead_writers_files(self._tmp, shared=True)


class Leftover(NamedTuple):
    """A temp file (or a model checkout's folder) whose writer is gone, and its size in bytes."""

    path: Path
    size: int
    folder: bool


def dead_writers_files(folder: Path, *, shared: bool = False, folders: bool = False) -> list[Leftover]:
    """The files named ``<pid>-…`` in ``folder`` whose process is gone (with ``folders``,
    folders so named too: a checkout's). A name that says another host wrote it
    (``<pid>-h<tag>-…``) is left to that host, unless untouched for a day (no writer pauses
    that long); in a ``shared`` folder, so is a name without a host (an older assay's, on
    whichever machine)."""
    found: list[Leftover] = []
    if not folder.is_dir():
        return found
    for entry in folder.iterdir():
        pid_text, sep, rest = entry.name.partition("-")
        # Only our own temp files (named "<pid>-…") whose writer is gone; anything else is left alone.
        if not (sep and pid_text and pid_text.strip("0123456789") == ""):  # ASCII digits: int() takes others
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        host = rest[:9] if rest[:1] == "h" and rest[9:10] == "-" else None
        if (host is not None and host != host_tag()) or (host is None and shared):
            gone = time.time() - st.st_mtime > WRITER_SLACK
        else:
            gone = writer_gone(int(pid_text), st.st_mtime)
        if not gone:
            continue
        if _stat.S_ISREG(st.st_mode):
            found.append(Leftover(entry, st.st_size, False))
        elif folders and _stat.S_ISDIR(st.st_mode):
            found.append(Leftover(entry, _folder_size(entry), True))
    return found


def remove_leftovers(leftovers: list[Leftover]) -> None:
    """Delete what :func:`dead_writers_files` found."""
    for leftover in leftovers:
        if leftover.folder:
            shutil.rmtree(leftover.path, ignore_errors=True)
        else:
            leftover.path.unlink(missing_ok=True)


def sweep_leftovers(leftovers: list[Leftover], where: str) -> None:
    """Delete what :func:`dead_writers_files` found, and say so once on stderr (never stdout,
    which may carry --json): space that no command said it freed (a gc after it finds none)
    was a puzzle. ``where`` names the folders."""
    if not leftovers:
        return
    remove_leftovers(leftovers)
    import sys

    size = sum(leftover.size for leftover in leftovers)
    shown = (f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.1f} KiB" if size >= 1024
             else f"{size} B")
    one = len(leftovers) == 1
    kinds = {leftover.folder for leftover in leftovers}
    what = "temp folder" if kinds == {True} else "temp file" if kinds == {False} else "temp files and folder"
    if sys.stderr is not None:
        print(f"note: removed {f'a {what}' if one else f'{len(leftovers)} {what}s'} ({shown}) left in {where} by "
              f"{'an assay command' if one else 'assay commands'} killed mid-write (a pack being written, a "
              f"checkout's part, a model's copy being loaded): {'its process is' if one else 'their processes are'} "
              f"gone, so nothing would finish {'it' if one else 'them'}", file=sys.stderr, flush=True)


def remove_dead_writers_files(folder: Path, *, shared: bool = False, folders: bool = False) -> int:
    """Delete what :func:`dead_writers_files` finds in ``folder``; the number deleted."""
    found = dead_writers_files(folder, shared=shared, folders=folders)
    remove_leftovers(found)
    return len(found)


def _folder_size(folder: Path) -> int:
    total = 0
    for top, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total
