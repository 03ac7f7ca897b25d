"""Faults that need Dagster's own machinery: a run worker killed mid-step, and two runs of one
business date requested at the same moment.

`dagster-daemon run` is a real process on a temporary DAGSTER_HOME holding the project's
dagster.yaml (queued runs, one run per business date, run retries, run monitoring). It loads
tests/fault_location.py: the real landing and raw load with the platform's resources, and a
sensor that turns request files into run requests. The SFTP server sits behind
`faulty_proxy.FaultyProxy`, so a run can be held mid-download (a stalled connection) at a
known point and its worker killed there with SIGKILL.

Every process is started by the fixture in its own session and stopped by its own process
id (then its process group: the code server and run workers it started).
"""

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.dagster_run import RunsFilter
from dagster._core.storage.tags import PARTITION_NAME_TAG
from faulty_proxy import Fault, FaultyProxy
from servers import ManagedProcess, VENV_BIN, start_process, wait_for

from toast_assets.contract import TOAST_FILES, file_for_name
from toast_assets.contract.layout import parse_date_folder
from toast_assets.demo.generator import generate
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land, landed_files
from toast_assets.settings import PROJECT_ROOT
from toast_assets.sftp.client import SftpSettings, ToastSftpClient
from toast_assets.sftp.keys import public_key_line
from toast_assets.sftp.server import ToastSftpServer

pytestmark = pytest.mark.timeout(420)

TODAY = datetime.now(ZoneInfo("America/New_York")).date()
DATES = [TODAY - timedelta(days=3), TODAY - timedelta(days=2)]
RUN_TIMEOUT = 240.0
TESTS = Path(__file__).resolve().parent


def csv_records(path: Path) -> int:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return max(len([row for row in csv.reader(io.StringIO(text, newline="")) if row]) - 1, 0)


