"""A result's warnings, issued through :mod:`warnings` too: a script or a notebook reads no
field of a result it did not ask for, and an empty version or a shared folder must not pass
unseen. The command line prints a result's warnings itself and ignores these (see
``assay.cli._app``)."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterable

from assay.errors import AssayWarning

__all__ = ["warn_user"]

# Frames that are not the user's line: assay's own, and contextlib's (through which the end
# of a ``with track(...)`` block calls assay).
_NOT_THE_USERS = (os.path.dirname(__file__) + os.sep, contextlib.__file__)


def warn_user(messages: Iterable[str]) -> None:
    """Issue each of ``messages`` as an :class:`~assay.errors.AssayWarning`, at the line that
    called assay: the first frame outside it. One stacklevel cannot say where that is (a
    public function calls others that collect warnings at different depths, a run's end
    comes through ``with``), so it is counted here."""
    messages = list(messages)
    if not messages:
        return
    frame, level = sys._getframe(), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_NOT_THE_USERS):
        frame, level = frame.f_back, level + 1
    for message in messages:
        warnings.warn(message, AssayWarning, stacklevel=level)
