"""Read a restaurant group's nightly Toast exports over SFTP.

Toast writes one folder per location (`export_id`) per business date:
`<root>/<export_id>/<YYYYMMDD>/<File>.csv`. This client lists that tree and copies files
byte for byte; it never writes to the server. It is the only code that speaks SSH: the
Dagster resource above it passes an `SftpSettings` and works with `RemoteFile`s.

Security stance, because the files carry sales and customer data:
- the server's host key is always verified (known_hosts file or a pinned SHA256
  fingerprint); an unknown or changed key stops the run, it is never auto-accepted;
- login is by private key only;
- every remote path is rebuilt from validated parts under the configured root, so a
  hostile or odd listing can never steer a download outside the export tree;
- errors and logs name hosts, users, paths and public fingerprints, never key material.

One client instance is one SSH connection (one Transport, one SFTP session); use it from
one thread at a time, as a context manager.
"""

import logging
import posixpath
import re
import socket
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_NAME,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_STATUS,
    SFTP_FLAG_READ,
    SFTPError,
    int64,
)

from toast_assets.contract.layout import date_folder as layout_date_folder
from toast_assets.contract.layout import is_export_id, is_safe_file_name, parse_date_folder
from toast_assets.sftp.keys import PrivateKeyError, fingerprint, load_private_key

logger = logging.getLogger(__name__)

# Fastest ciphers measured on this kind of machine; paramiko's defaults stay as fallback for
# servers that offer neither.
PREFERRED_CIPHERS: tuple[str, ...] = ("aes128-gcm@openssh.com", "aes128-ctr")