def source_counts(root: Path, business_date: date) -> Counter:
    counts: Counter = Counter()
    for location in (p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        folder = location / business_date.strftime("%Y%m%d")
        for path in folder.iterdir() if folder.is_dir() else ():
            toast_file = file_for_name(path.name)
            if toast_file is not None and parse_date_folder(folder.name):
                if n := csv_records(path):
                    counts[(toast_file.entity, location.name)] = n
    return counts


def warehouse_state(db: Path, business_date: date) -> tuple[Counter, int, str]:
    """Rows loaded + quarantined per (entity, location), duplicated natural keys, and a digest."""
    counts: Counter = Counter()
    duplicates = 0
    digest = hashlib.sha256()
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            table = f"toast_raw.{toast_file.entity}"
            for location, n in conn.execute(f"SELECT _location_id, count(*) FROM {table} WHERE _business_date = ? GROUP BY 1", [business_date]).fetchall():
                counts[(toast_file.entity, location)] += n
            key = ", ".join(toast_file.natural_key)
            duplicates += conn.execute(
                f"SELECT count(*) FROM (SELECT _location_id, {key} FROM {table} WHERE _business_date = ? GROUP BY ALL HAVING count(*) > 1)",
                [business_date],
            ).fetchone()[0]
            rows = conn.execute(
                f"SELECT * EXCLUDE (_loaded_at) FROM {table} WHERE _business_date = ? ORDER BY _location_id, _source_file, _row_number",
                [business_date],
            ).fetchall()
            digest.update(repr(rows).encode())
        for entity, location, n in conn.execute(
            "SELECT entity, location_id, count(DISTINCT row_number) FROM toast_raw.quarantine WHERE business_date = ? GROUP BY 1, 2",
            [business_date],
        ).fetchall():
            counts[(entity, location)] += n
    return +counts, duplicates, digest.hexdigest()


def message_of(entry) -> str:  # type: ignore[no-untyped-def]
    """The text an operator reads for one event-log entry."""
    return entry.user_message or (entry.dagster_event.message if entry.dagster_event else "") or ""


@dataclass
class DaemonStack:
    base: Path
    exports: Path
    requests: Path
    home: Path
    lake: Path
    db: Path
    proxy: FaultyProxy
    settings: SftpSettings  # through the proxy
    daemon: ManagedProcess

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def request(self, name: str, business_date: date, copies: int = 1) -> None:
        body = json.dumps({"date": business_date.isoformat(), "copies": copies})
        partial = self.requests / f".{name}.tmp"
        partial.write_text(body)
        partial.rename(self.requests / f"{name}.json")

    def runs_of(self, instance: dg.DagsterInstance, business_date: date) -> list[dg.DagsterRun]:
        return list(instance.get_runs(filters=RunsFilter(tags={PARTITION_NAME_TAG: business_date.isoformat()})))

    def wait(self, what: str, probe, timeout: float = RUN_TIMEOUT):  # type: ignore[no-untyped-def]
        def checked():  # type: ignore[no-untyped-def]
            if not self.daemon.alive():
                raise AssertionError(f"dagster-daemon exited:\n{self.daemon.log_tail()}")
            return probe()

        try:
            return wait_for(what, checked, timeout, interval=0.5)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- daemon log ---\n{self.daemon.log_tail(6000)}") from None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, sftp_keys) -> Iterator[DaemonStack]:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("fault_daemon")
    exports = base / "exports"
    generate(exports, DATES[0], DATES[-1], locations=2, seed=29, orders_per_day=(6, 10))
    server = ToastSftpServer(exports, sftp_keys.authorized_keys, host_key=sftp_keys.host_key).start()
    proxy = FaultyProxy("127.0.0.1", server.port).start()
    known_hosts = base / "known_hosts"
    known_hosts.write_text("".join(f"[127.0.0.1]:{proxy.port} {public_key_line(k)}\n" for k in server.host_keys))
    settings = SftpSettings(
        host="127.0.0.1", port=proxy.port, username="toast-export", private_key_path=str(sftp_keys.client_key),
        known_hosts_path=str(known_hosts), connect_timeout=10, read_timeout=30,
    )  # fmt: skip
    home, requests, logs = base / "dagster_home", base / "requests", base / "logs"
    for folder in (home, requests, logs):
        folder.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)  # create the SQLite storage now, not in a race with the daemon
    lake, db = base / "lake", base / "toast.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAST_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TOAST_SFTP_HOST": "127.0.0.1",
        "TOAST_SFTP_PORT": str(proxy.port),
        "TOAST_SFTP_USERNAME": "toast-export",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(sftp_keys.client_key),
        "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts),
        # Long enough that a stalled download holds the run until the test kills its worker.
        "TOAST_SFTP_READ_TIMEOUT": "120",
        "TOAST_LAKE_URL": str(lake),
        "TOAST_DUCKDB_PATH": str(db),
        "TOAST_START_DATE": DATES[0].isoformat(),
        "TOAST_LOG_FILE": str(base / "toast.jsonl"),
        "TOAST_FAULT_REQUESTS": str(requests),
    })  # fmt: skip
    daemon = start_process(
        "daemon",
        [str(VENV_BIN / "dagster-daemon"), "run", "-f", str(TESTS / "fault_location.py"), "-a", "fault_definitions", "-d", str(TESTS)],
        env,
        logs,
        cwd=base,
    )
    try:
        yield DaemonStack(base, exports, requests, home, lake, db, proxy, settings, daemon)
    finally:
        daemon.stop()
        proxy.stop()
        server.stop()


