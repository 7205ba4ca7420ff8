"""Which Python a command runs in, found by reading files, not by running the command or a tool
it names: a program called ``python`` may be a wrapper that submits a cluster job, and
``uv run`` may install packages before it runs anything.

- A real interpreter (a binary, once its links are followed, named like one: ``python3.12``,
  ``pypy3``) named by the command, directly or through a launcher that only changes how it is
  run (``env VAR=x``, ``nice``, ``nohup``, ``timeout 10``, ``taskset -c 0``, ``stdbuf``, ``ionice``).
- A script's ``#!`` interpreter, where that is a real Python (``torchrun``, ``accelerate``, any
  console script or ``#!/usr/bin/env python3`` script).
- The environment a launcher runs it in, where that can be found on disk: ``uv run``,
  ``poetry run``, ``pixi run`` (the project's environment; not for a script with its dependencies inline,
  which uv runs in one it makes), ``conda run -n ENV``/``-p PREFIX``.
- Not known: a program named like Python that is a script, a launcher whose options or
  environment cannot be read so, one that runs the command elsewhere (``srun``, ``ssh``,
  ``docker``); recorded as such, not as assay's own.
- Any other program (``make``, ``sh -c "python train.py"``): not known either. Whatever Python it
  starts, if any, is its own choice (the shell's PATH, the Makefile's ``$(PYTHON)``): assay's
  own would be a guess put in the record as a fact.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Interpreter", "find_python"]

_PYTHON = re.compile(r"python(\d+(\.\d+)?)?[tw]?(\.exe)?", re.IGNORECASE)
_REAL = re.compile(r"(python|pypy|graalpy)(\d+(\.\d+)*)?[tw]?(\.exe)?", re.IGNORECASE)
_BINARY = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xcf", b"MZ")
# Interpreter options before the script that change what it imports (-I, -S, -E, -s ...),
# passed on to the probe; an option that takes a value is passed with it.
_FLAGS = frozenset({"-I", "-S", "-s", "-E", "-B", "-O", "-OO", "-u", "-b", "-bb", "-q", "-P", "-d", "-v", "-R"})
_VALUED = frozenset({"-W", "-X"})
_JOINED = re.compile(r"-(?P<flags>[IsSEBOubqPdvR]+)(?P<end>[cm]?)")  # -Es, -IS, -Ic CODE: flags written together
# Launchers that run the command here as it is, each with its options: those that take a
# value (``=`` joined or the next word), flags, and how many words follow the options before
# the command (timeout's DURATION, taskset's MASK).
_PASS: dict[str, tuple[frozenset[str], frozenset[str], int]] = {
    "nice": (frozenset({"-n", "--adjustment"}), frozenset(), 0),
    "nohup": (frozenset(), frozenset(), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}),
                frozenset({"--preserve-status", "--foreground", "-v", "--verbose"}), 1),
    "taskset": (frozenset(), frozenset({"-c", "--cpu-list", "-a", "--all-tasks"}), 1),
    "stdbuf": (frozenset({"-i", "--input", "-o", "--output", "-e", "--error"}), frozenset(), 0),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata"}), frozenset({"-t", "--ignore"}), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}),
             frozenset({"-p", "--portability", "-v", "--verbose", "-a", "--append", "-q", "--quiet"}), 0),
}
# Programs that run the command on another machine, in a container, as another user or in an
# environment they make: what Python it gets is not to be read here.
_ELSEWHERE = frozenset({"srun", "salloc", "sbatch", "qsub", "bsub", "mpirun", "mpiexec", "ssh", "docker", "podman",
                        "singularity", "apptainer", "kubectl", "sudo", "su", "doas", "nix-shell", "pipenv", "hatch",
                        "pdm", "rye", "tox", "nox", "micromamba", "pyenv", "flock", "xargs", "parallel", "chroot",
                        "firejail", "bwrap", "uvx", "pipx", "sg", "runuser", "setsid", "unshare", "nsenter"})


@dataclass(frozen=True)
class Interpreter:
    """The Python a command runs in. ``program``: the interpreter to ask (an absolute path), as
    the command runs it (``options``, in ``env``: None for this process's, in ``cwd``);
    ``own``: assay's own; ``unknown``: why it cannot be told without running it."""

    named: str | None = None  # as the command names it: its python_executable
    program: str | None = None
    options: tuple[str, ...] = ()
    env: Mapping[str, str] | None = field(default=None, repr=False)  # (values not shown: a secret's)
    cwd: str | None = None
    own: bool = False
    unknown: str | None = None


def find_python(command: Sequence[str], cwd: Path | str | None = None) -> Interpreter:
    """The Python ``command`` runs in (run in ``cwd``), found without running anything."""
    words = list(command)
    env: dict[str, str] | None = None
    where = str(cwd) if cwd is not None else None
    bin_dir: str | None = None  # the bin/ folder of the environment a launcher runs it in
    for _ in range(16):  # (launchers in launchers: nice timeout 10 env X=1 python)
        if not words:
            return Interpreter(unknown="no program after the launcher")
        base = os.path.basename(words[0])
        if base == "env":
            parsed = _env(words[1:], env, where)
            if isinstance(parsed, str):
                return Interpreter(unknown=parsed)
            words, env, where = parsed
            continue
        if base in _PASS:
            rest = _after_options(base, words[1:])
            if rest is None:
                return Interpreter(unknown=f"{base}'s options are not read here: {shlex.join(words[:4])}")
            words = rest
            continue
        if base in ("uv", "poetry", "pixi", "conda", "mamba") and words[1:2] == ["run"] and bin_dir is None:
            found = _launcher(base, words[2:], env, where)
            if isinstance(found, str):
                return Interpreter(unknown=found)
            bin_dir, words = found
            env = {**(env if env is not None else os.environ)}
            env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
            continue
        if base in _ELSEWHERE or base in ("uv", "poetry", "pixi", "conda", "mamba"):
            return Interpreter(unknown=f"{shlex.join(words[:2])}: the Python it runs the command in is not "
                                       "known without running it")
        break
    else:
        return Interpreter(unknown="too many launchers in a row")
    return _program(words, env, where, bin_dir)


def _program(words: list[str], env: Mapping[str, str] | None, cwd: str | None, bin_dir: str | None) -> Interpreter:
    named = words[0]
    found = _on_path(named, env, cwd)
    path = _unshimmed(found, env, cwd) if found is not None else None
    # recorded as python_executable: a bare word (`python`) as the file PATH gave, which says
    # which one it was; a shim looked through, as the interpreter it leads to
    shown = path if path is not None and path != found else found if found is not None and _bare(named) else named
    python_named = bool(_PYTHON.fullmatch(os.path.basename(named)))
    head = _head(path) if path else None
    if python_named:
        if found is not None and path is None:
            return Interpreter(named=shown, unknown=f"{named} is a pyenv shim of a Python that is not one of pyenv's "
                                                    "versions (the system's, a prefix): not run to ask which Python it is")
        if path is None or head is None:
            return Interpreter(named=shown, unknown=f"{named} was not found, or cannot be read")
        if head.startswith(_BINARY) and _REAL.fullmatch(os.path.basename(os.path.realpath(path))):
            return _asked(shown, path, _options(words[1:]), env, cwd)
        what = "a script" if head.startswith(b"#!") else "not a Python interpreter by its name or form"
        return Interpreter(named=shown, unknown=f"{named} is {what}: not run to ask which Python it is")
    if path is not None and head is not None and head.startswith(_BINARY) and \
            _REAL.fullmatch(os.path.basename(os.path.realpath(path))):  # a link to Python under another name
        return _asked(shown, path, _options(words[1:]), env, cwd)
    shebang = _shebang(head, env, cwd) if head is not None and head.startswith(b"#!") else None
    if isinstance(shebang, str):
        return Interpreter(named=named, unknown=f"{named}: {shebang}")
    if shebang is not None:
        interpreter, options, env, cwd = shebang
        return _asked(interpreter, interpreter, _options(options), env, cwd)
    if bin_dir is not None:  # a program of the environment's, or a task (pixi run train)
        python = os.path.join(bin_dir, "python")
        head = _head(python)
        if head is not None and head.startswith(_BINARY):
            return _asked(python, python, (), env, cwd)
        return Interpreter(named=python, unknown=f"{python} is not a Python interpreter that can be asked")
    return Interpreter(unknown=f"{named} is not a Python interpreter, nor a script with a Python #! line: the Python "
                               "it starts, if any, is not known without running it")


def _asked(named: str, path: str, options: Sequence[str], env: Mapping[str, str] | None,
           cwd: str | None) -> Interpreter:
    """The interpreter at ``path``: to be asked, unless it is assay's own (not resolved: a venv's
    python is a link to the one it was made from, with another package set)."""
    if os.path.abspath(path) == os.path.abspath(sys.executable) and not options and env is None:
        return Interpreter(named=sys.executable, own=True)
    return Interpreter(named=named, program=os.path.abspath(path), options=tuple(options), env=env, cwd=cwd)


def _which(program: str, env: Mapping[str, str] | None, cwd: str | None) -> str | None:
    """The file ``program`` names, as the command would find it; a pyenv shim's own program
    (the one of the version it selects), where that can be read from pyenv's files."""
    found = _on_path(program, env, cwd)
    return _unshimmed(found, env, cwd) if found is not None else None


def _bare(program: str) -> bool:
    """Whether ``program`` is a name for PATH to find (``python``), not a path (``./bin/python``)."""
    return not (os.sep in program or (os.altsep and os.altsep in program))


def _on_path(program: str, env: Mapping[str, str] | None, cwd: str | None) -> str | None:
    """The file ``program`` names, as the command would find it (an absolute path), shims and all."""
    if not _bare(program):
        path = os.path.join(cwd, program) if cwd is not None else program
        return os.path.abspath(path) if os.path.isfile(path) else None
    found = shutil.which(program, path=(env if env is not None else os.environ).get("PATH", os.defpath))
    return os.path.abspath(os.path.join(cwd or "", found)) if found is not None else None  # (a relative PATH entry: from cwd)


def _unshimmed(path: str, env: Mapping[str, str] | None, cwd: str | None) -> str | None:
    """``path``, or where a pyenv shim there leads: ``versions/V/bin/NAME`` of the version
    ``PYENV_VERSION``, a ``.python-version`` file or pyenv's global ``version`` file selects
    (None where that is not one of its versions: the system's, a prefix)."""
    head = _head(path) or b""
    if not head.startswith(b"#!") or b"libexec/pyenv\" exec" not in head:
        return path
    root = re.search(rb'export PYENV_ROOT="([^"]+)"', head)
    pyenv_root = root.group(1).decode() if root else os.path.dirname(os.path.dirname(path))
    environ = env if env is not None else os.environ
    version = environ.get("PYENV_VERSION", "")
    folder = Path(cwd or os.getcwd()).absolute()
    for candidate in [folder / ".python-version" for folder in [folder, *folder.parents]] + [
            Path(pyenv_root) / "version"]:
        if version:
            break
        try:
            version = candidate.read_text().split()[0] if candidate.is_file() else ""
        except (OSError, IndexError):
            version = ""
    target = os.path.join(pyenv_root, "versions", version.split(":")[0], "bin", os.path.basename(path))
    return target if version and os.path.isfile(target) else None


def _head(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(1024)
    except OSError:
        return None


def _shebang(head: bytes, env: Mapping[str, str] | None, cwd: str | None
             ) -> tuple[str, list[str], Mapping[str, str] | None, str | None] | str | None:
    """A script's Python interpreter, its options, and the environment and folder it gets (what
    ``#!/usr/bin/env -S VAR=x python3`` sets), from its ``#!`` line (or the ``exec`` line a long
    path puts below ``#!/bin/sh``), where that is a real Python; why not, where it is named like
    Python but is not one that can be read (a wrapper, missing); None where it is not named like
    Python at all (``#!/bin/sh``)."""
    lines = head.decode("utf-8", "replace").splitlines()
    words = lines[0][2:].split()
    if not words:
        return None
    if os.path.basename(words[0]) == "sh" and len(lines) > 1 and lines[1].startswith("'''exec'"):
        try:  # pip's and distlib's: '''exec' "/a long/path/python" "$0" "$@"
            words = shlex.split(lines[1])[1:2]
        except ValueError:
            return None
    elif os.path.basename(words[0]) == "env":
        args = _env_line(lines[0][2:].strip().split(None, 1)[1] if len(words) > 1 else "", env)
        parsed = _env(args, dict(env) if env is not None else None, cwd) if args is not None else None
        if parsed is None or isinstance(parsed, str) or not parsed[0]:
            named = next((w for w in words[1:] if _python_like(w)), None)  # (-S with what is not read here)
            return f"its #! line's env arguments are not read here: {lines[0][:80]}" if named else None
        words, changed, cwd = parsed
        if changed != (env if env is not None else os.environ):  # (VAR=x, -i, -u: the probe gets them too)
            env = changed
        named = words[0]
        found = _which(named, env, cwd)
        if found is None:
            return f"its #! interpreter {named} was not found" if _python_like(named) else None
        words[0] = found
    if not words or not _python_like(words[0]):
        return None
    head = _head(words[0])
    if head is None or not head.startswith(_BINARY) or not _REAL.fullmatch(os.path.basename(os.path.realpath(words[0]))):
        what = "not found" if head is None else "not a Python interpreter by its form (a wrapper?)"
        return f"its #! interpreter {words[0]} is {what}: not run to ask which Python it is"
    return words[0], words[1:], env, cwd


def _env_line(text: str, env: Mapping[str, str] | None) -> list[str] | None:
    """The arguments ``#!/usr/bin/env TEXT`` gives env. Linux passes TEXT as one argument, which
    env splits only after ``-S`` (``--split-string``), as a shell would: quotes, ``#`` comments
    and ``${VAR}`` (from its environment) read here; None where it cannot be read so. Without
    -S, it is split at spaces (as macOS does; on Linux one word is all that works there)."""
    split = re.match(r"(-S|--split-string(=|\s))\s*", text)
    if split is None:
        return text.split()
    rest = text[split.end():]
    if "\\" in rest or "$" in re.sub(r"\$\{\w+\}", "", rest):  # (env's own escapes, \_ \c ...: not read here)
        return None
    environ = env if env is not None else os.environ
    rest = re.sub(r"\$\{(\w+)\}", lambda m: environ.get(m.group(1), ""), rest)
    try:
        return shlex.split(rest, comments=True)
    except ValueError:
        return None


def _python_like(program: str) -> bool:
    return bool(_PYTHON.fullmatch(os.path.basename(program)) or _REAL.fullmatch(os.path.basename(program)))


def _options(args: Sequence[str]) -> list[str]:
    out: list[str] = []
    rest = list(args)
    while rest:
        joined = _JOINED.fullmatch(rest[0])
        if rest[0] in _FLAGS or rest[0] in _VALUED:
            out.append(rest.pop(0))
            if out[-1] in _VALUED and rest:
                out.append(rest.pop(0))
        elif rest[0][:2] in _VALUED:  # -Wignore, -Xutf8
            out.append(rest.pop(0))
        elif joined:
            out.append(f"-{joined['flags']}")
            if joined["end"]:  # (-Ic CODE, -Em MODULE: the program's own from here)
                break
            rest.pop(0)
        else:
            break
    return out


def _after_options(program: str, args: list[str]) -> list[str] | None:
    """``args`` less ``program``'s own options and its leading operands; None where an option is
    not one known here (it may change what runs, or take a value)."""
    valued, flags, operands = _PASS[program]
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if arg in flags:
            continue
        if name in valued:
            if "=" not in arg and rest:
                rest.pop(0)
            continue
        short = arg[:2]
        if not arg.startswith("--") and short in valued:  # -n10, -k5s
            continue
        if program == "nice" and arg[1:].isdigit():  # nice -10 (the old form)
            continue
        return None
    if len(rest) < operands:
        return None
    return rest[operands:]


def _env(args: list[str], env: dict[str, str] | None, cwd: str | None
         ) -> tuple[list[str], dict[str, str], str | None] | str:
    """``env [-i] [-u NAME] [-C DIR] [NAME=VALUE]... COMMAND``: the command, and the environment
    and folder it gets."""
    out = dict(env if env is not None else os.environ)
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        if arg == "--":
            break
        if arg in ("-i", "--ignore-environment"):
            out = {}
        elif arg in ("-u", "--unset", "-C", "--chdir") and rest:
            value = rest.pop(0)
            if arg in ("-u", "--unset"):
                out.pop(value, None)
            else:
                cwd = os.path.join(cwd or os.getcwd(), value)
        elif arg.startswith("--unset="):
            out.pop(arg.split("=", 1)[1], None)
        elif arg.startswith("--chdir="):
            cwd = os.path.join(cwd or os.getcwd(), arg.split("=", 1)[1])
        elif arg.startswith("-u") and len(arg) > 2:
            out.pop(arg[2:], None)
        elif arg in ("-0", "--null", "-v", "--debug"):
            continue
        else:
            return f"env's option {arg} is not read here"
    if rest and rest[0] == "-":  # (as -i)
        rest.pop(0)
        out = {}
    while rest and re.fullmatch(r"[^=\s]+=.*", rest[0], re.S):
        name, _, value = rest.pop(0).partition("=")
        out[name] = value
    return rest, out, cwd


def _launcher(tool: str, args: list[str], env: Mapping[str, str] | None, cwd: str | None
              ) -> tuple[str, list[str]] | str:
    """The bin/ folder of the environment ``tool run`` runs its command in, and that command;
    or why it cannot be found without running the tool (which may make or sync it)."""
    environ = env if env is not None else os.environ
    here = Path(cwd or os.getcwd())
    rest = list(args)
    options = {"uv": ({"--project", "--directory", "--extra", "--group", "--package"},
                      {"--no-sync", "--frozen", "--locked", "--offline", "--all-extras", "--no-dev", "-q", "--quiet"}),
               "poetry": ({"-C", "--directory", "-P", "--project"}, {"-q", "--quiet", "--no-interaction", "-n"}),
               "pixi": ({"-e", "--environment", "--manifest-path"},
                        {"--frozen", "--locked", "-q", "--quiet"}),
               "conda": ({"-n", "--name", "-p", "--prefix", "--cwd"},
                         {"--no-capture-output", "--live-stream", "-v", "--debug-wrapper-scripts"})}
    valued, flags = options["conda" if tool == "mamba" else tool]
    given: dict[str, str] = {}
    while rest and rest[0].startswith("-"):
        arg = rest.pop(0)
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if name in valued:
            if not eq:
                if not rest:
                    return f"{tool} run {arg}: no value"
                value = rest.pop(0)
            given[name] = value
        elif arg not in flags:
            return f"{tool} run {arg}: the environment it runs the command in is not known without running {tool}"
    if not rest:
        return f"{tool} run: no command"
    if tool == "uv" and _inline_metadata(os.path.join(here, rest[0])):
        return f"uv run {rest[0]}: a script with its dependencies inline is run in an environment uv makes for it"
    if tool in ("conda", "mamba"):
        prefix = given.get("-p") or given.get("--prefix")
        name = given.get("-n") or given.get("--name")
        found = _conda_env(name, environ) if name else (os.path.join(here, prefix) if prefix else
                                                          environ.get("CONDA_PREFIX"))
    else:
        folder = given.get("--directory") or given.get("-C") or given.get("--project") or given.get("-P")
        start = here / folder if folder else here
        if tool == "pixi" and "--manifest-path" in given:
            start = (here / given["--manifest-path"]).parent
        found = _project_env(tool, start, given.get("-e") or given.get("--environment"), environ)
    if not found or not os.path.isdir(os.path.join(found, "bin")):
        return f"{tool} run: its environment was not found without running {tool} (which may make one)"
    return os.path.join(found, "bin"), rest


def _inline_metadata(path: str) -> bool:
    """Whether ``path`` is a script with a PEP 723 ``# /// script`` block (read in its first 64 KiB)."""
    try:
        with open(path, "rb") as f:
            text = f.read(65536)
    except OSError:
        return False
    return re.search(rb"^# /// script\r?$", text, re.M) is not None


def _conda_env(name: str, environ: Mapping[str, str]) -> str | None:
    """Conda environment ``name``'s folder: the base (conda's own), one in an envs/ folder, or
    one conda has listed in ~/.conda/environments.txt."""
    roots = [os.path.dirname(os.path.dirname(environ[k])) for k in ("CONDA_EXE", "MAMBA_EXE") if environ.get(k)]
    if name == "base":
        return roots[0] if roots else None
    candidates = [os.path.join(root, "envs", name) for root in roots]
    candidates += [os.path.join(d, name) for d in environ.get("CONDA_ENVS_PATH", "").split(os.pathsep) if d]
    try:
        listed = (Path.home() / ".conda" / "environments.txt").read_text().splitlines()
    except OSError:
        listed = []
    candidates += [line.strip() for line in listed if os.path.basename(line.strip()) == name]
    return next((c for c in candidates if os.path.isdir(os.path.join(c, "conda-meta"))), None)


def _project_env(tool: str, start: Path, name: str | None, environ: Mapping[str, str]) -> str | None:
    """The environment ``tool run`` uses for the project at or above ``start``, where it is
    there already: uv's (``UV_PROJECT_ENVIRONMENT``, or .venv at the project or workspace
    root), poetry's (an active virtualenv, or the project's in-project .venv), pixi's
    (.pixi/envs/NAME)."""
    marker = "pixi.toml" if tool == "pixi" else "pyproject.toml"
    project: Path | None = None
    for folder in [start, *start.parents]:
        if tool == "pixi" and ((folder / marker).is_file() or (folder / "pyproject.toml").is_file()) and \
                (folder / ".pixi").is_dir():
            return str(folder / ".pixi" / "envs" / (name or "default"))
        if tool == "pixi" or not (folder / marker).is_file():
            continue
        if project is not None:  # above the project: only the root of a uv workspace it is a member of
            try:
                if tool != "uv" or "[tool.uv.workspace]" not in (folder / marker).read_text(errors="replace"):
                    continue
            except OSError:
                continue
        if tool == "poetry" and environ.get("VIRTUAL_ENV"):
            return environ["VIRTUAL_ENV"]
        if tool == "uv" and environ.get("UV_PROJECT_ENVIRONMENT"):
            return str(folder / environ["UV_PROJECT_ENVIRONMENT"])
        if (folder / ".venv" / "pyvenv.cfg").is_file():
            return str(folder / ".venv")
        project = project or folder
    return None
