"""API tokens (stored hashed, with scopes) and dashboard users (scrypt password hashes).

A token is ``assay_<id>_<secret>``: the id finds the row, the SHA-256 of the whole
token is compared in constant time. Tokens carry 256 bits of randomness, so a fast
hash is enough; passwords are people's, so they get scrypt with a per-user salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from typing import Any

from assay._wording import noun_for
from assay.errors import InputError, NotFoundError, UsageError
from assay.monitor._spec import check_name

__all__ = ["SCOPES", "add_user", "create_token", "list_tokens", "list_users", "remove_user", "revoke_token", "verify_password", "verify_token"]

SCOPES = ("ingest", "read", "admin")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(ws: Any, scopes: list[str] | tuple[str, ...], *, name: str = "") -> dict[str, Any]:
    """A new token with ``scopes``; the only time the secret is shown. ``admin`` implies the others."""
    from assay.ledger import utcnow

    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise UsageError(f"unknown {noun_for(len(bad), 'scope')} {', '.join(bad)}" if bad else "no scope given", hint=f"scopes are: {', '.join(SCOPES)}")
    token_id = uuid.uuid4().hex[:12]
    token = f"assay_{token_id}_{secrets.token_urlsafe(32)}"
    ordered = sorted(set(scopes), key=SCOPES.index)
    ws.ledger.execute(
        "INSERT INTO api_tokens (id, name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
        (token_id, str(name)[:200], _token_hash(token), ",".join(ordered), utcnow()),
    )
    return {"id": token_id, "token": token, "scopes": ordered, "name": name}


def verify_token(ws: Any, token: str) -> dict[str, Any] | None:
    """The token's id and scopes, or None when it is unknown, malformed or revoked."""
    parts = token.split("_") if isinstance(token, str) else []
    if len(parts) < 3 or parts[0] != "assay" or len(token) > 200:
        return None
    rows = ws.ledger.query("SELECT id, token_hash, scopes, revoked_at, name FROM api_tokens WHERE id = ?", (parts[1],))
    if not rows or rows[0][3] is not None:
        return None
    if not hmac.compare_digest(rows[0][1], _token_hash(token)):
        return None
    return {"id": rows[0][0], "scopes": rows[0][2].split(","), "name": rows[0][4]}


def has_scope(scopes: list[str], needed: str) -> bool:
    return "admin" in scopes or needed in scopes


def list_tokens(ws: Any) -> list[dict[str, Any]]:
    rows = ws.ledger.query("SELECT id, name, scopes, created_at, revoked_at FROM api_tokens ORDER BY created_at")
    return [{"id": r[0], "name": r[1], "scopes": r[2].split(","), "created_at": r[3], "revoked_at": r[4]} for r in rows]


def revoke_token(ws: Any, token_id: str) -> None:
    from assay.ledger import utcnow

    with ws.ledger.transaction() as tx:
        if not tx.execute("SELECT 1 FROM api_tokens WHERE id = ?", (token_id,)):
            raise NotFoundError(f"no token with id {token_id!r}", hint="list them with `assay token list`")
        tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (utcnow(), token_id))


def _hash_password(password: str, salt: bytes) -> str:
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 << 20, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def add_user(ws: Any, name: str, password: str, *, replace: bool = False) -> None:
    """Create dashboard user ``name`` (or set a new password with ``replace``)."""
    from assay.ledger import utcnow

    check_name(name, "user")
    if len(password) < 8:
        raise InputError("the password is too short", hint="use at least 8 characters")
    hashed = _hash_password(password, secrets.token_bytes(16))
    with ws.ledger.transaction() as tx:
        exists = tx.execute("SELECT 1 FROM users WHERE name = ?", (name,))
        if exists and not replace:
            raise UsageError(f"user {name!r} exists already", hint="pass --replace to set a new password")
        if exists:
            tx.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, name))
        else:
            tx.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)", (name, hashed, utcnow()))


def verify_password(ws: Any, name: str, password: str) -> bool:
    rows = ws.ledger.query("SELECT password_hash FROM users WHERE name = ?", (str(name),))
    if not rows:
        _hash_password(password, b"0" * 16)  # same work either way: no user enumeration by timing
        return False
    _, n, r, p, salt, digest = rows[0][0].split("$")
    got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32, maxmem=64 << 20)
    return hmac.compare_digest(got, base64.b64decode(digest))


def list_users(ws: Any) -> list[dict[str, Any]]:
    return [{"name": r[0], "created_at": r[1]} for r in ws.ledger.query("SELECT name, created_at FROM users ORDER BY name")]


def remove_user(ws: Any, name: str) -> None:
    with ws.ledger.transaction() as tx:
        if not tx.execute("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise NotFoundError(f"no user named {name!r}")
        tx.execute("DELETE FROM users WHERE name = ?", (name,))
