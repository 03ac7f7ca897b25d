"""Debian's OpenSSH server as a stand-in for Toast's SFTP export server, for tests.

The bundled paramiko server (toast_assets/sftp/server.py) was written next to the client, so
passing tests against it could hide a shared misunderstanding of the protocol. This fixture
runs the real `sshd` the way an SFTP-only export host is usually set up: key logins only, a
dedicated user jailed with `ChrootDirectory` into a read-only `internal-sftp`, an Ed25519 and
an RSA host key. The client then has to work against a server it did not write.

- As root (CI): `sshd` runs with its own config on a free 127.0.0.1 port, logs in the
  dedicated user `toast-export` (created when missing) and chroots it into a root-owned
  folder, so `/` on the server is the export root, as on Toast's servers.
- Not root (a developer's laptop): `sshd` can only log in the user running it and cannot
  chroot, so the client's `root` setting points at the served folder's absolute path instead.

When `/usr/sbin/sshd` is missing the fixture installs `openssh-server` with apt-get if it runs
as root, and otherwise fails with what to run: the tests are never skipped. The server is
started by absolute path and stopped by its own process id.

Tests get the session fixture `openssh_server` (import it into the test module) and call
`openssh_server.serve(name, fill)` to publish an export tree, then
`openssh_server.settings(key, name)` for client settings that verify its host key.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from sftp_fixtures import SftpKeys

from toast_assets.sftp.client import SftpSettings
from toast_assets.sftp.keys import fingerprint, parse_public_key

__all__ = ["OpenSshServer", "openssh_server", "ensure_openssh_server", "apt_install"]

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
# The login a restaurant group gets from Toast is a plain, unprivileged export user.
SFTP_USER = "toast-export"
# sshd refuses to run as root without its privilege-separation directory.
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT_SECONDS = 15.0
APT_TIMEOUT_SECONDS = 900

T = TypeVar("T")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def apt_install(package: str, binary: Path) -> None:
    """Install a Debian package as root, without letting its scripts start a system service.

    `apt-get install` is tried first; on a fresh machine whose package lists are empty it
    fails, so `apt-get update` runs once and the install is retried. A temporary
    `policy-rc.d` (the Debian mechanism Docker images use) stops the package from starting a
    system-wide daemon on port 22 / 5432 that would outlive the tests.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\n# written by the test suite while it installs packages\nexit 101\n")
        policy.chmod(0o755)
        created_policy = True
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    try:
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS)
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS)
    finally:
        if created_policy:
            policy.unlink(missing_ok=True)
    if result.returncode != 0 or not binary.exists():
        output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        pytest.fail(
            f"could not install the Debian package {package} (needed for {binary}) with "
            f"`{' '.join(install)}` (exit {result.returncode}):\n{output}",
            pytrace=False,
        )


def ensure_openssh_server() -> Path:
    """Path of Debian's sshd, installing openssh-server first when missing and allowed."""
    if SSHD.exists() and SSH_KEYGEN.exists():
        return SSHD
    if os.geteuid() != 0:
        pytest.fail(
            f"{SSHD} (Debian's OpenSSH server) is not installed and this test run is not root, so it "
            "cannot install it. Install it once with `sudo apt-get install -y openssh-server` and run "
            "the tests again (CI runs as root and installs it by itself).",
            pytrace=False,
        )
    apt_install("openssh-server", SSHD)
    return SSHD


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_sftp_user() -> str:
    """The unprivileged export login sshd serves when the tests run as root."""
    try:
        pwd.getpwnam(SFTP_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/", "--shell", "/usr/sbin/nologin", SFTP_USER],
            check=True,
            capture_output=True,
        )
    # Without PAM sshd refuses accounts whose password field is locked ('!', useradd's
    # default); '*' means "no password can match" without marking the account locked.
    subprocess.run(["usermod", "-p", "*", SFTP_USER], check=True, capture_output=True)
    return SFTP_USER


def _keygen(path: Path, kind: str) -> Path:
    """A host key made by OpenSSH's own ssh-keygen, as a real server's would be."""
    command = [str(SSH_KEYGEN), "-q", "-t", kind, "-N", "", "-C", f"toast-openssh-test-{kind}", "-f", str(path)]
    if kind == "rsa":
        # 2048 bits keeps the fixture quick (3072 takes seconds here); the size does not
        # change anything the client does.
        command[4:4] = ["-b", "2048"]
    subprocess.run(command, check=True, capture_output=True)
    return path


