"""list_remotes: the workspace's remotes as typed objects, credentials hidden, as `assay remote list` shows them."""

from __future__ import annotations

from pathlib import Path

from assay.data import RemoteInfo, add_remote, list_remotes, remove_remote
from assay.workspace import Workspace


def test_remotes_are_listed_in_order_with_the_default_marked(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert list_remotes(ws) == []
    add_remote(ws, "origin", str(tmp_path / "origin"))
    add_remote(ws, "s3", "s3://bucket/prefix", options={"endpoint_url": "http://127.0.0.1:9000", "secret": "hunter2"},
               default=True, check=False)  # (no server there to ask)
    remotes = list_remotes(ws)
    assert [type(r) for r in remotes] == [RemoteInfo, RemoteInfo]
    assert [(r.name, r.default) for r in remotes] == [("origin", False), ("s3", True)]
    assert remotes[1].url == "s3://bucket/prefix"
    assert remotes[1].options == {"endpoint_url": "http://127.0.0.1:9000", "secret": "***"}
    assert cli.json("remote", "list")["remotes"] == [r.to_dict() for r in remotes]  # the CLI shows the same
    remove_remote(ws, "s3")
    assert [(r.name, r.default) for r in list_remotes(ws)] == [("origin", True)]
