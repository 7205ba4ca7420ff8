"""Where the workspace is: its folder's name, and the walk up to it.

Kept to the standard library's ``os``: `assay`'s entry point finds the workspace with
it before anything else has loaded (see :mod:`assay.data._prefetch`).
"""

from __future__ import annotations

import os

from assay.errors import WorkspaceNotFoundError

__all__ = ["CHECKOUT_TMP", "RENAME_HINT", "TMP_TAIL", "WORKSPACE_DIR", "find_root", "leads_into_protected", "not_data",
           "not_utf8", "protected_path", "skipped_in_walks", "under"]

WORKSPACE_DIR = ".assay"
# Checkout writes each file to ``<folder>/.assay-tmp-<pid>-<random>`` first (a new folder
# too, with its files under their own names inside): never data.
# Every walk of a dataset's folders skips such names, so a checkout killed mid-write
# leaves nothing that status reports or add snapshots; gc removes them.
CHECKOUT_TMP = ".assay-tmp-"
TMP_TAIL = 8  # hex digits after the pid: os.urandom(4).hex()


def not_data(name: str, top: bool) -> bool:
    """Whether a folder entry named ``name`` is skipped by every walk of a dataset's folders:
    the workspace's own folder (``top``: at the workspace root) and checkout's temp files,
    named exactly ``.assay-tmp-<pid>-<8 hex digits>`` (any other name is a user's file, and data)."""
    if top and name == WORKSPACE_DIR:
        return True
    if not name.startswith(CHECKOUT_TMP):
        return False
    pid, _, tail = name[len(CHECKOUT_TMP):].partition("-")
    return (0 < len(pid) <= 10 and pid.strip("0123456789") == "" and len(tail) == TMP_TAIL
            and tail.strip("0123456789abcdef") == "")


_NOT_DATA_FOLDERS = frozenset({WORKSPACE_DIR, ".git"})  # compared in lower case


def skipped_in_walks(name: str) -> bool:
    """Whether every walk of a dataset's folders leaves out the entry ``name``: a workspace's
    own folder and git's, at any depth and in any case (another workspace's ledger or a
    repository's hooks are not data, and checkout refuses to write into them), and
    checkout's temp files (:func:`not_data`)."""
    return name[:1] == "." and (name.lower() in _NOT_DATA_FOLDERS or not_data(name, False))


def protected_path(rel: str) -> bool:
    """Whether a version's path ``rel`` goes through a folder that checkout never writes
    into: ``.assay`` (a workspace's config and ledger) or ``.git`` (a repository's hooks),
    in any case, as git itself refuses. A version from an untrusted remote could otherwise
    point this workspace's remotes elsewhere, or plant a hook that runs on the next git
    command."""
    low = rel.lower()
    if ".git" not in low and WORKSPACE_DIR not in low:
        return False
    # (Exact names in any case: the spellings NTFS or HFS+ would also read as them, `.git.` or
    # `git~1`, are other names on the file systems assay runs on, and walks keep them as data.)
    return any(part in _NOT_DATA_FOLDERS for part in low.split("/"))


def leads_into_protected(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` inside the resolved workspace ``root`` lies in a
    ``.assay`` or ``.git`` folder (:func:`protected_path`): where a symlink may lead."""
    return real != root and protected_path(os.path.relpath(real, root))


def under(rel: str, sources: list[str]) -> bool:
    """Whether the workspace path ``rel`` is one of ``sources`` or inside one of them."""
    return any(rel == s or rel.startswith(s + "/") for s in sources)


def not_utf8(name: str) -> str | None:
    """``name`` as it can be shown (bad bytes as ``\\xNN``) if it is not valid UTF-8 (bytes
    Python holds as lone surrogates); None if it is."""
    if name.isascii():
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return None


RENAME_HINT = "rename it (for example `convmv -f latin1 -t utf8 --notest FILE`)"


def home_root(env: str) -> str:
    """The workspace root ``ASSAY_HOME=env`` names (resolved): the folder itself, or the one
    holding it when it names a workspace's own ``.assay`` folder (by that name, or by what a
    symlink of another name leads to)."""
    given = os.path.abspath(os.path.expanduser(env))
    if os.path.basename(given) == WORKSPACE_DIR:  # before resolving: .assay may be a symlink to elsewhere
        return os.path.realpath(os.path.dirname(given))
    root = os.path.realpath(given)
    return os.path.dirname(root) if os.path.basename(root) == WORKSPACE_DIR else root


def find_root(start: str | None = None) -> str:
    """The workspace root (a resolved path): ``ASSAY_HOME`` if set and no ``start`` is given,
    else the first folder from ``start`` (default: the current one) upwards that holds one."""
    env = os.environ.get("ASSAY_HOME")
    if start is None and env:
        root = home_root(env)
        if not _holds_workspace(root):
            raise WorkspaceNotFoundError(
                f"ASSAY_HOME={env} holds no assay workspace",
                hint=f"run `assay init` (it makes one in {root}) or unset ASSAY_HOME",
            )
        return root
    here = os.path.realpath(start if start is not None else os.getcwd())
    folder = here
    while True:
        if _holds_workspace(folder):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    raise WorkspaceNotFoundError(
        f"no assay workspace in {here} or any folder above it",
        hint="run `assay init` in your project folder, or set ASSAY_HOME",
    )


def _holds_workspace(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, WORKSPACE_DIR, "config.toml"))
