"""A bundled, read-only SFTP server that plays Toast's export server on this machine.

The embedded demo and the tests need something that behaves like Toast's SFTP login without
an account: key-only login, a verified host key, the `/<export_id>/<YYYYMMDD>/<File>.csv`
tree. This server serves a local folder that way, on loopback only, and refuses every write,
so the platform's SFTP code runs unchanged against it.

    python -m toast_assets.sftp.server --root ./exports --authorized-keys ./keys/client.pub

It is not meant to face a network: it refuses to bind anything but a loopback address.
"""

import argparse
import io
import ipaddress
import logging
import os
import posixpath
import signal
import socket
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

from toast_assets.sftp.keys import (
    PrivateKeyError,
    fingerprint,
    load_private_key,
    new_private_key,
    parse_public_key,
    public_key_line,
)

logger = logging.getLogger(__name__)

# Flags that mean "change something": exports are Toast's to write, so a read-only export
# server answers them with permission denied.
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_EXCL
# Buffered reads of this size keep disk reads large while the SFTP client asks for 32 KiB
# pieces; small files get a buffer no larger than themselves.
READ_BUFFER_BYTES = 1024 * 1024
# How often the accept loop and the CLI wake up to notice a stop request.
_POLL_SECONDS = 0.2

AuthorizedKeys = list[str | Path | paramiko.PKey] | Path

# paramiko logs every client hang-up as an ERROR ("Socket exception: Connection reset by
# peer"): normal for a server whose clients close their socket after their last download.
SSH_LOG_CHANNEL = f"{__name__}.ssh"


