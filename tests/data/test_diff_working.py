"""`assay data diff NAME[@REF]` with no second version: what changed on disk since it, tables'
rows included, as the two-version diff says it once those files are added."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FIELDS = ("changed", "unchanged")


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "x": [i * 1.5 for i in range(n)], "c": ["a", "b"] * (n // 2)})


def _edit(root: Path) -> None:
    df = pd.read_csv(root / "d" / "t.csv")
    df = df[df.id != 5]
    df.loc[df.id == 7, "x"] = 99.0
    df = pd.concat([df, pd.DataFrame({"id": [5000], "x": [1.0], "c": ["z"]})])
    df.to_csv(root / "d" / "t.csv", index=False)
    df.to_parquet(root / "d" / "T.PARQUET")  # a capitalised suffix: read as Parquet all the same
    pd.read_parquet(root / "d" / "T.PARQUET").iloc[::2].to_parquet(root / "d" / "T.PARQUET")
    (root / "d" / "gone.txt").unlink()
    (root / "d" / "new.txt").write_text("new")


def test_diff_with_the_working_files_says_what_adding_them_would(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d").mkdir()
    _table(1000).to_csv(tmp_path / "d" / "t.csv", index=False)
    _table(1000).to_parquet(tmp_path / "d" / "T.PARQUET")
    (tmp_path / "d" / "gone.txt").write_text("x")
    (tmp_path / "d" / "same.txt").write_text("same")
    cli("data", "add", "d", "--name", "ds")
    clean = cli.json("data", "diff", "ds")
    assert clean["changed"] is False and clean["new"] == "working files" and clean["unchanged"] == 4

    _edit(tmp_path)
    for args in ((), ("-k", "id")):
        working = cli.json("data", "diff", "ds", *args)
        assert cli.json("data", "diff", "ds@v1", *args) == working  # a bare name: the version checked out
        assert working["tables"]["d/t.csv"]["rows_removed"] == (1 if args else 2)  # by key, 7 is changed
        assert set(working["tables"]) == {"d/t.csv", "d/T.PARQUET"}
    text = cli("data", "diff", "ds", "-k", "id").stdout
    assert "ds@v1 -> working files: 1 added, 1 removed, 2 modified, 1 unchanged" in text and "table d/T.PARQUET" in text

    cli("data", "add", "d", "--name", "ds")
    for args in ((), ("-k", "id")):
        versions = cli.json("data", "diff", "ds@v1", "ds@v2", *args)
        cli("data", "checkout", "ds@v2")
        working = _working(cli, args)
        for part in ("added", "removed"):
            assert [f["path"] for f in working[part]] == [f["path"] for f in versions[part]]
        assert [f["path"] for f in working["modified"]] == [f["path"] for f in versions["modified"]]
        assert working["tables"] == _relabelled(versions["tables"])
        assert working["unchanged"] == versions["unchanged"]


def _working(cli, args):  # type: ignore[no-untyped-def]
    """ds@v1 against the files on disk, which are now v2's."""
    return cli.json("data", "diff", "ds@v1", *args)


def _relabelled(tables: dict) -> dict:  # type: ignore[type-arg]
    """The two-version diff's tables, with the working files' label where it names v2."""
    import json

    return json.loads(json.dumps(tables).replace("ds@v2:", "working files:"))


def test_diff_of_a_version_not_on_disk_says_so(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    cli("data", "add", "d", "--name", "ds")
    (tmp_path / "d" / "f").unlink()
    proc = cli("data", "diff", "ds", check=2)
    assert "none of ds@v1's files are on disk" in proc.stderr and "checkout" in proc.stderr
    proc = cli("data", "diff", "nosuch", check=2)
    assert "no dataset or model named 'nosuch'" in proc.stderr
