"""The security guarantees, tested against real servers and a real Dagster instance.

- a changed host key stops extraction at once (no step retry) with a message saying what to check;
- secrets (SFTP key text and passphrase, webhook URL, database password, service-account key)
  appear nowhere in a run's event log, run config, tags, job or plan snapshots, JSON log file,
  compute logs or console output, for a successful run and a failing one;
- a hostile SFTP server's crafted listing cannot steer a read outside the export root nor a
  write outside the lake;
- file contents never become SQL: headers and values built as SQL injections are stored as
  data, and the contract's tables are intact;
- the bundled demo SFTP server listens on loopback only and offers public-key login only.

Elsewhere: host key pinning, revocation and unknown hosts (tests/test_sftp.py,
tests/test_sftp_openssh.py), the webhook URL kept out of notifier errors (tests/test_notify.py),
remote path validation in the client (tests/test_sftp.py::test_remote_paths_cannot_escape_the_root).
"""

import csv
import io
import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import paramiko
import psutil
import pytest
from dagster._serdes import serialize_value
from pipeline_resources import pipeline_resources

import toast_assets.sftp.server as sftp_server_module
from toast_assets.contract import BY_ENTITY, TOAST_FILES
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.landing.lake import LakePathError, LocalLakeResource
from toast_assets.landing.landing import land
from toast_assets.landing.manifest import object_key
from toast_assets.notify.resources import build_notifier
from toast_assets.raw.assets import toast_raw
from toast_assets.resources import build_resources
from toast_assets.settings import PROJECT_ROOT, load_config
from toast_assets.sftp.assets import toast_sftp_files
from toast_assets.sftp.client import ToastSftpClient
from toast_assets.sftp.keys import generate_private_key, new_private_key
from toast_assets.sftp.server import ToastSftpServer

BUSINESS_DATE = date(2026, 3, 2)


# ---------------------------------------------------------------------------------------------
# Host keys
# ---------------------------------------------------------------------------------------------


