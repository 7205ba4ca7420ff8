"""Secrets left out of run records.

A run record keeps the command line and parameters as given, and travels with a push to
every workspace that pulls its outputs. Values that name themselves secret are recorded
as ``***``:

- an option whose name says so (``--api-key K``, ``--password=P``, ``--hf-token T``,
  ``--accessToken T``),
- an assignment likewise (``AWS_SECRET_ACCESS_KEY=…``, ``PGPASSWORD=…``), also one of several
  in one argument (``Server=db;Password=…``, ``AccountKey=…``),
- a header likewise (``-H "Authorization: Bearer …"``, ``X-Api-Key: …``),
- the password part of a URL (``postgresql://user:PASS@host/db``) and secret query
  parameters (``?access_token=…``, ``&sig=…``),
- the same inside a shell script given as one argument (``bash -c "… --password P …"``),
- a parameter (``track(params=…)``) whose key says so, at any depth, in any mapping
  (a dict, a Hydra/OmegaConf config), an ``argparse.Namespace`` or a dataclass.

A name says so when one of its words (split at ``-``, ``_``, ``.`` and lower-to-upper case
changes) is a secret word or ends with one (``pgpassword``), or two neighbouring words make
one (``api key``, ``access key``, ``account key``), unless it names something about the
secret rather than the secret itself (``--token-file``, ``--password-length``,
``--no-auth``, ``--use-auth-token``, ``--auth-mode``) or a model's special token
(``--pad-token``, ``eos_token``): ``--tokenizer`` and ``--key`` stay as they are. An
option's value is the next argument unless that is another option.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "redact_command", "redact_params", "redact_text", "redact_tokens", "secret_name"]

REDACTED = "***"

_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "apikey", "credential",
                    "credentials", "auth", "authorization", "cookie"})
_ENDINGS = ("password", "passwd", "passphrase", "secret", "token", "apikey")  # pgpassword, clientsecret, hftoken
_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("client", "secret"),
                    ("session", "key"), ("signing", "key"), ("encryption", "key"), ("account", "key"),
                    ("master", "key"), ("license", "key")})
_ABOUT = frozenset({"file", "path", "dir", "url", "uri", "length", "len", "limit", "type", "size", "count", "env",
                    "var", "name", "id", "min", "max", "mode", "method", "scheme", "kind", "provider", "host",
                    "server", "endpoint", "header", "required", "enabled", "disabled", "policy", "ttl", "expiry",
                    "expires", "timeout", "format", "prefix", "suffix", "field", "column"})
# A model's special tokens, and a vocabulary's: configuration, not secrets.
_NOT_SECRET_TOKENS = frozenset({"pad", "eos", "bos", "unk", "sep", "mask", "cls", "special", "start", "end", "image",
                                "vision", "audio", "video", "decoder", "begin", "new", "added", "extra", "additional"})
_URL_SECRET_PARAMS = frozenset({"sig", "signature", "key", "code", "x-amz-signature", "x-amz-credential",
                                "x-amz-security-token", "x-goog-signature", "x-goog-credential"})
# Programs whose -p holds a password attached to it (a separate word is what -p does not take).
_ATTACHED_P = frozenset({"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mysqlpump",
                         "mysqlslap", "mysqlbinlog", "mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import",
                         "mariadb-show", "mariadb-check", "mariadb-slap", "mariadb-binlog"})
# Programs whose -u/--user is a user and group (uid:gid), or whose -u is something else; and
# programs whose -u/--user is a user and password, which a command line may run under those.
_USER_GROUP = frozenset({"docker", "podman", "nerdctl", "buildah", "runc", "crun", "singularity", "apptainer", "tar"})
_USER_PASSWORD = frozenset({"curl", "wget", "lftp", "http", "https", "xh"})
_PROGRAM_END = frozenset({";", "&&", "||", "|", "&", "(", ")", "{", "}", "then", "do", "else", "exec", "xargs"})
_USER = re.compile(r"[^\s=/:@]+")  # a user name, not the start of an assignment or a URL
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)", re.S)
# name=value inside a longer text: after a start, a separator of a connection string, or a quote.
_PAIR = re.compile(r"(?P<head>(?:^|[;,&\s'\"(]))(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<eq>\s*=\s*)(?P<q>['\"]?)"
                   r"(?P<value>[^;,&\s'\")]*)")
# 'name': 'value' as a mapping's repr shows it.
_REPR_PAIR = re.compile(r"(?P<head>['\"](?P<name>[A-Za-z_][A-Za-z0-9_.-]*)['\"]\s*:\s*)(?P<q>['\"])(?P<value>.*?)(?P=q)")
_HEADER = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9-]*)\s*:\s+(?P<value>.+)$", re.S)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>\S*)")
_QUERY = re.compile(r"(?P<head>[?&;])(?P<name>[A-Za-z0-9_.-]+)=(?P<value>[^&#;\s]*)")
# Secrets known by their form. Each starts where no letter or digit runs on into it; the random
# part is as long as the issuer makes it. sk- (OpenAI, Anthropic, OpenRouter, DeepSeek) is also a
# common word start (sk-learn): an issuer's own prefix (sk-proj-, sk-ant-api03-) or a run of
# lower case letters and digits is a key; else the random part must be long and mix upper and
# lower case and digits (see _token).
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    r"|hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])"
    r"|gh[pousr]_[A-Za-z0-9]{36,}(?![A-Za-z0-9])"
    r"|github_pat_[A-Za-z0-9_]{40,}(?![A-Za-z0-9_])"
    r"|glpat-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"
    r"|pypi-AgE[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])"
    r"|AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{20,}(?![A-Za-z0-9])"
    r"|npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"
    r"|xox[bpars]-[A-Za-z0-9-]{10,}(?![A-Za-z0-9-])"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*(?![A-Za-z0-9_.-])"
    r"|sk-(?:ant-(?:api|admin)[0-9]+|proj|svcacct|admin|or-v1)-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"
    r"|sk-(?=[a-z0-9]*[0-9])(?=[a-z0-9]*[a-z])[a-z0-9]{32,}(?![A-Za-z0-9_-])"
    r"|(?P<sk>sk-(?:[a-z]+[0-9]*-){0,3}(?P<random>[A-Za-z0-9_-]{32,}))(?![A-Za-z0-9_-])"
    r")")
# A private key, to its END line; to the end of the text where that was cut off.
_PEM = re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END (?P=kind)-----|\Z)", re.S)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip().lstrip("-"))
    return [w for w in re.split(r"[-_.\s]+", spaced.lower()) if w]


def secret_name(name: str) -> bool:
    """Whether an option, variable, header or parameter name says its value is a secret."""
    words = _words(name)
    if not words or words[0] in ("no", "use") or words[-1] in _ABOUT:
        return False
    for i, w in enumerate(words):
        if w in _WORDS or (len(w) > 6 and w.endswith(_ENDINGS)):
            if w == "token" and i > 0 and words[i - 1] in _NOT_SECRET_TOKENS:
                continue
            return True
    return any(pair in _PAIRS for pair in zip(words, words[1:]))


def _token(match: re.Match[str]) -> str:
    random = match["random"]
    if match["sk"] and not (re.search(r"[a-z]", random) and re.search(r"[A-Z]", random)
                            and re.search(r"[0-9]", random) and re.search(r"[A-Za-z0-9]{16}", random)):
        return match[0]  # words joined by hyphens (sk-Results-2024-final), not a key
    return REDACTED


def redact_tokens(text: str) -> str:
    """``text`` with each value that is a secret by its form (a token, a key; see above) as ``***``."""
    if "-----BEGIN " in text:
        text = _PEM.sub(lambda m: f"-----BEGIN {m['kind']}-----{REDACTED}-----END {m['kind']}-----", text)
    return _TOKEN.sub(_token, text)


def _url(match: re.Match[str]) -> str:
    """A URL with the password of its user part and its secret query parameters as ``***``."""
    rest = match["rest"]
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)  # a password may hold an @: the host follows the last
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            authority = f"{user}:{REDACTED}@{host}"
    tail = _QUERY.sub(lambda m: f"{m['head']}{m['name']}={REDACTED}"
                      if secret_name(m["name"]) or m["name"].lower() in _URL_SECRET_PARAMS else m[0], tail)
    return f"{match['scheme']}{authority}{tail}"


def _pair(match: re.Match[str]) -> str:
    """A secret name=value with its value as ``***``, as it was written around it: the spaces
    about its ``=``, and a ``:`` or ``.`` that ends the value (``token=T: retrying``) kept."""
    value = match["value"].rstrip(":.") or match["value"]
    if not value or not secret_name(match["name"]):
        return match[0]
    return f"{match['head']}{match['name']}{match['eq']}{match['q']}{REDACTED}{match['value'][len(value):]}"


def redact_text(text: str) -> str:
    """``text`` with the secrets inside it as ``***``: a URL's password and secret query
    parameters, secret name=value pairs, a secret header, a mapping's repr, a value that is a
    secret by its form (:func:`redact_tokens`)."""
    text = redact_tokens(text)
    if "://" in text:
        text = _URL.sub(_url, text)
    header = _HEADER.fullmatch(text)
    if header and secret_name(header["name"]):
        return f"{header['name']}: {REDACTED}"
    if "=" in text:
        text = _PAIR.sub(_pair, text)
    if ":" in text and ("'" in text or '"' in text):
        text = _REPR_PAIR.sub(lambda m: f"{m['head']}{m['q']}{REDACTED}{m['q']}"
                              if secret_name(m["name"]) else m[0], text)
    return text


def _script(arg: str) -> str:
    """An argument that is a command line of its own (``bash -c "…"``): its words redacted."""
    try:
        words = shlex.split(arg)
    except ValueError:
        return redact_text(arg)
    if len(words) < 2:
        return redact_text(arg)
    redacted = redact_command(words)
    if redacted == words:
        return redact_text(arg)  # a header, a connection string with spaces
    out, at = arg, 0  # each changed word replaced where it stands, the rest of the script as written
    for old, new in zip(words, redacted):
        found = out.find(old, at)
        if found == -1:  # written with quotes or escapes inside it: the words, rejoined
            return shlex.join(redacted)
        if old != new:
            out = out[:found] + new + out[found + len(old):]
        at = found + len(new)
    return out


def redact_command(command: list[str]) -> list[str]:
    """``command`` with the values of secret options, assignments, headers and URL passwords, and
    values that are secrets by their form, as ``***``."""
    out: list[str] = []
    hide_next = user_next = False
    program = ""  # the program whose arguments these are, as far as its own options go
    for arg in command:
        arg = redact_tokens(arg)  # (a whole argument first: a PEM block is many words of a script)
        if hide_next:
            hide_next = False
            if not arg.startswith("-"):
                out.append(REDACTED)
                continue
        if user_next:
            user_next = False
            hidden = _user_password(arg, program)
            if hidden != arg:
                out.append(hidden)
                continue
        word = arg.rsplit("/", 1)[-1]
        if word in _ATTACHED_P or word == "sshpass" or word in _USER_GROUP or word in _USER_PASSWORD:
            program = word
            out.append(arg)
            continue
        if arg in _PROGRAM_END or arg.endswith((";", "|", "&")) or (program == "sshpass" and not arg.startswith("-")):
            program = ""  # sshpass's own options end at its command
        if program and arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--") and (
                program in _ATTACHED_P or program == "sshpass"):
            out.append(f"-p{REDACTED}")
            continue
        if program == "sshpass" and arg == "-p":
            out.append(arg)
            hide_next = True
            continue
        if arg in ("-u", "--user"):
            out.append(arg)
            user_next = True
            continue
        if (arg.startswith("-u") and not arg.startswith("--")) or arg.startswith("--user="):
            head = "--user=" if arg.startswith("--user=") else "-u"
            hidden = _user_password(arg[len(head):], program)
            if hidden != arg[len(head):]:
                out.append(head + hidden)
                continue
        if arg.startswith("-") and len(arg) > 1 and not any(c.isspace() for c in arg):
            name, eq, _ = arg.partition("=")
            if secret_name(name):
                out.append(f"{name}={REDACTED}" if eq else arg)
                hide_next = not eq
                continue
        match = _ASSIGNMENT.fullmatch(arg)
        if match and secret_name(match["name"]):
            out.append(f"{match['name']}={REDACTED}")
            continue
        out.append(_script(arg) if any(c.isspace() for c in arg.strip()) else redact_text(arg))
    return out


def _user_password(value: str, program: str) -> str:
    """``USER:***`` for ``USER:PASS`` (curl's ``-u``/``--user``); a user and group (``1000:1000``,
    or any value for a program whose ``--user`` means that) or a plain user as it is."""
    user, colon, password = value.partition(":")
    if (not colon or not password or not _USER.fullmatch(user) or program in _USER_GROUP
            or (user.isdigit() and password.isdigit())):
        return value
    return f"{user}:{REDACTED}"


def redact_params(params: Any) -> Any:
    """``params`` with the values of secret keys as ``***``, at any depth and in any mapping;
    secrets in strings too. Objects of other kinds are recorded as text, redacted."""
    import argparse
    import dataclasses

    if isinstance(params, argparse.Namespace):
        params = vars(params)
    elif dataclasses.is_dataclass(params) and not isinstance(params, type):
        params = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    if isinstance(params, Mapping):
        return {str(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k:
                REDACTED if isinstance(k, str) and secret_name(k) and v is not None else redact_params(v)
                for k, v in params.items()}
    if isinstance(params, (list, tuple, set, frozenset)):
        return [redact_params(v) for v in params]
    if isinstance(params, str):
        return redact_text(params)
    if params is None or isinstance(params, (bool, int, float)):
        return params
    return redact_text(str(params))