class _DropClientHangups(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Connection reset by peer" not in record.getMessage()


logging.getLogger(SSH_LOG_CHANNEL).addFilter(_DropClientHangups())


def _require_loopback(host: str) -> str:
    """Return the address to bind, refusing anything that would listen beyond this machine."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"refusing to serve SFTP on {host!r}: the bundled Toast SFTP server is for demos and "
            "tests and only listens on a loopback address (127.0.0.1, ::1 or localhost). To "
            "ingest real exports, point TOAST_SFTP_HOST at Toast's server instead."
        )
    return host


def _read_key_lines(path: Path) -> list[bytes]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read authorized keys file {path}: {exc.strerror or exc}") from exc
    if "PRIVATE KEY-----" in text:
        raise ValueError(f"{path} is a private key; give the server the public half ({path}.pub)")
    blobs: list[bytes] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            blobs.append(parse_public_key(line).asbytes())
        except ValueError as exc:
            raise ValueError(f"authorized keys file {path}, line {lineno}: {exc}") from exc
    return blobs


def _authorized_blobs(authorized_keys: AuthorizedKeys | str) -> frozenset[bytes]:
    """The public key blobs allowed to log in, from a file or a list of keys/lines/files."""
    if isinstance(authorized_keys, (str, os.PathLike)):
        blobs = _read_key_lines(Path(authorized_keys))
        source = f"authorized keys file {authorized_keys}"
    else:
        blobs = []
        for item in authorized_keys:
            if isinstance(item, paramiko.PKey):
                blobs.append(item.asbytes())
            elif isinstance(item, os.PathLike):
                blobs.extend(_read_key_lines(Path(item)))
            elif isinstance(item, str):
                try:
                    blobs.append(parse_public_key(item).asbytes())
                except ValueError as exc:
                    raise ValueError(
                        f"authorized key {item[:40]!r}...: {exc} (pass Path(...) for a key file)"
                    ) from exc
            else:
                raise TypeError(f"authorized key of unsupported type {type(item).__name__}")
        source = "the authorized key list"
    if not blobs:
        raise ValueError(f"{source} holds no public key: nobody could log in")
    return frozenset(blobs)


def _host_key(host_key: Path | paramiko.PKey | str | None) -> paramiko.PKey:
    if host_key is None:
        # paramiko cannot generate Ed25519 keys; keys.py makes one with `cryptography`.
        return new_private_key("ed25519")
    if isinstance(host_key, paramiko.PKey):
        if not host_key.can_sign():
            raise ValueError("the host key must be a private key (it signs the handshake)")
        return host_key
    try:
        return load_private_key(Path(host_key))
    except PrivateKeyError as exc:
        raise ValueError(f"cannot use host key: {exc}") from exc


class _KeyOnlyAuth(paramiko.ServerInterface):
    """Public-key login only, like Toast's export logins; any username, no shell, no forwarding."""

    def __init__(self, authorized: frozenset[bytes], peer: str) -> None:
        self._authorized = authorized
        self._peer = peer

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key.asbytes() in self._authorized:
            return paramiko.AUTH_SUCCESSFUL
        logger.info("refused key %s for user %r from %s", fingerprint(key), username, self._peer)
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        logger.info("refused password login for user %r from %s (key only)", username, self._peer)
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _ReadOnlyHandle(paramiko.SFTPHandle):
    """An open export file; paramiko's default `read` serves it from the plain file object."""

    def __init__(self, readfile: io.BufferedReader, flags: int = 0) -> None:
        super().__init__(flags)
        self.readfile = readfile

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _ReadOnlyFolder(paramiko.SFTPServerInterface):
    """SFTP operations over one folder: reads allowed, changes refused, paths kept inside.

    Clients see the folder as `/`. Every path is normalised against that virtual root and the
    real path (symlinks resolved) must stay inside the folder; anything else is refused.
    """

    def __init__(self, server: paramiko.ServerInterface, root: Path) -> None:
        super().__init__(server)
        self._root = str(root)

    @staticmethod
    def _virtual(path: str | bytes) -> str:
        if isinstance(path, bytes):
            path = path.decode("utf-8", errors="surrogateescape")
        # Normalising "/" + path folds any ".." at the top back onto "/", like a chroot.
        return posixpath.normpath("/" + path) if path else "/"

    def _inside(self, real: str) -> bool:
        return real == self._root or real.startswith(self._root.rstrip(os.sep) + os.sep)

    def _real(self, path: str | bytes) -> str | None:
        """Resolved local path for a client path, or None when it would leave the root."""
        virtual = self._virtual(path)
        if "\x00" in virtual:
            return None
        real = os.path.realpath(os.path.join(self._root, virtual.lstrip("/")))
        return real if self._inside(real) else None

    def canonicalize(self, path: str | bytes) -> str:
        return self._virtual(path)

    def list_folder(self, path: str | bytes) -> list[paramiko.SFTPAttributes] | int:
        real = self._real(path)
        if real is None:
            return SFTP_PERMISSION_DENIED
        entries: list[paramiko.SFTPAttributes] = []
        try:
            with os.scandir(real) as listing:
                for entry in listing:
                    if entry.is_symlink() and not self._inside(os.path.realpath(entry.path)):
                        continue  # never reveal what a link outside the root points at
                    try:
                        info = entry.stat(follow_symlinks=True)
                    except FileNotFoundError:
                        continue  # dangling link
                    # A name that is not UTF-8 goes out as its bytes, as OpenSSH sends it
                    # (paramiko would fail the whole listing encoding it as text).
                    name = entry.name if _utf8(entry.name) else os.fsencode(entry.name)
                    entries.append(paramiko.SFTPAttributes.from_stat(info, name))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return entries

    def stat(self, path: str | bytes) -> paramiko.SFTPAttributes | int:
        real = self._real(path)
        if real is None:
            return SFTP_PERMISSION_DENIED
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(real))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def lstat(self, path: str | bytes) -> paramiko.SFTPAttributes | int:
        virtual = self._virtual(path)
        if virtual == "/":
            return self.stat(virtual)
        parent = self._real(posixpath.dirname(virtual))
        if parent is None:
            return SFTP_PERMISSION_DENIED
        local = os.path.join(parent, posixpath.basename(virtual))
        try:
            info = os.lstat(local)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        if stat.S_ISLNK(info.st_mode) and not self._inside(os.path.realpath(local)):
            return SFTP_PERMISSION_DENIED
        return paramiko.SFTPAttributes.from_stat(info)

    def open(self, path: str | bytes, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        if flags & _WRITE_FLAGS:
            return SFTP_PERMISSION_DENIED
        real = self._real(path)
        if real is None:
            return SFTP_PERMISSION_DENIED
        try:
            info = os.stat(real)
            if stat.S_ISDIR(info.st_mode):
                return SFTP_FAILURE
            if not stat.S_ISREG(info.st_mode):
                return SFTP_PERMISSION_DENIED
            buffering = min(READ_BUFFER_BYTES, max(info.st_size, 8192))
            readfile = open(real, "rb", buffering=buffering)  # noqa: SIM115 - owned by the handle
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return _ReadOnlyHandle(readfile, flags)

    def readlink(self, path: str | bytes) -> str | int:
        return SFTP_OP_UNSUPPORTED

    # Everything that would change the export tree is refused: exports are Toast's to write.
    def remove(self, path: str | bytes) -> int:
        return SFTP_PERMISSION_DENIED

    def rename(self, oldpath: str | bytes, newpath: str | bytes) -> int:
        return SFTP_PERMISSION_DENIED

    def posix_rename(self, oldpath: str | bytes, newpath: str | bytes) -> int:
        return SFTP_PERMISSION_DENIED

    def mkdir(self, path: str | bytes, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path: str | bytes) -> int:
        return SFTP_PERMISSION_DENIED

    def chattr(self, path: str | bytes, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def symlink(self, target_path: str | bytes, path: str | bytes) -> int:
        return SFTP_PERMISSION_DENIED


class ToastSftpServer:
    """Serve a folder of Toast exports read-only over SFTP on 127.0.0.1.

    `authorized_keys` is an authorized_keys file, or a list of public key lines, `.pub` /
    authorized_keys files and paramiko keys. Without `host_key` a fresh Ed25519 host key is
    made for this run; its fingerprint is `host_key_fingerprint` and `write_known_hosts`
    writes the line clients need to trust it. `port=0` picks a free port (see `.port`).
    `extra_host_keys` (other key types) makes it offer several host keys, as OpenSSH servers
    do, so clients can be tested against a server whose first-offered key is not the pinned one.
    """

    def __init__(
        self,
        root: Path,
        authorized_keys: AuthorizedKeys,
        host_key: Path | paramiko.PKey | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_host_keys: Sequence[paramiko.PKey] = (),
    ) -> None:
        self.host = host
        self._bind_host = _require_loopback(host)
        root_path = Path(root)
        if not root_path.is_dir():
            raise ValueError(f"SFTP root {root_path} is not a folder: nothing to serve")
        self.root = root_path.resolve()
        self.port = int(port)
        self._authorized = _authorized_blobs(authorized_keys)
        self.host_key = _host_key(host_key)
        self.host_key_fingerprint = fingerprint(self.host_key)
        self.host_keys = [self.host_key, *(_host_key(key) for key in extra_host_keys)]
        if len({key.get_name() for key in self.host_keys}) != len(self.host_keys):
            raise ValueError("host keys must be of different types (one per type, as in sshd)")
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._workers: set[threading.Thread] = set()

    def __enter__(self) -> "ToastSftpServer":
        if self._listener is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "ToastSftpServer":
        """Bind, listen and accept connections on a background thread; returns self."""
        if self._listener is not None:
            raise RuntimeError(f"SFTP server on {self.address} is already running")
        family = socket.AF_INET6 if ":" in self._bind_host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._bind_host, self.port))
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise OSError(
                exc.errno, f"cannot listen on {self._bind_host}:{self.port} for SFTP: {exc.strerror}"
            ) from exc
        # A timeout lets the accept loop notice stop() without relying on close() waking it.
        listener.settimeout(_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"toast-sftp-accept-{self.port}", daemon=True
        )
        self._accept_thread.start()
        logger.info(
            "serving %s read-only over SFTP on %s (host key %s)",
            self.root,
            self.address,
            self.host_key_fingerprint,
        )
        return self

    def stop(self) -> None:
        """Stop accepting, close every client connection and wait for their threads."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            transports = list(self._transports)
            workers = list(self._workers)
        for transport in transports:
            transport.close()
        for worker in workers:
            worker.join(timeout=5)

    def write_known_hosts(self, path: Path) -> None:
        """Write the known_hosts line(s) that make clients trust this server's host key(s)."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        lines = "".join(f"{name} {public_key_line(key)}\n" for key in self.host_keys)
        Path(path).write_text(lines, encoding="ascii")

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    break
                logger.warning("accept on %s failed: %s", self.address, exc)
                self._stopping.wait(_POLL_SECONDS)  # e.g. out of file descriptors: do not spin
                continue
            conn.settimeout(None)
            # paramiko never disables Nagle; small responses would wait on delayed ACKs.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            worker = threading.Thread(
                target=self._serve,
                args=(conn, f"{peer[0]}:{peer[1]}"),
                name=f"toast-sftp-{peer[1]}",
                daemon=True,
            )
            with self._lock:
                self._workers.add(worker)
            worker.start()

    def _serve(self, conn: socket.socket, peer: str) -> None:
        """Run one client connection until it ends (its own thread, plus paramiko's)."""
        transport = paramiko.Transport(conn)
        transport.set_log_channel(SSH_LOG_CHANNEL)
        try:
            for key in self.host_keys:
                transport.add_server_key(key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _ReadOnlyFolder, self.root)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._transports.add(transport)
            transport.start_server(server=_KeyOnlyAuth(self._authorized, peer))
            transport.join()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            logger.info("SFTP connection from %s ended: %s", peer, exc)
        finally:
            transport.close()
            with self._lock:
                self._transports.discard(transport)
                self._workers.discard(threading.current_thread())


