"""Lineage walks: whole (however long the chain), safe on cycles, and named as the CLI names them."""

from __future__ import annotations

import sys

import pytest

from assay.data import add, resolve
from assay.errors import NotFoundError, UsageError
from assay.lineage import downstream_versions, lineage, run_command
from assay.lineage._graph import add_edges
from assay.workspace import Workspace

PY = sys.executable


def chain(ws: Workspace, steps: int) -> None:
    """s0 -> s1 -> ... -> s<steps>, each made by a run from the one before."""
    (ws.root / "s0").mkdir()
    (ws.root / "s0" / "f").write_text("0")
    add(ws, ["s0"], name="s0")
    for i in range(1, steps + 1):
        (ws.root / f"s{i}").mkdir()
        (ws.root / f"s{i}" / "f").write_text(str(i))
        run_command(ws, ["true"], inputs=[f"s{i - 1}@v1"], outputs={f"s{i}": f"s{i}"}, cwd=ws.root)


def version_labels(graph) -> set[str]:  # type: ignore[no-untyped-def]
    return {info["label"] for info in graph.nodes.values() if info["type"] == "version"}


def test_a_long_chain_is_walked_whole_both_ways(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    chain(ws, 30)
    every = {f"s{i}@v1" for i in range(31)}
    up = lineage(ws, "s30@v1", down=False)
    assert version_labels(up) == every and not up.notes
    down = lineage(ws, "s0@v1", up=False)
    assert version_labels(down) == every and not down.notes
    assert len(downstream_versions(ws, [resolve(ws, "s0@v1")])) == 30  # what verify names as built from it
    # A limit is asked for, and said when it cuts.
    cut = lineage(ws, "s30@v1", down=False, depth=4)
    assert version_labels(cut) == {"s30@v1", "s29@v1", "s28@v1"}
    assert cut.notes and cut.notes[0].startswith("cut at depth 4: 1 node there has more lineage;")  # not "1 node(s) ... have"
    doc = cli.json("lineage", "s30@v1", "--up", "--depth", "4")
    assert any("cut at depth 4" in n for n in doc["notes"])
    assert len([n for n in cli.json("lineage", "s30@v1", "--up")["nodes"] if n["type"] == "version"]) == 31
    assert cli("lineage", "s30@v1", "--depth", "0", check=2).returncode == 2


def test_a_cycle_in_the_records_ends_the_walk(ws: Workspace) -> None:
    chain(ws, 3)
    s1, s3 = resolve(ws, "s1@v1"), resolve(ws, "s3@v1")
    with ws.ledger.transaction() as tx:  # as a damaged or forged record could hold it: s1 read s3
        add_edges(tx, [(s3.node, f"run:{s1.run_id}", "input_of")])
    every = {"s0@v1", "s1@v1", "s2@v1", "s3@v1"}
    for up, down, want in ((True, False, every), (False, True, every - {"s0@v1"}), (True, True, every)):
        graph = lineage(ws, "s1@v1", up=up, down=down)
        assert version_labels(graph) == want
        assert len(graph.steps()) == 3  # each run once, in some order, however the cycle goes


def test_the_api_takes_what_the_cli_takes(ws: Workspace) -> None:
    chain(ws, 1)
    s1 = resolve(ws, "s1@v1")
    for name in ("s1@v1", "s1", "s1@latest", f"s1@{s1.snapshot[:8]}", s1.node, f"version:{s1.id[:8]}"):
        assert lineage(ws, name).root == s1.node, name
    with pytest.raises(NotFoundError):
        lineage(ws, "nothing@v1")
    with pytest.raises(UsageError):
        lineage(ws, "thing:123456")


def test_up_and_down_together_mean_both_and_dot_is_not_json(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    chain(ws, 2)
    both = cli.json("lineage", "s1@v1")
    assert len(both["edges"]) == 4
    assert cli.json("lineage", "s1@v1", "--up", "--down")["edges"] == both["edges"]
    assert len(cli.json("lineage", "s1@v1", "--down")["edges"]) == 2
    assert len(cli.json("lineage", "s1@v1", "--up")["edges"]) == 2
    proc = cli("lineage", "s1@v1", "--dot", "--json", check=2)
    assert not proc.stdout.startswith("digraph") and "choose one" in proc.stderr
    assert cli("lineage", "s1@v1", "--dot").stdout.startswith("digraph")


def test_a_version_with_no_lineage_says_so(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # An empty listing reads as "nothing found" or as a command that did not work: said in words.
    (ws.root / "lone").mkdir()
    (ws.root / "lone" / "a").write_text("1")
    add(ws, ["lone"], name="lone")
    proc = cli("lineage", "lone@v1")
    assert "no run made lone@v1 (it was added directly), and none has read it" in proc.stderr
    assert "none has read it" not in cli("lineage", "lone@v1", "--up").stderr
    assert "no run made lone@v1" in cli("lineage", "lone@v1", "--up").stderr
    assert cli.json("lineage", "lone@v1", "--down")["notes"] == ["no run has read lone@v1, and nothing judged it"]


def test_dot_tells_failed_runs_from_the_runs_that_made_something(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a").write_text("1")
    add(ws, ["raw"], name="raw")
    cli("run", "--in", "raw@v1", "--", "sh", "-c", "exit 3", check=3)
    cli("run", "--in", "raw@v1", "--out", "o=raw", "--allow-overlap", "--", "true")
    dot = cli("lineage", "raw@v1", "--down", "--dot").stdout
    failed = next(line for line in dot.splitlines() if '"sh -c exit 3' in line)
    assert "failed, exit 3" in failed and "dashed" in failed
    ok = next(line for line in dot.splitlines() if 'label="true' in line)
    assert "failed" not in ok and "dashed" not in ok


def test_the_text_lists_steps_in_the_order_the_data_flowed(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # Names that sort against the chain (z -> y -> x -> w), and a side branch: z read again,
    # with y, into a model (a diamond). A listing sorted by label read bottom-up.
    (ws.root / "z").mkdir()
    (ws.root / "z" / "f").write_text("z")
    add(ws, ["z"], name="z")
    for src, dst in (("z", "y"), ("y", "x"), ("x", "w")):
        (ws.root / dst).mkdir()
        (ws.root / dst / "f").write_text(dst)
        run_command(ws, ["true", "make", dst], inputs=[f"{src}@v1"], outputs={dst: dst}, cwd=ws.root)
    (ws.root / "m").mkdir()
    (ws.root / "m" / "f").write_text("m")
    run_command(ws, ["true", "fit"], inputs=["y@v1", "z@v1"], outputs={"a": "m"}, cwd=ws.root)

    up = cli("lineage", "w@v1", "--up").stdout.splitlines()
    assert up[1] == "upstream:" and [line.split("  -->  ")[0].strip() for line in up[2:]] == ["z@v1", "y@v1", "x@v1"]
    assert [line.rsplit("  -->  ", 1)[1] for line in up[2:]] == ["y@v1", "x@v1", "w@v1"]
    down = cli("lineage", "z@v1", "--down").stdout.splitlines()
    assert down[1] == "downstream:"
    # by distance (the two runs that read z first, as they ran), never a run before the one that made its input
    assert [line.split("  -->  ")[1].split("  [run")[0] for line in down[2:]] == [
        "true make y", "true fit", "true make x", "true make w"]
    assert down[3].startswith("  y@v1, z@v1  -->  true fit  [run ") and down[3].endswith("  -->  a@v1")
    both = cli("lineage", "x@v1").stdout.splitlines()
    assert both[1] == "upstream:" and both[4] == "downstream:" and len(both) == 6
    assert both[2].startswith("  z@v1  -->  true make y") and both[3].startswith("  y@v1  -->  true make x")
    assert both[5].startswith("  x@v1  -->  true make w") and both[5].endswith("  -->  w@v1")
    # the API gives the same order
    graph = lineage(ws, "z@v1", up=False)
    assert [(s.side, s.distance, graph.nodes[s.node]["label"]) for s in graph.steps()] == [
        ("down", 1, "true make y"), ("down", 1, "true fit"), ("down", 3, "true make x"), ("down", 5, "true make w")]
    assert cli.json("lineage", "z@v1", "--down")["edges"] == [
        {"src": s, "dst": d, "relation": r} for s, d, r in graph.edges]  # the document is as it was
