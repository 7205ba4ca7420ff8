"""Teams sharing a remote or a store: defects a new-user trial reproduced (a gc that deleted a
teammate's only copy, lineage lost when a run's outputs are pulled one by one, a model merged
into a dataset, `pull --checkout` writing a teammate's older version, a damaged run record
that nothing noticed or mended, hints that did not help)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from assay.data._tablediff import diff_tables


def _workspace(cli, root: Path, remote: Path | None = None) -> Path:  # type: ignore[no-untyped-def]
    cli("init", str(root))
    if remote is not None:
        cli("remote", "add", "origin", str(remote), cwd=root)
    return root


def test_gc_refuses_a_store_that_workspaces_with_other_ledgers_use(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "team-store"
    store.mkdir()
    for who in ("alice", "bob"):
        _workspace(cli, tmp_path / who)
        config = tmp_path / who / ".assay" / "config.toml"
        config.write_text(config.read_text().replace('store = "objects"', f'store = "{store}"'))
        (tmp_path / who / "data").mkdir()
        (tmp_path / who / "data" / "f").write_text(f"{who}'s data")
    cli("data", "add", "data", "--name", "bdata", cwd=tmp_path / "bob")
    cli("data", "add", "data", "--name", "adata", cwd=tmp_path / "alice")
    proc = cli("data", "gc", check=2, cwd=tmp_path / "alice")
    assert "another ledger" in proc.stderr and str(tmp_path / "bob") in proc.stderr
    cli("data", "gc", "--dry-run", check=2, cwd=tmp_path / "alice")
    (tmp_path / "bob" / "data" / "f").unlink()
    cli("data", "checkout", "bdata@v1", cwd=tmp_path / "bob")  # bob's only copy is still there
    assert (tmp_path / "bob" / "data" / "f").read_text() == "bob's data"


def _share_store(cli, root: Path, store: Path, content: str) -> None:  # type: ignore[no-untyped-def]
    _workspace(cli, root)
    config = root / ".assay" / "config.toml"
    config.write_text(config.read_text().replace('store = "objects"', f'store = "{store}"'))
    (root / "data").mkdir()
    (root / "data" / "f").write_text(content)


def _as_an_older_assay_left_it(root: Path, store: Path) -> None:
    """What a store filled before stores recorded their ledgers looks like: no ``ledgers/``."""
    for key in (store / "ledgers").glob("*.json"):
        key.unlink()
    (root / ".assay" / "cache" / "registered").unlink(missing_ok=True)


def test_gc_refuses_a_store_an_older_assay_filled_for_a_workspace_it_cannot_see(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A workspace with a ledger of its own, first on a store that an older assay filled (no
    registrations there): the store's versions are not in its ledger, so its gc must not
    delete them as garbage."""
    store = tmp_path / "team-store"
    _share_store(cli, tmp_path / "old", store, "the older assay's data")
    cli("data", "add", "data", "--name", "olddata", cwd=tmp_path / "old")
    _as_an_older_assay_left_it(tmp_path / "old", store)
    _share_store(cli, tmp_path / "new", store, "new data")
    cli("data", "add", "data", "--name", "newdata", cwd=tmp_path / "new")
    marks = list((store / "ledgers").glob("unregistered-*.json"))
    assert len(marks) == 1 and json.loads(marks[0].read_text())["count"] == 1
    for args in (("data", "gc"), ("data", "gc", "--dry-run")):
        proc = cli(*args, check=2, cwd=tmp_path / "new")
        assert "older assay" in proc.stderr and marks[0].name in proc.stderr
    (tmp_path / "old" / "data" / "f").unlink()
    cli("data", "checkout", "olddata@v1", cwd=tmp_path / "old")  # its only copy is still there
    assert (tmp_path / "old" / "data" / "f").read_text() == "the older assay's data"
    # Once the older workspace registers itself too, and someone deletes the mark, gc names it.
    cli("data", "status", cwd=tmp_path / "old")
    marks[0].unlink()
    proc = cli("data", "gc", check=2, cwd=tmp_path / "new")
    assert "another ledger" in proc.stderr and str(tmp_path / "old") in proc.stderr


