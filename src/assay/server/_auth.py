"""Who is calling: a bearer token (API and dashboard) or a signed session cookie (dashboard)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from assay.monitor._auth import has_scope, verify_token

__all__ = ["LoginRequired", "Principal", "SessionSigner", "TokenCache", "still_valid"]

SESSION_COOKIE = "assay_session"
SESSION_SECONDS = 12 * 3600


class LoginRequired(Exception):
    """A dashboard page was asked for without a valid session: go to /login."""


@dataclass(frozen=True)
class Principal:
    subject: str  # "token:<id>" or "user:<name>"
    scopes: tuple[str, ...]

    def can(self, scope: str) -> bool:
        return has_scope(list(self.scopes), scope)


class TokenCache:
    """Verified tokens for a few seconds, so ingestion does not hit the ledger per batch (revocation lags by ``ttl``)."""

    def __init__(self, ws: Any, ttl: float = 5.0, remember: float = 3600.0) -> None:
        self.ws = ws
        self.ttl = ttl
        self.remember = remember
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._good: dict[str, float] = {}  # tokens found valid within ``remember`` seconds (for the sign-in throttle)
        self._lock = threading.Lock()

    def recently_valid(self, token: str) -> bool:
        """Was ``token`` found valid in the last ``remember`` seconds? (It is still verified before use.)"""
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            until = self._good.get(key)
        return until is not None and until > time.monotonic()

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """(True, verdict) when a fresh verdict is cached: no ledger query, no thread hop."""
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def lookup(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[1] > now:
            return hit[0]
        found = verify_token(self.ws, token)
        principal = Principal(f"token:{found['id']}", tuple(found["scopes"])) if found else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (principal, now + self.ttl)
            if principal is not None:
                if len(self._good) > 10_000:
                    self._good = {k: v for k, v in self._good.items() if v > now}
                self._good[key] = now + self.remember
        return principal


class SessionSigner:
    """HMAC-signed session cookies with a per-workspace secret kept in ``.assay/monitor/secret`` (mode 0600).

    Each session has an id; signing out revokes it (``.assay/monitor/signed-out``, kept until
    the session would have expired), so a copy of the cookie taken before then opens nothing."""

    def __init__(self, ws: Any) -> None:
        from assay.monitor._log import service_dir

        path = service_dir(ws) / "secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
                handle.flush()
                os.fsync(handle.fileno())
        self._key = path.read_bytes()
        self._signed_out_path = service_dir(ws) / "signed-out"
        self._lock = threading.Lock()
        self._signed_out = self._read_signed_out()

    def sign(self, principal: Principal) -> str:
        doc = {"sub": principal.subject, "scopes": list(principal.scopes), "exp": int(time.time()) + SESSION_SECONDS,
               "sid": secrets.token_hex(16)}
        payload = base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{mac}"

    def verify(self, cookie: str | None) -> Principal | None:
        doc = self._valid(cookie)
        if doc is None:
            return None
        return Principal(str(doc["sub"]), tuple(doc["scopes"]))

    def sign_out(self, cookie: str | None) -> None:
        """Revoke the session ``cookie`` holds (nothing if it is not a valid one)."""
        doc = self._valid(cookie)
        if doc is None:
            return
        with self._lock:
            self._signed_out[doc["sid"]] = int(doc["exp"])
            now = time.time()
            self._signed_out = {sid: exp for sid, exp in self._signed_out.items() if exp >= now}
            from assay.config import atomic_write_bytes

            atomic_write_bytes(self._signed_out_path, "".join(f"{sid} {exp}\n" for sid, exp in self._signed_out.items()).encode())

    def _valid(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or "." not in cookie or len(cookie) > 4096:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()):
            return None
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        if not isinstance(doc, dict) or int(doc.get("exp", 0)) < time.time():
            return None
        sid = doc.get("sid")
        if not isinstance(sid, str) or sid in self._signed_out:  # (a cookie signed before sessions had ids: sign in again)
            return None
        return doc

    def _read_signed_out(self) -> dict[str, int]:
        try:
            text = self._signed_out_path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            return {}
        now = time.time()
        out: dict[str, int] = {}
        for line in text.splitlines():
            sid, _, exp = line.partition(" ")
            if exp.isdigit() and int(exp) >= now:
                out[sid] = int(exp)
        return out


def still_valid(ws: Any, principal: Principal) -> bool:
    """Whether what a session was signed in with still stands: its token not revoked, its user not removed."""
    kind, _, ident = principal.subject.partition(":")
    if kind == "token":
        return bool(ws.ledger.query("SELECT 1 FROM api_tokens WHERE id = ? AND revoked_at IS NULL", (ident,)))
    if kind == "user":
        return bool(ws.ledger.query("SELECT 1 FROM users WHERE name = ?", (ident,)))
    return False
