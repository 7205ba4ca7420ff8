"""Compare and profile data named by path or dataset reference, opening each side once.

What `assay drift REFERENCE CURRENT` and `assay drift profile DATA` call: a dataset
reference ``NAME@REF`` is checked out once, and the versions read are handed back so
that the result can be recorded against them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from assay._wording import noun_for
from assay.drift._detector import compare
from assay.drift._io import open_source
from assay.drift._profile import CategoricalSketch, Profile, build_profile, count_like
from assay.errors import InputError, UsageError

if TYPE_CHECKING:
    from assay.data import Version
    from assay.drift._report import DriftReport
    from assay.drift._spec import DriftSpec

__all__ = ["compare_sources", "profile_source"]


def compare_sources(reference: object, current: object, spec: DriftSpec | None = None, *, executor: object | None = None,
                    workspace: object | None = None) -> tuple[DriftReport, list[Version | None]]:  # fmt: skip
    """Open ``reference`` and ``current`` once each and :func:`compare` them.

    Returns the report and the dataset version read on each side (``None`` for a file,
    a table or a profile file; a stored ``profile:NAME@REF`` is that version's), as
    :func:`record_report` takes them::

        report, versions = compare_sources("customers@v1", "customers@v2", DriftSpec(), workspace=ws)
        record_report(ws, report, versions)
    """
    with contextlib.ExitStack() as stack:
        ref = stack.enter_context(open_source(reference, label=_label(reference, "reference"), workspace=workspace))
        cur = stack.enter_context(open_source(current, label=_label(current, "current"), workspace=workspace))
        report = compare(ref, cur, spec, executor=executor, workspace=workspace)
        return report, [getattr(ref, "version", None), getattr(cur, "version", None)]


def profile_source(data: object, *, columns: list[str] | None = None, bins: int = 1000, max_categories: int = 10_000, seed: int = 0,
                   like: str | Path | None = None, executor: object | None = None,
                   workspace: object | None = None) -> tuple[Profile, Version | None]:  # fmt: skip
    """Sketch ``data`` into a mergeable :class:`Profile`, and say which dataset version it read.

    With ``like`` (a saved reference profile) the sketches are counted on that profile's
    bins, so that profiles of partitions can be merged and compared with it; ``columns``
    then defaults to the reference's columns that ``data`` has. The version is ``None``
    unless ``data`` is a dataset reference ``NAME@REF`` (what :func:`save_profile` needs)::

        profile, version = profile_source("customers@v2", workspace=ws)
        save_profile(ws, profile, version)

    Raises :class:`~assay.errors.InputError` when ``data`` has no rows or lacks a column
    asked for, and :class:`~assay.errors.UsageError` when ``data`` is a profile already.
    """
    for name, value, least in (("bins", bins, 10), ("max_categories", max_categories, 1), ("seed", seed, 0)):
        if value < least:
            raise UsageError(f"{name} must be at least {least}, got {value}")
    label = _label(data, "data")
    with open_source(data, label=label, workspace=workspace) as src:
        if isinstance(src, Profile):
            raise UsageError(f"{label} is already a profile")
        if src.num_rows == 0:
            raise InputError(f"{label} has no rows")
        if columns:
            absent = [n for n in columns if n not in src.schema.names]
            if absent:
                raise InputError(f"{label} has no {noun_for(len(absent), 'column')} {', '.join(map(repr, absent))}")
        if like is not None:
            reference = Profile.load(like)
            wanted = columns or [n for n in reference.columns if n in src.schema.names]
            absent = [n for n in wanted if n not in reference.columns]
            if absent or not wanted:
                raise InputError(f"the reference profile {like} has no {noun_for(len(absent), 'column')} {', '.join(map(repr, absent))}" if absent
                                 else f"the reference profile {like} has no column that {label} has")
            # a reference saved before empty CSV fields were read as missing counts "" as a category: so does this profile
            kept = {n for n in wanted if isinstance(reference.columns[n], CategoricalSketch) and reference.columns[n].counts_empty_text}
            if kept & src.empty_text:
                src = src.keeping_empty_text(kept)
            rows, sketches, _ = count_like(reference, src, wanted, executor=executor)
            profile = Profile(rows, sketches, label, left_out=dict(getattr(src, "left_out", {})))
        else:
            profile = build_profile(src, columns=columns, bins=bins, max_categories=max_categories, seed=seed, executor=executor)
        return profile, src.version


def _label(data: object, default: str) -> str:
    """What messages and the report call ``data``: its path or reference as given, else ``default``."""
    return str(data) if isinstance(data, (str, os.PathLike)) else default
