"""``.assayignore``: files left out of every snapshot of the workspace's folders.

One file beside ``.assay/`` at the workspace root, in gitignore's syntax, its patterns
relative to the workspace root (``#`` comments, ``!`` negation, a leading ``/`` anchors, a
trailing ``/`` matches folders only, ``*`` ``?`` ``[...]`` ``**``; a pattern without a ``/``
matches at any depth). Each line is translated by ``pathspec`` (gitignore's own rules, well
tested; but "X/**/", which it folds into "X/", is translated here); matching is done here: the
last pattern that matches a path decides, and the walks (:mod:`assay.data._scan`,
:mod:`assay.data._sigwalk`) do not go into an ignored folder, so a file inside one cannot be
taken back by a later ``!`` pattern (git's rule).

Light on purpose: read by the walks at `assay`'s entry point (:mod:`assay.data._replay`). With
no ``.assayignore`` the cost is one failed ``open``; ``pathspec`` is loaded only where one exists.
The file's digest joins every stat signature (:data:`GROUP`), so editing it makes every
recorded clean answer stale.
"""

from __future__ import annotations

import os

from assay.errors import UsageError

try:  # as in _sigwalk: hashlib would load OpenSSL
    from _blake2 import blake2b
except ImportError:  # a Python built without it
    from hashlib import blake2b

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

__all__ = ["GROUP", "IGNORE_FILE", "Ignore", "ignored_sources", "load", "refuse_ignored", "said", "take_back"]

IGNORE_FILE = ".assayignore"
# The folder name of the ignore file's group in a stat signature (``(GROUP, 0, its digest)``):
# no real folder has a NUL in its name, and it lies under no source, so a status that finds it
# changed scans the whole tree again rather than only the folders whose files changed.
GROUP = "\0" + IGNORE_FILE


class Ignore:
    """The compiled patterns of one ``.assayignore``; ``digest``: of its bytes."""

    __slots__ = ("digest", "_rules")

    def __init__(self, digest: bytes, rules: list[tuple[re.Pattern[str], bool, int, str]]) -> None:
        self.digest = digest
        self._rules = rules[::-1]  # the last match decides: looked at from the end

    def rule(self, rel: str, *, is_dir: bool) -> tuple[int, str] | None:
        """``(line number, pattern)`` of the pattern that ignores the workspace path ``rel``
        itself (not through a folder above it), or None if none does."""
        path = rel + "/" if is_dir else rel
        for regex, include, line, text in self._rules:
            if _matches(regex, path):
                return (line, text) if include else None
        return None

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        """Whether a walk leaves out the entry ``rel`` (its folder being walked)."""
        path = rel + "/" if is_dir else rel
        for regex, include, _, _ in self._rules:
            if _matches(regex, path):
                return include
        return False

    def refusal(self, rel: str, *, is_dir: bool) -> tuple[str, int, str] | None:
        """``(ignored path, line number, pattern)`` if the workspace path ``rel`` or a folder
        above it is ignored (as ``git check-ignore`` sees a path named to it), else None."""
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            here = "/".join(parts[:i])
            found = self.rule(here, is_dir=is_dir or i < len(parts))
            if found is not None:
                return here, *found
        return None


def _matches(regex: re.Pattern[str], path: str) -> bool:
    """Whether pathspec's ``regex`` matches the walk's entry ``path`` itself (a folder's ending
    in "/"). Its expressions also match what lies in a folder a pattern names ("sub/" matches
    "d/sub/x.tmp", the folder matched by the group ``ps_d``): that would let "!sub/" take back
    every file in sub/, where git takes back only the folder; and "d/**" matches what lies in d/
    but not d/ itself, so "!d/keep.csv" can take that file back."""
    found = regex.match(path)
    if found is None:
        return False
    if found.groupdict().get("ps_d") is None:  # "*.tmp" to its end, or "d/**": what lies below d/
        return not (path.endswith("/") and found.end() == len(path))  # (not d/ itself, as in git)
    return found.end("ps_d") == len(path) or regex.fullmatch(path) is not None


def refuse_ignored(root: str, sources: list[str], *, what: str = "") -> None:
    """Refuse (:class:`~assay.errors.UsageError`) a workspace path of ``sources`` named to be
    versioned that ``.assayignore`` ignores, or that lies in a folder it ignores, as ``git add``
    refuses one. A path not there yet (a run's output) counts as ignored as a file or as a folder."""
    for rel, here, line, pattern in ignored_sources(root, sources)[:1]:
        # (a "!" line takes back a path, but nothing inside an ignored folder: git's rule)
        raise UsageError(said(rel, here, line, pattern, what=what), hint=f"name a path that is not ignored, or {take_back(rel, here)}")


def ignored_sources(root: str, sources: list[str]) -> list[tuple[str, str, int, str]]:
    """``(path, ignored path, line number, pattern)`` for each workspace path of ``sources`` that
    ``.assayignore`` ignores (the ignored path: the path itself or the folder above it that is
    ignored). A path not on disk counts as ignored as a file or as a folder."""
    ignore = load(root)
    if ignore is None:
        return []
    found = []
    for rel in sources:
        path = os.path.join(root, rel)
        kinds = [os.path.isdir(path)] if os.path.lexists(path) else [False, True]
        why = next((f for f in (ignore.refusal(rel, is_dir=k) for k in kinds) if f is not None), None)
        if why is not None:
            found.append((rel, *why))
    return found


def said(rel: str, here: str, line: int, pattern: str, *, what: str = "") -> str:
    """That ``rel`` (called ``what``) is ignored by .assayignore, as :func:`ignored_sources` found it."""
    where = "" if here == rel else f" (it is inside {here}/)"
    return f"{what or rel} is ignored by {IGNORE_FILE}{where}, line {line}: {pattern!r}"


