"""Pytest fixtures for real SFTP round trips: keys, a small Toast export tree, live servers.

Plain fixtures in a plain module: tests/conftest.py registers it with
`pytest_plugins = ["sftp_fixtures"]`, so any test can ask for them by name (`__all__` also
allows a star import). Every server is a
real `ToastSftpServer` on 127.0.0.1 with a free port; clients verify its host key through a
known_hosts file written for that port, as in production.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from toast_assets.sftp.client import SftpSettings
from toast_assets.sftp.keys import generate_private_key
from toast_assets.sftp.server import ToastSftpServer

__all__ = [
    "EXPORT_IDS",
    "BUSINESS_DATES",
    "SftpKeys",
    "SftpExportTree",
    "SftpServerFactory",
    "sftp_settings_for",
    "write_export_tree",
    "sftp_keys",
    "sftp_export_tree",
    "make_sftp_server",
    "sftp_served",
    "sftp_server",
    "sftp_settings",
]

# Two locations of one restaurant group, two business dates each.
EXPORT_IDS: tuple[str, ...] = ("185129", "185130")
BUSINESS_DATES: tuple[date, ...] = (date(2026, 1, 5), date(2026, 1, 6))

SftpServerFactory = Callable[[Path], tuple[ToastSftpServer, SftpSettings]]


@dataclass(frozen=True)
class SftpKeys:
    """Key files for one test session: who may log in, who may not, and the server's key."""

    directory: Path
    client_key: Path  # Ed25519, authorized
    client_rsa_key: Path  # RSA 3072, authorized (Toast's examples use RSA)
    stranger_key: Path  # Ed25519, NOT authorized
    host_key: Path  # the server's Ed25519 host key
    authorized_keys: Path  # public halves of client_key and client_rsa_key


@dataclass(frozen=True)
class SftpExportTree:
    """A Toast export folder as the server would hold it, with the bytes of each real file."""

    root: Path
    export_ids: tuple[str, ...]
    dates: tuple[date, ...]
    files: dict[tuple[str, date, str], bytes]

    def local_path(self, export_id: str, business_date: date, name: str) -> Path:
        return self.root / export_id / business_date.strftime("%Y%m%d") / name


@pytest.fixture(scope="session")
def sftp_keys(tmp_path_factory: pytest.TempPathFactory) -> SftpKeys:
    """Client, stranger and host keys, plus an authorized_keys file, made once per session."""
    directory = tmp_path_factory.mktemp("sftp_keys")
    client_line = generate_private_key(directory / "client_ed25519", "ed25519", comment="toast-client")
    rsa_line = generate_private_key(directory / "client_rsa", "rsa", comment="toast-client-rsa")
    generate_private_key(directory / "stranger_ed25519", "ed25519", comment="stranger")
    generate_private_key(directory / "host_ed25519", "ed25519", comment="toast-sftp-host")
    authorized = directory / "authorized_keys"
    authorized.write_text(f"{client_line}\n{rsa_line}\n", encoding="ascii")
    return SftpKeys(
        directory=directory,
        client_key=directory / "client_ed25519",
        client_rsa_key=directory / "client_rsa",
        stranger_key=directory / "stranger_ed25519",
        host_key=directory / "host_ed25519",
        authorized_keys=authorized,
    )


def _toast_day(business_date: date) -> str:
    # Toast prints dates unpadded with a two-digit year: 1/5/26.
    return f"{business_date.month}/{business_date.day}/{business_date:%y}"


def _order_details(export_id: str, business_date: date) -> bytes:
    day = _toast_day(business_date)
    return (
        "Location,Order Id,Order #,Opened,Amount,Tax,Tip,Gratuity,Total,Voided\n"
        f"{export_id},1300000015734303122,1,{day} 5:18 PM,20.00,1.65,4.00,0.00,25.65,false\n"
        f"{export_id},1300000015734303123,2,{day} 6:02 PM,35.50,2.93,6.00,0.00,44.43,false\n"
    ).encode("utf-8")


def _payment_details(export_id: str, business_date: date) -> bytes:
    day = _toast_day(business_date)
    return (
        "\ufeffLocation,Payment Id,Order Id,Paid Date,Amount,Tip,Total,Status,Type\n"
        f"{export_id},4100000001,1300000015734303122,{day} 5:40 PM,21.65,4.00,25.65,CAPTURED,Credit\n"
        f"{export_id},4100000002,1300000015734303123,{day} 6:30 PM,38.43,6.00,44.43,CAPTURED,Cash\n"
    ).encode("utf-8")


