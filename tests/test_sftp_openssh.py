"""The Toast SFTP client against Debian's OpenSSH server, a server it did not write.

tests/test_sftp.py proves the client against the bundled paramiko server; this module runs
the cases an operator relies on against real `sshd` + `internal-sftp` (key-only, chrooted,
read-only, Ed25519 and RSA host keys), ending with a real landing of a generated export tree
into the lake. The server comes from the `openssh_server` fixture in tests/openssh.py.
"""

import hashlib
import io
import os
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import paramiko
import pytest
from openssh import OpenSshServer, openssh_server  # noqa: F401  (session fixture)
from sftp_fixtures import BUSINESS_DATES, EXPORT_IDS, SftpExportTree, SftpKeys, write_export_tree

from toast_assets.demo.generator import generate
from toast_assets.landing import fetch
from toast_assets.landing.fetch import ParallelFetch
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land, read_manifest
from toast_assets.sftp.client import SFTP_MAX_READ_BYTES, HostKeyError, RemotePathError, SftpAuthError, ToastSftpClient
from toast_assets.sftp.keys import fingerprint, generate_private_key, load_private_key

DAY = BUSINESS_DATES[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def one_file_tree(export_id: str, business_date: date, payload: bytes) -> Callable[[Path], None]:
    """Fills a served root with one location's ItemSelectionDetails.csv for one date."""

    def fill(root: Path) -> None:
        folder = root / export_id / business_date.strftime("%Y%m%d")
        folder.mkdir(parents=True)
        (folder / "ItemSelectionDetails.csv").write_bytes(payload)

    return fill


@pytest.fixture(scope="module")
def standard_tree(openssh_server: OpenSshServer) -> SftpExportTree:  # noqa: F811
    """The shared two-location test tree (with its stray entries), served by sshd."""
    return openssh_server.serve("standard", write_export_tree)


# ---------------------------------------------------------------------------- login


@pytest.mark.parametrize("key_attr", ["client_key", "client_rsa_key"])
def test_key_login_with_ed25519_and_rsa_client_keys(
    openssh_server: OpenSshServer,  # noqa: F811
    standard_tree: SftpExportTree,
    sftp_keys: SftpKeys,
    key_attr: str,
) -> None:
    settings = openssh_server.settings(getattr(sftp_keys, key_attr), "standard")
    with ToastSftpClient(settings) as client:
        assert client.connected
        assert client.list_export_ids() == list(EXPORT_IDS)
        # The host key the client verified is one of sshd's own keys.
        assert client.host_key_fingerprint in {
            openssh_server.host_key_fingerprint("ed25519"),
            openssh_server.host_key_fingerprint("rsa"),
        }


def test_a_key_openssh_does_not_know_is_refused(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    settings = openssh_server.settings(sftp_keys.stranger_key, "standard")
    with pytest.raises(SftpAuthError) as refused:
        ToastSftpClient(settings).connect()
    message = str(refused.value)
    # The operator is told which key was refused (its public fingerprint) and for which login.
    assert fingerprint(load_private_key(sftp_keys.stranger_key)) in message
    assert openssh_server.username in message and "registered with Toast" in message
    assert "PRIVATE KEY" not in message


def test_an_unknown_host_is_refused(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys, tmp_path: Path  # noqa: F811
) -> None:
    other_hosts = tmp_path / "known_hosts"
    other_hosts.write_text(openssh_server.known_hosts.read_text().replace("[127.0.0.1]", "[sftp.example.com]"))
    settings = openssh_server.settings(sftp_keys.client_key, "standard", known_hosts_path=str(other_hosts))
    with pytest.raises(HostKeyError, match="is not listed in known_hosts") as unknown:
        ToastSftpClient(settings).connect()
    assert "ssh-keyscan" in str(unknown.value)


def test_a_changed_host_key_is_refused(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys, tmp_path: Path  # noqa: F811
) -> None:
    # known_hosts remembers a different Ed25519 key for this host and port: what a client sees
    # when the server was re-keyed, or when something sits in the middle.
    line = generate_private_key(tmp_path / "impostor", "ed25519")
    impostor = load_private_key(tmp_path / "impostor")
    changed = tmp_path / "known_hosts"
    changed.write_text(f"[127.0.0.1]:{openssh_server.port} {' '.join(line.split()[:2])}\n")
    settings = openssh_server.settings(sftp_keys.client_key, "standard", known_hosts_path=str(changed))
    with pytest.raises(HostKeyError, match="HOST KEY MISMATCH") as mismatch:
        ToastSftpClient(settings).connect()
    message = str(mismatch.value)
    assert fingerprint(impostor) in message  # what was expected
    assert openssh_server.host_key_fingerprint("ed25519") in message  # what the server showed

    # A wrong pinned fingerprint is refused the same way.
    pinned = openssh_server.settings(
        sftp_keys.client_key, "standard", known_hosts_path=None, host_key_fingerprint=fingerprint(impostor)
    )
    with pytest.raises(HostKeyError, match="HOST KEY MISMATCH"):
        ToastSftpClient(pinned).connect()


def test_a_pinned_rsa_fingerprint_is_found_among_the_servers_keys(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    """Toast's documentation shows RSA host keys while OpenSSH prefers to present Ed25519:
    the client must ask sshd for its RSA key to check such a pin."""
    settings = openssh_server.settings(
        sftp_keys.client_key,
        "standard",
        known_hosts_path=None,
        host_key_fingerprint=openssh_server.host_key_fingerprint("rsa"),
    )
    with ToastSftpClient(settings) as client:
        assert client.host_key_fingerprint == openssh_server.host_key_fingerprint("rsa")
        assert client.list_export_ids() == list(EXPORT_IDS)


def test_the_pinning_recipe_from_the_deploy_readme_works(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys, tmp_path: Path  # noqa: F811
) -> None:
    """`ssh-keyscan` writes known_hosts, `ssh-keygen -lf` shows the fingerprints to compare
    with Toast's, and the file then works as TOAST_SFTP_KNOWN_HOSTS."""
    scanned = subprocess.run(
        ["ssh-keyscan", "-p", str(openssh_server.port), "-t", "ed25519,rsa", "127.0.0.1"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    known_hosts = tmp_path / "toast_known_hosts"
    known_hosts.write_text(scanned.stdout)
    shown = subprocess.run(
        ["ssh-keygen", "-lf", str(known_hosts)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert openssh_server.host_key_fingerprint("ed25519") in shown
    assert openssh_server.host_key_fingerprint("rsa") in shown

    settings = openssh_server.settings(sftp_keys.client_key, "standard", known_hosts_path=str(known_hosts))
    with ToastSftpClient(settings) as client:
        assert client.list_export_ids() == list(EXPORT_IDS)


# ---------------------------------------------------------------------------- listing and downloads


def test_listing_skips_stray_entries(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    settings = openssh_server.settings(sftp_keys.client_key, "standard")
    root = openssh_server.remote_path("standard")
    with ToastSftpClient(settings) as client:
        assert client.list_export_ids() == list(EXPORT_IDS)  # not README.txt, not archive/
        assert client.list_dates(EXPORT_IDS[0]) == list(BUSINESS_DATES)  # not not_a_date/, not 20261399/
        files = client.list_files(EXPORT_IDS[0], DAY)
        tree = client.list_tree()

    assert [f.name for f in files] == ["OrderDetails.csv", "PaymentDetails.csv"]  # not the old/ folder
    assert files[0].path == f"{root}/{EXPORT_IDS[0]}/{DAY:%Y%m%d}/OrderDetails.csv"
    local = standard_tree.local_path(EXPORT_IDS[0], DAY, "OrderDetails.csv")
    assert (files[0].size, files[0].mtime) == (local.stat().st_size, int(local.stat().st_mtime))
    assert {(f.export_id, f.business_date, f.name) for f in tree} == set(standard_tree.files)


def test_a_file_name_that_is_not_utf8_is_skipped_and_its_folder_still_listed(
    openssh_server: OpenSshServer, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    """sshd sends names as raw bytes: a Latin-1 `Café.csv` beside a real export file is
    reported as skipped, and the folder's other files are listed (pipelined listings decode
    names leniently)."""

    def fill(root: Path) -> None:
        folder = root / EXPORT_IDS[0] / f"{DAY:%Y%m%d}"
        folder.mkdir(parents=True)
        (folder / "OrderDetails.csv").write_bytes(b"Order Id\n1\n")
        with open(os.path.join(os.fsencode(folder), b"Caf\xe9.csv"), "wb") as handle:
            handle.write(b"x\n")

    openssh_server.serve("latin1-name", fill)
    with ToastSftpClient(openssh_server.settings(sftp_keys.client_key, "latin1-name")) as client:
        tree = client.list_tree()
        skipped = dict(client.skipped)
    assert [(f.export_id, f.business_date, f.name) for f in tree] == [(EXPORT_IDS[0], DAY, "OrderDetails.csv")]
    assert any("Caf" in path for path in skipped), skipped


def test_downloads_are_byte_exact(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    big_day = date(2026, 1, 7)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several SFTP reads, not a multiple of the block size
    openssh_server.serve("big", one_file_tree("900001", big_day, payload))
    with ToastSftpClient(openssh_server.settings(sftp_keys.client_rsa_key, "standard")) as client:
        for remote in client.list_tree():
            sink = io.BytesIO()
            assert client.download(remote, sink) == remote.size
            expected = standard_tree.files[(remote.export_id, remote.business_date, remote.name)]
            assert sha256(sink.getvalue()) == sha256(expected), remote.path
    with ToastSftpClient(openssh_server.settings(sftp_keys.client_key, "big")) as client:
        # sshd's sftp-server states its limits: reads of 255 KiB, a dozen for this file.
        assert client.read_request_bytes == SFTP_MAX_READ_BYTES == 261120
        (remote,) = client.list_files("900001", big_day)
        sink = io.BytesIO()
        assert client.download(remote, sink) == len(payload)
        assert sha256(sink.getvalue()) == sha256(payload)


def test_a_server_answering_less_than_asked_still_gives_byte_exact_files(
    openssh_server: OpenSshServer, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    """A read larger than the server answers comes back short; the rest of that range is
    read again, so the copy is still exact (only slower). Asking sshd for 1 MiB reads, four
    times its limit, makes every reply short."""
    big_day = date(2026, 1, 8)
    payload = os.urandom(2 * 1024 * 1024 + 4099)
    openssh_server.serve("short-replies", one_file_tree("900002", big_day, payload))
    with ToastSftpClient(openssh_server.settings(sftp_keys.client_key, "short-replies")) as client:
        client.read_request_bytes = 1024 * 1024
        (remote,) = client.list_files("900002", big_day)
        sink = io.BytesIO()
        assert client.download(remote, sink) == len(payload)
        assert sha256(sink.getvalue()) == sha256(payload)


def test_remote_paths_cannot_leave_the_export_root(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    settings = openssh_server.settings(sftp_keys.client_key, "standard")
    with ToastSftpClient(settings) as client:
        for export_id in ("..", "../etc", f"{EXPORT_IDS[0]}/..", "", "12a"):
            with pytest.raises(RemotePathError):
                client.list_files(export_id, DAY)
        with pytest.raises(RemotePathError):
            client.list_tree(export_ids=["../big"])
        good = client.list_files(EXPORT_IDS[0], DAY)[0]
        for name in ("../../etc/passwd", "../OrderDetails.csv", "a/b.csv", ".."):
            with pytest.raises(RemotePathError):
                client.download(replace(good, name=name, path=f"{good.path.rsplit('/', 1)[0]}/{name}"), io.BytesIO())
        with pytest.raises(RemotePathError, match="does not match"):
            client.download(replace(good, path="/etc/passwd"), io.BytesIO())


def test_the_export_login_is_read_only(
    openssh_server: OpenSshServer, standard_tree: SftpExportTree, sftp_keys: SftpKeys  # noqa: F811
) -> None:
    """Our client never writes; the server side is set up like Toast's download-only logins,
    and a raw session confirms sshd (not our code) enforces it."""
    transport = paramiko.Transport(("127.0.0.1", openssh_server.port))
    try:
        transport.connect(username=openssh_server.username, pkey=load_private_key(sftp_keys.client_key))
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        folder = f"{openssh_server.remote_path('standard')}/{EXPORT_IDS[0]}/{DAY:%Y%m%d}"
        with pytest.raises(OSError):
            sftp.open(f"{folder}/New.csv", "w")
        with pytest.raises(OSError):
            sftp.remove(f"{folder}/OrderDetails.csv")
    finally:
        transport.close()
    assert standard_tree.local_path(EXPORT_IDS[0], DAY, "OrderDetails.csv").exists()


# ---------------------------------------------------------------------------- landing


def test_a_generated_export_tree_lands_byte_for_byte(
    openssh_server: OpenSshServer, sftp_keys: SftpKeys, tmp_path: Path  # noqa: F811
) -> None:
    """The production landing code (`land`) with the production client, against OpenSSH."""
    start, end = date(2026, 3, 2), date(2026, 3, 3)
    summary = openssh_server.serve("generated", lambda root: generate(root, start, end, locations=2, seed=5))
    source_root = openssh_server.chroot / "generated"
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    settings = openssh_server.settings(sftp_keys.client_key, "generated")

    with ToastSftpClient(settings) as client:
        report = land(client, lake, summary.dates)
    downloaded = sum(entity.downloaded for entity in report.by_entity.values())
    assert downloaded == summary.files + len(report.unrecognized_files)
    assert {d: sorted(ids) for d, ids in report.locations_by_date.items()} == {
        d: sorted(summary.export_ids) for d in summary.dates
    }

    checked = 0
    for business_date in summary.dates:
        for export_id in summary.export_ids:
            manifest = read_manifest(lake, business_date, export_id)
            assert manifest is not None, (export_id, business_date)
            for name, landed in manifest.files.items():
                source = (source_root / export_id / business_date.strftime("%Y%m%d") / name).read_bytes()
                stored = lake.get_bytes(landed.key)
                assert stored == source, landed.key
                assert landed.sha256 == sha256(source) == lake.sha256(landed.key)
                assert landed.source_path == f"{settings.root}/{export_id}/{business_date:%Y%m%d}/{name}"
                checked += 1
    assert checked == downloaded

    # Landing again finds every file unchanged (size and mtime as sshd reports them).
    with ToastSftpClient(settings) as client:
        again = land(client, lake, summary.dates)
    assert sum(entity.downloaded for entity in again.by_entity.values()) == 0
    assert sum(entity.unchanged for entity in again.by_entity.values()) == downloaded


def test_a_big_night_lands_over_parallel_openssh_sessions(
    openssh_server: OpenSshServer,  # noqa: F811
    sftp_keys: SftpKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker processes each log in to OpenSSH on their own: the lake is the one a single
    session leaves, and sshd saw one login per worker besides the step's own."""
    monkeypatch.setattr(fetch, "PARALLEL_MIN_BYTES", 0)  # this small tree counts as a big night
    start, end = date(2026, 3, 2), date(2026, 3, 3)
    summary = openssh_server.serve("parallel", lambda root: generate(root, start, end, locations=3, seed=6))
    settings = openssh_server.settings(sftp_keys.client_key, "parallel")

    def logins() -> int:
        return openssh_server.log_path.read_text(errors="replace").count("Accepted publickey")

    before = logins()
    parallel_lake = LocalLakeResource(root=str(tmp_path / "parallel"))
    with ToastSftpClient(settings) as client:
        report = land(client, parallel_lake, summary.dates, parallel=ParallelFetch(settings, 2))
    assert logins() - before == 3
    single_lake = LocalLakeResource(root=str(tmp_path / "single"))
    with ToastSftpClient(settings) as client:
        single = land(client, single_lake, summary.dates)

    assert sum(e.downloaded for e in report.by_entity.values()) == sum(e.downloaded for e in single.by_entity.values())
    for business_date in summary.dates:
        for export_id in summary.export_ids:
            ours, theirs = read_manifest(parallel_lake, business_date, export_id), read_manifest(single_lake, business_date, export_id)
            assert ours is not None and theirs is not None
            assert {n: (f.key, f.size, f.sha256, f.records, f.encoding) for n, f in ours.files.items()} == {
                n: (f.key, f.size, f.sha256, f.records, f.encoding) for n, f in theirs.files.items()
            }
            for landed in ours.files.values():
                assert parallel_lake.get_bytes(landed.key) == single_lake.get_bytes(landed.key)
