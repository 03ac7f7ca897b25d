"""The SFTP server both clients read from: Debian's OpenSSH `sshd` on a loopback port.

The platform's paramiko client and OpenSSH's `sftp` CLI read the same tree from the same
real server (as Toast's would be), so their ratio measures the clients, not a Python server.
Modelled on tests/openssh.py, without pytest: key-only login of the user running the
benchmark, read-only `internal-sftp`, host key pinned through a known_hosts file. The
bundled paramiko server is not used: as a server it is the bottleneck for both clients.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
SFTP_CLI = "sftp"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT_SECONDS = 15.0


class ServerError(RuntimeError):
    """sshd could not be started; the message says what is missing."""


@dataclass
class Keys:
    """A client key pair (OpenSSH format, read by paramiko and OpenSSH alike) and a host key."""

    directory: Path
    client_key: Path
    host_key: Path

    @classmethod
    def create(cls, directory: Path) -> "Keys":
        directory.mkdir(parents=True, exist_ok=True)
        keys = cls(directory, directory / "client_ed25519", directory / "host_ed25519")
        for path in (keys.client_key, keys.host_key):
            if not path.exists():
                subprocess.run(
                    [str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", "toast-bench", "-f", str(path)],
                    check=True,
                    capture_output=True,
                )
        return keys


@dataclass
class SshdServer:
    """A running sshd; clients address export trees by their absolute local paths."""

    port: int
    username: str
    known_hosts: Path
    keys: Keys
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    host: str = "127.0.0.1"

    def stop(self) -> None:
        """Stop sshd by its own process id."""
        _stop(self.process, signal.SIGTERM, grace=10)

    def __enter__(self) -> "SshdServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def toast_env(self, root: Path) -> dict[str, str]:
        """The platform's SFTP settings for the export tree at `root` (TOAST_* variables)."""
        return {
            "TOAST_SFTP_HOST": self.host,
            "TOAST_SFTP_PORT": str(self.port),
            "TOAST_SFTP_USERNAME": self.username,
            "TOAST_SFTP_PRIVATE_KEY_PATH": str(self.keys.client_key),
            "TOAST_SFTP_KNOWN_HOSTS": str(self.known_hosts),
            "TOAST_SFTP_ROOT": str(Path(root).resolve()),
        }

    def sftp_command(self, batch: Path) -> list[str]:
        """OpenSSH's `sftp` running a batch file against this server, host key verified."""
        return [
            SFTP_CLI, "-q", "-b", str(batch), "-P", str(self.port), "-i", str(self.keys.client_key),
            "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            f"{self.username}@{self.host}",
        ]  # fmt: skip


def _stop(process: subprocess.Popen, first: signal.Signals, grace: float) -> None:
    """Send `first` to the server's own process id, then SIGKILL if it is still up after `grace` s."""
    if process.poll() is not None:
        return
    os.kill(process.pid, first)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(port: int, keys: Keys, pid_file: Path, authorized: Path, user: str) -> str:
    return "\n".join(
        [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            "AddressFamily inet",
            f"HostKey {keys.host_key}",
            f"PidFile {pid_file}",
            f"AuthorizedKeysFile {authorized}",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            # The benchmark logs in as whoever runs it; as root that is root, by key only.
            f"PermitRootLogin {'prohibit-password' if user == 'root' else 'no'}",
            f"AllowUsers {user}",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "Subsystem sftp internal-sftp",
            "ForceCommand internal-sftp -R",
            "LogLevel ERROR",
            "MaxStartups 50:30:100",
        ]
    ) + "\n"


def start_sshd(workdir: Path) -> SshdServer:
    """Start sshd on a free loopback port for the current user, key login only."""
    if not SSHD.exists() or not SSH_KEYGEN.exists():
        raise ServerError(f"{SSHD} and {SSH_KEYGEN} are needed: apt-get install -y openssh-server openssh-client")
    if shutil.which(SFTP_CLI) is None:
        raise ServerError("OpenSSH's sftp client is needed for the reference path: apt-get install -y openssh-client")
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    keys = Keys.create(workdir / "keys")
    user = pwd.getpwuid(os.geteuid()).pw_name
    authorized = workdir / "authorized_keys"
    authorized.write_text(Path(f"{keys.client_key}.pub").read_text())
    authorized.chmod(0o644)
    log_path = workdir / "sshd.log"
    config = workdir / "sshd_config"
    error = ""
    for _attempt in range(3):  # the probed port can be taken before sshd binds it
        port = _free_port()
        config.write_text(_config(port, keys, workdir / "sshd.pid", authorized, user))
        with log_path.open("ab") as log:
            process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        error = _wait_for_banner(process, port, log_path)
        if not error:
            host_line = " ".join(Path(f"{keys.host_key}.pub").read_text().split()[:2])
            known_hosts = workdir / "known_hosts"
            known_hosts.write_text(f"[127.0.0.1]:{port} {host_line}\n")
            return SshdServer(port, user, known_hosts, keys, log_path, process)
        if process.poll() is None:
            process.kill()
            process.wait()
    raise ServerError(f"could not start sshd: {error}")


def _wait_for_banner(process: subprocess.Popen, port: int, log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"sshd exited with status {process.returncode}: {log_path.read_text(errors='replace')[-2000:]}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return ""
        except OSError:
            pass
        time.sleep(0.05)
    return f"sshd did not answer on port {port} within {START_TIMEOUT_SECONDS:g}s"


# ------------------------------------------------------------------ PostgreSQL (the production instance)

PG_ROOT = Path("/usr/lib/postgresql")
PG_ROLE = "dagster"


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port for Dagster's storage (trust auth)."""

    port: int
    database: str
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    host: str = "127.0.0.1"

    def stop(self) -> None:
        """Stop PostgreSQL by its own process id: SIGINT is its "fast shutdown"."""
        _stop(self.process, signal.SIGINT, grace=30)

    def postgres_db(self) -> dict:
        """The `postgres_db` settings of a dagster.yaml storage block, pointing here."""
        return {
            "hostname": self.host,
            "port": self.port,
            "username": PG_ROLE,
            "password": "",
            "db_name": self.database,
            "scheme": "postgresql+psycopg2",
        }


def start_postgres(workdir: Path) -> PostgresServer:
    """initdb + postgres as the `postgres` OS user when root (PostgreSQL refuses root)."""
    bins = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not bins:
        raise ServerError(f"no PostgreSQL binaries under {PG_ROOT}: apt-get install -y postgresql")
    bin_dir = bins[-1].parent
    as_user: dict = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerError("running as root needs the `postgres` OS user (apt-get install -y postgresql creates it)") from exc
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    data, sockets = workdir / "data", workdir / "sockets"
    sockets.mkdir()
    if as_user:
        for path in (workdir, sockets):
            os.chown(path, as_user["user"], as_user["group"])
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", PG_ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, **as_user,
    )  # fmt: skip
    log_path = workdir / "postgres.log"
    port = _free_port()
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the server process
    process = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets), "-c", "listen_addresses=127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT, **as_user,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_SECONDS * 2
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_ROLE, "-d", "postgres", "-c", "CREATE DATABASE dagster_bench"],
            capture_output=True, text=True,
        )  # fmt: skip
        if ready.returncode == 0:
            return PostgresServer(port, "dagster_bench", log_path, process)
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.kill()
    raise ServerError(f"PostgreSQL did not start: {log_path.read_text(errors='replace')[-2000:]}")
