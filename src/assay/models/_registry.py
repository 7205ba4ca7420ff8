"""Registering a model: a versioned snapshot of kind "model" with its flavor in the metadata."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._warn import warn_user
from assay.errors import InputError, NotFoundError
from assay.models._load import FLAVORS, infer_flavor, load_model
from assay.models._sklearn import SklearnModel, refuse_unfitted

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["checkout_folder", "describe_model", "held_copy", "model_files", "model_versions", "register_model", "store_model"]


def register_model(
    ws: Workspace,
    name: str,
    target: str | Path,
    *,
    flavor: str | None = None,
    message: str = "",
    trust: bool = False,
    validate: bool = True,
) -> Any:
    """Register ``target`` (a model file, ``module:function`` or URL) as a new version of model ``name``.

    The model is loaded once first (``validate``) so a broken file is refused at registration.
    A model file is read once, into a copy that is both loaded and stored: a file rewritten
    meanwhile (a trainer's checkpoints) cannot leave a version whose bytes are not the ones
    its metadata describes. Returns the data pillar's add result (``.version.id``, ...); each of
    its ``warnings`` is also issued as an :class:`~assay.errors.AssayWarning`.
    """
    flavor = flavor or infer_flavor(str(target))
    with held_copy(ws, target, flavor) as copy:
        meta = describe_model(copy, flavor=flavor, trust=trust, validate=validate, label=str(target))
        result = store_model(ws, name, copy, meta, message=message)
    warn_user(result.warnings)
    return result


def model_versions(ws: Workspace, name: str) -> list[Any]:
    """The versions of registered model ``name``, newest first (``NAME@REF``: only that one), as
    the data pillar's :class:`~assay.data.Version` (``meta["flavor"]`` says how it is called).
    A name that is no model here raises :class:`NotFoundError` naming the closest models.
    """
    import difflib

    from assay import data as _data
    from assay.data._versions import kind_of, parse_ref

    base, _ = parse_ref(name)
    kind = kind_of(ws, base)
    if kind == "dataset":
        raise NotFoundError(f"{base!r} is a dataset, not a registered model", hint=f"`assay data log {base}` lists its versions")
    if kind is None:
        models = [d["name"] for d in _data.list_datasets(ws, kind="model")]
        close = difflib.get_close_matches(base, models, n=3, cutoff=0.6)
        if close:
            hint = f"did you mean {' or '.join(close)}? `assay model list` lists the models"
        elif models:
            hint = f"registered models: {', '.join(models[:20])}"
        else:
            hint = "register one with `assay model add NAME PATH`"
        raise NotFoundError(f"no model named {base!r}", hint=hint)
    return _data.log(ws, name)


@contextmanager
def held_copy(ws: Workspace, target: str | Path, flavor: str | None) -> Iterator[str]:
    """A model file (``sklearn``, ``onnx``) copied into the workspace's temp folder while the
    block runs, so that what is validated and what is stored are the same bytes; any other
    ``target`` as it is. The copy is named as the workspace's temp files are (``<pid>-…``): if
    this process is killed, the next command removes it."""
    target = str(target)
    if flavor not in ("sklearn", "onnx") or not Path(target).is_file():
        yield target
        return
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    copy = ws.tmp_dir / f"{os.getpid()}-model-{os.urandom(6).hex()}{Path(target).suffix.lower()}"
    try:
        shutil.copyfile(target, copy)
        yield str(copy)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(copy)


def describe_model(target: str | Path, *, flavor: str | None = None, trust: bool = False,
                   validate: bool = True, label: str | None = None) -> dict[str, Any]:
    """The metadata a registered version of ``target`` carries: its flavor and, when it is
    loaded to validate it, its hash and feature count. A file that does not load is refused,
    named as ``label`` (default: ``target``)."""
    target = str(target)
    label = label or target
    flavor = flavor or infer_flavor(target)
    if flavor not in FLAVORS:
        raise InputError(f"cannot tell the flavor of {label!r}", hint=f"pass --flavor, one of: {', '.join(FLAVORS)}")
    if flavor in ("sklearn", "onnx") and not Path(target).is_file():
        raise NotFoundError(f"{label}: no such model file", hint="check the path")
    meta: dict[str, Any] = {"flavor": flavor}
    if validate and flavor in ("sklearn", "onnx", "python"):
        model = load_model(target, flavor=flavor, trust=trust, name=label)
        if isinstance(model, SklearnModel):
            refuse_unfitted(model)
        meta["model_hash"] = model.hash
        if model.n_features is not None:
            meta["n_features"] = int(model.n_features)
    return meta


def store_model(ws: Workspace, name: str, target: str | Path, meta: dict[str, Any], *, message: str = "") -> Any:
    """Snapshot ``target`` as the next version of model ``name``, with ``meta`` (from
    :func:`describe_model`)."""
    from assay.data._add import add_together

    with model_files(ws, name, target, meta, message=message) as item:
        return add_together(ws, [item])[0]


def checkout_folder(name: str) -> str:
    """The folder, relative to the workspace root, that a version of model ``name`` holds its
    files in (so where a checkout of it in place writes them)."""
    from assay.data._versions import model_folder

    return model_folder(name)


@contextmanager
def model_files(ws: Workspace, name: str, target: str | Path, meta: dict[str, Any], *,
                message: str = "") -> Iterator[Any]:
    """What to add as the next version of model ``name`` (a :class:`assay.data._add.NewData`):
    ``target``'s file and a card of its metadata (``assay-model.json``), read from where they
    are into the snapshot as ``.assay-model-NAME/model<suffix>`` and
    ``.assay-model-NAME/assay-model.json``. Nothing is copied into the workspace: registrations
    of one name at once cannot meet there, and a checkout of the model (which writes that
    folder) is left alone. The model file's name in the snapshot is fixed, so the same bytes
    registered from another file name are the same version."""
    from assay.data._add import NewData

    target = str(target)
    meta = dict(meta)
    flavor = meta["flavor"]
    prefix = checkout_folder(name)
    files: list[tuple[str, str]] = []
    if flavor in ("sklearn", "onnx"):
        meta["file"] = f"{prefix}/model{Path(target).suffix.lower()}"
        files.append((meta["file"], target))
    elif flavor == "python":
        meta["target"] = target
        module = target.rpartition(":")[0]
        if module.endswith(".py") and Path(module).is_file():
            meta["file"] = f"{prefix}/{Path(module).name}"  # (imported by its own name)
            files.append((meta["file"], module))
    else:
        meta["url"] = target
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, card = tempfile.mkstemp(prefix=f"{os.getpid()}-model-card-", suffix=".json", dir=ws.tmp_dir)  # (see held_copy)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(meta, indent=2, sort_keys=True))
        files.append((f"{prefix}/assay-model.json", card))
        yield NewData(paths=[], files=files, name=name, message=message or f"register {flavor} model",
                      kind="model", meta=meta)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(card)
