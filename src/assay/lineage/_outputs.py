"""A run's outputs and inputs as the run sees them: which outputs can be versioned (checked
before the work), whether they are there and were written by the run (after it), and whether
an input's files in the workspace are the version named."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InputError, UsageError
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.lineage._run import Run

__all__ = ["ModelOutput", "check_model_output", "check_on_disk", "check_output", "fingerprint",
           "refuse_missing_outputs"]


@dataclass(frozen=True)
class ModelOutput:
    """A model file a run makes, registered as a version of model ``name`` if the run ends well."""

    name: str
    path: str
    flavor: str
    trust: bool
    message: str


def check_output(ws: Workspace, name: str, paths: Sequence[str | Path], *, allow_overlap: bool = False,
                 others: dict[str, list[str]] | None = None,
                 said: set[frozenset[tuple[str, str]]] | None = None) -> list[str]:
    """Refuse an output that could never be versioned, before the work: an invalid name, the
    name of a model (or anything but a dataset), a path outside the workspace, a path that
    would newly share files with another dataset (or with ``others``, the run's other outputs)
    unless ``allow_overlap``. The warnings to give for overlaps let through; ``said``: the
    overlaps warned of already (see :func:`assay.data._overlap.refuse_or_note`)."""
    from assay.data._overlap import refuse_or_note
    from assay.data._versions import check_name, kind_of

    check_name(name)
    kind = kind_of(ws, name)
    if kind not in (None, "dataset"):
        raise InputError(f"{name!r} is a {kind}, not a dataset: an output cannot be a version of it",
                         hint="give the output another NAME")
    if not paths:
        raise UsageError(f"output {name!r} names no file or folder")
    sources = sorted({ws.relpath(path) for path in paths})
    from assay.data._ignore import refuse_ignored

    for rel in sources:
        refuse_ignored(str(ws.root), [rel], what=f"output {name}'s {rel}")
    return refuse_or_note(ws, name, sources, allow_overlap=allow_overlap, others=others, what=f"output {name}",
                          said=said)


_MODEL_FILE_FLAVORS = ("sklearn", "onnx")
# A tracked block's model file changed up to this long before the block began still counts as
# the block's: file times come from a file server's clock, or in whole seconds on some file systems.
_CLOCK_SLACK = 2.0


def check_model_output(ws: Workspace, name: str, path: str | Path, *, flavor: str | None, trust: bool,
                        message: str) -> ModelOutput:
    """Refuse a model output that could never be registered, before the work: an invalid name,
    the name of a dataset, a flavor that is not a model file's, a pickle without ``trust``."""
    from assay.data._versions import check_name, kind_of
    from assay.models import infer_flavor

    check_name(name)
    kind = kind_of(ws, name)
    if kind not in (None, "model"):
        raise InputError(f"{name!r} is a {kind}, not a model: a model output cannot be a version of it",
                         hint="give the model output another NAME")
    text = str(path)
    if not text:
        raise UsageError(f"model output {name!r} names no file")
    found = flavor or infer_flavor(text)
    if found not in _MODEL_FILE_FLAVORS:
        raise UsageError(
            f"model output {name}: cannot tell a model file's flavor from {text!r}" if found is None else
            f"model output {name}: a {found} model is not a file a run writes",
            hint="a run's model is a .skops, .onnx, or (with --trust) .joblib/.pkl file; register a "
                 "module:function or a URL with `assay model add`")
    if found == "sklearn" and Path(text).suffix.lower() != ".skops" and not trust:
        raise UsageError(
            f"model output {name}: {text} is a pickle-based file, and registering it loads it once to "
            "validate it, which can run code from the file",
            hint="pass --trust (trust=True) if the command that writes it is yours, or save the model "
                 "with skops (.skops)")
    return ModelOutput(name=name, path=text, flavor=found, trust=trust, message=message)


def refuse_missing_outputs(ws: Workspace, run: Run) -> None:
    """Refuse to version any output if one of them is not there (as `add` would refuse it), so
    that a run that fails makes no version at all. A path that was a source of the dataset's
    latest version may be gone: the new version records its files as removed, as `add` does."""
    from assay.data._versions import dataset_sources

    for name, (paths, _) in run.outputs.items():
        for path in paths:
            if not os.path.lexists(path) and ws.relpath(path) not in dataset_sources(ws, name):
                raise UsageError(f"output {name}: {path} does not exist, so no output of run {run.id[:12]} "
                                 "was versioned", hint="check the path the command writes the output to "
                                 "(a relative path is taken from the folder assay runs in)")
    for model in run.models.values():
        if not os.path.isfile(model.path):
            raise UsageError(f"model output {model.name}: {model.path} is not a file, so no output of run "
                             f"{run.id[:12]} was versioned", hint="check the path the command writes the model to "
                             "(a relative path is taken from the folder assay runs in)")
        if _unwritten(run, model):
            # A file from before the run (an earlier run's, a command that failed quietly and
            # exited 0) would be registered as made by this run, from its inputs: wrong lineage.
            raise UsageError(
                f"model output {model.name}: {model.path} is the file that was there before run {run.id[:12]} "
                "started, so the command did not write it; no output was versioned",
                hint="check that the command writes the model to that path; to register a model made elsewhere, "
                     "use `assay model add`")


def _unwritten(run: Run, model: ModelOutput) -> bool:
    """Whether ``model``'s file is one the run did not write. A command's model was named before
    the command ran: its file is the same one (inode, size, times) as then. A tracked block
    names its model after writing it: its file was last changed before the block began."""
    if model.name in run.before:
        return run.before[model.name] == fingerprint(model.path)
    return os.stat(model.path).st_ctime < run.started - _CLOCK_SLACK


def fingerprint(path: str) -> tuple[int, int, int, int] | None:
    """A file's identity and last change (None: no file), to tell whether a command wrote it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def check_on_disk(ws: Workspace, version: Any) -> None:
    """Refuse an input whose files in the workspace are not that version's: the run would be
    recorded as built from data it did not read. A dataset none of whose files are on disk
    is let through (the command reads it from elsewhere, a checkout into a folder of its own)."""
    from assay._root import protected_path, under
    from assay.data import status
    from assay.data._versions import load_snapshot, version_sources

    sources = version_sources(ws, version)
    snapshot = load_snapshot(ws.store, version.snapshot)
    files = [p for p in snapshot.files if not protected_path(p)]  # never checked out: see checkout
    if not all(under(p, sources) for p in files):
        # Added from other paths than the dataset's current ones: its own files are compared.
        modified, removed = _compare_files(ws, snapshot, files)
        found_added: list[str] = []
        if not modified and len(removed) in (0, len(files)):
            return  # all of it here as it was, or none of it here
    else:
        found = status(ws, version.ref)
        if not found.dirty:
            return
        if not found.added and not found.modified and not found.unchanged:
            return  # nothing of it here
        modified, found_added, removed = found.modified, found.added, found.removed
    what = ", ".join(f"{len(paths)} {label}" for label, paths in
                     (("modified", modified), ("added", found_added), ("removed", removed)) if paths)
    first = (modified + found_added + removed)[0]
    raise UsageError(
        f"the files of {version.dataset} in the workspace are not {version.ref} ({what}; {first} for one): "
        f"the run would be recorded as built from data it did not read",
        hint=f"check it out first (`assay data checkout {version.ref}`), add the changes as a version and name "
             "that one, or pass --no-input-check (check_inputs=False) if the command reads the input from elsewhere",
    )


def _compare_files(ws: Workspace, snapshot: Any, paths: list[str]) -> tuple[list[str], list[str]]:
    """The files ``paths`` of ``snapshot`` that differ on disk, and those missing there."""
    from assay.data._checkout_target import _compare
    from assay.data._chunking import Chunker
    from assay.data._statcache import StatCache

    cache, chunker = StatCache(ws), Chunker(ws.config.data.chunk_avg)
    modified, removed = [], []
    for rel in sorted(paths):
        state = _compare(str(ws.root / rel), rel, snapshot.files[rel], cache, chunker)
        if state == "missing":
            removed.append(rel)
        elif state == "other":
            modified.append(rel)
    return modified, removed