def write_export_tree(root: Path) -> SftpExportTree:
    """Write the standard test tree under `root` (see `sftp_export_tree`)."""
    files: dict[tuple[str, date, str], bytes] = {}
    for export_id in EXPORT_IDS:
        for business_date in BUSINESS_DATES:
            folder = root / export_id / business_date.strftime("%Y%m%d")
            folder.mkdir(parents=True)
            for name, content in (
                ("OrderDetails.csv", _order_details(export_id, business_date)),
                ("PaymentDetails.csv", _payment_details(export_id, business_date)),
            ):
                (folder / name).write_bytes(content)
                files[(export_id, business_date, name)] = content
    # Entries Toast's server (or a person) can leave beside the real folders; all are skipped.
    (root / "README.txt").write_text("stray file at the root\n", encoding="utf-8")
    (root / "archive").mkdir()
    (root / EXPORT_IDS[0] / "not_a_date").mkdir()
    (root / EXPORT_IDS[0] / "not_a_date" / "OrderDetails.csv").write_text("x\n", encoding="utf-8")
    (root / EXPORT_IDS[0] / "20261399").mkdir()  # eight digits, not a calendar date
    (root / EXPORT_IDS[0] / "20261399" / "OrderDetails.csv").write_text("x\n", encoding="utf-8")
    (root / EXPORT_IDS[1] / "notes.txt").write_text("stray file in a location\n", encoding="utf-8")
    (root / EXPORT_IDS[0] / BUSINESS_DATES[0].strftime("%Y%m%d") / "old").mkdir()  # not a file
    return SftpExportTree(root=root, export_ids=EXPORT_IDS, dates=BUSINESS_DATES, files=files)


@pytest.fixture
def sftp_export_tree(tmp_path: Path) -> SftpExportTree:
    """Two locations x two business dates of CSVs, plus stray entries that must be skipped:
    a `not_a_date` folder, a `20261399` folder, a stray root file and folder, a stray file in a
    location folder and a sub-folder inside a date folder."""
    root = tmp_path / "toast_sftp"
    root.mkdir()
    return write_export_tree(root)


def sftp_settings_for(
    server: ToastSftpServer, client_key: Path, known_hosts: Path | None = None, **overrides: object
) -> SftpSettings:
    """Client settings for a running test server (known_hosts if given, else the pinned key)."""
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": "toast-export",
        "private_key_path": str(client_key),
        "known_hosts_path": str(known_hosts) if known_hosts is not None else None,
        "host_key_fingerprint": None if known_hosts is not None else server.host_key_fingerprint,
        "connect_timeout": 10.0,
        "read_timeout": 30.0,
    }
    values.update(overrides)
    return SftpSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_sftp_server(
    sftp_keys: SftpKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SftpServerFactory]:
    """Factory: `make_sftp_server(root) -> (server, settings)`; servers stop at teardown."""
    servers: list[ToastSftpServer] = []

    def make(root: Path) -> tuple[ToastSftpServer, SftpSettings]:
        server = ToastSftpServer(root, sftp_keys.authorized_keys, host_key=sftp_keys.host_key).start()
        servers.append(server)
        known_hosts = tmp_path_factory.mktemp("known_hosts") / "known_hosts"
        server.write_known_hosts(known_hosts)
        return server, sftp_settings_for(server, sftp_keys.client_key, known_hosts)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sftp_served(
    make_sftp_server: SftpServerFactory, sftp_export_tree: SftpExportTree
) -> tuple[ToastSftpServer, SftpSettings]:
    """The standard export tree served by a live server, with matching client settings."""
    return make_sftp_server(sftp_export_tree.root)


@pytest.fixture
def sftp_server(sftp_served: tuple[ToastSftpServer, SftpSettings]) -> ToastSftpServer:
    """A started ToastSftpServer on 127.0.0.1 serving `sftp_export_tree`."""
    return sftp_served[0]


@pytest.fixture
def sftp_settings(sftp_served: tuple[ToastSftpServer, SftpSettings]) -> SftpSettings:
    """SftpSettings for `sftp_server`: Ed25519 client key, known_hosts written for its port."""
    return sftp_served[1]