def _write_atomically(path: Path, text: str) -> None:
    """Write then rename, so a script polling for the file never reads half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="ascii")
    os.replace(temporary, path)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="toast-sftp-server",
        description="Serve a folder of Toast nightly exports read-only over SFTP on loopback.",
    )
    parser.add_argument(
        "--root", required=True, type=Path, help="folder holding <export_id>/<YYYYMMDD>/<File>.csv"
    )
    parser.add_argument(
        "--authorized-keys",
        required=True,
        type=Path,
        help="authorized_keys or .pub file listing the client keys allowed to log in",
    )
    parser.add_argument(
        "--host-key", type=Path, help="private host key file (default: a fresh Ed25519 key per run)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port (default 0: any free port, printed at start)"
    )
    parser.add_argument("--known-hosts-out", type=Path, help="write this server's known_hosts line here")
    parser.add_argument("--pid-file", type=Path, help="write this process id here")
    parser.add_argument("--port-file", type=Path, help="write the listening port here once ready")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point `toast-sftp-server`: serve until SIGTERM or SIGINT."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    logging.getLogger(SSH_LOG_CHANNEL).setLevel(logging.WARNING)

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    # Installed explicitly for both signals: a shell starting us in the background
    # non-interactively sets SIGINT to "ignore", and Python would keep ignoring it.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    try:
        server = ToastSftpServer(
            root=args.root,
            authorized_keys=args.authorized_keys,
            host_key=args.host_key,
            host=args.host,
            port=args.port,
        ).start()
    except (ValueError, OSError) as exc:
        print(f"toast-sftp-server: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc

    written: list[Path] = []
    try:
        if args.pid_file:
            _write_atomically(args.pid_file, f"{os.getpid()}\n")
            written.append(args.pid_file)
        if args.known_hosts_out:
            server.write_known_hosts(args.known_hosts_out)
        if args.port_file:
            _write_atomically(args.port_file, f"{server.port}\n")
            written.append(args.port_file)
        print(
            f"listening on {server.host}:{server.port} host key {server.host_key_fingerprint}",
            flush=True,
        )
        while not stop_requested.wait(_POLL_SECONDS):
            pass
        logger.info("stop requested; closing SFTP server on %s", server.address)
    finally:
        server.stop()
        for path in written:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    main()
