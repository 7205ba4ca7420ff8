"""Paths that differ only in case or Unicode form: fine on Linux, one name on macOS and Windows.
`add` says so; checkout refuses them where the file system folds them, before it writes.

No file system that folds names can be mounted on the test machines (ext4 without the casefold
feature, no vfat module), so the refusal is tested with the probe's answer replaced; the probe
itself is tested against the real file system here, which folds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.data import _portable, add, checkout, status
from assay.data._portable import colliding, folds
from assay.errors import UsageError
from assay.workspace import Workspace

NFC, NFD = "caf\u00e9.txt", "cafe\u0301.txt"


def _clashing(ws: Workspace) -> Path:
    d = ws.root / "d"
    (d / "Sub").mkdir(parents=True)
    (d / "sub").mkdir()
    for name, text in (("A.csv", "upper\n"), ("a.csv", "lower\n"), (NFC, "composed\n"), (NFD, "decomposed\n"),
                       ("Sub/x", "1\n"), ("sub/y", "2\n"), ("plain.txt", "p\n")):
        (d / name).write_text(text)
    return d


def test_the_groups_found() -> None:
    assert colliding(["d/a.csv", "d/b.csv"]) == []
    assert colliding(["A.csv", "a.csv", "x/" + NFC, "x/" + NFD, "B/1", "b/2", "ok"]) == [
        ["A.csv", "a.csv"], ["B", "b"], ["x/" + NFD, "x/" + NFC]]
    assert colliding(["A.csv", "a.csv", NFC, NFD], key=lambda p: p.casefold()) == [["A.csv", "a.csv"]]


def test_this_file_system_folds_nothing_and_the_probe_leaves_nothing(tmp_path: Path) -> None:
    assert folds(tmp_path) == (False, False)
    assert list(tmp_path.iterdir()) == []


def test_add_says_so_and_a_linux_checkout_writes_every_file(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    d = _clashing(ws)
    done = add(ws, [d], name="ds")
    (note,) = [w for w in done.warnings if "differ only in case or Unicode form" in w]
    assert "d/A.csv and d/a.csv" in note and "d/Sub and d/sub" in note and "macOS, Windows" in note
    out = checkout(ws, "ds@v1", to=tmp_path / "out")
    assert len(out.written) == 7
    assert (tmp_path / "out" / "d" / "A.csv").read_text() == "upper\n"
    assert (tmp_path / "out" / "d" / NFD).read_text() == "decomposed\n"
    assert not status(ws, "ds").dirty
    (d / "plain.txt").write_text("again\n")
    said = cli("data", "add", "d", "--name", "ds", cwd=ws.root)
    assert "differ only in case or Unicode form" in said.stderr + said.stdout


@pytest.mark.parametrize("case, form, refused", [(True, False, "case"), (False, True, "Unicode form"),
                                                  (True, True, "case and Unicode form")])
def test_checkout_refuses_them_where_the_file_system_folds_them(ws: Workspace, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                case: bool, form: bool, refused: str) -> None:
    add(ws, [_clashing(ws)], name="ds")
    monkeypatch.setattr(_portable, "folds", lambda root: (case, form))
    target = tmp_path / "out"
    with pytest.raises(UsageError, match=f"does not tell apart names that differ in {refused},") as caught:
        checkout(ws, "ds@v1", to=target)
    message = caught.value.message
    # (the two forms of one name print alike: the message gives their code points)
    assert ("d/A.csv and d/a.csv" in message) is case and ("d/cafe\\u0301.txt and d/caf\\u00e9.txt" in message) is form
    assert not target.exists() or list(target.iterdir()) == []  # nothing written
    for rel in ("A.csv", "a.csv"):
        (ws.root / "d" / rel).unlink()
    with pytest.raises(UsageError, match="refusing to check out ds@v1"):
        checkout(ws, "ds@v1", force=True)  # in place too
    assert not (ws.root / "d" / "A.csv").exists()


def test_a_version_without_such_paths_is_not_probed(ws: Workspace, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "Data.CSV").write_text("x\n")
    add(ws, [ws.root / "d"], name="ds")
    probed: list[Path] = []
    monkeypatch.setattr(_portable, "folds", lambda root: probed.append(root) or (True, True))
    assert len(checkout(ws, "ds@v1", to=tmp_path / "out").written) == 1
    assert probed == []


def test_full_case_folding_is_not_a_file_system_s(ws: Workspace, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # No file system folds "ß" into "ss" or "ﬁ" into "fi" (APFS, NTFS fold one character to one):
    # these are two files everywhere, and add said otherwise, and checkout refused them.
    assert colliding(["straße.csv", "strasse.csv", "\ufb01le", "file", "Ω", "ω"]) == [["Ω", "ω"]]
    d = ws.root / "d"
    d.mkdir()
    (d / "straße.csv").write_text("1\n")
    (d / "strasse.csv").write_text("2\n")
    done = add(ws, [d], name="ds")
    assert not [w for w in done.warnings if "differ only in case" in w]
    monkeypatch.setattr(_portable, "folds", lambda root: (True, True))
    assert len(checkout(ws, "ds@v1", to=tmp_path / "out").written) == 2


def test_a_read_only_target_is_probed_by_the_names_there(ws: Workspace, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A checkout into a read-only folder that already holds the version writes nothing: the probe
    # file cannot be made there, and the checkout failed on it.
    import errno
    import os

    add(ws, [_clashing(ws)], name="ds")
    target = tmp_path / "out"
    checkout(ws, "ds@v1", to=target)
    real_open = os.open

    def read_only(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if ".assay-probe-" in str(path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_portable.os, "open", read_only)
    assert folds(target) == (False, False)  # "d" is there, "D" is not
    done = checkout(ws, "ds@v1", to=target)
    assert done.written == [] and done.unchanged == 7
    (target / "D").mkdir()  # a folding file system would find it: here it is another folder
    assert folds(target) == (False, False)
