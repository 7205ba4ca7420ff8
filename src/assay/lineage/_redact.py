"""Secrets left out of run records.

A run record keeps the command line and parameters as given, and travels with a push to
every workspace that pulls its outputs. Values that name themselves secret are recorded
as ``***``:

- an option whose name says so (``--api-key K``, ``--password=P``, ``--hf-token T``),
- an assignment likewise (``AWS_SECRET_ACCESS_KEY=…``, ``db_password=…``),
- the password part of a URL (``postgresql://user:PASS@host/db``),
- a parameter (``track(params=…)``) whose key says so, at any depth.

A name says so when one of its words (split at ``-``, ``_``, ``.``) is a secret word, or
two neighbouring words make one (``api key``, ``access key``, ``private key``), unless
it names something about the secret rather than the secret itself (``--token-file``,
``--password-length``, ``--no-auth``): ``--tokenizer`` and ``--key`` stay as they are.
An option's value is the next argument unless that is another option.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "redact_command", "redact_params", "secret_name"]

REDACTED = "***"

_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "credential",
                    "credentials", "auth"})
_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("client", "secret"),
                    ("session", "key"), ("signing", "key"), ("encryption", "key")})
_ABOUT = frozenset({"file", "path", "dir", "url", "length", "len", "limit", "type", "size", "count", "env", "var",
                    "name", "id", "min", "max"})
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^/\s@]+)(?P<at>@)")
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)", re.S)


def secret_name(name: str) -> bool:
    """Whether an option, variable or parameter name says its value is a secret."""
    words = [w for w in re.split(r"[-_.\s]+", name.strip("-").lower()) if w]
    if not words or words[0] == "no" or words[-1] in _ABOUT:
        return False
    if any(w in _WORDS for w in words):
        return True
    return any(pair in _PAIRS for pair in zip(words, words[1:]))


def _url(text: str) -> str:
    return _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + m["at"], text)


def redact_command(command: list[str]) -> list[str]:
    """``command`` with the values of secret options, assignments and URL passwords as ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in command:
        if hide_next:
            hide_next = False
            if not arg.startswith("-"):
                out.append(REDACTED)
                continue
        if arg.startswith("-") and len(arg) > 1:
            name, eq, _ = arg.partition("=")
            if secret_name(name):
                out.append(f"{name}={REDACTED}" if eq else arg)
                hide_next = not eq
                continue
        match = _ASSIGNMENT.fullmatch(arg)
        if match and secret_name(match["name"]):
            out.append(f"{match['name']}={REDACTED}")
            continue
        out.append(_url(arg))
    return out


def redact_params(params: Any) -> Any:
    """``params`` with the values of secret keys as ``***``, at any depth; URL passwords in strings too."""
    if isinstance(params, dict):
        return {k: REDACTED if isinstance(k, str) and secret_name(k) and v is not None else redact_params(v)
                for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [redact_params(v) for v in params]
    if isinstance(params, str):
        return _url(params)
    return params