def test_two_runs_of_one_date_requested_at_once_run_one_after_the_other(stack: DaemonStack) -> None:
    business_date = DATES[0]
    stack.request("twice", business_date, copies=2)
    with stack.instance() as instance:
        runs = stack.wait(
            "both runs of the date to finish",
            lambda: (r := stack.runs_of(instance, business_date)) and len(r) == 2 and all(x.is_finished for x in r) and r,
        )
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2, stack.daemon.log_tail()
        records = sorted((instance.get_run_record_by_id(r.run_id) for r in runs), key=lambda rec: rec.start_time or 0)
        first, second = records
        # One waited in the queue for the other: their executions never overlapped.
        assert first.end_time is not None and second.start_time is not None
        assert first.end_time <= second.start_time, (first.start_time, first.end_time, second.start_time)
        # The second was already in the queue while the first ran, and was launched only after it ended.
        (enqueued,) = instance.all_logs(second.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
        (starting,) = instance.all_logs(second.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_STARTING)
        assert enqueued.timestamp < first.end_time <= starting.timestamp

    counts, duplicates, _ = warehouse_state(stack.db, business_date)
    assert counts == source_counts(stack.exports, business_date)
    assert duplicates == 0
    with duckdb.connect(str(stack.db), read_only=True) as conn:
        manifest_rows = conn.execute("SELECT count(*), count(DISTINCT source_file) FROM toast_raw.file_manifest WHERE business_date = ?", [business_date]).fetchone()
    assert manifest_rows[0] == manifest_rows[1], "one manifest row per file: the second run replaced, not added"


def test_a_run_worker_killed_mid_download_is_marked_failed_and_the_date_completes(stack: DaemonStack) -> None:
    business_date, other = DATES[1], DATES[0]
    # Hold the next connection after half of this date's bytes: the run's worker sits mid-download.
    with ToastSftpClient(stack.settings) as client:
        before = stack.proxy.bytes_to_client
        land(client, LocalLakeResource(root=str(stack.base / "scratch_lake")), [business_date])
        total = stack.proxy.bytes_to_client - before
    stack.proxy.plan = [Fault.stall(total // 2)]
    other_before = warehouse_state(stack.db, other) if stack.db.exists() else None
    stack.request("killed", business_date)

    with stack.instance() as instance:
        stack.wait("the run to stall mid-download", lambda: any(c.struck.is_set() for c in stack.proxy.connections))
        (run,) = stack.runs_of(instance, business_date)
        pids = [
            int(found.group(1))
            for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if (found := re.search(r"Started process for run \(pid: (\d+)\)", message_of(e)))
        ]
        assert pids, [message_of(e) for e in instance.all_logs(run.run_id)]
        worker = int(pids[0])
        # Only ever a process of the daemon this test started (same process group).
        assert os.getpgid(worker) == os.getpgid(stack.daemon.pid) and worker != stack.daemon.pid
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        os.kill(worker, signal.SIGKILL)
        stack.proxy.release_stalls()

        failed = stack.wait(
            "the dead run to be marked failed",
            lambda: (r := instance.get_run_by_id(run.run_id)) and r.status == dg.DagsterRunStatus.FAILURE and r,
            timeout=60,
        )
        messages = [message_of(e) for e in instance.all_logs(failed.run_id)]
        assert any("terminated by signal 9 (SIGKILL)" in m for m in messages), messages[-10:]

        # The instance starts the run again (run_retries: a dead worker is not a data problem).
        retry = stack.wait(
            "the automatic re-execution to finish",
            lambda: next(
                (r for r in stack.runs_of(instance, business_date) if r.tags.get("dagster/parent_run_id") == run.run_id and r.is_finished),
                None,
            ),
        )
        assert retry.status == dg.DagsterRunStatus.SUCCESS, stack.daemon.log_tail()

    counts, duplicates, _ = warehouse_state(stack.db, business_date)
    assert counts == source_counts(stack.exports, business_date)
    assert duplicates == 0
    if other_before is not None:
        assert warehouse_state(stack.db, other) == other_before, "the other date was not touched"
    # The lake's manifests name only complete files; the killed worker's half download stayed in staging.
    lake = LocalLakeResource(root=str(stack.lake))
    for landed in landed_files(lake, [business_date]):
        source = stack.exports / landed.location_id / business_date.strftime("%Y%m%d") / landed.file_name
        assert lake.sha256(landed.key) == landed.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
