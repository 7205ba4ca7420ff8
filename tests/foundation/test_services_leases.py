"""scripts/services.sh shares one PostgreSQL among concurrent `make test` runs through leases.

Each run holds a lease named by its pid; the server stops only when the last live lease is
released, a dead pid's lease does not hold it up, and an explicit stop refuses while leases
are live. Runs on a scratch port and data dir, never the server the other tests use.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"

pytestmark = pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("flock") is None,
    reason="needs Debian's PostgreSQL binaries and flock (scripts/services.sh installs them)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Services:
    """services.sh pointed at a scratch port, data dir and env file."""

    def __init__(self, port: int, scratch: Path) -> None:
        self.port = port
        self.pgdata = scratch / "pg"
        self.env = {**os.environ, "ASSAY_TEST_PGPORT": str(port), "ASSAY_TEST_PGDATA": str(self.pgdata),
                    "ASSAY_TEST_ENV_FILE": str(scratch / "services.env")}

    def __call__(self, *args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", str(SCRIPT), *args], env=self.env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == check, f"services.sh {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
        return proc

    def leases(self) -> set[str]:
        folder = Path(f"{self.pgdata}.leases")
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.fixture
def services() -> Iterator[Services]:
    # Not pytest's tmp_path: as root the server runs as `postgres`, which must reach its data dir.
    scratch = Path(tempfile.mkdtemp(prefix="assay-services-test-"))
    scratch.chmod(0o755)
    svc = Services(_free_port(), scratch)
    try:
        yield svc
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", "--force"], env=svc.env, capture_output=True, timeout=120)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes standing in for running `make test`s; their pids name the leases."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def _holder(holders: list[subprocess.Popen[bytes]]) -> str:
    proc = subprocess.Popen(["sleep", "600"])
    holders.append(proc)
    return str(proc.pid)


def test_a_run_does_not_stop_the_server_under_another_live_run(services: Services, holders: list) -> None:
    first, second, killed = _holder(holders), _holder(holders), _holder(holders)
    for pid in (first, second, killed):
        services("start", "--lease", pid, "--no-browser")
    assert _up(services.port)
    env_file = Path(services.env["ASSAY_TEST_ENV_FILE"]).read_text()
    assert f"127.0.0.1:{services.port}/" in env_file
    holders[2].kill()
    holders[2].wait()  # a killed `make test`: its lease stays on disk, its pid is gone

    services("stop", "--lease", first)
    assert _up(services.port), "the first run's stop stopped the server under the second"

    refused = services("stop", check=1)  # `make services-stop` while a run holds a lease
    assert f"pid {second}: make test in" in refused.stderr
    assert f"pid {killed}:" not in refused.stderr
    assert _up(services.port)

    services("stop", "--lease", second)  # the last live lease: the dead one does not hold it up
    assert not _up(services.port)
    assert not services.pgdata.exists() and services.leases() == set()


def test_a_server_started_by_hand_outlives_runs_until_stopped(services: Services, holders: list) -> None:
    services("start", "--no-browser")  # `make services`
    run = _holder(holders)
    services("start", "--lease", run, "--no-browser")
    services("stop", "--lease", run)
    assert _up(services.port), "a test run stopped the developer's own server"

    services("start", "--lease", run, "--no-browser")
    services("stop", check=1)
    services("stop", "--force")
    assert not _up(services.port)
    services("stop", "--lease", run)  # the forced-out run ends quietly
    services("stop")  # and stopping what is stopped is fine
