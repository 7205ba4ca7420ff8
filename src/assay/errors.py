"""One exception tree for the whole of assay, and the category of its warnings.

Every error carries the exit code the command line returns for it (see DESIGN.md:
0 ok, 1 negative verdict, 2 usage or input error, 3 internal error) and a message
that tells the user what to do next. What a result's ``warnings`` says is also issued
as an :class:`AssayWarning` (see :mod:`warnings`).
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AssayError",
    "AssayWarning",
    "ConcurrencyError",
    "CorruptionError",
    "InputError",
    "MissingExtraError",
    "NoSpaceError",
    "NotFoundError",
    "UnsafePathError",
    "UsageError",
    "WorkspaceNotFoundError",
]


class AssayError(Exception):
    """Base of every error assay raises on purpose."""

    exit_code: int = 3

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # What the command did before it failed (a pull's result when its checkout is refused):
        # more keys of the --json error document.
        self.details = details or {}

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {"error": type(self).__name__, "message": self.message, "hint": self.hint}
        return {**doc, **{key: value for key, value in self.details.items() if key not in doc}}


class AssayWarning(UserWarning):
    """What a result of the Python API says in its ``warnings`` (an empty version, a folder
    shared with another dataset, files a checkout left out), issued through :mod:`warnings`
    as well, at the line that called assay, so that a script or a notebook sees it without
    reading the result. The command line prints a result's warnings itself, once, and never
    issues these (``-W error`` does not turn them into failures there).

    Silence them, or make them errors, with the usual filters::

        import warnings
        from assay.errors import AssayWarning

        warnings.simplefilter("ignore", AssayWarning)
        # or "error": the call then raises, after its work is done (the version is recorded)
    """


class UsageError(AssayError):
    """The command was called in a way that cannot work."""

    exit_code = 2


class InputError(AssayError):
    """The input (a file, a suite, a dataset) is unusable as given."""

    exit_code = 2


class AccessDeniedError(InputError):
    """A store refused this user's credentials what they asked (a read-only share or key)."""


class NotFoundError(InputError):
    """A named thing (dataset, version, remote, model) does not exist."""


class WorkspaceNotFoundError(UsageError):
    """No `.assay/` folder above the current directory and no ASSAY_HOME."""


class UnsafePathError(InputError):
    """A path would escape the folder it is confined to."""


class MissingExtraError(UsageError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the optional package {module!r}, which is not installed",
            hint=f"pip install 'assay[{extra}]'",
        )
        self.module = module
        self.extra = extra


class CorruptionError(AssayError):
    """Stored bytes do not match their hash. Names the damaged object."""

    exit_code = 1

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or ("run `assay data verify --all` to list every damaged object, and "
                                                   "`assay data pull --repair` to replace them from a remote"))
        self.key = key


class ConcurrencyError(AssayError):
    """Another process holds a lock that this operation needs."""

    exit_code = 2


class NoSpaceError(AssayError):
    """The disk (or the quota) is full. Not a bug: the user frees space and reruns."""

    exit_code = 2
