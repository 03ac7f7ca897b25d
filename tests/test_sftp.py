"""The SFTP layer against a real server over TCP on 127.0.0.1: no mocks.

Covers what an operator relies on: key-only login, host keys that are always verified, a
listing that skips junk beside Toast's folders, byte-exact downloads, remote paths that
cannot escape the export root, and a demo server that cannot be written to or exposed.
"""

import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from toast_assets.sftp.client import (
    READ_WINDOW,
    SFTP_DEFAULT_READ_BYTES,
    HostKeyError,
    RemotePathError,
    SftpAuthError,
    SftpError,
    SftpSettings,
    ToastSftpClient,
    _listdir_many,
)
from toast_assets.sftp.keys import (
    PrivateKeyError,
    fingerprint,
    generate_private_key,
    load_private_key,
    new_private_key,
    public_key_line,
)
from toast_assets.sftp.server import ToastSftpServer

# The fixtures themselves (sftp_keys, sftp_export_tree, make_sftp_server, sftp_server,
# sftp_settings) come from the `sftp_fixtures` plugin that tests/conftest.py registers.
from sftp_fixtures import (
    BUSINESS_DATES,
    EXPORT_IDS,
    SftpExportTree,
    SftpKeys,
    SftpServerFactory,
    sftp_settings_for,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DAY = BUSINESS_DATES[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print a measurement even under -q / output capture (times are shown, never asserted)."""
    with capsys.disabled():
        print(f"\n[sftp measurement] {text}")


@contextmanager
def raw_sftp(server: ToastSftpServer, key_path: Path) -> Iterator[paramiko.SFTPClient]:
    """A plain paramiko session, to poke the server with operations our client never sends."""
    sock = socket.create_connection((server.host, server.port), timeout=10)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        assert fingerprint(transport.get_remote_server_key()) == server.host_key_fingerprint
        transport.auth_publickey("toast-export", load_private_key(key_path))
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        yield sftp
    finally:
        transport.close()


# ---------------------------------------------------------------------------- keys


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_generated_key_is_private_openssh_and_matches_its_pub_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"id_{kind}"
    line = generate_private_key(path, kind)

    assert (path.stat().st_mode & 0o777) == 0o600
    assert path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert (tmp_path / f"id_{kind}.pub").read_text().strip() == line
    key = load_private_key(path)
    assert line.startswith(public_key_line(key))
    if kind == "rsa":
        assert key.get_bits() == 3072
    if shutil.which("ssh-keygen"):
        shown = subprocess.run(
            ["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert fingerprint(key) in shown  # the same SHA256:... an operator sees


def test_load_private_key_accepts_pem_pkcs8_sec1_and_encrypted_forms(tmp_path: Path) -> None:
    pem = serialization.Encoding.PEM
    traditional = serialization.PrivateFormat.TraditionalOpenSSL  # PKCS#1 for RSA, SEC1 for EC
    pkcs8 = serialization.PrivateFormat.PKCS8
    openssh = serialization.PrivateFormat.OpenSSH
    samples = {
        "rsa-pkcs1": (rsa.generate_private_key(65537, 2048), traditional, None),
        "ecdsa-sec1": (ec.generate_private_key(ec.SECP256R1()), traditional, None),
        "ed25519-pkcs8": (ed25519.Ed25519PrivateKey.generate(), pkcs8, None),
        "ecdsa-pkcs8-encrypted": (ec.generate_private_key(ec.SECP384R1()), pkcs8, "s3cret"),
        "ed25519-openssh-encrypted": (ed25519.Ed25519PrivateKey.generate(), openssh, "s3cret"),
    }
    for label, (crypto_key, private_format, passphrase) in samples.items():
        encryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        text = crypto_key.private_bytes(pem, private_format, encryption).decode()
        expected = crypto_key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        path = tmp_path / label
        path.write_text(text)

        from_file = load_private_key(path, passphrase=passphrase)
        # An environment variable often carries the key on one line with literal "\n".
        from_env = load_private_key(text=text.replace("\n", "\\n"), passphrase=passphrase)
        assert public_key_line(from_file) == expected, label
        assert from_env.asbytes() == from_file.asbytes(), label
        assert from_file.can_sign(), label


def test_key_errors_name_the_problem_not_the_key(tmp_path: Path) -> None:
    path = tmp_path / "locked"
    generate_private_key(path, "ed25519", passphrase="right")
    secret_body = path.read_text().splitlines()[1]

    with pytest.raises(PrivateKeyError, match="TOAST_SFTP_PRIVATE_KEY_PASSPHRASE") as missing:
        load_private_key(path)
    with pytest.raises(PrivateKeyError, match="wrong passphrase") as wrong:
        load_private_key(path, passphrase="wrong")
    with pytest.raises(PrivateKeyError, match="not the .pub file"):
        load_private_key(text=(tmp_path / "locked.pub").read_text())
    for error in (missing.value, wrong.value):
        assert secret_body not in str(error)


def test_fingerprint_is_openssh_sha256_without_padding() -> None:
    key = new_private_key("ed25519")
    value = fingerprint(key)
    assert value.startswith("SHA256:") and not value.endswith("=") and len(value) == 7 + 43
    assert value == key.fingerprint  # paramiko's own OpenSSH-style fingerprint agrees


# ---------------------------------------------------------------------------- login


@pytest.mark.parametrize("key_attr", ["client_key", "client_rsa_key"])
def test_key_login_works_for_ed25519_and_rsa_client_keys(
    sftp_server: ToastSftpServer, sftp_settings: SftpSettings, sftp_keys: SftpKeys, key_attr: str
) -> None:
    settings = replace(sftp_settings, private_key_path=str(getattr(sftp_keys, key_attr)))
    with ToastSftpClient(settings) as client:
        assert client.connected
        assert client.host_key_fingerprint == sftp_server.host_key_fingerprint
        assert client.list_export_ids() == list(EXPORT_IDS)
    assert not client.connected


def test_key_login_from_key_text_as_in_an_environment_variable(
    sftp_settings: SftpSettings, sftp_keys: SftpKeys
) -> None:
    text = sftp_keys.client_rsa_key.read_text().replace("\n", "\\n")
    settings = replace(sftp_settings, private_key_path=None, private_key=text)
    assert text not in repr(settings)  # settings can be logged without leaking the key
    with ToastSftpClient(settings) as client:
        assert client.list_dates(EXPORT_IDS[0]) == list(BUSINESS_DATES)


def test_unauthorized_key_is_refused_with_user_host_and_fingerprint(
    sftp_settings: SftpSettings, sftp_keys: SftpKeys
) -> None:
    settings = replace(sftp_settings, private_key_path=str(sftp_keys.stranger_key))
    stranger = load_private_key(sftp_keys.stranger_key)
    with pytest.raises(SftpAuthError) as refused:
        ToastSftpClient(settings).connect()
    message = str(refused.value)
    assert "toast-export" in message and settings.endpoint in message
    assert fingerprint(stranger) in message
    assert sftp_keys.stranger_key.read_text().splitlines()[1] not in message


def test_server_refuses_password_login(sftp_server: ToastSftpServer) -> None:
    sock = socket.create_connection((sftp_server.host, sftp_server.port), timeout=10)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.AuthenticationException) as refused:
            transport.auth_password("toast-export", "hunter2")
        assert isinstance(refused.value, paramiko.BadAuthenticationType)
        assert refused.value.allowed_types == ["publickey"]
        assert not transport.is_authenticated()
    finally:
        transport.close()


# ---------------------------------------------------------------------------- host keys


def test_host_key_not_in_known_hosts_is_refused(
    sftp_server: ToastSftpServer, sftp_settings: SftpSettings, tmp_path: Path
) -> None:
    other = new_private_key("ed25519")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sftp_server.port} {public_key_line(other)}\n")
    settings = replace(sftp_settings, known_hosts_path=str(known_hosts))

    with pytest.raises(HostKeyError) as changed:
        ToastSftpClient(settings).connect()
    message = str(changed.value)
    assert "MISMATCH" in message and str(sftp_server.port) in message and "127.0.0.1" in message
    assert sftp_server.host_key_fingerprint in message  # what the server presented
    assert fingerprint(other) in message  # what we expected

    known_hosts.write_text(f"127.0.0.1 {public_key_line(sftp_server.host_key)}\n")  # port 22 only
    with pytest.raises(HostKeyError, match="not listed in known_hosts") as unknown:
        ToastSftpClient(settings).connect()
    assert sftp_server.host_key_fingerprint in str(unknown.value)
    assert "ssh-keygen -lf" in str(unknown.value)


def test_hashed_known_hosts_entry_is_accepted(
    sftp_server: ToastSftpServer, sftp_settings: SftpSettings, tmp_path: Path
) -> None:
    hashed = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{sftp_server.port}")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "# comment line\n"
        "@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFgu\n"
        f"{hashed} {public_key_line(sftp_server.host_key)}\n"
    )
    with ToastSftpClient(replace(sftp_settings, known_hosts_path=str(known_hosts))) as client:
        assert client.list_export_ids() == list(EXPORT_IDS)


def test_revoked_host_key_is_refused(
    sftp_server: ToastSftpServer, sftp_settings: SftpSettings, tmp_path: Path
) -> None:
    known_hosts = Path(str(sftp_settings.known_hosts_path))
    line = public_key_line(sftp_server.host_key)
    known_hosts.write_text(known_hosts.read_text() + f"@revoked * {line}\n")
    with pytest.raises(HostKeyError, match="@revoked"):
        ToastSftpClient(sftp_settings).connect()


def test_pinned_fingerprint_right_is_accepted_and_wrong_is_refused(
    sftp_server: ToastSftpServer, sftp_settings: SftpSettings
) -> None:
    pinned = replace(sftp_settings, known_hosts_path=None, host_key_fingerprint=sftp_server.host_key_fingerprint)
    with ToastSftpClient(pinned) as client:
        assert client.list_export_ids() == list(EXPORT_IDS)

    wrong_pin = fingerprint(new_private_key("ed25519"))
    with pytest.raises(HostKeyError) as refused:
        ToastSftpClient(replace(pinned, host_key_fingerprint=wrong_pin)).connect()
    message = str(refused.value)
    assert wrong_pin in message and sftp_server.host_key_fingerprint in message
    assert f"127.0.0.1:{sftp_server.port}" in message

    # Both configured: both must agree.
    with pytest.raises(HostKeyError):
        ToastSftpClient(replace(sftp_settings, host_key_fingerprint=wrong_pin)).connect()


def test_pinned_rsa_fingerprint_on_a_server_offering_several_host_keys(
    sftp_export_tree: SftpExportTree, sftp_keys: SftpKeys, tmp_path: Path
) -> None:
    """Like OpenSSH servers, offer Ed25519 first and RSA too; a pin of the RSA key still works."""
    rsa_host_key = new_private_key("rsa")
    with ToastSftpServer(
        sftp_export_tree.root,
        sftp_keys.authorized_keys,
        host_key=sftp_keys.host_key,
        extra_host_keys=[rsa_host_key],
    ) as server:
        pinned = sftp_settings_for(
            server, sftp_keys.client_key, host_key_fingerprint=fingerprint(rsa_host_key)
        )
        with ToastSftpClient(pinned) as client:
            assert client.host_key_fingerprint == fingerprint(rsa_host_key)

        known_hosts = tmp_path / "known_hosts_rsa_only"
        known_hosts.write_text(f"[127.0.0.1]:{server.port} {public_key_line(rsa_host_key)}\n")
        with ToastSftpClient(sftp_settings_for(server, sftp_keys.client_key, known_hosts)) as client:
            assert client.host_key_fingerprint == fingerprint(rsa_host_key)


def test_no_known_hosts_and_no_fingerprint_names_the_settings(sftp_settings: SftpSettings) -> None:
    settings = replace(sftp_settings, known_hosts_path=None, host_key_fingerprint=None)
    with pytest.raises(SftpError) as missing:
        ToastSftpClient(settings).connect()
    assert not isinstance(missing.value, HostKeyError)
    assert "TOAST_SFTP_KNOWN_HOSTS" in str(missing.value)
    assert "TOAST_SFTP_HOST_KEY_FINGERPRINT" in str(missing.value)


def test_unreachable_server_names_host_and_port(sftp_settings: SftpSettings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(SftpError, match=f"127.0.0.1:{free_port}"):
        ToastSftpClient(replace(sftp_settings, port=free_port, connect_timeout=3)).connect()


def test_silent_server_times_out_instead_of_hanging(sftp_settings: SftpSettings) -> None:
    """Something listens but never speaks SSH: the run fails within the connect timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings = replace(sftp_settings, port=silent.getsockname()[1], connect_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(SftpError, match="handshake") as failed:
            ToastSftpClient(settings).connect()
        assert time.monotonic() - started < 10
    assert settings.endpoint in str(failed.value)


# ---------------------------------------------------------------------------- listing


def test_listing_skips_stray_entries_and_impossible_dates(
    sftp_settings: SftpSettings, sftp_export_tree: SftpExportTree
) -> None:
    with ToastSftpClient(sftp_settings) as client:
        assert client.list_export_ids() == ["185129", "185130"]  # not README.txt, not archive/
        assert client.list_dates("185129") == list(BUSINESS_DATES)  # not not_a_date/, 20261399/
        files = client.list_files("185129", DAY)
        tree = client.list_tree()
        only_second_day = client.list_tree(dates=[BUSINESS_DATES[1]])
        one_location = client.list_tree(export_ids=["185130", "999999"])

    assert [f.name for f in files] == ["OrderDetails.csv", "PaymentDetails.csv"]  # not old/
    first = files[0]
    local = sftp_export_tree.local_path("185129", DAY, "OrderDetails.csv")
    assert first.path == "/185129/20260105/OrderDetails.csv"
    assert (first.size, first.mtime) == (local.stat().st_size, int(local.stat().st_mtime))
    assert {(f.export_id, f.business_date, f.name) for f in tree} == set(sftp_export_tree.files)
    assert {f.business_date for f in only_second_day} == {BUSINESS_DATES[1]}
    assert {f.export_id for f in one_location} == {"185130"}  # missing location skipped


# ---------------------------------------------------------------------------- downloads


def test_download_of_5mb_file_is_byte_exact(
    make_sftp_server: SftpServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "big" / "900001" / "20260107"
    folder.mkdir(parents=True)
    payload = os.urandom(5 * 1024 * 1024)
    (folder / "ItemSelectionDetails.csv").write_bytes(payload)
    _, settings = make_sftp_server(tmp_path / "big")

    timings: list[float] = []
    with ToastSftpClient(settings) as client:
        (remote,) = client.list_files("900001", date(2026, 1, 7))
        for _ in range(3):
            sink = io.BytesIO()
            started = time.perf_counter()
            written = client.download(remote, sink)
            timings.append(time.perf_counter() - started)
            assert written == len(payload) == remote.size
            assert sha256(sink.getvalue()) == sha256(payload)
        cipher = client._transport.local_cipher if client._transport else "?"
        # paramiko's server does not state a read limit (no limits@openssh.com): the SFTP
        # draft's 32 KiB, which every server answers in full.
        assert client.read_request_bytes == SFTP_DEFAULT_READ_BYTES == 32768

    megabytes = len(payload) / 1e6
    report(
        capsys,
        f"5 MiB download, in-process server, cipher {cipher}: best {megabytes / min(timings):.1f} MB/s, "
        f"mean {megabytes * len(timings) / sum(timings):.1f} MB/s over {len(timings)} runs",
    )


def test_many_small_files_over_one_connection_are_byte_exact(
    make_sftp_server: SftpServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "many" / "900002" / "20260107"
    folder.mkdir(parents=True)
    expected: dict[str, str] = {}
    for index in range(200):
        content = os.urandom(1000 + (index * 37) % 4000)
        name = f"File_{index:03d}.csv"
        (folder / name).write_bytes(content)
        expected[name] = sha256(content)
    _, settings = make_sftp_server(tmp_path / "many")

    with ToastSftpClient(settings) as client:
        started = time.perf_counter()
        files = client.list_files("900002", date(2026, 1, 7))
        listed = time.perf_counter() - started
        started = time.perf_counter()
        got: dict[str, str] = {}
        for remote in files:
            sink = io.BytesIO()
            client.download(remote, sink)
            got[remote.name] = sha256(sink.getvalue())
        elapsed = time.perf_counter() - started

    assert got == expected
    report(
        capsys,
        f"200 small files (1-5 KB) over one connection: {elapsed:.2f} s, "
        f"{elapsed / len(files) * 1000:.2f} ms per file (listing {listed * 1000:.1f} ms)",
    )


def test_download_detects_a_file_that_changed_after_listing(
    sftp_settings: SftpSettings, sftp_export_tree: SftpExportTree
) -> None:
    with ToastSftpClient(sftp_settings) as client:
        remote = client.list_files("185130", DAY)[0]
        sftp_export_tree.local_path("185130", DAY, remote.name).write_bytes(b"Location\n")
        with pytest.raises(SftpError) as short:
            client.download(remote, io.BytesIO())
    message = str(short.value)
    assert remote.path in message and "185130" in message and DAY.isoformat() in message
    assert "short" in message


def test_download_of_a_vanished_file_names_location_and_date(
    sftp_settings: SftpSettings, sftp_export_tree: SftpExportTree
) -> None:
    with ToastSftpClient(sftp_settings) as client:
        remote = client.list_files("185129", DAY)[1]
        sftp_export_tree.local_path("185129", DAY, remote.name).unlink()
        with pytest.raises(SftpError, match="does not exist") as gone:
            client.download(remote, io.BytesIO())
    assert remote.path in str(gone.value) and "185129" in str(gone.value)


def test_download_detects_a_file_that_grew_and_counts_it_to_its_end(
    sftp_settings: SftpSettings, sftp_export_tree: SftpExportTree
) -> None:
    """The read at the listed end finds more bytes: the file is read on to its real end, so the
    error says how long it is now, and the connection stays usable."""
    with ToastSftpClient(sftp_settings) as client:
        remote = client.list_files("185130", DAY)[0]
        path = sftp_export_tree.local_path("185130", DAY, remote.name)
        grown = path.read_bytes() + os.urandom(600_000)
        path.write_bytes(grown)
        with pytest.raises(SftpError) as long:
            client.download(remote, io.BytesIO())
        message = str(long.value)
        assert "long" in message and f"got {len(grown)} bytes, the listing said {remote.size}" in message
        assert remote.path in message and "185130" in message and DAY.isoformat() in message
        (again,) = [f for f in client.list_files("185130", DAY) if f.name == remote.name]
        sink = io.BytesIO()
        assert client.download(again, sink) == len(grown) and sink.getvalue() == grown


def _serve_reads_in_pieces(monkeypatch: pytest.MonkeyPatch, piece: int) -> list[tuple[int, int]]:
    """Make the bundled server answer every read with at most `piece` bytes, as the SFTP
    protocol allows any server to; returns the (offset, length) of each read it was asked."""
    asked: list[tuple[int, int]] = []
    read = paramiko.SFTPHandle.read

    def in_pieces(handle: paramiko.SFTPHandle, offset: int, length: int) -> bytes | int:
        asked.append((offset, length))
        return read(handle, offset, min(length, piece))

    monkeypatch.setattr("toast_assets.sftp.server._ReadOnlyHandle.read", in_pieces)
    return asked


def test_a_server_answering_reads_in_pieces_still_gives_every_byte(
    make_sftp_server: SftpServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the bundled server made to answer at most 10,000 bytes per read: each short
    reply is followed by a read of the rest, and the copy is byte exact, for an empty file, a
    small one and one of many reads."""
    folder = tmp_path / "pieces" / "900003" / "20260107"
    folder.mkdir(parents=True)
    payloads = {"Empty.csv": b"", "Small.csv": os.urandom(25_000), "Big.csv": os.urandom(1_000_003)}
    for name, payload in payloads.items():
        (folder / name).write_bytes(payload)
    _, settings = make_sftp_server(tmp_path / "pieces")
    asked = _serve_reads_in_pieces(monkeypatch, 10_000)

    with ToastSftpClient(settings) as client:
        for remote in client.list_files("900003", date(2026, 1, 7)):
            sink = io.BytesIO()
            assert client.download(remote, sink) == len(payloads[remote.name])
            assert sink.getvalue() == payloads[remote.name], remote.name
    # The reads asked for ran past each reply's end; the rest was asked for where it stopped.
    assert (10_000, SFTP_DEFAULT_READ_BYTES - 10_000) in asked


def test_a_read_refused_halfway_names_the_file_and_leaves_the_connection_usable(
    sftp_settings: SftpSettings, sftp_export_tree: SftpExportTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server refuses a read in the middle of a file whose other reads are still in flight:
    the download fails naming the file, location and date, and the replies still in flight do
    not end up in the next download on the same connection."""
    path = sftp_export_tree.local_path("185129", DAY, "OrderDetails.csv")
    payload = os.urandom(40 * SFTP_DEFAULT_READ_BYTES)
    path.write_bytes(payload)
    read = paramiko.SFTPHandle.read

    def refusing(handle: paramiko.SFTPHandle, offset: int, length: int) -> bytes | int:
        if 10 * SFTP_DEFAULT_READ_BYTES <= offset < 11 * SFTP_DEFAULT_READ_BYTES:
            return paramiko.sftp.SFTP_PERMISSION_DENIED
        return read(handle, offset, length)

    with ToastSftpClient(sftp_settings) as client:
        remote = next(f for f in client.list_files("185129", DAY) if f.name == "OrderDetails.csv")
        monkeypatch.setattr("toast_assets.sftp.server._ReadOnlyHandle.read", refusing)
        with pytest.raises(SftpError, match="permission denied") as refused:
            client.download(remote, io.BytesIO())
        message = str(refused.value)
        assert remote.path in message and "185129" in message and DAY.isoformat() in message
        monkeypatch.undo()
        for _ in range(2):
            sink = io.BytesIO()
            assert client.download(remote, sink) == len(payload) and sink.getvalue() == payload


def test_a_file_of_many_reads_keeps_at_most_the_window_in_flight(
    make_sftp_server: SftpServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3 MiB file at 32 KiB per read is 96 reads: they are sent ahead, not one per round
    trip, and never more than the window at once."""
    folder = tmp_path / "window" / "900004" / "20260107"
    folder.mkdir(parents=True)
    payload = os.urandom(3 * 1024 * 1024)
    (folder / "TimeEntries.csv").write_bytes(payload)
    _, settings = make_sftp_server(tmp_path / "window")
    for window in (READ_WINDOW, 7):
        monkeypatch.setattr("toast_assets.sftp.client.READ_WINDOW", window)
        with ToastSftpClient(settings) as client:
            (remote,) = client.list_files("900004", date(2026, 1, 7))
            waits = _in_flight_while_waiting(client)
            sink = io.BytesIO()
            assert client.download(remote, sink) == len(payload) and sink.getvalue() == payload
        # The open's own wait, then the reads: the window's worth in flight each time.
        assert max(waits) == window, (window, waits[:5])


class _FullDisk(io.RawIOBase):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise OSError(28, "No space left on device")


def test_local_write_errors_are_not_blamed_on_the_server(sftp_settings: SftpSettings) -> None:
    with ToastSftpClient(sftp_settings) as client:
        remote = client.list_files("185129", DAY)[0]
        with pytest.raises(OSError, match="No space left") as failed:
            client.download(remote, _FullDisk())  # type: ignore[arg-type]
        assert not isinstance(failed.value, SftpError)
        # The connection is still usable for the next file.
        assert client.download(remote, io.BytesIO()) == remote.size


# ---------------------------------------------------------------------------- path safety


def test_remote_paths_cannot_escape_the_root(sftp_settings: SftpSettings) -> None:
    with ToastSftpClient(sftp_settings) as client:
        for export_id in ("..", "../etc", "185129/..", "", "12a", "185129\x00"):
            with pytest.raises(RemotePathError):
                client.list_dates(export_id)
            with pytest.raises(RemotePathError):
                client.list_files(export_id, DAY)
        with pytest.raises(RemotePathError):
            client.list_tree(export_ids=["../etc"])
        good = client.list_files("185129", DAY)[0]
        for name in ("../../etc/passwd", "a/b.csv", "..", ".", "x\x00.csv"):
            forged = replace(good, name=name, path=f"/185129/20260105/{name}")
            with pytest.raises(RemotePathError):
                client.download(forged, io.BytesIO())
        # A path that disagrees with its own location/date/name is refused too.
        with pytest.raises(RemotePathError, match="does not match"):
            client.download(replace(good, path="/etc/passwd"), io.BytesIO())
        with pytest.raises(RemotePathError):
            client.download(replace(good, export_id=".."), io.BytesIO())


def test_root_setting_is_honoured(make_sftp_server: SftpServerFactory, tmp_path: Path) -> None:
    nested = tmp_path / "served" / "exports" / "toast"
    (nested / "185129" / "20260105").mkdir(parents=True)
    (tmp_path / "served" / "999").mkdir()  # a location folder outside the configured root
    (nested / "185129" / "20260105" / "OrderDetails.csv").write_bytes(b"Location\n")
    _, settings = make_sftp_server(tmp_path / "served")
    with ToastSftpClient(replace(settings, root="/exports/toast/")) as client:
        assert client.list_export_ids() == ["185129"]
        (remote,) = client.list_tree()
        assert remote.path == "/exports/toast/185129/20260105/OrderDetails.csv"
        assert client.download(remote, io.BytesIO()) == len(b"Location\n")


# ---------------------------------------------------------------------------- server


def test_server_refuses_every_write(
    sftp_server: ToastSftpServer, sftp_keys: SftpKeys, sftp_export_tree: SftpExportTree
) -> None:
    before = {path: path.read_bytes() for path in sftp_export_tree.root.rglob("*") if path.is_file()}
    existing = "/185129/20260105/OrderDetails.csv"
    with raw_sftp(sftp_server, sftp_keys.client_key) as sftp:
        attempts = [
            lambda: sftp.open("/185129/20260105/New.csv", "w"),
            lambda: sftp.open(existing, "a"),
            lambda: sftp.open(existing, "r+"),
            lambda: sftp.remove(existing),
            lambda: sftp.rename(existing, "/185129/moved.csv"),
            lambda: sftp.posix_rename(existing, "/185129/moved.csv"),
            lambda: sftp.mkdir("/185131"),
            lambda: sftp.rmdir("/185129/not_a_date"),
            lambda: sftp.chmod(existing, 0o777),
            lambda: sftp.symlink("/185129", "/link"),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionError):
                attempt()
        with sftp.open(existing, "r") as still_readable:
            assert still_readable.read() == before[sftp_export_tree.root / existing.lstrip("/")]
    after = {path: path.read_bytes() for path in sftp_export_tree.root.rglob("*") if path.is_file()}
    assert after == before


def test_server_confines_paths_and_reports_attributes(
    sftp_server: ToastSftpServer, sftp_keys: SftpKeys, sftp_export_tree: SftpExportTree, tmp_path: Path
) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("not for SFTP clients\n")
    os.symlink(secret, sftp_export_tree.root / "185129" / "20260105" / "Leak.csv")
    os.symlink(tmp_path, sftp_export_tree.root / "185130" / "escape")
    with raw_sftp(sftp_server, sftp_keys.client_key) as sftp:
        assert sorted(sftp.listdir("/../../..")) == sorted(sftp.listdir("/"))
        assert sftp.normalize("../../..") == "/"
        with pytest.raises(FileNotFoundError):
            sftp.stat("/../../etc/passwd")  # resolves to <root>/etc/passwd, which is absent
        for path in ("/185129/20260105/Leak.csv", "/185130/escape", "/185130/escape/outside.txt"):
            with pytest.raises(PermissionError):
                sftp.stat(path)
            with pytest.raises(PermissionError):
                sftp.open(path, "r")
        with pytest.raises(PermissionError):
            sftp.lstat("/185129/20260105/Leak.csv")
        assert "Leak.csv" not in sftp.listdir("/185129/20260105")
        assert "escape" not in sftp.listdir("/185130")

        local = sftp_export_tree.local_path("185129", DAY, "OrderDetails.csv")
        attrs = sftp.stat("/185129/20260105/OrderDetails.csv")
        assert attrs.st_size == local.stat().st_size
        assert attrs.st_mtime == int(local.stat().st_mtime)
        assert attrs.st_mode == local.stat().st_mode
        with sftp.open("/185129/20260105/OrderDetails.csv", "r") as handle:
            assert handle.stat().st_size == local.stat().st_size
        listed = {a.filename: a for a in sftp.listdir_attr("/185129")}
        assert listed["20260105"].st_mode is not None and listed["20260105"].longname.startswith("d")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_server_refuses_to_bind_a_non_loopback_address(
    sftp_export_tree: SftpExportTree, sftp_keys: SftpKeys, host: str
) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ToastSftpServer(sftp_export_tree.root, sftp_keys.authorized_keys, host=host)


def _start_cli(
    sftp_export_tree: SftpExportTree, sftp_keys: SftpKeys, tmp_path: Path, ignore_sigint: bool = False
) -> tuple[subprocess.Popen[str], Path, Path, Path]:
    pid_file, port_file, known_hosts = tmp_path / "server.pid", tmp_path / "server.port", tmp_path / "kh"
    command = [
        sys.executable, "-m", "toast_assets.sftp.server",
        "--root", str(sftp_export_tree.root),
        "--authorized-keys", str(sftp_keys.authorized_keys),
        "--host-key", str(sftp_keys.host_key),
        "--port", "0",
        "--known-hosts-out", str(known_hosts),
        "--pid-file", str(pid_file),
        "--port-file", str(port_file),
    ]  # fmt: skip

    def ignore() -> None:
        # What a non-interactive shell does to a job started with `&`.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore if ignore_sigint else None,
    )
    return process, pid_file, port_file, known_hosts


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_server_prints_port_and_stops_on_signal(
    sftp_export_tree: SftpExportTree,
    sftp_keys: SftpKeys,
    tmp_path: Path,
    stop_signal: signal.Signals,
) -> None:
    process, pid_file, port_file, known_hosts = _start_cli(
        sftp_export_tree, sftp_keys, tmp_path, ignore_sigint=stop_signal == signal.SIGINT
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        host_key_fp = fingerprint(load_private_key(sftp_keys.host_key))
        assert line.startswith("listening on 127.0.0.1:") and line.endswith(f"host key {host_key_fp}"), line
        port = int(line.split()[2].rsplit(":", 1)[1])
        assert int(port_file.read_text()) == port
        pid = int(pid_file.read_text())
        assert pid == process.pid

        settings = SftpSettings(
            host="127.0.0.1",
            port=port,
            username="toast-export",
            private_key_path=str(sftp_keys.client_key),
            known_hosts_path=str(known_hosts),
        )
        with ToastSftpClient(settings) as client:
            assert client.list_export_ids() == list(EXPORT_IDS)

        os.kill(pid, stop_signal)
        assert process.wait(timeout=15) == 0
        assert not pid_file.exists() and not port_file.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


def test_openssh_sftp_client_reads_from_the_bundled_server(
    sftp_server: ToastSftpServer, sftp_settings: SftpSettings, sftp_keys: SftpKeys,
    sftp_export_tree: SftpExportTree, tmp_path: Path,
) -> None:  # fmt: skip
    """The demo server speaks standard SFTP: OpenSSH's own client can list and fetch."""
    assert shutil.which("sftp"), "OpenSSH's sftp client is missing: apt-get install openssh-client (.ci/run does)"
    target = tmp_path / "fetched.csv"
    batch = tmp_path / "batch"
    batch.write_text(f"ls /185129\nget /185129/20260105/OrderDetails.csv {target}\n")
    result = subprocess.run(
        [
            "sftp", "-F", "/dev/null", "-b", str(batch), "-P", str(sftp_server.port),
            "-i", str(sftp_keys.client_key),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={sftp_settings.known_hosts_path}",
            "toast-export@127.0.0.1",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "20260105" in result.stdout
    assert target.read_bytes() == sftp_export_tree.files[("185129", DAY, "OrderDetails.csv")]


# ---------------------------------------------------------------------------- pipelined listing


def _in_flight_while_waiting(client: ToastSftpClient) -> list[int]:
    """How many requests were outstanding each time the client waited for a reply."""
    sftp = client._require_sftp()
    seen: list[int] = []
    read = sftp._read_response

    def recording(waitfor: int | None = None) -> object:
        seen.append(len(sftp._expecting))
        return read(waitfor)

    sftp._read_response = recording  # type: ignore[method-assign]
    return seen


def test_a_night_of_folders_is_listed_with_requests_in_flight_together(
    make_sftp_server: SftpServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve locations x two dates: the 24 date folders are listed with their requests in
    flight together (a few round trips, not four per folder), never more folders at once than
    the window, and the result is every file, as listing folder by folder finds it."""
    root = tmp_path / "exports"
    expected = set()
    for index in range(12):
        export_id = str(100200 + index)
        for business_date in BUSINESS_DATES:
            folder = root / export_id / f"{business_date:%Y%m%d}"
            folder.mkdir(parents=True)
            for name in ("OrderDetails.csv", "PaymentDetails.csv", "CheckDetails.csv"):
                (folder / name).write_bytes(f"{export_id},{business_date},{name}\n".encode())
                expected.add((export_id, business_date, name))
    _, settings = make_sftp_server(root)

    with ToastSftpClient(settings) as client:
        waits = _in_flight_while_waiting(client)
        tree = client.list_tree()
        one_by_one = [f for e in client.list_export_ids() for d in client.list_dates(e) for f in client.list_files(e, d)]
    assert {(f.export_id, f.business_date, f.name) for f in tree} == expected
    assert tree == one_by_one
    assert max(waits) >= 24  # every date folder's request out before the first reply is read

    monkeypatch.setattr("toast_assets.sftp.client.LISTING_WINDOW", 5)
    with ToastSftpClient(settings) as client:
        waits = _in_flight_while_waiting(client)
        assert client.list_tree() == tree
    assert max(waits) == 5  # one request per open folder, at most the window's folders open


def test_a_folder_that_cannot_be_listed_is_named_and_the_others_are_listed(sftp_settings: SftpSettings) -> None:
    with ToastSftpClient(sftp_settings) as client:
        sftp = client._require_sftp()
        good = client.remote_path("185129", DAY)
        listings = _listdir_many(sftp, [good, "/185129/20260101", client.remote_path("185130", DAY)])
        assert isinstance(listings["/185129/20260101"], FileNotFoundError)
        assert sorted(a.filename for a in listings[good]) == ["OrderDetails.csv", "PaymentDetails.csv", "old"]
        with pytest.raises(SftpError, match=r"/185129/20260101 .*\(location 185129, business date 2026-01-01\) does not exist"):
            client.list_files("185129", date(2026, 1, 1), listings["/185129/20260101"])
        # The connection is still good for more requests after the failed folder.
        assert [f.name for f in client.list_files("185129", DAY)] == ["OrderDetails.csv", "PaymentDetails.csv"]
