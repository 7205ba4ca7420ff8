"""Turn a model reference into an adapter: a file path, ``module:function``, a URL, or ``NAME@REF``."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import CorruptionError, InputError, NotFoundError
from assay.models._base import ModelAdapter, ModelError, model_exit_error
from assay.models._hashing import hash_path

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["FLAVORS", "infer_flavor", "load_model"]

FLAVORS = ("sklearn", "onnx", "python", "http")
_SUFFIX_FLAVOR = {".onnx": "onnx", ".skops": "sklearn", ".joblib": "sklearn", ".pkl": "sklearn", ".pickle": "sklearn"}
_CALLABLE = re.compile(r"^[\w./\\-]+(\.py)?:[A-Za-z_][\w.]*$")


def infer_flavor(target: str) -> str | None:
    """The flavor a reference names by its shape, or None when it may be a registered name."""
    if target.startswith(("http://", "https://")):
        return "http"
    suffix = Path(target).suffix.lower()
    if suffix in _SUFFIX_FLAVOR and Path(target).exists():
        return _SUFFIX_FLAVOR[suffix]
    if _CALLABLE.fullmatch(target) and not Path(target).exists():
        return "python"
    if suffix in _SUFFIX_FLAVOR:
        return _SUFFIX_FLAVOR[suffix]
    return None


def _load_flavor(flavor: str, target: str, *, trust: bool, name: str, options: dict[str, Any]) -> ModelAdapter:
    """Every flavor's loader, the one place model code runs while loading (a module's top level,
    an unpickled object): a ``sys.exit`` there is a :class:`ModelExitError`, not assay's exit."""
    try:
        return _load_flavor_code(flavor, target, trust=trust, name=name, options=options)
    except SystemExit as exc:
        raise model_exit_error(name, exc, "loading") from None


def _load_flavor_code(flavor: str, target: str, *, trust: bool, name: str, options: dict[str, Any]) -> ModelAdapter:
    if flavor == "sklearn":
        from assay.models._sklearn import load_sklearn

        return load_sklearn(Path(target), trust=trust, name=name)
    if flavor == "onnx":
        from assay.models._onnx import load_onnx

        return load_onnx(Path(target), name=name)
    if flavor == "python":
        from assay.models._callable import load_callable

        return load_callable(target, name=name)
    if flavor == "http":
        from assay.models._http import load_http

        return load_http(target, name=name, timeout_s=float(options.get("timeout_s", 30.0)), retries=int(options.get("retries", 2)))
    raise InputError(f"unknown model flavor {flavor!r}", hint=f"use one of: {', '.join(FLAVORS)}")


def load_model(
    ref: str | Path,
    *,
    ws: Workspace | None = None,
    trust: bool = False,
    flavor: str | None = None,
    name: str | None = None,
) -> ModelAdapter:
    """Load a model from a path (``.onnx``, ``.skops``, ``.joblib``/``.pkl`` with ``trust``), a
    ``module:function``, an ``http(s)://`` endpoint, or a model registered in ``ws`` as ``NAME[@REF]``.

    >>> load_model("model.skops")  # doctest: +SKIP
    """
    target = str(ref)
    label = name or target
    flavor = flavor or infer_flavor(target)
    if flavor is not None and (flavor in ("python", "http") or Path(target).exists()):
        return _load_flavor(flavor, target, trust=trust, name=label, options={})
    if ws is None:
        raise NotFoundError(
            f"{target}: no such model file, and no workspace to look up a registered model in",
            hint="give a path to a .onnx/.skops/.joblib file, module:function, a URL, or run inside a workspace",
        )
    return load_registered(ws, target, trust=trust, name=name)  # named NAME@vN: the version read


def _cached(ws: Workspace, ref: str, snapshot: str) -> Path:
    """The folder in the workspace's cache that holds snapshot ``snapshot`` of model ``ref``,
    checked out (every chunk verified) if it is not there."""
    from assay._process import host_tag
    from assay._warn import warn_user
    from assay.data._checkout import checkout_prepared
    from assay.store import dead_writers_files, sweep_leftovers

    folder = ws.cache_dir / "models" / snapshot
    if not folder.exists():
        # A killed load's checkout (a model's size): removed, and said so, as the store's sweep does.
        sweep_leftovers(dead_writers_files(ws.tmp_dir, folders=True), "this workspace's temp folder")
        tmp = ws.tmp_dir / f"{os.getpid()}-{host_tag()}-model-{snapshot}-{os.urandom(4).hex()}"
        # (checkout_prepared: checkout itself refuses a folder inside .assay, which this temp folder is)
        warn_user(checkout_prepared(ws, ref, to=tmp).warnings)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not folder.exists():
                raise
    return folder


def load_registered(ws: Workspace, ref: str, *, trust: bool = False, name: str | None = None) -> ModelAdapter:
    """Load a model registered with :func:`register_model` (``NAME`` or ``NAME@REF``)."""
    from assay import data as _data

    try:
        version = _data.resolve(ws, ref)
    except NotFoundError as exc:
        raise NotFoundError(f"{ref}: no such model file or registered model ({exc.message})", hint="register it with `assay model add NAME PATH`") from None
    meta = version.meta if isinstance(version.meta, dict) else json.loads(version.meta or "{}")
    flavor = meta.get("flavor")
    if flavor is None:
        raise InputError(f"{ref} is not a registered model (its version has no flavor)", hint="register models with `assay model add`")
    folder = _cached(ws, ref, version.snapshot)
    label = name or f"{version.dataset}@v{version.number}"
    if flavor == "http":
        target = meta["url"]
    elif flavor == "python":
        target = meta["target"]
        file = meta.get("file")
        if file:
            # the registered copy of the defining file, so the check runs the recorded code
            target = f"{folder / file}:{target.rpartition(':')[2]}"
    else:
        file = meta.get("file")
        candidates = [folder / file] if file else sorted(p for p in folder.rglob("*") if p.suffix.lower() in _SUFFIX_FLAVOR)
        if not candidates or not candidates[0].is_file():
            raise ModelError(f"{ref}: the registered snapshot holds no model file")
        target = str(candidates[0])
        expected = meta.get("model_hash")
        if isinstance(expected, str) and hash_path(Path(target)) != expected:
            # The cached copy was changed since it was checked out (the store's chunks are
            # verified as they are read; the cache is a plain folder): check it out again.
            inside = Path(target).relative_to(folder)
            shutil.rmtree(folder, ignore_errors=True)
            target = str(_cached(ws, ref, version.snapshot) / inside)
            if hash_path(Path(target)) != expected:
                raise CorruptionError(f"{ref}: its model file does not hash to the model_hash it was registered with",
                                      hint="run `assay data verify --all`")
    try:
        model = _load_flavor(flavor, target, trust=trust, name=label, options=meta)
    except ModelError as exc:
        if trust or "--trust" not in (exc.hint or ""):
            raise
        # Not remembered from `assay model add --trust`, by design: a version reaches other workspaces
        # (a remote, a shared ledger), and a trust stored with it would let whoever registered it run
        # code in every check that loads it. Each load says it trusts the file, as at registration.
        raise ModelError(exc.message, hint=(
            f"{exc.hint}. The --trust given to `assay model add` is not remembered: a registered version travels "
            "to other workspaces (remotes, a shared ledger), so each command that loads it passes --trust itself "
            "(`assay check ... --trust`)")) from None
    # results link to the registered version, not to the cache path
    model.meta = {**model.meta, "version": version.id, "snapshot": version.snapshot, "ref": ref}
    return model
