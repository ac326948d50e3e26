"""Shared test settings and fixtures: hypothesis profiles, the paths of the repository, a small
disk, a real PostgreSQL server and an archive in each backend."""

import os
import pathlib
import subprocess

import pytest
from hypothesis import settings

from hil.postgresql import PostgresServer

REPO = pathlib.Path(__file__).resolve().parent.parent

settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption(
        "--crash-runs",
        type=int,
        default=int(os.environ.get("CRASH_RUNS", "20")),
        help="times the crash test kills the controller with SIGKILL (200 in the full run)",
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs, to fill (mounting needs root: skipped without)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="session")
def postgresql_server():
    """A real PostgreSQL server for the session (initdb in a temporary directory; make test
    installs Debian's binaries where they are missing)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_spec(request, tmp_path) -> str:
    """An empty archive in each backend: a SQLite file's path, or a new PostgreSQL database's
    URL."""
    if request.param == "sqlite":
        return str(tmp_path / "archive.sqlite")
    return request.getfixturevalue("postgresql_server").database("archive")
