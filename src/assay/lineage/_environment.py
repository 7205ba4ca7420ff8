"""Where a run ran: the git commit of the code, the Python and the package set it ran with, the
platform. For a command that starts a Python interpreter of its own (another version, another
virtual environment), that interpreter is asked: assay's own would be the wrong answer."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.lineage._interpreter import Interpreter, find_python

__all__ = ["SITE", "environment", "packages_after", "python_environment"]

# Run in the command's interpreter: what assay records of its own, computed the same way. Not
# from the command's folder, which -c puts first on sys.path: its own platform.py, csv.py ...
_PROBE = """\
import sys
if sys.path and sys.path[0] == "": del sys.path[0]
import hashlib, json, os, platform
from importlib import metadata
names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
def changed(folder):
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None
print(json.dumps({"python": platform.python_version(), "implementation": platform.python_implementation(),
                  "packages_hash": hashlib.sha256("\\n".join(names).encode()).hexdigest(), "packages": len(names),
                  "site": [[os.path.abspath(p), changed(p)] for p in sys.path]}))
"""
# (what the probe says of where it imports from is kept aside under this key, not recorded)
SITE = "_site"


def _site_state() -> tuple[tuple[str, int], ...]:
    """When each folder Python imports from last changed: installing or removing a package
    adds or removes a .dist-info folder there."""
    state = []
    for folder in sys.path:
        try:
            state.append((folder, os.stat(folder or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _package_set(state: tuple[tuple[str, int], ...]) -> tuple[str, int]:
    from importlib import metadata

    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
    return hashlib.sha256("\n".join(names).encode()).hexdigest(), len(names)


def _own_python() -> dict[str, Any]:
    digest, count = _package_set(_site_state())  # (a long-lived program may install packages between runs)
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "python_executable": sys.executable, "packages_hash": digest, "packages": count}


def _probe(python: Interpreter) -> dict[str, Any] | None:
    """What ``python`` says it is, run as the command would run it (its options, environment
    and folder); None where it does not say."""
    assert python.program is not None
    env = dict(python.env) if python.env is not None else None
    try:
        out = subprocess.run([python.program, *python.options, "-c", _PROBE], cwd=python.cwd, capture_output=True,
                             text=True, timeout=20, check=False, stdin=subprocess.DEVNULL, env=env)
        doc = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("packages_hash"), str):
        said = {k: doc[k] for k in ("python", "implementation", "packages_hash", "packages") if k in doc}
        if isinstance(doc.get("site"), list):
            said[SITE] = _state(doc["site"])
        return said
    return None


def _state(site: list[Any]) -> tuple[tuple[str, int | None], ...]:
    return tuple((str(folder), changed if isinstance(changed, int) else None) for folder, changed in site)


def _unchanged(state: tuple[tuple[str, int | None], ...]) -> bool:
    """Whether each folder the probe said its Python imports from is as it was then: a package
    installed or removed adds or removes a .dist-info folder there."""
    for folder, changed in state:
        try:
            now: int | None = os.stat(folder).st_mtime_ns
        except OSError:
            now = None
        if now != changed:
            return False
    return True


def _ask(python: Interpreter) -> dict[str, Any]:
    """What the interpreter says it is; only its path where it cannot say (an old Python)."""
    found: dict[str, Any] = {"python_executable": python.named}
    said = _probe(python)
    if said is not None:
        found.update(said)
        return found
    try:  # an old Python (2.7 says it on stderr) still says its version
        out = subprocess.run([python.program or "", "--version"], cwd=python.cwd, capture_output=True, text=True,
                             timeout=10, check=False, stdin=subprocess.DEVNULL,
                             env=dict(python.env) if python.env is not None else None)
        version = re.fullmatch(r"Python (\S+)", (out.stdout or out.stderr).strip())
    except (OSError, subprocess.TimeoutExpired):
        version = None
    if version:
        found["python"] = version.group(1)
    return found


def python_environment(python: Interpreter) -> dict[str, Any]:
    """The recorded facts of ``python``: its version and package set, or why it is not known."""
    if python.own:
        return _own_python()
    if python.program is not None:
        return _ask(python)
    return {**({"python_executable": python.named} if python.named else {}), "python_unknown": python.unknown}


def packages_after(python: Interpreter, before: dict[str, Any]) -> dict[str, Any]:
    """What to add to a run's environment once its work has ended, where the package set it
    was recorded with has changed since (``pip install`` in the command, or ``uv run``'s sync
    before it): the set after, and ``packages_changed``. Nothing where it has not, or where
    either is not known."""
    if "packages_hash" not in before or python.unknown is not None:
        return {}
    if not python.own and SITE in before and _unchanged(before[SITE]):
        return {}  # (not asked again: a second interpreter started for every run)
    now = _own_python() if python.own else _probe(python)
    if not now or now.get("packages_hash") in (None, before["packages_hash"]):
        return {}
    return {"packages_changed": True, "packages_hash_after": now["packages_hash"],
            "packages_after": now.get("packages")}


def environment(cwd: Path | None = None, command: Sequence[str] = (), command_cwd: Path | None = None,
                data: Sequence[str] = (), *, new_files: Sequence[str] = (),
                python: Interpreter | None = None) -> dict[str, Any]:
    """Where a run ran: git commit (if any, of the repository at ``cwd``) and whether the code
    has changes not committed, Python, the installed package set, platform. Python and the
    package set are the ones of the interpreter ``command`` starts, where it starts one (run
    in ``command_cwd``; ``python``: as :func:`find_python` found it), or ``python_unknown``
    says why that cannot be told without running it (a wrapper named ``python``, ``srun``,
    ``sh -c``, ``make``); assay's own for a tracked block (no ``command``) or a command run by
    assay's own interpreter. ``python_executable`` names the interpreter described.
    ``assay_version`` and ``assay_python`` are assay's own, whatever the command ran in.
    ``data``: paths (relative to ``cwd``) of data, which no change in makes the
    code dirty (the workspace's datasets, a run's outputs); ``new_files``: paths where new files
    (untracked by git) are data, but a change to a file git tracks is not (a failed run's
    outputs: what it left there, in a folder that may hold code). Under :data:`SITE`, not to be
    recorded: where an interpreter asked said it imports from (see :func:`packages_after`)."""
    if python is None:
        python = find_python(command, command_cwd) if command else Interpreter(named=sys.executable, own=True)
    env = python_environment(python)
    # assay's own, named as such: the command's Python may be another, or not known
    from assay import __version__

    env.update({"assay_version": __version__, "assay_python": platform.python_version(),
                "platform": platform.platform(), "machine": platform.machine(), "hostname": platform.node()})
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
        if out.returncode == 0:
            env["git_commit"] = out.stdout.strip()
            # The whole repository (":(top)"), whose code may lie outside a workspace in a subfolder
            # of it, less the data (relative to ``cwd``; literal: a folder named with * is no pattern).
            outside = [f":(exclude,literal){path}" for path in sorted({*data, *new_files}) if path and path != "."]
            dirty = subprocess.run(["git", "status", "--porcelain", "--", ":(top)", *outside], cwd=cwd,
                                   capture_output=True, text=True, timeout=30, check=False)
            if dirty.returncode == 0:  # (a git that fails says nothing on stdout: not known, not clean)
                env["git_dirty"] = bool(dirty.stdout.strip())
            partial = [f":(literal){path}" for path in sorted(set(new_files)) if path and path != "."]
            if dirty.returncode == 0 and not env["git_dirty"] and partial:
                # what git tracks there, against the commit (staged or not); new files do not count,
                # nor does what ``data`` names there (a dataset added later from a file in that folder)
                whole = [f":(exclude,literal){path}" for path in sorted(set(data)) if path and path != "."]
                tracked = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *partial, *whole], cwd=cwd,
                                         capture_output=True, timeout=30, check=False)
                if tracked.returncode in (0, 1):
                    env["git_dirty"] = tracked.returncode == 1
                else:
                    del env["git_dirty"]  # not known
    except (OSError, subprocess.TimeoutExpired):
        pass
    return env