def take_back(rel: str, here: str) -> str:
    """How to have the ignored path ``rel`` (found at ``here``) versioned again, as a hint's end."""
    back = f" (e.g. add a line '!{rel}' after it)" if here == rel else ""
    return f"change that line of {IGNORE_FILE}{back}"


# By workspace and content: the walks of one command read the file several times.
_compiled: dict[tuple[str, bytes], Ignore] = {}


def load(root: str) -> Ignore | None:
    """The workspace ``root``'s ``.assayignore``, or None where it has none (or none with a pattern).
    :class:`~assay.errors.UsageError` for one that cannot be read or holds a malformed pattern."""
    path = os.path.join(root, IGNORE_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {IGNORE_FILE}: {exc.strerror}",
                         hint=f"fix {path}, or remove it to ignore nothing") from None
    known = _compiled.get((root, data))
    if known is None:
        known = _compiled[root, data] = _cached(root, data)
    return known if known._rules else None


# The patterns as pathspec translated them, for the file whose digest is beside them: a
# clean status replayed at the entry point (0.03 s) would take 0.07-0.10 s loading pathspec.
_CACHE = "ignore-rules"
# 2: "X/**/" is translated here (_below); rules cached by an assay that took pathspec's are compiled again.
_CACHE_FORMAT = 2


def _cached(root: str, data: bytes) -> Ignore:
    """:func:`_compile` of ``data``, its regular expressions taken from the cache where they are."""
    from assay._root import WORKSPACE_DIR
    from assay.data._hints import read_hint

    where = os.path.join(root, WORKSPACE_DIR, "cache", _CACHE)
    digest = blake2b(data, digest_size=32).digest()
    kept = read_hint(where)
    if (isinstance(kept, dict) and kept.get("format") == _CACHE_FORMAT and kept.get("digest") == digest
            and isinstance(kept.get("rules"), list)):
        import re

        try:
            return Ignore(digest, [(_for_walk(re.compile(pattern, flags)), include, line, text)
                                   for pattern, flags, include, line, text in kept["rules"]])
        except (TypeError, ValueError, re.error):
            pass  # not what this assay wrote: compiled again
    ignore = _compile(data)
    if ignore._rules:
        from assay.data._hints import write_hint

        rules = [(regex.pattern, regex.flags, include, line, text) for regex, include, line, text in ignore._rules[::-1]]
        write_hint(where, {"format": _CACHE_FORMAT, "digest": digest, "rules": rules})
    return ignore


def _compile(data: bytes) -> Ignore:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{IGNORE_FILE} is not valid UTF-8", hint="save it as UTF-8 text") from None
    rules: list[tuple[re.Pattern[str], bool, int, str]] = []
    lines = text.splitlines()
    if any(line.strip() and not line.startswith("#") for line in lines):
        from pathspec import GitIgnoreSpec  # only where there is a pattern (~50 ms to load)

        for number, line in enumerate(lines, 1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                patterns = [p for p in GitIgnoreSpec.from_lines([line]).patterns
                            if p.include is not None and p.regex is not None]
            except ValueError as exc:  # pathspec's GitIgnorePatternError (GitWildMatchPatternError before 1.0)
                raise UsageError(f"{IGNORE_FILE}, line {number}: {line!r} is not a valid pattern ({exc})",
                                 hint="fix or remove that line (gitignore syntax)") from None
            if not patterns:  # pathspec drops what can match nothing: an unclosed "[", a lone "/"
                raise UsageError(f"{IGNORE_FILE}, line {number}: {line!r} is not a valid pattern (it matches nothing)",
                                 hint="fix or remove that line (gitignore syntax; a literal [ is written \\[)")
            rules += [(_for_walk(_below(line) or pattern.regex), bool(pattern.include), number, line.strip())
                      for pattern in patterns]
    return Ignore(blake2b(data, digest_size=32).digest(), rules)


def _below(line: str) -> re.Pattern[str] | None:
    """The expression for a line ending in "/**/" ("X/**/": every folder below X/, not X/ itself,
    as git has it), which pathspec folds into "X/" (X/ itself and all in it); None for another line."""
    body = line.rstrip().removeprefix("!")
    stem = body[:-1]  # "X/**": all that lies below X/
    if not body.endswith("/**/") or body.endswith("\\/**/") or set(stem.split("/")) <= {"", "**"}:
        return None  # ("**/", "/**/": any folder, which pathspec has right)
    from pathspec import GitIgnoreSpec

    below = GitIgnoreSpec.from_lines([stem]).patterns[0].regex
    # "**/*/**" alone comes back unanchored ("/"): inside any folder
    start = "^[^/]+/" if below.pattern == "/" else below.pattern
    import re

    return re.compile(start + ".+(?P<ps_d>/)", below.flags)  # one folder or more below, as _matches reads ps_d


# pathspec translates "*/" and "**/" (any folder) to "(?P<ps_d>/)", and "**/*/**" (anything inside a
# folder) to "/": unanchored, for its own ``search`` of a file's whole path. Matched here from
# the start against one entry of a walk (a folder's path ending in "/"), they would match nothing.
_UNANCHORED = {"(?P<ps_d>/)": "^.+(?P<ps_d>/)$", "/": "^[^/]+/."}


def _for_walk(regex: re.Pattern[str]) -> re.Pattern[str]:
    """``regex`` as :meth:`Ignore.rule` matches it: from the start of a walk's entry."""
    anchored = _UNANCHORED.get(regex.pattern)
    if anchored is None:
        return regex
    import re

    return re.compile(anchored, regex.flags)
