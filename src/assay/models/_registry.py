"""Registering a model: a versioned snapshot of kind "model" with its flavor in the metadata."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InputError
from assay.models._load import FLAVORS, infer_flavor, load_model

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["describe_model", "register_model", "staged_model", "store_model"]


def register_model(
    ws: Workspace,
    name: str,
    target: str | Path,
    *,
    flavor: str | None = None,
    message: str = "",
    trust: bool = False,
    validate: bool = True,
    run_id: str | None = None,
) -> Any:
    """Register ``target`` (a model file, ``module:function`` or URL) as a new version of model ``name``.

    The model is loaded once first (``validate``) so a broken file is refused at registration.
    ``run_id`` names the run that made the model (see :meth:`assay.lineage.Run.output_model`).
    Returns the data pillar's add result (``.version.id``, ``.version.number``, ...).
    """
    meta = describe_model(target, flavor=flavor, trust=trust, validate=validate)
    return store_model(ws, name, target, meta, message=message, run_id=run_id)


def describe_model(target: str | Path, *, flavor: str | None = None, trust: bool = False,
                   validate: bool = True) -> dict[str, Any]:
    """The metadata a registered version of ``target`` carries: its flavor and, when it is
    loaded to validate it, its hash and feature count. A file that does not load is refused."""
    target = str(target)
    flavor = flavor or infer_flavor(target)
    if flavor not in FLAVORS:
        raise InputError(f"cannot tell the flavor of {target!r}", hint=f"pass --flavor, one of: {', '.join(FLAVORS)}")
    meta: dict[str, Any] = {"flavor": flavor}
    if validate and flavor in ("sklearn", "onnx", "python"):
        model = load_model(target, flavor=flavor, trust=trust)
        meta["model_hash"] = model.hash
        if model.n_features is not None:
            meta["n_features"] = int(model.n_features)
    return meta


def store_model(ws: Workspace, name: str, target: str | Path, meta: dict[str, Any], *, message: str = "",
                run_id: str | None = None) -> Any:
    """Snapshot ``target`` as the next version of model ``name``, with ``meta`` (from
    :func:`describe_model`)."""
    from assay.data._add import add_together

    with staged_model(ws, name, target, meta, message=message) as item:
        return add_together(ws, [item], run_id=run_id)[0]


@contextmanager
def staged_model(ws: Workspace, name: str, target: str | Path, meta: dict[str, Any], *,
                 message: str = "") -> Iterator[Any]:
    """What to add as the next version of model ``name`` (a :class:`assay.data._add.NewData`):
    a copy of ``target``'s file and its metadata, staged in a dot-folder of the workspace's
    root while the block runs. ``data.add`` snapshots files inside the workspace (not under
    ``.assay/``), and the registered bytes must not depend on where the file lives."""
    from assay.data._add import NewData

    target = str(target)
    meta = dict(meta)
    flavor = meta["flavor"]
    prefix = f".assay-model-{name}"
    stage = ws.root / prefix
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    try:
        if flavor in ("sklearn", "onnx"):
            src = Path(target)
            shutil.copy2(src, stage / src.name)
            meta["file"] = f"{prefix}/{src.name}"
        elif flavor == "python":
            meta["target"] = target
            module = target.rpartition(":")[0]
            if module.endswith(".py") and Path(module).is_file():
                shutil.copy2(module, stage / Path(module).name)
                meta["file"] = f"{prefix}/{Path(module).name}"
        else:
            meta["url"] = target
        (stage / "assay-model.json").write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        yield NewData(paths=[stage], name=name, message=message or f"register {flavor} model", kind="model", meta=meta)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
