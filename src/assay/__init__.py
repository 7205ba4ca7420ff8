"""assay: engineering discipline for machine-learning models.

``import assay`` stays light: pillars load on first use, and no deep-learning,
cluster or web framework is imported here.

The entry points are :class:`Workspace` and :func:`track`; each pillar is a subpackage
(:mod:`assay.data`, :mod:`assay.lineage`, :mod:`assay.checks`, :mod:`assay.drift`), and
every error assay raises on purpose is an :class:`AssayError` (see :mod:`assay.errors`).
What a result's ``warnings`` says is also issued as an :class:`AssayWarning`, at your line::

    import assay
    from assay.data import add

    ws = assay.Workspace.open()                       # the workspace above this folder
    add(ws, ["data"], name="customers")               # -> customers@v1
    with assay.track(ws, inputs=["customers@latest"]) as run:
        train("data", "model.skops")
        run.output_model("churn", "model.skops")      # churn@v1, made by this run
"""

from __future__ import annotations

from assay.errors import AssayError, AssayWarning

TYPE_CHECKING = False  # typing itself is not loaded for this (the entry point's first moments)
if TYPE_CHECKING:
    from typing import Any

    from assay.lineage import track
    from assay.workspace import Workspace

__version__ = "0.1.0"

__all__ = ["AssayError", "AssayWarning", "Workspace", "__version__", "track"]

_LAZY = {
    "Workspace": "assay.workspace:Workspace",
    "track": "assay.lineage:track",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(__import__(module, fromlist=[attr]), attr)  # importlib would load its package
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The lazy names too, so that dir(assay), help(assay) and completion show them.
    return sorted(set(globals()) | set(__all__))
