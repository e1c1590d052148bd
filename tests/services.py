"""Real PostgreSQL and Redis servers for the tests.

Each is taken from ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` when set; otherwise a throwaway
server is started from the binaries on the machine (``initdb``/``pg_ctl``, ``redis-server``) and
stopped at the end. With neither, the tests that need it skip, unless ``REQUIRE_SERVICES=1``, where
they fail: CI must never go green without the real engines.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from audiotricks.config import normalise_database_url


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")


def unavailable(reason: str) -> None:
    """Skip, or fail when the services are required."""
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def postgres_bin(name: str) -> str | None:
    """Path of a PostgreSQL server binary (Debian keeps them out of PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port; stop() removes it."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            raise FileNotFoundError("initdb/pg_ctl not found")
        self.dir = tempfile.mkdtemp(prefix="audiotricks-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        user = ["--username", "postgres", "--auth", "trust"]
        run_as = _run_as_postgres_user(self.dir)
        subprocess.run(
            [*run_as, initdb, "-D", self.data, *user, "--no-sync"],
            check=True,
            capture_output=True,
        )
        self.run_as = run_as
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", self.data, "-o", options, "-w", "-l",
             os.path.join(self.dir, "log"), "start"],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", self.data, "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _run_as_postgres_user(directory: str) -> list[str]:
    """initdb refuses to run as root: run it as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return []
    shutil.chown(directory, "postgres")
    runuser = shutil.which("runuser")
    if runuser is None:
        raise FileNotFoundError("running as root without runuser")
    return [runuser, "-u", "postgres", "--"]


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """A server URL (maintenance database): TEST_DATABASE_URL's, a throwaway one, or None."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    try:
        server = ThrowawayPostgres()
    except (FileNotFoundError, subprocess.CalledProcessError, KeyError, LookupError):
        yield None
        return
    try:
        yield server.url
    finally:
        server.remove()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for this test run, dropped afterwards."""
    admin = create_engine(normalise_database_url(server_url), isolation_level="AUTOCOMMIT")
    name = f"audiotricks_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_database_url(server_url)).set(database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class ThrowawayRedis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not found")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def remove(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A Redis URL: TEST_REDIS_URL, a throwaway server's, or None."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    try:
        server = ThrowawayRedis()
    except (FileNotFoundError, TimeoutError):
        yield None
        return
    try:
        yield server.url
    finally:
        server.remove()
