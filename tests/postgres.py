"""A throwaway PostgreSQL server for tests of the production Dagster instance.

Production keeps Dagster's runs, event log and schedule/sensor state in Postgres (Cloud SQL);
deploy/dagster.yaml points at it through `DAGSTER_PG_*` environment variables. This fixture
gives the tests a real server of the same kind: Debian's PostgreSQL binaries, a fresh cluster
made with `initdb` in a temporary folder, listening on a free 127.0.0.1 port, with password
(SCRAM) authentication like Cloud SQL's built-in users.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the `postgres`
OS user and its processes are started as that user; otherwise it runs as the current user.
When no PostgreSQL binaries are installed the fixture installs Debian's `postgresql` package
if it runs as root, and otherwise fails with what to run: the tests are never skipped. The
server is started directly (no service manager) and stopped by its own process id.
"""

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
from openssh import apt_install
from psycopg2 import sql

__all__ = ["PostgresServer", "postgres_server", "find_postgres_bin"]

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "dagster"  # the role the instance logs in as, like the Cloud SQL user Terraform creates
OS_USER_WHEN_ROOT = "postgres"
START_TIMEOUT_SECONDS = 30.0


def find_postgres_bin() -> Path | None:
    """The bin folder of the newest PostgreSQL installed by Debian's packages, if any."""
    found = [path.parent for path in PG_ROOT.glob("*/bin/initdb")]
    if not found:
        return None
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def _ensure_postgres_bin() -> Path:
    bin_dir = find_postgres_bin()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() != 0:
        pytest.fail(
            "no PostgreSQL server binaries under /usr/lib/postgresql and this test run is not root, so it "
            "cannot install them. Install them once with `sudo apt-get install -y postgresql` and run the "
            "tests again (CI runs as root and installs them by itself).",
            pytrace=False,
        )
    apt_install("postgresql", PG_ROOT)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.fail("apt-get installed postgresql but no initdb appeared under /usr/lib/postgresql", pytrace=False)
    return bin_dir


def _os_user() -> pwd.struct_passwd:
    """Who owns and runs the cluster: never root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(OS_USER_WHEN_ROOT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER_WHEN_ROOT],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(OS_USER_WHEN_ROOT)


def _as_user(owner: pwd.struct_passwd) -> dict[str, object]:
    """subprocess arguments that drop root to the cluster owner (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL server on 127.0.0.1 with one password-protected role."""

    port: int
    user: str
    password: str = field(repr=False)
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def connect(self, database: str = "postgres") -> "psycopg2.extensions.connection":
        """An autocommit connection as the instance's role."""
        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database, connect_timeout=5
        )
        conn.autocommit = True
        return conn

    def create_database(self, prefix: str = "dagster") -> str:
        """A new empty database, so each test starts from an instance nobody has used."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return name

    def drop_database(self, name: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            conn.close()

    def dagster_env(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.yaml reads, pointing at `database`."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    def log_tail(self) -> str:
        return _tail(self.log_path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the postmaster by its own pid: SIGINT is PostgreSQL's "fast shutdown"."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, password: str, log_path: Path) -> str | None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"postgres exited with status {process.returncode}:\n{_tail(log_path)}"
        try:
            psycopg2.connect(
                host="127.0.0.1", port=port, user=SUPERUSER, password=password, dbname="postgres", connect_timeout=1
            ).close()
            return None
        except psycopg2.OperationalError:
            time.sleep(0.1)
    return f"postgres did not accept connections on 127.0.0.1:{port} within {START_TIMEOUT_SECONDS:g}s:\n{_tail(log_path)}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster for the test session, removed afterwards."""
    bin_dir = _ensure_postgres_bin()
    owner = _os_user()
    # Not under pytest's tmp folder: that one is private to root, and the cluster owner must
    # be able to reach its own data directory.
    base = Path(tempfile.mkdtemp(prefix="toast-pg-"))
    data = base / "data"
    log_path = base / "postgres.log"
    password = secrets.token_urlsafe(24)  # per session, never written to the repository
    password_file = base / "pwfile"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(password_file, owner.pw_uid, owner.pw_gid)

    initdb = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D", str(data),
            "-U", SUPERUSER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway cluster: durability on disk is not what is tested
        ],
        capture_output=True,
        text=True,
        **_as_user(owner),  # type: ignore[arg-type]
    )  # fmt: skip
    password_file.unlink()
    if initdb.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed for the test PostgreSQL cluster:\n{initdb.stdout}\n{initdb.stderr}", pytrace=False)

    process: subprocess.Popen[bytes] | None = None
    error = ""
    port = 0
    for _attempt in range(3):  # another process may take the free port between probe and bind
        port = _free_port()
        with log_path.open("ab") as log:
            if os.geteuid() == 0:
                os.chown(log_path, owner.pw_uid, owner.pw_gid)
            process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D", str(data),
                    "-p", str(port),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", "unix_socket_directories=",  # TCP only, like Cloud SQL over its private IP
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                    "-c", "max_connections=100",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                **_as_user(owner),  # type: ignore[arg-type]
            )  # fmt: skip
        problem = _wait_until_ready(process, port, password, log_path)
        if problem is None:
            break
        _stop(process)
        process, error = None, problem
    if process is None:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start the test PostgreSQL server: {error}", pytrace=False)

    server = PostgresServer(port=port, user=SUPERUSER, password=password, log_path=log_path, process=process)
    try:
        yield server
    finally:
        _stop(process)
        shutil.rmtree(base, ignore_errors=True)