# A server offers one host key per handshake, chosen from the client's preference list. To
# check a pinned fingerprint of, say, the server's RSA key we may have to ask for that family.
HOST_KEY_FAMILIES: dict[str, tuple[str, ...]] = {
    "ed25519": ("ssh-ed25519",),
    "ecdsa": ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    "rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}

# Reads are pipelined (`_read_file`) in requests as large as the server answers: the SFTP
# draft's floor is 32 KiB, and OpenSSH's sftp-server says through its `limits@openssh.com`
# extension that it answers up to 255 KiB. On loopback here that cut the transfer of
# day-200's 1,800 files from 7.7 s (32 KiB) to 4.7 s: paramiko's cost is per packet, not per
# byte. The SSH channel then has to allow packets of a whole reply (255 KiB + 13 bytes of
# SFTP header); servers may always send smaller ones.
SFTP_DEFAULT_READ_BYTES = 32768
SFTP_MAX_READ_BYTES = 261120
SFTP_MAX_PACKET_BYTES = 262144
# Read requests of one file in flight at once (16 MiB at 255 KiB each). The reads are sent
# and their replies taken in the calling thread: paramiko's prefetch starts a thread per file,
# which spins holding the GIL whenever a reply beats the thread's own bookkeeping; without it,
# half of day-200's files downloaded in 1.35 s instead of 2.1 s, with 30% less CPU.
READ_WINDOW = 64
# Folders whose listing requests (open, read, close) are in flight at once: a night's hundreds
# of folders cost a few round trips. OpenSSH's sftp-server allows 512 open handles.
LISTING_WINDOW = 64
# A folder's entries, or the error listing it raised.
Listing = list[paramiko.SFTPAttributes] | BaseException

_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")

ENV_HOST = "TOAST_SFTP_HOST"
ENV_PORT = "TOAST_SFTP_PORT"
ENV_USERNAME = "TOAST_SFTP_USERNAME"
ENV_PRIVATE_KEY_PATH = "TOAST_SFTP_PRIVATE_KEY_PATH"
ENV_PRIVATE_KEY = "TOAST_SFTP_PRIVATE_KEY"
ENV_PRIVATE_KEY_PASSPHRASE = "TOAST_SFTP_PRIVATE_KEY_PASSPHRASE"
ENV_KNOWN_HOSTS = "TOAST_SFTP_KNOWN_HOSTS"
ENV_HOST_KEY_FINGERPRINT = "TOAST_SFTP_HOST_KEY_FINGERPRINT"
ENV_ROOT = "TOAST_SFTP_ROOT"


class SftpError(Exception):
    """The Toast SFTP source could not be read (network, server or configuration)."""


class HostKeyError(SftpError):
    """The server's host key is unknown or differs from the trusted one: possibly not Toast."""


class SftpAuthError(SftpError):
    """The server refused our key (or the key could not be loaded)."""


class RemotePathError(SftpError):
    """A remote path component is not a valid export id, date folder or file name."""


@dataclass(frozen=True)
class SftpSettings:
    """How to reach one restaurant group's Toast export login.

    Exactly one of `private_key_path` / `private_key` (key text) is needed, and at least one
    of `known_hosts_path` / `host_key_fingerprint` (when both are set, both must accept the
    server). `root` is the folder holding the `<export_id>` folders, `/` on Toast's servers.
    """

    host: str
    port: int = 22
    username: str = ""
    private_key_path: str | None = None
    private_key: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    known_hosts_path: str | None = None
    host_key_fingerprint: str | None = None
    root: str = "/"
    connect_timeout: float = 15.0
    read_timeout: float = 60.0

    @property
    def endpoint(self) -> str:
        """`host:port` as shown in every message about this server."""
        return f"{self.host}:{self.port}"

    def pinned_fingerprints(self) -> tuple[str, ...]:
        """The pinned host key fingerprints (comma or space separated), padding removed."""
        if not self.host_key_fingerprint:
            return ()
        parts = re.split(r"[\s,]+", self.host_key_fingerprint.strip())
        return tuple(part.rstrip("=") for part in parts if part)

    def validate(self) -> None:
        """Raise SftpError listing every missing or malformed setting, by its variable name."""
        problems: list[str] = []
        if not self.host.strip():
            problems.append(f"the SFTP host is empty: set {ENV_HOST}")
        if not 1 <= int(self.port) <= 65535:
            problems.append(f"port {self.port} is not a TCP port: fix {ENV_PORT}")
        if not self.username.strip():
            problems.append(f"the SFTP username is empty: set {ENV_USERNAME}")
        if not self.private_key_path and not self.private_key:
            problems.append(
                f"no private key: set {ENV_PRIVATE_KEY_PATH} (a key file) or {ENV_PRIVATE_KEY} "
                "(the key text)"
            )
        elif self.private_key_path and self.private_key:
            problems.append(
                f"both {ENV_PRIVATE_KEY_PATH} and {ENV_PRIVATE_KEY} are set: keep only one so it "
                "is clear which key logs in"
            )
        if not self.known_hosts_path and not self.host_key_fingerprint:
            problems.append(
                f"the server's host key cannot be verified: set {ENV_KNOWN_HOSTS} (a known_hosts "
                f"file listing the server) or {ENV_HOST_KEY_FINGERPRINT} (its SHA256:... "
                "fingerprint, as printed by `ssh-keyscan HOST | ssh-keygen -lf -`)"
            )
        for pin in self.pinned_fingerprints():
            if not _FINGERPRINT.fullmatch(pin):
                problems.append(
                    f"{ENV_HOST_KEY_FINGERPRINT} value {pin!r} is not an OpenSSH SHA256 "
                    "fingerprint (expected 'SHA256:' followed by 43 base64 characters)"
                )
        if not self.root.startswith("/") or "\x00" in self.root:
            problems.append(f"root {self.root!r} must be an absolute remote path: fix {ENV_ROOT}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            problems.append("connect_timeout and read_timeout must be positive seconds")
        if problems:
            raise SftpError(
                f"SFTP settings for {self.endpoint} are incomplete: " + "; ".join(problems)
            )


@dataclass(frozen=True)
class RemoteFile:
    """One export file on the server: a location's file for one business date."""

    export_id: str
    business_date: date
    name: str
    path: str  # remote absolute posix path
    size: int
    mtime: int


def validate_export_id(export_id: str) -> str:
    """Return `export_id` if it is a Toast location folder name (digits only)."""
    if not isinstance(export_id, str) or not is_export_id(export_id):
        raise RemotePathError(
            f"{export_id!r} is not a Toast export id (location folder names are digits only)"
        )
    return export_id


def date_folder(business_date: date) -> str:
    """The `YYYYMMDD` folder name for a business date."""
    if not isinstance(business_date, date):
        raise RemotePathError(f"{business_date!r} is not a date")
    return layout_date_folder(business_date)


def validate_file_name(name: str) -> str:
    """Return `name` if it is a plain file name that cannot leave its date folder."""
    if not isinstance(name, str) or not is_safe_file_name(name):
        raise RemotePathError(
            f"{name!r} is not a plain export file name (no '/', '\\\\', NUL, control characters, '.' or '..')"
        )
    return name


def _normalize_root(root: str) -> str:
    if not root.startswith("/") or "\x00" in root:
        raise RemotePathError(f"SFTP root {root!r} must be an absolute remote path")
    return posixpath.normpath(root) if root != "/" else "/"


class _NoCommonHostKeyType(Exception):
    """The server has no host key of the family we asked for (internal control flow)."""


class _LocalWriteError(Exception):
    """Writing to the caller's file object failed: a local problem, not a remote one."""

    def __init__(self, original: OSError) -> None:
        super().__init__(str(original))
        self.original = original


class _CountingWriter:
    """Counts the bytes written and keeps local write errors apart from remote errors."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.count = 0

    def write(self, data: bytes) -> int:
        try:
            self.target.write(data)
        except OSError as exc:
            raise _LocalWriteError(exc) from exc
        self.count += len(data)
        return len(data)


class ToastSftpClient:
    """One verified, key-authenticated SFTP session to a Toast export server.

    Use as `with ToastSftpClient(settings) as client: ...`; listing and downloads in the
    block share one connection, which matters with many small files per day.
    """

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self._root = _normalize_root(settings.root)
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self.read_request_bytes = SFTP_DEFAULT_READ_BYTES
        self.host_key_fingerprint: str | None = None
        self._revoked_keys: list[paramiko.PKey] = []
        # Entries the listings passed over (remote path -> why), for the landing report: a
        # `20261399` folder or a `Order Details.csv` is skipped, and says so, never fails a run.
        self.skipped: dict[str, str] = {}

    # ------------------------------------------------------------------ connection

    def __enter__(self) -> "ToastSftpClient":
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """True while the SFTP session is open and the SSH connection alive."""
        transport = self._transport
        return self._sftp is not None and transport is not None and transport.is_active()

    def connect(self) -> "ToastSftpClient":
        """Open the connection: TCP, SSH handshake, host key check, key login, SFTP session."""
        if self._sftp is not None:
            return self
        settings = self.settings
        settings.validate()
        pkey = self._load_client_key()
        known_hosts = self._load_known_hosts()
        transport = self._open_verified_transport(known_hosts)
        try:
            self._authenticate(transport, pkey)
            sftp = self._open_sftp(transport)
        except BaseException:
            transport.close()
            raise
        self._transport, self._sftp = transport, sftp
        self.read_request_bytes = _server_read_bytes(sftp)
        logger.info(
            "connected to SFTP %s as %s (client key %s, host key %s, cipher %s, reads of %d bytes)",
            settings.endpoint,
            settings.username,
            fingerprint(pkey),
            self.host_key_fingerprint,
            transport.local_cipher,
            self.read_request_bytes,
        )
        return self

    def close(self) -> None:
        """Close the SFTP session and the connection; safe to call twice."""
        sftp, transport = self._sftp, self._transport
        self._sftp, self._transport = None, None
        if sftp is not None:
            try:
                sftp.close()
            except (OSError, EOFError, paramiko.SSHException) as exc:
                # The connection is already gone; closing must not hide the original error.
                logger.debug("closing SFTP session to %s: %s", self.settings.endpoint, exc)
        if transport is not None:
            transport.close()

    def _load_client_key(self) -> paramiko.PKey:
        settings = self.settings
        try:
            if settings.private_key_path:
                return load_private_key(
                    Path(settings.private_key_path).expanduser(),
                    passphrase=settings.private_key_passphrase,
                )
            return load_private_key(
                text=settings.private_key, passphrase=settings.private_key_passphrase
            )
        except PrivateKeyError as exc:
            origin = ENV_PRIVATE_KEY_PATH if settings.private_key_path else ENV_PRIVATE_KEY
            raise SftpAuthError(
                f"cannot use the private key for {settings.username}@{settings.endpoint} "
                f"(from {origin}): {exc}"
            ) from exc

    def _load_known_hosts(self) -> paramiko.HostKeys | None:
        """Read the known_hosts file (OpenSSH format, hashed names and `[host]:port` included).

        Parsed line by line so one odd line (a marker, a key type paramiko lacks) cannot make
        the whole file unusable; `@revoked` keys are remembered and always refused.
        """
        path = self.settings.known_hosts_path
        self._revoked_keys = []
        if not path:
            return None
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SftpError(
                f"cannot read known_hosts file {path} ({ENV_KNOWN_HOSTS}) to verify "
                f"{self.settings.endpoint}: {exc.strerror or exc}"
            ) from exc
        host_keys = paramiko.HostKeys()
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            marker = ""
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                line = line.strip()
            try:
                entry = HostKeyEntry.from_line(line, lineno)
            except (InvalidHostKey, paramiko.SSHException, ValueError) as exc:
                logger.warning("ignoring unreadable line %d of known_hosts file %s: %s", lineno, path, exc)
                continue
            if entry is None:
                continue  # a key type paramiko does not know: it can never match anyway
            if marker == "@revoked":
                self._revoked_keys.append(entry.key)
            elif not marker:
                for name in entry.hostnames:
                    host_keys.add(name, entry.key.get_name(), entry.key)
            # @cert-authority lines are skipped: certificate host keys are not supported.
        return host_keys

    def _known_host_name(self) -> str:
        # OpenSSH writes non-standard ports as "[host]:port"; paramiko matches hashed entries.
        host, port = self.settings.host, self.settings.port
        return host if port == 22 else f"[{host}]:{port}"

    def _open_verified_transport(self, known_hosts: paramiko.HostKeys | None) -> paramiko.Transport:
        """Handshake until the server shows a trusted host key, or raise HostKeyError."""
        settings = self.settings
        known: dict[str, paramiko.PKey] = {}
        if known_hosts is not None:
            entry = known_hosts.lookup(self._known_host_name())
            known = {name: entry[name] for name in entry.keys()} if entry else {}
        pins = settings.pinned_fingerprints()

        presented: list[paramiko.PKey] = []
        tried_families: set[str] = set()
        plans: list[tuple[str, ...] | None] = [self._key_types_for(known) if known else None]
        while plans:
            key_types = plans.pop(0)
            try:
                transport = self._handshake(key_types)
            except _NoCommonHostKeyType:
                continue
            server_key = transport.get_remote_server_key()
            tried_families.add(_family_of(server_key.get_name()))
            if self._host_key_trusted(server_key, known, known_hosts is not None, pins):
                self.host_key_fingerprint = fingerprint(server_key)
                return transport
            transport.close()
            presented.append(server_key)
            if pins and known_hosts is None and len(presented) == 1:
                # The pin may be for another of the server's keys (Toast's docs show RSA keys);
                # ask for each other family once before giving up.
                logger.info(
                    "SFTP %s offered %s host key %s, not the pinned one; asking for its other key types",
                    settings.endpoint,
                    server_key.get_name(),
                    fingerprint(server_key),
                )
                plans.extend(
                    types for family, types in HOST_KEY_FAMILIES.items() if family not in tried_families
                )
        raise HostKeyError(self._host_key_message(presented, known, known_hosts is not None, pins))

    def _key_types_for(self, known: dict[str, paramiko.PKey]) -> tuple[str, ...]:
        """Ask only for the host key types known_hosts lists, so a server with several keys
        presents one we can check (as OpenSSH does)."""
        wanted: list[str] = []
        for name in known:
            wanted.extend(HOST_KEY_FAMILIES.get(_family_of(name), (name,)))
        return tuple(wanted)

    def _host_key_trusted(
        self,
        server_key: paramiko.PKey,
        known: dict[str, paramiko.PKey],
        known_hosts_configured: bool,
        pins: tuple[str, ...],
    ) -> bool:
        if any(key.asbytes() == server_key.asbytes() for key in self._revoked_keys):
            return False
        if known_hosts_configured:
            expected = known.get(server_key.get_name())
            if expected is None or expected.asbytes() != server_key.asbytes():
                return False
        if pins and fingerprint(server_key) not in pins:
            return False
        return True

    def _host_key_message(
        self,
        presented: list[paramiko.PKey],
        known: dict[str, paramiko.PKey],
        known_hosts_configured: bool,
        pins: tuple[str, ...],
    ) -> str:
        settings = self.settings
        shown = ", ".join(f"{key.get_name()} {fingerprint(key)}" for key in presented) or "no key"
        where = f"SFTP server {settings.endpoint} (host {settings.host}, port {settings.port})"
        if not presented:
            return (
                f"{where} offers none of the host key types that known_hosts file "
                f"{settings.known_hosts_path} lists for it ({', '.join(sorted(known))}); nothing "
                "can be verified. Ask Toast for the server's current host key and update the file."
            )
        revoked = [
            key for key in presented if any(key.asbytes() == bad.asbytes() for bad in self._revoked_keys)
        ]
        if revoked:
            return (
                f"{where} presented {shown}, a key marked @revoked in known_hosts file "
                f"{settings.known_hosts_path}; refusing to connect. Ask Toast for the server's "
                "current host key."
            )
        if known_hosts_configured and not known:
            return (
                f"{where} is not listed in known_hosts file {settings.known_hosts_path} "
                f"(looked for '{self._known_host_name()}'); it presented {shown}. Host keys are "
                "never accepted automatically: confirm this fingerprint with Toast or the "
                f"server's administrator (e.g. `ssh-keyscan -p {settings.port} {settings.host} | "
                "ssh-keygen -lf -` from a trusted network), then add the server's line to that "
                f"file or pin the fingerprint in {ENV_HOST_KEY_FINGERPRINT}."
            )
        if known_hosts_configured and not any(
            known.get(key.get_name()) is not None
            and known[key.get_name()].asbytes() == key.asbytes()
            for key in presented
        ):
            expected = ", ".join(f"{name} {fingerprint(key)}" for name, key in known.items())
            return (
                f"HOST KEY MISMATCH for {where}: known_hosts file {settings.known_hosts_path} "
                f"expects {expected} but the server presented {shown}. Either the server was "
                "re-keyed or something is intercepting the connection: confirm the new key "
                "with Toast before updating the known_hosts entry. Nothing was downloaded."
            )
        return (
            f"HOST KEY MISMATCH for {where}: it presented {shown}, which does not match the "
            f"pinned {ENV_HOST_KEY_FINGERPRINT} ({', '.join(pins)}). Either the server was "
            "re-keyed or something is intercepting the connection: confirm the fingerprint "
            "with Toast before changing the pin. Nothing was downloaded."
        )

    def _handshake(self, key_types: tuple[str, ...] | None) -> paramiko.Transport:
        settings = self.settings
        try:
            sock = socket.create_connection(
                (settings.host, settings.port), timeout=settings.connect_timeout
            )
        except OSError as exc:
            raise SftpError(
                f"cannot reach SFTP server {settings.endpoint}: {exc}; check {ENV_HOST}/"
                f"{ENV_PORT}, DNS and any firewall between this machine and the server"
            ) from exc
        # paramiko never disables Nagle; with it on, every small request/response pair waits
        # on delayed ACKs (~38 ms per small file measured).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = settings.connect_timeout
        transport.handshake_timeout = settings.connect_timeout
        transport.auth_timeout = settings.connect_timeout
        transport.channel_timeout = settings.connect_timeout
        options = transport.get_security_options()
        offered = tuple(options.ciphers)
        options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in offered) + tuple(
            c for c in offered if c not in PREFERRED_CIPHERS
        )
        if key_types is not None:
            supported = tuple(t for t in key_types if t in options.key_types)
            if not supported:
                transport.close()
                raise _NoCommonHostKeyType()
            options.key_types = supported
        done = threading.Event()
        transport.start_client(event=done)
        # paramiko's own banner/handshake timeouts normally fire first; this is the backstop.
        finished = done.wait(settings.connect_timeout + 1.0)
        if finished and transport.is_active():
            return transport
        error = transport.get_exception()
        transport.close()
        if error is not None and "no acceptable host key" in str(error):
            raise _NoCommonHostKeyType()
        reason = str(error) if error is not None else f"timed out after {settings.connect_timeout:g}s"
        raise SftpError(
            f"SSH handshake with SFTP server {settings.endpoint} failed: {reason}; check that "
            "the host and port point at an SSH/SFTP service"
        )

    def _authenticate(self, transport: paramiko.Transport, pkey: paramiko.PKey) -> None:
        settings = self.settings
        who = f"user {settings.username!r} on {settings.endpoint}"
        key_id = f"{pkey.get_name()} key {fingerprint(pkey)}"
        try:
            remaining = transport.auth_publickey(settings.username, pkey)
        except paramiko.BadAuthenticationType as exc:
            raise SftpAuthError(
                f"SFTP server refuses public-key login for {who} (it allows: "
                f"{', '.join(exc.allowed_types) or 'nothing'}); Toast logins are key-only, so "
                "check the host and username"
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise SftpAuthError(
                f"SFTP server refused {key_id} for {who}: check that this public key is the "
                f"one registered with Toast for this login and that {ENV_USERNAME} is right"
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SftpError(f"connection to {settings.endpoint} failed during login of {who}: {exc}") from exc
        if remaining:
            raise SftpAuthError(
                f"SFTP server accepted {key_id} for {who} but also demands "
                f"{', '.join(remaining)}; only key login is supported"
            )

    def _open_sftp(self, transport: paramiko.Transport) -> paramiko.SFTPClient:
        settings = self.settings
        try:
            sftp = paramiko.SFTPClient.from_transport(transport, max_packet_size=SFTP_MAX_PACKET_BYTES)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SftpError(
                f"SFTP server {settings.endpoint} accepted the login of {settings.username!r} "
                f"but refused the SFTP subsystem: {exc}"
            ) from exc
        if sftp is None:
            raise SftpError(f"SFTP server {settings.endpoint} did not open an SFTP session")
        # Without a channel timeout a stalled server would hang the run forever.
        sftp.get_channel().settimeout(settings.read_timeout)
        return sftp

    def _require_sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            raise SftpError(
                f"not connected to {self.settings.endpoint}: use `with ToastSftpClient(settings) "
                "as client:` or call connect() first"
            )
        return self._sftp

    # ------------------------------------------------------------------ paths

    def remote_path(
        self, export_id: str, business_date: date | None = None, name: str | None = None
    ) -> str:
        """Absolute remote path of a location folder, date folder or file, under root only."""
        parts = [validate_export_id(export_id)]
        if business_date is not None:
            parts.append(date_folder(business_date))
        if name is not None:
            if business_date is None:
                raise RemotePathError("a file path needs the business date folder")
            parts.append(validate_file_name(name))
        return posixpath.join(self._root, *parts)

    @contextmanager
    def _remote(
        self,
        action: str,
        path: str,
        export_id: str | None = None,
        business_date: date | None = None,
        missing_hint: str = "list again to see what the server holds now",
    ) -> Iterator[None]:
        """Turn paramiko/socket failures into SftpError naming host, path, location and date."""
        context = ""
        if export_id is not None:
            context += f" (location {export_id}"
            context += f", business date {business_date.isoformat()})" if business_date else ")"
        where = f"{path} on {self.settings.endpoint}{context}"
        try:
            yield
        except FileNotFoundError as exc:
            raise SftpError(f"{action} failed: {where} does not exist; {missing_hint}") from exc
        except PermissionError as exc:
            raise SftpError(
                f"{action} failed: permission denied for {where}; check the login's access "
                "with Toast"
            ) from exc
        except TimeoutError as exc:
            raise SftpError(
                f"{action} failed: no answer from the server for {self.settings.read_timeout:g}s "
                f"on {where}; the connection is unusable, retry later"
            ) from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SftpError(f"{action} failed for {where}: {exc}") from exc

    def _entries(
        self,
        path: str,
        action: str,
        missing_hint: str,
        export_id: str | None = None,
        listing: Listing | None = None,
    ) -> list[tuple[str, int]]:
        """(name, st_mode) of each entry of a remote folder; symlinks resolved to their target.
        `listing` is the folder's pipelined listing when the caller has it already."""
        sftp = self._require_sftp()
        entries: list[tuple[str, int]] = []
        with self._remote(action, path, export_id, missing_hint=missing_hint):
            for attr in _listed(sftp, path, listing):
                mode = attr.st_mode
                if mode is None or stat.S_ISLNK(mode):
                    try:
                        mode = sftp.stat(posixpath.join(path, attr.filename)).st_mode
                    except FileNotFoundError:
                        continue  # dangling link: nothing to read
                if mode is not None:
                    entries.append((attr.filename, mode))
        return entries

    # ------------------------------------------------------------------ listing

    def list_export_ids(self) -> list[str]:
        """Location folders (numeric export ids) under root, in numeric order."""
        ids = []
        for name, mode in self._entries(self._root, "listing locations", f"check the export root ({ENV_ROOT})"):
            if stat.S_ISDIR(mode) and is_export_id(name):
                ids.append(name)
            else:
                self.skipped[posixpath.join(self._root, name)] = "not a location folder (export ids are digits only)"
        ids.sort(key=lambda value: (int(value), value))
        logger.debug("SFTP %s: %d location folders under %s", self.settings.endpoint, len(ids), self._root)
        return ids

    def list_dates(self, export_id: str, listing: Listing | None = None) -> list[date]:
        """Business dates delivered for a location (real `YYYYMMDD` folders), oldest first."""
        path = self.remote_path(export_id)
        found: list[date] = []
        hint = "check the export id: this login has no folder for that location"
        for name, mode in self._entries(path, "listing business dates", hint, export_id, listing):
            business_date = parse_date_folder(name) if stat.S_ISDIR(mode) else None
            if business_date is None:
                logger.info("skipping non-date entry %s/%s", path, name)
                self.skipped[posixpath.join(path, name)] = "not a YYYYMMDD business-date folder"
                continue
            found.append(business_date)
        return sorted(found)

    def list_files(
        self, export_id: str, business_date: date, listing: Listing | None = None
    ) -> list[RemoteFile]:
        """The regular files Toast delivered for one location and business date, by name."""
        folder = self.remote_path(export_id, business_date)
        sftp = self._require_sftp()
        files: list[RemoteFile] = []
        hint = "no delivery for that date (yet), or Toast already removed it (kept about 7 days)"
        with self._remote("listing export files", folder, export_id, business_date, hint):
            for attr in _listed(sftp, folder, listing):
                try:
                    name = validate_file_name(attr.filename)
                except RemotePathError as exc:
                    logger.warning("skipping oddly named entry %r in %s", attr.filename, folder)
                    self.skipped[posixpath.join(folder, repr(attr.filename))] = str(exc)
                    continue
                path = posixpath.join(folder, name)
                if attr.st_mode is None or stat.S_ISLNK(attr.st_mode):
                    try:
                        attr = sftp.stat(path)
                    except FileNotFoundError:
                        continue
                if attr.st_mode is None or not stat.S_ISREG(attr.st_mode):
                    self.skipped[path] = "not a regular file"
                    continue
                files.append(
                    RemoteFile(
                        export_id=export_id,
                        business_date=business_date,
                        name=name,
                        path=path,
                        size=int(attr.st_size or 0),
                        mtime=int(attr.st_mtime or 0),
                    )
                )
        files.sort(key=lambda remote: remote.name)
        return files

    def list_tree(
        self, export_ids: Iterable[str] | None = None, dates: Iterable[date] | None = None
    ) -> list[RemoteFile]:
        """Every export file, optionally only for some locations and/or business dates.

        Locations or dates without a folder on the server contribute nothing (a closed day or
        a location that has not delivered yet is not an error here; callers compare against
        what they expect).
        """
        requested = None if export_ids is None else [validate_export_id(value) for value in export_ids]
        available = self.list_export_ids()
        if requested is None:
            wanted_ids = available
        else:
            present = set(available)
            missing = [value for value in requested if value not in present]
            if missing:
                logger.warning(
                    "SFTP %s has no folder for location(s) %s", self.settings.endpoint, ", ".join(missing)
                )
            wanted_ids = [value for value in dict.fromkeys(requested) if value in present]
        wanted_dates = None if dates is None else set(dates)
        # Every location folder, then every wanted date folder, listed with pipelined requests:
        # a few round trips for a night's hundreds of folders instead of four per folder.
        sftp = self._require_sftp()
        with self._remote("listing location folders", self._root):
            locations = _listdir_many(sftp, [self.remote_path(export_id) for export_id in wanted_ids])
        folders = [
            (export_id, business_date)
            for export_id in wanted_ids
            for business_date in self.list_dates(export_id, locations[self.remote_path(export_id)])
            if wanted_dates is None or business_date in wanted_dates
        ]
        with self._remote("listing business-date folders", self._root):
            listings = _listdir_many(sftp, [self.remote_path(export_id, business_date) for export_id, business_date in folders])
        result: list[RemoteFile] = []
        for export_id, business_date in folders:
            result.extend(self.list_files(export_id, business_date, listings[self.remote_path(export_id, business_date)]))
        return result

    # ------------------------------------------------------------------ download

    def download(self, remote: RemoteFile, fileobj: BinaryIO) -> int:
        """Copy one export file into `fileobj`, byte for byte; returns the bytes written.

        The byte count must equal the size seen when listing: a shorter or longer copy means
        the file changed (Toast re-delivering) or the transfer broke, and raises SftpError so
        the caller does not land a partial file. Local write errors are re-raised unchanged.
        """
        path = self.remote_path(remote.export_id, remote.business_date, remote.name)
        if remote.path != path:
            raise RemotePathError(
                f"remote file path {remote.path!r} does not match its location {remote.export_id}, "
                f"date {remote.business_date.isoformat()} and name {remote.name!r} under root "
                f"{self._root} (expected {path!r}); refusing to read it"
            )
        sftp = self._require_sftp()
        writer = _CountingWriter(fileobj)
        try:
            gone = "Toast keeps files about 7 days, or it was replaced since listing: list again"
            with self._remote("download", path, remote.export_id, remote.business_date, gone):
                _read_file(sftp, path, remote.size, self.read_request_bytes, writer.write)
        except _LocalWriteError as exc:
            raise exc.original from None
        if writer.count != remote.size:
            change = "short" if writer.count < remote.size else "long"
            raise SftpError(
                f"download of {path} from {self.settings.endpoint} (location {remote.export_id}, "
                f"business date {remote.business_date.isoformat()}) is {change}: got "
                f"{writer.count} bytes, the listing said {remote.size}; the file changed on the "
                "server or the transfer broke: list again and retry"
            )
        return writer.count


def _server_read_bytes(sftp: paramiko.SFTPClient) -> int:
    """The largest read the server says it answers in one reply, up to SFTP_MAX_READ_BYTES.

    Asks with OpenSSH's `limits@openssh.com` extension (uint64 max packet, max read, max
    write, max open handles; 0 means no limit). A server that does not know it answers with
    an error status: the SFTP draft's 32 KiB, which every server answers in full, is used.
    Too large a read would still be correct (paramiko reads a short reply's remainder one
    request at a time) but slow, hence the question instead of a guess.
    """
    try:
        kind, message = sftp._request(CMD_EXTENDED, "limits@openssh.com")
        if kind != CMD_EXTENDED_REPLY:
            return SFTP_DEFAULT_READ_BYTES
        message.get_int64()  # max packet length
        max_read = message.get_int64()
    except (OSError, EOFError, SFTPError, paramiko.SSHException) as exc:
        logger.debug("SFTP server does not state its read limit (%s): reads of %d bytes", exc, SFTP_DEFAULT_READ_BYTES)
        return SFTP_DEFAULT_READ_BYTES
    return min(max_read, SFTP_MAX_READ_BYTES) if max_read else SFTP_MAX_READ_BYTES


def _read_file(sftp: paramiko.SFTPClient, path: str, size: int, chunk: int, write: Callable[[bytes], object]) -> None:
    """Copy a remote file to `write`, in order, with its read requests pipelined.

    The reads for the listed size go out at once (up to READ_WINDOW in flight), together with
    one read at the listed end, which answers end-of-file unless the file grew: then it is read
    on to its real end, so the caller's byte count says how long it is. A reply shorter than
    asked (a server may answer in pieces, or the file shrank) is followed by a read of the rest.
    The handle is closed without waiting for the reply; the server answers requests in order.
    """
    kind, message = sftp._request(CMD_OPEN, path, SFTP_FLAG_READ, paramiko.SFTPAttributes())
    if kind != CMD_HANDLE:
        raise paramiko.SSHException(f"unexpected SFTP reply type {kind} to opening {path}")
    handle = message.get_binary()
    replies = _Replies()
    requests = deque((offset, min(chunk, size - offset)) for offset in range(0, size, chunk))
    requests.append((size, chunk))
    in_flight: dict[int, tuple[int, int]] = {}  # request number -> (offset, length)
    arrived: dict[int, bytes] = {}  # offset -> data not yet written (replies may come out of order)
    written = 0
    try:
        while requests or in_flight:
            while requests and len(in_flight) < READ_WINDOW:
                offset, length = requests.popleft()
                in_flight[sftp._async_request(replies, CMD_READ, handle, int64(offset), length)] = (offset, length)
            for number, (kind, message) in replies.take(sftp).items():
                offset, length = in_flight.pop(number)
                if kind != CMD_DATA:
                    error = _status_error(sftp, kind, message)  # None: end of file at this offset
                    if error is not None:
                        raise error
                    continue
                data = message.get_string()
                if not data:
                    continue  # an empty reply ends the file here too
                arrived[offset] = data
                if offset >= size:
                    requests.append((offset + len(data), chunk))
                elif len(data) < length:
                    requests.append((offset + len(data), length - len(data)))
            while written in arrived:
                data = arrived.pop(written)
                write(data)
                written += len(data)
    finally:
        # Replies still in flight after an error go to `replies` and are dropped. A close that
        # cannot be sent (the connection broke) leaves the error that broke it to be raised.
        with suppress(OSError, EOFError, paramiko.SSHException):
            sftp._async_request(type(None), CMD_CLOSE, handle)


class _Replies:
    """Receives the replies to pipelined SFTP requests: paramiko hands each reply to the object
    its request was sent for."""

    def __init__(self) -> None:
        self.received: dict[int, tuple[int, paramiko.Message]] = {}

    def _async_response(self, kind: int, message: paramiko.Message, number: int) -> None:
        self.received[number] = (kind, message)

    def take(self, sftp: paramiko.SFTPClient) -> dict[int, tuple[int, paramiko.Message]]:
        """The replies received so far, by request number, after waiting for at least one."""
        while not self.received:
            sftp._read_response()
        received, self.received = self.received, {}
        return received


def _listdir_many(
    sftp: paramiko.SFTPClient, paths: list[str]
) -> dict[str, Listing]:
    """The entries of many remote folders (or the error listing one raised), with the open,
    read and close requests of up to LISTING_WINDOW folders in flight at once.

    Like `SFTPClient.listdir_attr`, except that a name which is not UTF-8 comes back with its
    bytes as surrogate escapes instead of failing the whole listing (paramiko decodes names
    strictly): `Caf\\xe9.csv` in one folder must not stop every other file from landing. Such a
    name is then refused like any other odd entry, and reported. A connection that fails
    raises; a folder that cannot be listed is answered with its error.
    """
    replies = _Replies()
    waiting = deque(dict.fromkeys(paths))
    in_flight: dict[int, tuple[str, int, bytes]] = {}  # request number -> (folder, request, handle)
    entries: dict[str, list[paramiko.SFTPAttributes]] = {}
    errors: dict[str, BaseException] = {}
    open_folders = 0

    def send(path: str, request: int, argument: str | bytes, handle: bytes = b"") -> None:
        in_flight[sftp._async_request(replies, request, argument)] = (path, request, handle)

    while waiting or in_flight:
        while waiting and open_folders < LISTING_WINDOW:
            path = waiting.popleft()
            entries[path] = []
            open_folders += 1
            send(path, CMD_OPENDIR, path)
        for number, (kind, message) in replies.take(sftp).items():
            path, request, handle = in_flight.pop(number)
            if request == CMD_OPENDIR and kind == CMD_HANDLE:
                handle = message.get_binary()
                send(path, CMD_READDIR, handle, handle)
            elif request == CMD_OPENDIR:
                errors[path] = _status_error(sftp, kind, message) or paramiko.SSHException("no handle for a folder")
                open_folders -= 1
            elif request == CMD_READDIR and kind == CMD_NAME:
                for _ in range(message.get_int()):
                    filename = message.get_string().decode("utf-8", errors="surrogateescape")
                    longname = message.get_string().decode("utf-8", errors="surrogateescape")
                    attr = paramiko.SFTPAttributes._from_msg(message, filename, longname)
                    if filename not in (".", ".."):
                        entries[path].append(attr)
                send(path, CMD_READDIR, handle, handle)
            elif request == CMD_READDIR:
                error = _status_error(sftp, kind, message)  # None: the end of the folder
                if error is not None:
                    errors[path] = error
                send(path, CMD_CLOSE, handle, handle)
            else:  # the folder's handle is closed; a failed close changes nothing that was read
                open_folders -= 1
    return {path: errors.get(path, entries[path]) for path in entries}


def _status_error(sftp: paramiko.SFTPClient, kind: int, message: paramiko.Message) -> BaseException | None:
    """The error a status reply reports (FileNotFoundError, PermissionError, ...); None for the
    end of a folder or file, or a plain OK."""
    if kind != CMD_STATUS:
        return paramiko.SSHException(f"unexpected SFTP reply type {kind}")
    try:
        sftp._convert_status(message)
    except EOFError:
        return None
    except OSError as exc:
        return exc
    return None


def _listed(
    sftp: paramiko.SFTPClient, path: str, listing: Listing | None
) -> list[paramiko.SFTPAttributes]:
    """A folder's entries from its pipelined listing, listing it now when there is none."""
    if listing is None:
        listing = _listdir_many(sftp, [path])[path]
    if isinstance(listing, BaseException):
        raise listing
    return listing


def _family_of(key_type: str) -> str:
    if key_type == "ssh-ed25519":
        return "ed25519"
    if key_type.startswith("ecdsa-"):
        return "ecdsa"
    if key_type in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"):
        return "rsa"
    return key_type
