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
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["environment"]

# Run in the command's interpreter: what assay records of its own, computed the same way.
_PROBE = """\
import hashlib, json, platform
from importlib import metadata
names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
print(json.dumps({"python": platform.python_version(), "implementation": platform.python_implementation(),
                  "packages_hash": hashlib.sha256("\\n".join(names).encode()).hexdigest(), "packages": len(names)}))
"""
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?[tw]?(\.exe)?", re.IGNORECASE)
# Interpreter options before the script that change what it imports (-I, -S, -E, -s ...),
# passed on to the probe; an option that takes a value is passed with it.
_FLAGS = frozenset({"-I", "-S", "-s", "-E", "-B", "-O", "-OO", "-u", "-b", "-bb", "-q", "-P", "-d", "-v", "-R"})
_VALUED = frozenset({"-W", "-X"})


@functools.lru_cache(maxsize=1)
def _package_set() -> tuple[str, int]:
    from importlib import metadata

    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
    return hashlib.sha256("\n".join(names).encode()).hexdigest(), len(names)


def _own_python() -> dict[str, Any]:
    digest, count = _package_set()
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "python_executable": sys.executable, "packages_hash": digest, "packages": count}


def _interpreter(command: Sequence[str], cwd: Path | None) -> str | None:
    """The Python interpreter ``command`` starts, where its program is one (``python``,
    ``python3.12``, ``.venv/bin/python``) other than assay's own; None otherwise."""
    if not command or not _PYTHON.fullmatch(os.path.basename(command[0])):
        return None
    program = command[0]
    if os.sep not in program:
        program = shutil.which(program) or program
    elif cwd is not None:  # (absolute: the probe runs in cwd too, where a relative cwd is not)
        program = os.path.abspath(os.path.join(cwd, program))
    if os.path.abspath(program) == os.path.abspath(sys.executable):  # (not resolved: a venv's is a link)
        return None
    return program


def _options(command: Sequence[str]) -> list[str]:
    out: list[str] = []
    rest = list(command[1:])
    while rest and (rest[0] in _FLAGS or rest[0] in _VALUED):
        out.append(rest.pop(0))
        if out[-1] in _VALUED and rest:
            out.append(rest.pop(0))
    return out


def _ask(program: str, command: Sequence[str], cwd: Path | None) -> dict[str, Any]:
    """What the interpreter ``program`` says it is, run as the command would run it; only
    its path where it cannot say (an old Python, not a Python at all)."""
    found: dict[str, Any] = {"python_executable": str(command[0])}
    try:
        out = subprocess.run([program, *_options(command), "-c", _PROBE], cwd=cwd, capture_output=True, text=True,
                             timeout=20, check=False, stdin=subprocess.DEVNULL)
        doc = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("packages_hash"), str):
        found.update({k: doc[k] for k in ("python", "implementation", "packages_hash", "packages") if k in doc})
        return found
    try:  # an old Python (2.7 says it on stderr) still says its version
        out = subprocess.run([program, "--version"], cwd=cwd, capture_output=True, text=True, timeout=10,
                             check=False, stdin=subprocess.DEVNULL)
        said = re.fullmatch(r"Python (\S+)", (out.stdout or out.stderr).strip())
    except (OSError, subprocess.TimeoutExpired):
        said = None
    if said:
        found["python"] = said.group(1)
    return found


def environment(cwd: Path | None = None, command: Sequence[str] = (), command_cwd: Path | None = None,
                data: Sequence[str] = ()) -> dict[str, Any]:
    """Where a run ran: git commit (if any, of the repository at ``cwd``) and whether the code
    has changes not committed, Python, the installed package set, platform. Python and the
    package set are the ones of the interpreter ``command`` starts, where it starts one (run
    in ``command_cwd``); else assay's own. ``python_executable`` names the interpreter
    described. ``data``: paths (relative to ``cwd``) of data, which no change in makes the
    code dirty (the workspace's datasets, a run's outputs)."""
    program = _interpreter(command, command_cwd)
    env: dict[str, Any] = _ask(program, command, command_cwd) if program else _own_python()
    env.update({"platform": platform.platform(), "machine": platform.machine(), "hostname": platform.node()})
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
        if out.returncode == 0:
            env["git_commit"] = out.stdout.strip()
            # The whole repository (":(top)"), whose code may lie outside a workspace in a subfolder
            # of it, less the data (relative to ``cwd``; literal: a folder named with * is no pattern).
            outside = [f":(exclude,literal){path}" for path in sorted(set(data)) if path and path != "."]
            dirty = subprocess.run(["git", "status", "--porcelain", "--", ":(top)", *outside], cwd=cwd,
                                   capture_output=True, text=True, timeout=30, check=False)
            if dirty.returncode == 0:  # (a git that fails says nothing on stdout: not known, not clean)
                env["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return env
