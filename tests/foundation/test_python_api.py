"""The Python API as a notebook finds it: discoverable names, the error tree, the workspace."""

from __future__ import annotations

import pydoc
import subprocess
import sys
from pathlib import Path

import assay
import assay.errors
from assay.workspace import Workspace


def test_dir_and_help_show_the_lazy_entry_points() -> None:
    # Workspace and track load on first use; dir() and help() still list them.
    code = "import assay; print(sorted(n for n in dir(assay) if n in assay.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(sorted(assay.__all__))
    text = pydoc.render_doc(assay, renderer=pydoc.plaintext)
    assert "class Workspace" in text and "track(ws" in text


def test_every_error_class_is_exported() -> None:
    defined = sorted(name for name, value in vars(assay.errors).items() if isinstance(value, type)
                     and issubclass(value, (assay.errors.AssayError, assay.errors.AssayWarning)))
    assert assay.errors.__all__ == defined
    assert assay.errors.NoSpaceError.exit_code == 2


def test_workspace_is_a_context_manager(ws: Workspace, tmp_path: Path) -> None:
    from assay.data import add, log

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    with Workspace.open(tmp_path) as opened:
        assert opened.root == tmp_path.resolve()
        add(opened, ["data"], name="d")
    assert "ledger" in opened.__dict__ and opened.ledger._local.conn is None  # closed on the way out
    assert [v.ref for v in log(opened, "d")] == ["d@v1"]  # and opens again when used


def test_public_functions_take_no_private_parameters() -> None:
    # What help() shows a user is what they may pass: internal plumbing (a pull's decoded
    # snapshot, checkout's base) goes through the private functions these wrap.
    import inspect

    import assay.data
    import assay.lineage

    for module in (assay, assay.data, assay.lineage):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value):
                hidden = [p for p in inspect.signature(value).parameters if p.startswith("_")]
                assert not hidden, f"{module.__name__}.{name} shows {hidden}"


def test_public_names_have_their_own_docstrings() -> None:
    # A dataclass with no docstring gets "Name(field: type, ...)" from dataclasses: help()
    # then lists the fields but says nothing of what they mean or their units.
    import assay.data
    import assay.lineage

    for module in (assay, assay.data, assay.lineage):
        for name in module.__all__:
            value = getattr(module, name)
            if not callable(value):
                continue
            text = (value.__doc__ or "").strip()
            assert text and not text.startswith(f"{name}("), f"{module.__name__}.{name} has no docstring of its own"