def test_a_changed_host_key_stops_landing_at_once_with_what_to_check(
    make_sftp_server, sftp_export_tree, sftp_keys, tmp_path: Path
) -> None:
    server, settings = make_sftp_server(sftp_export_tree.root)
    # The server is re-keyed (or something intercepts the connection) after known_hosts was written.
    server.stop()
    impostor = ToastSftpServer(sftp_export_tree.root, sftp_keys.authorized_keys, host_key=new_private_key("ed25519"), port=settings.port).start()
    try:
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            [*toast_sftp_files, toast_landing],
            partition_key=sftp_export_tree.dates[0].isoformat(),
            resources={"toast_sftp": pipeline_resources(settings, tmp_path)["toast_sftp"], "lake": LocalLakeResource(root=str(tmp_path / "lake"))},
            instance=instance,
            raise_on_error=False,
        )
    finally:
        impostor.stop()
    assert not result.success
    starts = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
    assert len(starts) == 1, "no step retry: waiting cannot fix an untrusted host key"
    (failure,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    message = failure.dagster_event.step_failure_data.user_failure_data.description or ""
    assert "HOST KEY MISMATCH" in message and settings.known_hosts_path in message
    assert "confirm" in message and "Nothing was downloaded" in message
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").rglob("*.csv"))


# ---------------------------------------------------------------------------------------------
# Secrets never leave the environment
# ---------------------------------------------------------------------------------------------


def _needles(secret: str) -> list[str]:
    """The secret and distinctive pieces of it (a line of key text, the token of a URL)."""
    pieces = [secret]
    pieces += [line.strip() for line in secret.splitlines() if len(line.strip()) >= 16 and "-----" not in line]
    return pieces


def _scan(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    found = []
    for where, text in texts.items():
        for name, secret in secrets.items():
            if any(needle in text for needle in _needles(secret)):
                found.append(f"{name} in {where}")
    return found


@pytest.fixture
def secret_env(sftp_keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A platform environment full of secrets: the SFTP key as text, encrypted, with its
    passphrase; a webhook URL; a database password; a service-account key file."""
    exports = tmp_path / "exports"
    generate(exports, BUSINESS_DATE, BUSINESS_DATE, locations=1, seed=31, orders_per_day=(4, 6))
    passphrase = "correct horse battery staple 7f3a"
    line = generate_private_key(tmp_path / "client_key", "ed25519", comment="toast", passphrase=passphrase)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(line + "\n")
    server = ToastSftpServer(exports, authorized, host_key=sftp_keys.host_key).start()
    known_hosts = tmp_path / "known_hosts"
    server.write_known_hosts(known_hosts)
    account_key = new_private_key("rsa")
    key_buffer = io.StringIO()
    account_key.write_private_key(key_buffer)
    service_account = {"type": "service_account", "project_id": "toast-test", "private_key_id": "5f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
                       "private_key": key_buffer.getvalue(), "client_email": "toast@toast-test.iam.gserviceaccount.com"}  # fmt: skip
    (tmp_path / "sa.json").write_text(json.dumps(service_account))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    secrets = {
        "TOAST_SFTP_PRIVATE_KEY": (tmp_path / "client_key").read_text(),
        "TOAST_SFTP_PRIVATE_KEY_PASSPHRASE": passphrase,
        "TOAST_ALERT_WEBHOOK_URL": "https://hooks.example.invalid/services/T0SECRET/B0SECRET/xoxb-9f8e7d6c5b4a39281706",
        "DAGSTER_PG_PASSWORD": "pg-Secr3t-2b8f71d0c4",
        "GOOGLE_APPLICATION_CREDENTIALS_KEY": service_account["private_key"],
        "GOOGLE_APPLICATION_CREDENTIALS_KEY_ID": service_account["private_key_id"],
    }
    for name in [n for n in os.environ if n.startswith("TOAST_")]:
        monkeypatch.delenv(name)
    env = {
        "DAGSTER_HOME": str(home),
        "TOAST_SFTP_HOST": server.host,
        "TOAST_SFTP_PORT": str(server.port),
        "TOAST_SFTP_USERNAME": "toast-export",
        "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts),
        "TOAST_SFTP_PRIVATE_KEY": secrets["TOAST_SFTP_PRIVATE_KEY"],
        "TOAST_SFTP_PRIVATE_KEY_PASSPHRASE": passphrase,
        "TOAST_ALERT_WEBHOOK_URL": secrets["TOAST_ALERT_WEBHOOK_URL"],
        "DAGSTER_PG_PASSWORD": secrets["DAGSTER_PG_PASSWORD"],
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "sa.json"),
        "TOAST_LAKE_URL": str(tmp_path / "lake"),
        "TOAST_DUCKDB_PATH": str(tmp_path / "toast.duckdb"),
        "TOAST_LOG_FILE": str(tmp_path / "toast.jsonl"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield secrets
    server.stop()


def test_secrets_never_reach_the_event_log_config_metadata_logs_or_errors(
    secret_env: dict[str, str], tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The resources exactly as the code location builds them from the environment.
    resources = {**build_resources(load_config()), "notifier": build_notifier()}
    with dg.DagsterInstance.get() as instance:
        ok = dg.materialize(
            [*toast_sftp_files, toast_landing, toast_raw], partition_key=BUSINESS_DATE.isoformat(), resources=resources, instance=instance
        )
        assert ok.success
        # The same run with a wrong passphrase: the failure text must not quote the key either.
        os.environ["TOAST_SFTP_PRIVATE_KEY_PASSPHRASE"] = "wrong " + secret_env["TOAST_SFTP_PRIVATE_KEY_PASSPHRASE"][::-1]
        failed = dg.materialize(
            [*toast_sftp_files, toast_landing], partition_key=BUSINESS_DATE.isoformat(), resources=resources, instance=instance, raise_on_error=False
        )
        assert not failed.success
        texts: dict[str, str] = {}
        for result in (ok, failed):
            run = instance.get_run_by_id(result.run_id)
            texts[f"run {result.run_id[:8]} record"] = serialize_value(run)
            texts[f"run {result.run_id[:8]} events"] = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
            texts[f"run {result.run_id[:8]} job snapshot"] = serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
            texts[f"run {result.run_id[:8]} plan snapshot"] = serialize_value(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id))
        failure = "\n".join(
            error.to_string()
            for e in instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
            if (error := e.dagster_event.step_failure_data.error) is not None
        )
    assert "private key" in failure.lower() and "TOAST_SFTP_PRIVATE_KEY" in failure, failure[-1500:]
    home = Path(os.environ["DAGSTER_HOME"])
    for path in home.rglob("*"):
        if path.is_file() and path.suffix not in (".db", ".db-wal", ".db-shm"):
            texts[str(path.relative_to(home))] = path.read_bytes().decode("utf-8", errors="replace")
    log_file = Path(os.environ["TOAST_LOG_FILE"])
    texts["TOAST_LOG_FILE"] = log_file.read_text() if log_file.exists() else ""
    captured = capfd.readouterr()
    texts["stdout"], texts["stderr"] = captured.out, captured.err
    texts["python logging"] = "\n".join(r.getMessage() for r in caplog.records)
    assert texts["stderr"] or texts["python logging"], "the scan must see the run's console output"
    assert _scan({"probe": "x" + secret_env["TOAST_SFTP_PRIVATE_KEY"].splitlines()[2] + "y"}, secret_env), "the scan itself works"
    assert _scan(texts, secret_env) == []
    # The event log was really scanned: it names the environment variables, not their values.
    assert "TOAST_SFTP_PRIVATE_KEY" in texts[f"run {ok.run_id[:8]} job snapshot"]


# ---------------------------------------------------------------------------------------------
# Paths: a hostile listing cannot leave the export root or the lake
# ---------------------------------------------------------------------------------------------

CRAFTED_NAMES = [
    "../../../../../tmp/toast-escape.csv", "..", ".", "OrderDetails.csv/../../escape.csv", "..\\..\\escape.csv",
    "Order\x00Details.csv", "Order\nDetails.csv", "/etc/passwd",
]  # fmt: skip


def test_a_hostile_listing_cannot_steer_reads_or_lake_writes(
    make_sftp_server, sftp_export_tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A server (compromised, or not Toast) answers listings with crafted names: path
    traversal, separators, NUL, control characters, absolute paths, in the location, date and
    file positions. Landing skips them all, reads only real export files, and writes only
    under the lake root."""
    original = sftp_server_module._ReadOnlyFolder.list_folder

    def hostile(self, path):  # type: ignore[no-untyped-def]
        entries = original(self, path)
        if isinstance(entries, int):
            return entries
        template = next((e for e in entries if e.filename.isdigit() or e.filename.endswith(".csv")), None)
        if template is None:
            return entries
        files = template.filename.endswith(".csv")
        for name in CRAFTED_NAMES + ([] if files else ["..185129", "185129/../..", "20260105/../..", "20260105\x00"]):
            # Files beside files, folders beside folders, as a crafted listing would show them.
            crafted = paramiko.SFTPAttributes.from_stat(os.stat(sftp_export_tree.root / ("README.txt" if files else "archive")))
            crafted.filename = name
            entries.append(crafted)
        return entries

    monkeypatch.setattr(sftp_server_module._ReadOnlyFolder, "list_folder", hostile)
    _, settings = make_sftp_server(sftp_export_tree.root)
    lake_root = tmp_path / "inner" / "lake"
    caplog.set_level(logging.WARNING)
    outside_before = set((tmp_path).rglob("*"))
    with ToastSftpClient(settings) as client:
        report = land(client, LocalLakeResource(root=str(lake_root)), list(sftp_export_tree.dates))
    landed = sorted(p.relative_to(lake_root).as_posix() for p in lake_root.rglob("*.csv"))
    expected = sorted(
        object_key(name.replace("Details.csv", "_details").replace("Order", "order").replace("Payment", "payment"), day, loc, name)
        for (loc, day, name) in sftp_export_tree.files
    )
    assert landed == expected
    assert report.unrecognized_files == []
    # Nothing was written anywhere else.
    new_outside = {p for p in tmp_path.rglob("*") if p not in outside_before and lake_root not in p.parents and p not in (lake_root, *lake_root.parents)}
    assert new_outside == set()
    assert not Path("/tmp/toast-escape.csv").exists()
    # The operator is told what was skipped (a log line, and the landing report where it keeps them).
    skipped = "\n".join(r.getMessage() for r in caplog.records) + "\n".join(getattr(report, "skipped_entries", {}))
    assert "etc/passwd" in skipped and "toast-escape.csv" in skipped, skipped[-2000:]

    # The lake refuses crafted keys on its own, whichever code asks.
    lake = LocalLakeResource(root=str(lake_root))
    for name in CRAFTED_NAMES[:6]:
        with pytest.raises(LakePathError):
            lake.put_bytes(object_key("order_details", BUSINESS_DATE, "185129", name), b"x")
    for key in ("../escape", "toast/../../escape", "/etc/passwd", "toast/a\\b"):
        with pytest.raises(LakePathError):
            lake.put_bytes(key, b"x")


# ---------------------------------------------------------------------------------------------
# SQL: file contents are data
# ---------------------------------------------------------------------------------------------

INJECTIONS = [
    "'); DROP TABLE toast_raw.order_details; --",
    '"; DELETE FROM toast_raw.file_manifest; --',
    "1' OR '1'='1",
    "$dates",
    "x\" VARCHAR); DROP SCHEMA toast_raw CASCADE; --",
]


def test_file_contents_never_become_sql(tmp_path: Path) -> None:
    """Headers and values written as SQL injections: unknown headers land in `_extra` as JSON
    keys, values as text; every raw table, the quarantine and the manifest survive."""
    from toast_assets.testing import load_raw_from_tree

    orders = BY_ENTITY["order_details"]
    headers = [*orders.headers, *INJECTIONS[:2], INJECTIONS[4]]
    folder = tmp_path / "tree" / "185129" / BUSINESS_DATE.strftime("%Y%m%d")
    folder.mkdir(parents=True)
    rows = []
    for number, injection in enumerate(INJECTIONS, start=1):
        row = {h: "" for h in headers}
        row.update({"Location": injection, "Order Id": f"13000000157343031{number:02d}", "Order #": str(number), "Server": injection,
                    "Tab Names": injection, INJECTIONS[0]: injection, INJECTIONS[1]: injection, INJECTIONS[4]: injection})  # fmt: skip
        rows.append([row[h] for h in headers])
    with (folder / "OrderDetails.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    db = tmp_path / "toast.duckdb"
    load_raw_from_tree(tmp_path / "tree", db, [BUSINESS_DATE])
    with duckdb.connect(str(db), read_only=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'toast_raw'").fetchall()}
        assert {f.entity for f in TOAST_FILES} | {"quarantine", "file_manifest"} <= tables
        stored = conn.execute("SELECT server, tab_names, _extra FROM toast_raw.order_details ORDER BY order_number::INT").fetchall()
        manifest = conn.execute("SELECT count(*) FROM toast_raw.file_manifest").fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM toast_raw.quarantine").fetchone()[0]
    assert manifest == 1
    assert len(stored) + quarantined == len(INJECTIONS)
    for server, tab_names, extra in stored:
        assert server == tab_names and server in INJECTIONS
        assert json.loads(extra) == {INJECTIONS[0]: server, INJECTIONS[1]: server, INJECTIONS[4]: server}


# ---------------------------------------------------------------------------------------------
# The bundled demo SFTP server
# ---------------------------------------------------------------------------------------------


def test_the_demo_server_listens_on_loopback_only_and_offers_key_login_only(sftp_server: ToastSftpServer) -> None:
    listening = [
        c.laddr for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == sftp_server.port
    ]  # fmt: skip
    assert listening and all(address.ip == "127.0.0.1" for address in listening), listening
    # Whatever a client tries first, the only way in is a public key.
    transport = paramiko.Transport((sftp_server.host, sftp_server.port))
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as none:
            transport.auth_none("toast-export")
        assert none.value.allowed_types == ["publickey"]
        with pytest.raises(paramiko.BadAuthenticationType):
            transport.auth_interactive("toast-export", lambda title, instructions, prompts: ["hunter2"] * len(prompts))
    finally:
        transport.close()
