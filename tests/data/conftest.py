"""Fixtures shared by the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["folder", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict]:
    """A store that workspaces share: a folder, then a bucket on the S3 test server."""
    if request.param == "folder":
        (tmp_path / "shared").mkdir()
        return str(tmp_path / "shared"), {}
    return request.getfixturevalue("s3_bucket"), {"endpoint_url": request.getfixturevalue("s3_server")}