def test_an_upgraded_workspace_registers_in_its_own_older_store_without_a_mark(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    _share_store(cli, tmp_path / "w", store, "data")
    cli("data", "add", "data", "--name", "ds", cwd=tmp_path / "w")
    _as_an_older_assay_left_it(tmp_path / "w", store)
    assert cli.json("data", "gc", cwd=tmp_path / "w")["dry_run"] is False
    assert [p.name for p in (store / "ledgers").glob("*.json")] and not list((store / "ledgers").glob("unregistered-*"))


def test_gc_runs_on_a_workspace_s_own_store(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    cli("data", "add", "d", "--name", "ds")
    assert cli.json("data", "gc")["dry_run"] is False
    assert len(list((tmp_path / ".assay" / "objects" / "ledgers").glob("*.json"))) == 1


def test_lineage_of_outputs_pulled_one_at_a_time(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    cli("remote", "add", "origin", str(remote))
    script = "import os; [os.makedirs(d, exist_ok=True) or open(d + '/f', 'w').write(d) for d in ('model', 'metrics')]"
    cli("run", "--out", "model=model", "--out", "metrics=metrics", "--", sys.executable, "-c", script)
    cli("data", "push")
    clone = _workspace(cli, tmp_path / "clone", remote)
    cli("data", "pull", "model@v1", cwd=clone)
    cli("data", "pull", "metrics@v1", cwd=clone)
    for ref in ("model@v1", "metrics@v1"):
        graph = cli.json("lineage", ref, cwd=clone)
        assert any(e["relation"] == "produced" and e["dst"].startswith("version:") for e in graph["edges"]), (ref, graph)
        assert not graph["notes"], graph["notes"]


def test_a_model_on_the_remote_is_not_merged_into_a_local_dataset(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    (tmp_path / "m.py").write_text("def predict(rows):\n    return [0 for _ in rows]\n")
    other = _workspace(cli, tmp_path / "other", remote)
    (other / "m.py").write_text("def predict(rows):\n    return [0 for _ in rows]\n")
    cli("model", "add", "clf", "m.py:predict", "--flavor", "python", cwd=other)
    cli("data", "push", cwd=other)
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "f").write_text("x")
    cli("data", "add", "clf", "--name", "clf")
    cli("remote", "add", "origin", str(remote))
    proc = cli("data", "pull", check=2)
    assert "'clf' is a dataset here and a model on remote origin" in proc.stderr
    assert [v["version"] for v in cli.json("data", "log", "clf")["versions"]] == ["v1"]


def test_pull_checkout_writes_the_remote_s_newest_not_a_teammate_s_older_one(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    alice, bob = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob"))
    for who, text in ((alice, "alice1"), (bob, "bob1")):
        (who / "data").mkdir()
        (who / "data" / "f").write_text(text)
        cli("data", "add", "data", "--name", "ds", cwd=who)
        cli("data", "push", cwd=who)
    time.sleep(0.05)
    (alice / "data" / "f").write_text("alice2")
    cli("data", "add", "data", "--name", "ds", cwd=alice)
    cli("data", "push", cwd=alice)
    result = cli.json("data", "pull", "--checkout", cwd=alice)  # bob1 becomes ds@v3 here
    assert (alice / "data" / "f").read_text() == "alice2", result
    assert result["checked_out"] == ["ds@v2"]


def test_pull_checkout_refused_by_local_changes_says_the_pull_is_done(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    other = _workspace(cli, tmp_path / "other", remote)
    (other / "data").mkdir()
    (other / "data" / "f").write_text("theirs")
    cli("data", "add", "data", "--name", "ds", cwd=other)
    cli("data", "push", cwd=other)
    cli("remote", "add", "origin", str(remote))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("mine, unsaved")
    proc = cli("data", "pull", "--checkout", check=2)
    assert "pulled 1 version from origin, but did not check out ds@v1" in proc.stderr
    assert "`assay data checkout ds@v1 --force`" in proc.stderr and "pass --force" not in proc.stderr
    assert (tmp_path / "data" / "f").read_text() == "mine, unsaved"
    proc = cli("data", "pull", "--checkout", check=2)  # not "pulled 0 version(s) from origin (1 already here)"
    assert "pulled no new version from origin (1 already here), but did not check out ds@v1" in proc.stderr, proc.stderr
    assert cli.json("data", "log", "ds")["versions"][0]["version"] == "v1"


def test_a_refused_pull_checkout_counts_what_was_new_and_its_json_keeps_the_pull(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    alice, bob = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob"))
    (alice / "x.txt").write_text("v1")
    cli("data", "add", "x.txt", "--name", "x", cwd=alice)
    cli("data", "push", cwd=alice)
    cli("data", "pull", "--checkout", cwd=bob)
    (bob / "x.txt").write_text("bob's unsaved edit")
    (alice / "x.txt").write_text("v2")
    cli("data", "add", "x.txt", "--name", "x", cwd=alice)
    cli("data", "push", cwd=alice)
    doc = cli.json("data", "pull", "--checkout", check=2, cwd=bob)
    assert doc["message"].startswith("pulled 1 version from origin (1 more already here), but did not check out x@v2")
    assert doc["error"] == "UsageError" and doc["hint"]
    assert doc["pull"]["versions_sent"] == ["x@v2"] and doc["pull"]["versions_already_there"] == ["x@v1"]
    assert doc["pull"]["checked_out"] == [] and doc["pull"]["chunks_transferred"] == 1
    assert (bob / "x.txt").read_text() == "bob's unsaved edit"


def test_a_damaged_run_record_is_found_by_verify_and_mended_by_push_repair(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    cli("remote", "add", "origin", str(remote))
    cli("run", "--out", "o=out", "--", sys.executable, "-c", "import os; os.makedirs('out'); open('out/f', 'w').write('x')")
    cli("data", "push")
    (record,) = (remote / "runs").glob("*.json")
    record.write_text('{"garbage')
    proc = cli("data", "verify", "--remote", "origin", check=1)
    assert f"run record runs/{record.name}" in proc.stdout + proc.stderr
    mended = cli.json("data", "push", "--repair")
    assert f"run record runs/{record.name}" in mended["repaired"], mended
    assert json.loads(record.read_text())["id"] == record.stem
    cli("data", "verify", "--remote", "origin")


def test_same_content_from_two_workspaces_is_named_by_version_id(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    a, b, c = (_workspace(cli, tmp_path / w, remote) for w in ("a", "b", "c"))
    for who in (a, b):
        (who / "data").mkdir()
        (who / "data" / "f").write_text("same bytes")
        cli("data", "add", "data", "--name", "ds", cwd=who)
        cli("data", "push", cwd=who)
    proc = cli("data", "pull", "ds@v1", check=2, cwd=c)
    hint = proc.stderr.split("hint:")[1]
    names = [w.split(" (by ")[0].strip().rstrip(".") for w in hint.split(":")[-1].split(",")]
    assert len(set(names)) == 2, hint
    cli("data", "pull", names[0], cwd=c)


def test_a_table_diff_with_no_common_value_column_does_not_claim_unchanged_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,score\n1,10\n2,20\n3,30\n")
    (tmp_path / "b.csv").write_text("id,points\n1,11\n2,21\n3,31\n")
    keyed = diff_tables(tmp_path / "a.csv", tmp_path / "b.csv", key=["id"])
    assert keyed.rows_unchanged is None and keyed.rows_changed is None
    assert (keyed.rows_added, keyed.rows_removed) == (0, 0)
    assert any("no value column" in n for n in keyed.notes)
    (tmp_path / "c.csv").write_text("x,y\n1,2\n")
    (tmp_path / "d.csv").write_text("u,v\n1,2\n")
    loose = diff_tables(tmp_path / "c.csv", tmp_path / "d.csv")
    assert loose.rows_unchanged is None and loose.rows_added is None and not loose.identical
    same = diff_tables(tmp_path / "a.csv", tmp_path / "a.csv", key=["id"])
    assert same.rows_unchanged == 3 and same.identical


@pytest.mark.parametrize("key", [["id"], None])
def test_a_one_column_table_still_compares(tmp_path: Path, key: list[str] | None) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    (tmp_path / "b.csv").write_text("id\n1\n3\n")
    d = diff_tables(tmp_path / "a.csv", tmp_path / "b.csv", key=key)
    assert (d.rows_added, d.rows_removed) == (1, 1)


def test_the_api_diff_takes_one_key_column_as_a_string(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assay.data import diff

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("id,v\n1,a\n2,b\n")
    cli("data", "add", "t", "--name", "t")
    (tmp_path / "t" / "a.csv").write_text("id,v\n1,a\n2,c\n")
    cli("data", "add", "t", "--name", "t")
    result = diff(ws, "t@v1", "t@v2", key="id")
    assert result.tables["t/a.csv"]["rows_changed"] == 1


def test_the_text_diff_marks_sampled_quantiles_and_shows_hidden_digits() -> None:
    from assay.cli._table_diff import column_line

    line = column_line({"kind": "numeric",
                        "old": {"mean": 10021.5, "p50": 100014.0, "quantiles_exact": False, "min": None},
                        "new": {"mean": 10021.500001, "p50": 100020.0, "quantiles_exact": False, "min": 1}})
    assert "mean 10021.5 -> 10021.500001" in line and "p50 ~100014 -> ~100020" in line and "min none -> 1" in line


def test_pull_checkout_refused_by_files_outside_the_version_on_disk_names_the_version_once(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    other = _workspace(cli, tmp_path / "other", remote)
    for folder in ("a", "b"):
        (other / folder).mkdir()
        (other / folder / "f").write_text(folder)
        cli("data", "add", folder, "--name", "ds", cwd=other)  # v1 from a/, v2 from b/
    cli("data", "push", cwd=other)
    cli("remote", "add", "origin", str(remote))
    cli("data", "pull", "ds@v1", "--checkout")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("mine")  # where ds@v2 has a file, outside a/ (the version on disk)
    proc = cli("data", "pull", "ds@v2", "--checkout", check=2)
    assert ("pulled 1 version from origin, but did not check out ds@v2: it would overwrite files that are not "
            "part of the version on disk: b/f") in proc.stderr, proc.stderr
    assert (tmp_path / "b" / "f").read_text() == "mine"


def test_two_versions_with_one_number_say_who_made_each(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    alice, bob, carol, dave = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob", "carol", "dave"))
    for who in (alice, bob):
        (who / "data").mkdir()
        (who / "data" / "f").write_text(f"{who.name}'s v1")
        cli("data", "add", "data", "--name", "ds", "-m", who.name, cwd=who, env={"LOGNAME": who.name})
        cli("data", "push", cwd=who)
        time.sleep(0.05)  # bob's is the later made
    proc = cli("data", "pull", cwd=carol)
    assert "origin's ds@v1 (" in proc.stderr and "), made by bob@" in proc.stderr, proc.stderr  # the renumbering note
    log = cli.json("data", "log", "ds", cwd=carol)["versions"]
    assert [(v["message"], v["by"].split("@")[0]) for v in log] == [("bob", "bob"), ("alice", "alice")]
    assert "  by alice@" in cli("data", "log", "ds", cwd=carol).stdout
    hint = cli("data", "pull", "ds@v1", check=2, cwd=dave).stderr
    assert "(by alice@" in hint and "(by bob@" in hint, hint
    refusal = cli("data", "pull", "--checkout", cwd=dave, check=2).stderr  # as `pull ds` refuses: nothing chosen
    assert "(by alice@" in refusal and "(by bob@" in refusal and log[1]["snapshot"][:12] in refusal, refusal
    assert log[1]["id"][:12] not in refusal  # named as `data log` shows it
    assert not (dave / "data" / "f").exists()


def test_versions_recorded_before_makers_show_none(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("old")
    cli("data", "add", "data", "--name", "ds")
    ws.ledger.execute("UPDATE versions SET meta = '{}'")
    assert cli.json("data", "log", "ds")["versions"][0]["by"] is None
    assert " by " not in cli("data", "log", "ds").stdout
    cli("data", "add", "data", "--name", "ds")  # the same data again makes no version
    assert len(cli.json("data", "log", "ds")["versions"]) == 1


def test_a_version_s_maker_where_no_user_or_host_name_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass
    import socket

    from assay.data._versions import maker

    def unknown() -> str:
        raise OSError("no such user")

    with monkeypatch.context() as patched:
        patched.setattr(getpass, "getuser", unknown)
        patched.setattr(socket, "gethostname", unknown)
        assert maker() == "?@?"  # the version is recorded all the same
    monkeypatch.setattr(getpass, "getuser", lambda: (_ for _ in ()).throw(KeyError("getpwuid(): uid not found")))
    assert maker().startswith("?@") and maker() != "?@?"


def test_a_remote_version_s_maker_counts_only_as_one_printable_word() -> None:
    # A pulled version's meta is the remote's: a line break in `by` would print as a second,
    # forged line of `data log`, so such a maker is not shown at all.
    from assay.data._versions import maker, maker_of

    assert maker_of({"by": "alice@host-1"}) == "alice@host-1"
    for forged in ("mallory@h\nds@v2  hotfix approved", "a b@h", "x\t@h", "\x1b[2Jm@h", "m@h\u2028x", "", "x" * 201, 7):
        assert maker_of({"by": forged}) is None, forged
    assert maker_of("not a mapping") is None
    assert maker_of({"by": maker()}) == maker()  # this machine's own is always shown


def test_a_refused_pull_checkout_still_prints_the_pulls_notes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    alice, bob = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob"))
    for who in (alice, bob):
        (who / "data").mkdir()
        (who / "data" / "f").write_text(f"{who.name}'s v1")
        cli("data", "add", "data", "--name", "ds", cwd=who)
    cli("data", "push", cwd=alice)
    (bob / "data" / "f").write_text("bob's unsaved edit")
    proc = cli("data", "pull", "--checkout", check=2, cwd=bob)  # alice's ds@v1 is ds@v2 here; the edit stops the checkout
    assert "but did not check out ds@v2" in proc.stderr, proc.stderr
    assert "note: origin's ds@v1 (" in proc.stderr and "is ds@v2 here" in proc.stderr, proc.stderr
    assert (bob / "data" / "f").read_text() == "bob's unsaved edit"


def test_a_store_whose_refs_do_not_read_at_registration_is_still_marked(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A damaged ref when the first workspace registers must not cost the mark: once the ref is
    mended or removed (as gc's own hint says), gc would otherwise delete the older workspace's data."""
    store = tmp_path / "team-store"
    _share_store(cli, tmp_path / "old", store, "the older assay's data")
    cli("data", "add", "data", "--name", "olddata", cwd=tmp_path / "old")
    _as_an_older_assay_left_it(tmp_path / "old", store)
    (store / "versions" / "x").mkdir(parents=True)
    (store / "versions" / "x" / "0123.json").write_text("not a ref")  # a push's ref, damaged
    _share_store(cli, tmp_path / "new", store, "new data")
    cli("data", "add", "data", "--name", "newdata", cwd=tmp_path / "new")
    (store / "versions" / "x" / "0123.json").unlink()  # "remove a ref no one needs from the store"
    proc = cli("data", "gc", check=2, cwd=tmp_path / "new")
    assert "older assay" in proc.stderr
    (tmp_path / "old" / "data" / "f").unlink()
    cli("data", "checkout", "olddata@v1", cwd=tmp_path / "old")
    assert (tmp_path / "old" / "data" / "f").read_text() == "the older assay's data"


def test_a_user_who_cannot_write_an_older_store_does_not_read_its_refs_on_every_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mark fails where the store cannot be written, and is tried again by each command: the
    look behind it (every ref read, one request each on an object store) is not made again."""
    from assay.data import add, add_remote, push
    from assay.store._local import LocalStore
    from assay.workspace import Workspace

    src = Workspace.init(tmp_path / "src")
    (src.root / "d").mkdir()
    for i in range(5):
        (src.root / "d" / "f").write_text(str(i))
        add(src, [src.root / "d"], name="ds")
    add_remote(src, "origin", str(tmp_path / "team"))
    push(src)
    src.close()
    for key in (tmp_path / "team" / "ledgers").glob("*.json"):
        key.unlink()  # as an older assay left it
    reads: list[str] = []
    real_get, real_put = LocalStore.get_bytes, LocalStore.put_bytes

    def get(self, key, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(key)
        return real_get(self, key, *args, **kwargs)

    def put(self, key, *args, **kwargs):  # type: ignore[no-untyped-def]
        if key.startswith("ledgers/"):
            raise PermissionError(13, "Permission denied", key)
        return real_put(self, key, *args, **kwargs)

    monkeypatch.setattr(LocalStore, "get_bytes", get)
    monkeypatch.setattr(LocalStore, "put_bytes", put)
    Workspace.init(tmp_path / "reader", store=str(tmp_path / "team")).close()
    assert [k for k in reads if k.startswith("versions/")]  # the first command looks
    for _ in range(2):
        reads.clear()
        ws = Workspace.open(tmp_path / "reader")
        with ws.lock():
            pass
        ws.close()
        assert not [k for k in reads if k.startswith("versions/")]
