"""Shared fixtures: temp workspaces, the CLI, PostgreSQL and an S3-compatible server.

PostgreSQL is started by scripts/services.sh (run by `make test`), which exports
ASSAY_TEST_PG_URL. The S3-compatible server is moto's, started here on loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.workspace import Workspace

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("ASSAY_PROGRESS", "0")
# gc keeps unreferenced objects younger than a day (a writer without a hold may be about to
# reference them); the tests make their garbage just before they collect it. The grace time
# itself is tested in tests/data/test_gc_grace.py.
os.environ["ASSAY_GC_GRACE_SECONDS"] = "0"  # (set, not defaulted: a developer's own setting would fail tests)

ASSAY = [sys.executable, "-m", "assay"]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A fresh workspace in a temp folder, which is also the current directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    workspace = Workspace.init(tmp_path)
    yield workspace
    workspace.close()


class CLI:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(self, *args: str, check: int | None = 0, env: dict[str, str] | None = None,
                 cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "ASSAY_PROGRESS": "0", **(env or {})}
        proc = subprocess.run([*ASSAY, *args], cwd=cwd or self.cwd, capture_output=True, text=True,
                              env=full_env, timeout=timeout)
        if check is not None and proc.returncode != check:
            raise AssertionError(f"assay {' '.join(args)} exited {proc.returncode}, expected {check}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args: str, check: int | None = 0, **kw: object) -> dict:
        proc = self(*args, "--json", check=check, **kw)  # type: ignore[arg-type]
        return json.loads(proc.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("ASSAY_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("ASSAY_TEST_PG_URL is not set in CI: scripts/services.sh must start PostgreSQL")
        pytest.skip("PostgreSQL not started (run `make test`, which starts it)")
    return url


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server; dropped afterwards."""
    import psycopg

    name = f"assay_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh bucket; yields an s3:// URL prefix in it."""
    import s3fs

    name = f"b{uuid.uuid4().hex[:16]}"
    fs = s3fs.S3FileSystem(endpoint_url=s3_server)
    fs.mkdir(name)
    return f"s3://{name}/store"
