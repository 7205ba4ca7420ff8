"""Version references: NAME, NAME@latest, NAME@v3 / NAME@3, NAME@<hash prefix> (4 to 64 hex
digits, any case), the same on a remote."""

from __future__ import annotations

import pytest

from assay.data import add, pull, push, resolve
from assay.data._remote import remote_version
from assay.data._snapshot import Snapshot
from assay.data._versions import read_spec, record_version, save_snapshot
from assay.errors import UsageError
from assay.workspace import Workspace


def test_what_a_version_part_can_name() -> None:
    assert read_spec("d@v3", "v3") == (3, None)
    assert read_spec("d@3", "3") == (3, None)
    assert read_spec("d@1234", "1234") == (1234, "1234")  # a number and a prefix
    assert read_spec("d@0002", "0002") == (None, "0002")  # no number starts with 0
    assert read_spec("d@ABCD", "ABCD") == (None, "abcd")
    assert read_spec("d@V7", "V7") == (7, None)
    for bad in ("abc", "v", "xyz1", "-1", "v1.0"):
        with pytest.raises(UsageError, match="cannot read the version"):
            read_spec(f"d@{bad}", bad)


def versions_until_digits(ws: Workspace, digits: int = 6) -> tuple[str, str]:
    """Record versions (of empty folders: no chunks) until one's snapshot id starts with
    ``digits`` decimal digits; (its ref, that prefix)."""
    for i in range(2000):
        snap = Snapshot({}, empty_dirs=(f"e{i}",))
        save_snapshot(ws.store, snap)
        version, _ = record_version(ws, "ds", snap, sources=["e"])
        if snap.id[:digits].isdigit():
            return version.ref, snap.id[:digits]
    raise AssertionError("no snapshot id began with decimal digits")  # pragma: no cover


def test_a_hash_prefix_of_digits_only_names_its_version(ws: Workspace) -> None:
    ref, prefix = versions_until_digits(ws)
    assert resolve(ws, f"ds@{prefix}").ref == ref
    assert resolve(ws, f"ds@{prefix.upper()}").ref == ref
    assert resolve(ws, "ds@1").number == 1 and resolve(ws, "ds@v1").number == 1


def test_a_number_that_is_also_another_version_s_prefix_is_ambiguous(ws: Workspace) -> None:
    ref, prefix = versions_until_digits(ws, digits=4)
    number = int(prefix)
    if number == resolve(ws, ref).number:  # pragma: no cover - the same version both ways: not ambiguous
        return
    ws.ledger.execute("UPDATE versions SET number = ? WHERE dataset = 'ds' AND number = 1", (number,))
    with pytest.raises(UsageError, match="ambiguous"):
        resolve(ws, f"ds@{prefix}")
    assert resolve(ws, f"ds@v{number}").number == number  # the v form is a number only
    assert resolve(ws, f"ds@{resolve(ws, ref).snapshot[:8]}").ref == ref


def test_an_empty_version_part_is_refused(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x.txt").write_text("one")
    add(ws, [ws.root / "d"], name="ds")
    with pytest.raises(UsageError, match="no version after the @"):
        resolve(ws, "ds@")
    with pytest.raises(UsageError, match="4 to 64 hex digits"):
        resolve(ws, "ds@abc")


def test_a_remote_version_by_a_digit_prefix(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from assay.data import add_remote
    from assay.data._remote import open_remote

    _, prefix = versions_until_digits(ws)
    add_remote(ws, "origin", str(tmp_path / "remote"), default=True)
    push(ws)
    _, store = open_remote(ws, "origin")
    assert remote_version(store, f"ds@{prefix}").snapshot.startswith(prefix)
    assert remote_version(store, "ds@v1").number == 1
    with pytest.raises(UsageError):
        remote_version(store, "ds@")
    other = Workspace.init(tmp_path / "other")
    add_remote(other, "origin", str(tmp_path / "remote"), default=True)
    assert pull(other, f"ds@{prefix}").versions
    other.close()


def test_numbers_are_a_workspace_s_and_a_pull_says_when_it_renumbers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from assay.data import add_remote

    remote = str(tmp_path / "remote")
    made = {}
    for who in ("a", "b"):
        ws = Workspace.init(tmp_path / who)
        add_remote(ws, "origin", remote)
        (ws.root / "d").mkdir()
        (ws.root / "d" / "f.txt").write_text("base")
        add(ws, [ws.root / "d"], name="ds")
        (ws.root / "d" / "f.txt").write_text(f"{who}'s work")
        made[who] = add(ws, [ws.root / "d"], name="ds").version  # each its own v2
        push(ws)
        ws.close()
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", remote)
    with pytest.raises(UsageError, match="names 2 versions on the remote") as caught:
        pull(clone, "ds@v2")
    assert made["a"].snapshot[:12] in (caught.value.hint or "") and made["b"].snapshot[:12] in (caught.value.hint or "")
    assert pull(clone, f"ds@{made['a'].snapshot[:12]}").versions == ["ds@v2"]
    result = pull(clone)  # each workspace's v1 and v2: four versions, two of them renumbered here
    assert len(result.versions) == 4 and len(result.renumbered) == 2
    for moved in result.renumbered:
        assert resolve(clone, moved["here"]).id == moved["id"] and moved["here"] != moved["remote"]
    assert made["b"].id in {m["id"] for m in result.renumbered}
    clone.close()
    third = Workspace.init(tmp_path / "third")
    add_remote(third, "origin", remote)
    with pytest.raises(UsageError, match="ambiguous on the remote"):
        pull(third, "ds")  # ds@latest: both have number 2
    third.close()
    again = pull(Workspace.open(tmp_path / "clone"))
    assert again.renumbered == []  # said once, when recorded


def test_sources_a_remote_gives_are_kept_only_where_the_version_has_files(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json as _json

    from assay.data import add_remote
    from assay.data._versions import version_sources

    (ws.root / "data").mkdir()
    (ws.root / "data" / "x.csv").write_text("a\n1\n")
    version = add(ws, [ws.root / "data"], name="ds").version
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    ref = tmp_path / "remote" / "versions" / "ds" / f"{version.id}.json"
    doc = _json.loads(ref.read_text())
    doc["sources"] = ["data", "src", "../up", ".git"]
    ref.write_text(_json.dumps(doc))
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    pull(clone)
    assert version_sources(clone, resolve(clone, "ds")) == ["data"]
    clone.close()
