from __future__ import annotations

import pytest

from assay.errors import InputError, NotFoundError, UsageError
from assay.monitor import (
    add_user,
    create_token,
    list_tokens,
    list_users,
    remove_user,
    revoke_token,
    verify_password,
    verify_token,
)
from assay.workspace import Workspace


def test_tokens_are_stored_hashed_and_scoped(ws: Workspace) -> None:
    made = create_token(ws, ["ingest"], name="producer")
    assert made["token"].startswith(f"assay_{made['id']}_")
    stored = ws.ledger.query("SELECT token_hash FROM api_tokens")
    assert made["token"] not in repr(stored) and made["token"].split("_", 2)[2] not in repr(stored)
    assert verify_token(ws, made["token"]) == {"id": made["id"], "scopes": ["ingest"], "name": "producer"}
    assert verify_token(ws, made["token"] + "x") is None
    assert verify_token(ws, "assay_nothere_secret") is None
    assert verify_token(ws, "garbage") is None
    revoke_token(ws, made["id"])
    assert verify_token(ws, made["token"]) is None
    assert list_tokens(ws)[0]["revoked_at"] is not None
    with pytest.raises(NotFoundError):
        revoke_token(ws, "nope")
    with pytest.raises(UsageError):
        create_token(ws, ["root"])


def test_users_have_scrypt_passwords(ws: Workspace) -> None:
    add_user(ws, "alice", "correct horse")
    stored = ws.ledger.query("SELECT password_hash FROM users")[0][0]
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password(ws, "alice", "correct horse")
    assert not verify_password(ws, "alice", "wrong horse!")
    assert not verify_password(ws, "bob", "correct horse")
    with pytest.raises(UsageError):
        add_user(ws, "alice", "another one")
    add_user(ws, "alice", "another one", replace=True)
    assert verify_password(ws, "alice", "another one")
    with pytest.raises(InputError):
        add_user(ws, "carol", "short")
    with pytest.raises(UsageError):
        add_user(ws, "<script>", "long enough")
    assert [u["name"] for u in list_users(ws)] == ["alice"]
    remove_user(ws, "alice")
    assert not verify_password(ws, "alice", "another one")
