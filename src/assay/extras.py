"""Import optional dependencies with the exact install line when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.errors import MissingExtraError

__all__ = ["import_optional"]


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``assay[extra]``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the package is there but one of its own imports is broken: show that
        raise MissingExtraError(module, extra) from exc