@dataclass
class OpenSshServer:
    """A running OpenSSH sshd on 127.0.0.1 serving export trees to one key-only SFTP user."""

    port: int
    username: str
    chroot: Path  # the local folder that is `/` for the SFTP user (when chrooted)
    chrooted: bool
    host_public_keys: dict[str, Path]  # "ed25519" / "rsa" -> .pub file
    known_hosts: Path  # both host keys, as `[127.0.0.1]:port` lines
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def remote_path(self, name: str) -> str:
        """How the SFTP client addresses the served folder `name`."""
        if self.chrooted:
            return f"/{name}"
        return str(self.chroot / name)

    def serve(self, name: str, fill: Callable[[Path], T]) -> T:
        """Create folder `name` in the served area, let `fill` write a tree into it, publish it.

        Files are made world-readable afterwards because the SFTP user is not the user that
        wrote them (root in CI) and a restrictive umask must not make a test fail for the
        wrong reason.
        """
        folder = self.chroot / name
        if folder.exists():
            raise ValueError(f"{folder} is already served; use a new name per test")
        folder.mkdir(mode=0o755)
        result = fill(folder)
        for path in [folder, *folder.rglob("*")]:
            if path.is_symlink():
                continue
            path.chmod(0o755 if path.is_dir() else 0o644)
        return result

    def host_key_fingerprint(self, kind: str) -> str:
        """The SHA256 fingerprint of one of the server's host keys, as `ssh-keygen -lf` prints it."""
        return fingerprint(parse_public_key(self.host_public_keys[kind].read_text()))

    def settings(self, private_key: Path, name: str, **overrides: object) -> SftpSettings:
        """Client settings for the tree served as `name`: known_hosts verification by default."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "private_key_path": str(private_key),
            "known_hosts_path": str(self.known_hosts),
            "root": self.remote_path(name),
            "connect_timeout": 10.0,
            "read_timeout": 30.0,
        }
        values.update(overrides)
        return SftpSettings(**values)  # type: ignore[arg-type]

    def log_tail(self) -> str:
        return _tail(self.log_path)


def _config_text(
    port: int, host_keys: list[Path], pid_file: Path, authorized_keys: Path, user: str, chroot: Path | None
) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        "AddressFamily inet",
        *(f"HostKey {key}" for key in host_keys),
        f"PidFile {pid_file}",
        f"AuthorizedKeysFile {authorized_keys}",
        # Our fixture files live in temporary folders sshd's ownership checks would reject.
        "StrictModes no",
        "UsePAM no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        f"AllowUsers {user}",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTTY no",
        "Subsystem sftp internal-sftp",
        # A download-only login, like Toast's export accounts: SFTP and nothing else, read-only.
        "ForceCommand internal-sftp -R",
        "LogLevel VERBOSE",
        "MaxStartups 50:30:100",
    ]
    if chroot is not None:
        lines.append(f"ChrootDirectory {chroot}")
    return "\n".join(lines) + "\n"


def _wait_for_banner(process: subprocess.Popen[bytes], port: int, log_path: Path) -> str | None:
    """Wait until sshd answers with its SSH banner; return an error text if it never does."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"sshd exited with status {process.returncode}:\n{_tail(log_path)}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return None
        except OSError:
            pass
        time.sleep(0.05)
    return f"sshd did not answer on 127.0.0.1:{port} within {START_TIMEOUT_SECONDS:g}s:\n{_tail(log_path)}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop sshd by its own pid: SIGTERM, then SIGKILL if it does not exit."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def openssh_server(sftp_keys: SftpKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSshServer]:
    """Debian's sshd on a free loopback port; the session's client keys may log in.

    `sftp_keys` (from tests/sftp_fixtures.py) supplies the authorized Ed25519 and RSA client
    keys and an unauthorized stranger key.
    """
    sshd = ensure_openssh_server()
    as_root = os.geteuid() == 0
    if as_root:
        # ChrootDirectory demands that every component of the path is root-owned and not
        # writable by anyone else, which rules out /tmp (world-writable); /run qualifies.
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="toast-openssh-", dir="/run"))
        base.chmod(0o755)
        user = _ensure_sftp_user()
    else:
        base = tmp_path_factory.mktemp("openssh")
        user = pwd.getpwuid(os.geteuid()).pw_name
    private = base / "private"  # host keys, config, pid file: never readable by the SFTP user
    private.mkdir(mode=0o700)
    chroot = base / "chroot"
    chroot.mkdir(mode=0o755)
    # sshd reads authorized keys as the logging-in user, so the file must be readable by it.
    authorized = base / "authorized_keys"
    shutil.copyfile(sftp_keys.authorized_keys, authorized)
    authorized.chmod(0o644)

    host_keys = [_keygen(private / "ssh_host_ed25519_key", "ed25519"), _keygen(private / "ssh_host_rsa_key", "rsa")]
    public = {"ed25519": Path(f"{host_keys[0]}.pub"), "rsa": Path(f"{host_keys[1]}.pub")}
    log_path = private / "sshd.log"
    config = private / "sshd_config"

    process: subprocess.Popen[bytes] | None = None
    error = ""
    port = 0
    for _attempt in range(3):  # another process may take the free port between probe and bind
        port = _free_port()
        config.write_text(
            _config_text(port, host_keys, private / "sshd.pid", authorized, user, chroot if as_root else None)
        )
        checked = subprocess.run([str(sshd), "-t", "-f", str(config)], capture_output=True, text=True)
        if checked.returncode != 0:
            pytest.fail(f"sshd rejects the test configuration {config}:\n{checked.stderr}", pytrace=False)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(sshd), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        problem = _wait_for_banner(process, port, log_path)
        if problem is None:
            break
        _stop(process)
        process, error = None, problem
    if process is None:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start OpenSSH's sshd for the SFTP tests: {error}", pytrace=False)

    known_hosts = base / "known_hosts"
    known_hosts.write_text(
        "".join(f"[127.0.0.1]:{port} {' '.join(path.read_text().split()[:2])}\n" for path in public.values())
    )
    server = OpenSshServer(
        port=port,
        username=user,
        chroot=chroot,
        chrooted=as_root,
        host_public_keys=public,
        known_hosts=known_hosts,
        log_path=log_path,
        process=process,
    )
    try:
        yield server
    finally:
        _stop(process)
        shutil.rmtree(base, ignore_errors=True)
