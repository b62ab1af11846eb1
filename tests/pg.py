"""A throwaway PostgreSQL cluster for the tests, from Debian's binaries (or RESEARCH_TEST_DATABASE_URL).

The cluster is started once per session as the `postgres` user (initdb and pg_ctl refuse root),
on a free loopback port with fsync off, and stopped at the end. Each test that asks for
`pg_url` gets a database of its own. Without a server the tests that need one are skipped,
except in CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_URL_ENV = "RESEARCH_TEST_DATABASE_URL"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(*command: str) -> list[str]:
    """Prefix a command so it runs as the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


class Cluster:
    """A running PostgreSQL cluster (ours, or the one RESEARCH_TEST_DATABASE_URL names)."""

    def __init__(self, url: str, pg_ctl: str | None = None, folder: Path | None = None) -> None:
        self.url = url
        self._pg_ctl = pg_ctl
        self._folder = folder
        self.options = ""

    def database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def _ctl(self, *args: str) -> None:
        if self._pg_ctl is None or self._folder is None:
            pytest.skip("an external PostgreSQL cannot be stopped or restarted by the tests")
        command = [self._pg_ctl, "-D", str(self._folder), *args]
        subprocess.run(_as_postgres(*command), check=True, capture_output=True)

    def start(self) -> None:
        """Start our own cluster (again)."""
        log = str(self._folder / "log") if self._folder else ""
        self._ctl("-o", self.options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop our own cluster at once (as a crash would)."""
        self._ctl("-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Stop our own cluster and delete its files; an external one is left alone."""
        if self._folder is not None:
            subprocess.run(
                _as_postgres(str(self._pg_ctl), "-D", str(self._folder), "-m", "immediate", "stop"),
                check=False,
                capture_output=True,
            )
            shutil.rmtree(self._folder.parent, ignore_errors=True)


def start_cluster() -> Cluster:
    """Start a throwaway cluster on a free port and return it (or skip/fail without a server)."""
    if url := os.environ.get(TEST_URL_ENV):
        return Cluster(url)
    bin_dir = _bin_dir()
    if bin_dir is None:
        _missing("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are missing")
        raise AssertionError("unreachable")
    top = Path(tempfile.mkdtemp(prefix="research-pg-"))
    folder = top / "data"
    folder.mkdir()
    if os.geteuid() == 0:
        shutil.chown(top, "postgres")
        shutil.chown(folder, "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(folder), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_postgres(*initdb), check=True, capture_output=True)
    port = _free_port()
    cluster = Cluster(
        f"postgresql://postgres@127.0.0.1:{port}/postgres", str(bin_dir / "pg_ctl"), folder
    )
    cluster.options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's PostgreSQL cluster."""
    cluster = start_cluster()
    yield cluster
    cluster.remove()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh, empty database for one test."""
    return pg_cluster.database()
