"""A PostgreSQL of the test's own, for tests that stop, lock or restart the database.

The machine's shared PostgreSQL (and every other engineer's run on it) must never be stopped
or locked, so such tests ``initdb`` a cluster into a temporary folder, serve it on a free
loopback port, and remove it afterwards. PostgreSQL refuses to run as root: under root the
cluster belongs to the ``postgres`` OS user and every command runs through ``runuser``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from projekt.config import Settings
from projekt.core import migrate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_binaries_missing() -> str | None:
    missing = [name for name in ("initdb", "pg_ctl") if shutil.which(name) is None]
    return f"needs {', '.join(missing)} on PATH" if missing else None


class PrivatePostgres:
    """One throw-away cluster: ``start``, ``stop``, ``restart``, ``url``, ``remove``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="projekt-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                # A throw-away cluster: durability buys nothing here and costs CPU.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 80\n"
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w",
                  "-t", "60", "restart")  # fmt: skip

    @property
    def running(self) -> bool:
        done = subprocess.run(
            [*self._as, "pg_ctl", "-D", str(self.data), "status"], capture_output=True
        )
        return done.returncode == 0

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def remove(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        except subprocess.SubprocessError:
            # pg_ctl could not stop it: end the postmaster itself, or it outlives the suite.
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), 9)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def migrated_private_postgres() -> Iterator[PrivatePostgres]:
    """Start a cluster and migrate its ``postgres`` database; remove it all afterwards."""
    reason = postgres_binaries_missing()
    if reason:
        pytest.skip(reason)
    pg = PrivatePostgres()
    try:
        pg.start()
        migrate.upgrade(Settings(database_url=pg.url(), environment="test"))
        yield pg
    finally:
        pg.remove()
