"""A real PostgreSQL for the tests and the benchmarks, found or started on loopback.

`NOTIFIER_TEST_PG_URL` (an admin URL, e.g. `postgresql://postgres:pw@127.0.0.1:5433/postgres`)
names a server that is already running: `.ci/run` and `make bench` start one with
`python3 -m tests.pg start` and export it. Without it, the test session starts its own
cluster in a temporary directory when Debian's `postgresql` binaries are installed, and
stops it at the end. Without either, the PostgreSQL tests skip with the reason; with
CI=true they fail instead, so CI can never pass by skipping them.

The cluster is built for speed, not durability: fsync, synchronous_commit and
full_page_writes off, on a loopback port with password (SCRAM) authentication, so the
URLs carry a real password and the tests can check it never shows. `pg_ctl` refuses to
run as root, so as root every server command runs as the `postgres` user (`runuser`).

Only the standard library here (besides psycopg, imported where a database is made), so
`python3 -m tests.pg start DIR` works before the virtualenv exists.
"""

from __future__ import annotations

import glob
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "NOTIFIER_TEST_PG_URL"
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=300 -c shared_buffers=64MB"
)


class Unavailable(Exception):
    """No PostgreSQL could be found or started (the reason is the message)."""


def bindir() -> Path | None:
    """Where pg_ctl and initdb are: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent

    def version(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class Cluster:
    """One PostgreSQL cluster in `root` (data, socket, port and password files)."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def password(self) -> str:
        return (self.root / "password").read_text().strip()

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        tools = bindir()
        if tools is None:
            raise Unavailable("PostgreSQL is not installed (apt-get install postgresql)")
        cmd = _as_server_user([str(tools / argv[0]), *argv[1:]])
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise Unavailable(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def init(self) -> Cluster:
        """Create the cluster once (idempotent)."""
        if (self.data / "PG_VERSION").exists():
            return self
        if bindir() is None:
            raise Unavailable("PostgreSQL is not installed (apt-get install postgresql)")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "socket").mkdir(exist_ok=True)
        pwfile = self.root / "password"
        if not pwfile.exists():
            pwfile.write_text(secrets.token_hex(12) + "\n")
        (self.root / "port").write_text(str(_free_port()))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            for path in self.root.iterdir():
                shutil.chown(path, "postgres", "postgres")
            os.chmod(pwfile, 0o600)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        return self

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def start(self) -> Cluster:
        """Start the server if it is not running (idempotent) and wait until it answers."""
        self.init()
        if not self.running():
            options = (
                f"{SERVER_OPTIONS} -c listen_addresses=127.0.0.1 -p {self.port} "
                f"-k {self.root / 'socket'}"
            )
            self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                "-l", str(self.root / "server.log"), "-o", options,
            )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def default_root() -> Path:
    """One cluster per checkout (a fresh clone in CI gets its own)."""
    here = str(Path(__file__).resolve().parent.parent)
    digest = hashlib.sha256(here.encode()).hexdigest()[:10]
    return Path("/tmp") / f"notifier-pg-{os.geteuid()}-{digest}"


def with_database(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_database(admin_url: str, prefix: str = "t") -> str:
    """A fresh, empty database; returns its URL (same user and password)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_until_answers(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str]) -> int:
    """`python3 -m tests.pg start [DIR]` prints `export NOTIFIER_TEST_PG_URL=...` for
    `eval`; `stop [DIR]` stops it. Both are idempotent."""
    if not argv or argv[0] not in {"start", "stop"}:
        print("usage: python3 -m tests.pg start|stop [DIR]", file=sys.stderr)
        return 2
    cluster = Cluster(Path(argv[1]) if len(argv) > 1 else default_root())
    try:
        if argv[0] == "stop":
            cluster.stop()
            return 0
        cluster.start()
    except Unavailable as exc:
        print(f"tests.pg: {exc}", file=sys.stderr)
        return 1
    print(f"export {ENV_URL}={cluster.url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
