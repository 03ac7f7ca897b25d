"""Faults injected into real runs: nothing is lost or duplicated, and the operator is told what failed.

Every fault is real where the machine allows it, and injected (and said so) where it does not:

- the SFTP network, through `faulty_proxy.FaultyProxy` in front of the bundled SFTP server
  over TCP: the port refusing connections, the connection dropped mid-download, the
  connection stalled until the read timeout;
- a file Toast is still writing (it grows again right after each read, a server-side hook);
- the lake disk full: the staging file is `/dev/full`, so the kernel answers ENOSPC; the
  manifest write failing is an injected error in a `LocalLakeResource` subclass;
- the warehouse failing inside a date's replacement: a contract validator that raises after
  the date's rows were deleted and the new ones inserted, inside the transaction;
- a corrected re-delivery of a past date, run through dbt to the marts;
- a location that stops delivering for days and comes back with a backlog, through the
  arrival sensor's decisions and the landing and raw load.

Expected rows are always counted from the export files with the `csv` module, never read
from the pipeline's own manifests. The process kill and two simultaneous runs of one date go
through `dagster-daemon` in tests/test_faults_daemon.py.
"""

import csv
import errno
import hashlib
import io
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from faulty_proxy import Fault, FaultyProxy
from pipeline_resources import pipeline_resources
from pydantic import PrivateAttr

import toast_assets.sftp.server as sftp_server_module
from toast_assets.automation.cursor import ArrivalSettings
from toast_assets.automation.sensors import ArrivalConfig, evaluate_arrivals
from toast_assets.contract import TOAST_FILES, file_for_name
from toast_assets.contract.layout import parse_date_folder
from toast_assets.demo.generator import generate
from toast_assets.landing.assets import toast_landing
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import land, read_manifest
from toast_assets.raw.assets import toast_raw
from toast_assets.raw.duckdb_warehouse import DuckDBWarehouseResource
from toast_assets.sftp.assets import toast_sftp_files
from toast_assets.sftp.client import SftpSettings, ToastSftpClient
from toast_assets.sftp.keys import public_key_line
from toast_assets.sftp.resources import ToastSftpResource
from toast_assets.sftp.server import ToastSftpServer

pytestmark = pytest.mark.timeout(300)

# Recent dates: the arrival sensor only looks back a few days from today.
TODAY = datetime.now(ZoneInfo("America/New_York")).date()
DATES = [TODAY - timedelta(days=n) for n in (5, 4, 3, 2)]
LAND_AND_LOAD = [*toast_sftp_files, toast_landing, toast_raw]


# ---------------------------------------------------------------------------------------------
# Expectations from the files, and what the warehouse holds
# ---------------------------------------------------------------------------------------------


def csv_records(path: Path) -> int:
    """Data records of one export file (header excluded, blank lines ignored), by the csv module."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    return max(len(rows) - 1, 0)


def source_counts(root: Path, dates: list[date] | None = None) -> Counter:
    """(entity, location, business date) -> data records, read straight from the export files."""
    counts: Counter = Counter()
    for location in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for folder in sorted(location.iterdir()):
            business_date = parse_date_folder(folder.name)
            if business_date is None or (dates is not None and business_date not in dates):
                continue
            for path in folder.iterdir():
                toast_file = file_for_name(path.name)
                if toast_file is not None:
                    counts[(toast_file.entity, location.name, business_date)] = csv_records(path)
    return counts


def warehouse_counts(db: Path) -> Counter:
    """(entity, location, business date) -> rows loaded + rows quarantined."""
    counts: Counter = Counter()
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            for location, business_date, n in conn.execute(
                f"SELECT _location_id, _business_date, count(*) FROM toast_raw.{toast_file.entity} GROUP BY 1, 2"
            ).fetchall():
                counts[(toast_file.entity, location, business_date)] += n
        for entity, location, business_date, n in conn.execute(
            "SELECT entity, location_id, business_date, count(DISTINCT row_number) FROM toast_raw.quarantine GROUP BY 1, 2, 3"
        ).fetchall():
            counts[(entity, location, business_date)] += n
    return counts


def duplicated_keys(db: Path) -> dict[str, int]:
    """Natural keys present more than once per location and date, per entity (must be none)."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            key = ", ".join(toast_file.natural_key)
            n = conn.execute(
                f"SELECT count(*) FROM (SELECT _location_id, _business_date, {key} FROM toast_raw.{toast_file.entity} "
                "GROUP BY ALL HAVING count(*) > 1)"
            ).fetchone()[0]
            if n:
                out[toast_file.entity] = n
    return out


def assert_nothing_lost_or_duplicated(exports: Path, db: Path, dates: list[date]) -> None:
    expected = {k: v for k, v in source_counts(exports, dates).items() if v}
    held = {k: v for k, v in warehouse_counts(db).items() if v and k[2] in dates}
    assert held == expected, {k: (held.get(k), expected.get(k)) for k in set(held) | set(expected) if held.get(k) != expected.get(k)}
    assert duplicated_keys(db) == {}


def date_fingerprint(db: Path, business_date: date) -> dict[str, str]:
    """A digest of every table's rows for one date (load time excluded): to see exactly what changed."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as conn:
        for toast_file in TOAST_FILES:
            rows = conn.execute(
                f"SELECT * EXCLUDE (_loaded_at) FROM toast_raw.{toast_file.entity} WHERE _business_date = ? "
                "ORDER BY _location_id, _source_file, _row_number",
                [business_date],
            ).fetchall()
            out[toast_file.entity] = hashlib.sha256(repr(rows).encode()).hexdigest()
        for table, columns in (("quarantine", "* EXCLUDE (quarantined_at)"), ("file_manifest", "* EXCLUDE (loaded_at, landed_at)")):
            rows = conn.execute(f"SELECT {columns} FROM toast_raw.{table} WHERE business_date = ? ORDER BY ALL", [business_date]).fetchall()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def run_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Every message of a run's event log: what an operator reads in the UI."""
    out = []
    for entry in instance.all_logs(run_id):
        out.append(entry.user_message or "")
        event = entry.dagster_event
        if event is not None and event.event_specific_data is not None:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                out.append(error.to_string())
    return out


def lake_files(lake: Path) -> dict[str, bytes]:
    return {p.relative_to(lake).as_posix(): p.read_bytes() for p in lake.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# Fixtures: generated exports, a served tree, the proxy
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fault_exports")
    generate(root, DATES[0], DATES[-1], locations=2, seed=23, orders_per_day=(6, 10))
    return root


@pytest.fixture
def exports(generated: Path, tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    shutil.copytree(generated, root)
    return root


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-step network retries in fractions of a second instead of the production seconds."""
    monkeypatch.setenv("TOAST_NETWORK_RETRY_ATTEMPTS", "4")
    monkeypatch.setenv("TOAST_NETWORK_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("TOAST_NETWORK_RETRY_MAX_SECONDS", "1")


@dataclass
class Proxied:
    """The bundled SFTP server, a faulty proxy in front of it, and client settings for the proxy."""

    server: ToastSftpServer
    proxy: FaultyProxy
    settings: SftpSettings  # host/port of the proxy, known_hosts naming the proxy's port

    def resources(self, folder: Path, **overrides: object) -> dict:
        values = {"port": self.proxy.port, "known_hosts_path": self.settings.known_hosts_path, "connect_timeout": 5.0, **overrides}
        return pipeline_resources(self.settings, folder, **values)

    def measure(self, dates: list[date], scratch: Path) -> int:
        """Bytes the server sends for a clean landing of these dates (to place a fault mid-way)."""
        before = self.proxy.bytes_to_client
        with ToastSftpClient(self.settings) as client:
            land(client, LocalLakeResource(root=str(scratch)), dates)
        return self.proxy.bytes_to_client - before


@pytest.fixture
def proxied(make_sftp_server, exports: Path, tmp_path: Path) -> Iterator[Proxied]:
    server, settings = make_sftp_server(exports)
    proxy = FaultyProxy(settings.host, settings.port).start()
    known_hosts = tmp_path / "known_hosts_proxy"
    known_hosts.write_text("".join(f"[127.0.0.1]:{proxy.port} {public_key_line(k)}\n" for k in server.host_keys))
    try:
        yield Proxied(server, proxy, replace(settings, port=proxy.port, known_hosts_path=str(known_hosts)))
    finally:
        proxy.stop()


def materialize(
    assets: list, resources: dict, dates: list[date], instance: dg.DagsterInstance | None = None, selection: dg.AssetSelection | None = None
) -> dg.ExecuteInProcessResult:
    """One run of these assets over a business date or a range, as the schedule and backfills launch it."""
    kwargs: dict = {"resources": resources, "instance": instance or dg.DagsterInstance.ephemeral(), "raise_on_error": False}
    if selection is not None:
        kwargs["selection"] = selection
    if len(dates) == 1:
        return dg.materialize(assets, partition_key=dates[0].isoformat(), **kwargs)
    tags = {"dagster/asset_partition_range_start": dates[0].isoformat(), "dagster/asset_partition_range_end": dates[-1].isoformat()}
    return dg.materialize(assets, tags=tags, **kwargs)


def step_attempts(instance: dg.DagsterInstance, run_id: str, step: str) -> int:
    return sum(
        1 for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START) if e.dagster_event.step_key == step
    )


# ---------------------------------------------------------------------------------------------
# SFTP: refused, dropped, stalled, still growing
# ---------------------------------------------------------------------------------------------


class ObservedSftp(ToastSftpResource):
    """The real SFTP resource, which also tells the test when it starts waiting to retry."""

    @contextmanager
    def open(self, log: Callable[[str], None] | None = None) -> Iterator[ToastSftpClient]:
        def observed(message: str) -> None:
            RETRYING.set()
            if log is not None:
                log(message)

        with super().open(log=observed) as client:
            yield client


RETRYING = threading.Event()


def test_refused_connections_are_retried_with_backoff_and_land_everything_once(
    proxied: Proxied, exports: Path, tmp_path: Path, fast_retries: None
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    resources = proxied.resources(tmp_path)
    sftp = resources["toast_sftp"]
    resources["toast_sftp"] = ObservedSftp(**{name: getattr(sftp, name) for name in type(sftp).model_fields})
    RETRYING.clear()
    # Nothing listens on the port (the kernel refuses: ECONNREFUSED) until the landing has
    # been refused at least once and is waiting to try again.
    proxied.proxy.refuse_until(RETRYING)
    result = materialize(LAND_AND_LOAD, resources, DATES[:2], instance)
    assert result.success
    messages = run_messages(instance, result.run_id)
    retried = [m for m in messages if "trying again" in m]
    assert retried and all(f"127.0.0.1:{proxied.proxy.port}" in m for m in retried), messages
    assert any("Connection refused" in m for m in retried)
    assert step_attempts(instance, result.run_id, "toast_landing") == 1
    assert_nothing_lost_or_duplicated(exports, tmp_path / "toast.duckdb", DATES[:2])


@pytest.mark.parametrize("kind", ["drop", "stall"])
def test_a_broken_transfer_resumes_on_a_new_connection_and_never_lands_a_partial_file(
    proxied: Proxied, exports: Path, tmp_path: Path, fast_retries: None, kind: str
) -> None:
    """The connection breaks half-way through the night's bytes: reset (drop) or silent (stall,
    ended by the read timeout). The step goes on over a new connection, and every file is in
    the lake and the warehouse exactly once."""
    dates = DATES[:2]
    total = proxied.measure(dates, tmp_path / "scratch_lake")
    proxied.proxy.plan = [Fault(kind, total // 2)]
    instance = dg.DagsterInstance.ephemeral()
    started = time.monotonic()
    result = materialize(LAND_AND_LOAD, proxied.resources(tmp_path, read_timeout=1.0), dates, instance)
    elapsed = time.monotonic() - started
    assert result.success, run_messages(instance, result.run_id)[-5:]
    assert any(c.struck.is_set() for c in proxied.proxy.connections), "the fault happened"
    messages = run_messages(instance, result.run_id)
    retried = [m for m in messages if "trying again" in m]
    assert retried, messages
    # The operator reads which file broke, where, and for which location and date.
    assert any("download failed" in m and "location " in m and "business date " in m for m in retried), retried
    if kind == "stall":
        assert any("no answer from the server for 1s" in m for m in retried), retried
    assert step_attempts(instance, result.run_id, "toast_landing") == 1, "resumed inside the step, not by a step retry"
    assert elapsed < 60
    assert_nothing_lost_or_duplicated(exports, tmp_path / "toast.duckdb", dates)
    # Every landed object is the exact source file, and nothing half-written is left visible.
    lake = tmp_path / "lake"
    for key, payload in lake_files(lake).items():
        if key.startswith("toast/") and not key.startswith("toast/_manifests/"):
            parts = key.split("/")
            day, location = parts[2].removeprefix("business_date="), parts[3].removeprefix("location=")
            source = exports / location / day.replace("-", "") / parts[4]
            assert payload == source.read_bytes(), key


@contextmanager
def growing_after_each_read(path: Path, pieces: list[bytes]) -> Iterator[list[int]]:
    """Toast still writing `path`: right after the server finishes serving a read of it, the
    next piece is appended (and the mtime moves), until the pieces run out. A hook on the bundled
    server's file handle, so the growth lands exactly between our download and any later look."""
    original = sftp_server_module._ReadOnlyHandle.close
    target = os.path.realpath(path)
    reads: list[int] = []

    def close(handle) -> None:  # type: ignore[no-untyped-def]
        name = getattr(getattr(handle, "readfile", None), "name", None)
        original(handle)
        if name == target:
            reads.append(os.path.getsize(target))
            if pieces:
                with open(target, "ab") as out:
                    out.write(pieces.pop(0))
                info = os.stat(target)
                os.utime(target, (info.st_atime, info.st_mtime + 2))

    sftp_server_module._ReadOnlyHandle.close = close  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        sftp_server_module._ReadOnlyHandle.close = original  # type: ignore[method-assign]


def _split_at_records(payload: bytes, parts: int) -> list[bytes]:
    """`payload` cut into `parts` pieces at record boundaries (never inside a quoted field)."""
    cuts, quotes, start = [], 0, payload.index(b"\n") + 1
    for index in range(start, len(payload)):
        if payload[index : index + 1] == b'"':
            quotes += 1
        elif payload[index : index + 1] == b"\n" and quotes % 2 == 0:
            cuts.append(index + 1)
    chosen = [cuts[len(cuts) * k // parts] for k in range(1, parts)]
    bounds = [0, *chosen, len(payload)]
    return [payload[a:b] for a, b in zip(bounds, bounds[1:])]


def test_a_file_still_being_written_is_never_landed_truncated(
    proxied: Proxied, exports: Path, tmp_path: Path, fast_retries: None
) -> None:
    """Listed at one size, read completely at that size, then it grows: the landing notices the
    change before recording the file, tries again, and lands only the finished file."""
    business_date = DATES[0]
    location = sorted(p.name for p in exports.iterdir() if p.name.isdigit())[0]
    path = exports / location / business_date.strftime("%Y%m%d") / "OrderDetails.csv"
    finished = path.read_bytes()
    first, *rest = _split_at_records(finished, 3)
    path.write_bytes(first)
    instance = dg.DagsterInstance.ephemeral()
    with growing_after_each_read(path, list(rest)) as reads:
        result = materialize(LAND_AND_LOAD, proxied.resources(tmp_path), [business_date], instance)
    assert result.success, run_messages(instance, result.run_id)[-5:]
    assert path.read_bytes() == finished and len(reads) >= 3, reads
    messages = run_messages(instance, result.run_id)
    assert any("OrderDetails.csv" in m and "changed while" in m and location in m for m in messages), [
        m for m in messages if "trying again" in m
    ]
    manifest = read_manifest(LocalLakeResource(root=str(tmp_path / "lake")), business_date, location)
    assert manifest is not None and manifest.files["OrderDetails.csv"].size == len(finished)
    # No truncated copy was ever recorded or kept: not as the object, not as a version.
    partials = {first, first + rest[0]}
    assert not [key for key, payload in lake_files(tmp_path / "lake").items() if payload in partials]
    assert_nothing_lost_or_duplicated(exports, tmp_path / "toast.duckdb", [business_date])


# ---------------------------------------------------------------------------------------------
# The lake: disk full, manifest write failing
# ---------------------------------------------------------------------------------------------


class DiskFullLake(LocalLakeResource):
    """A local lake whose disk fills up: the `fail_at`-th staged download is written to
    `/dev/full`, where the kernel answers every write with ENOSPC (a real disk-full error,
    not a simulated one). With `fail_manifests`, writing a manifest fails with an injected
    ENOSPC instead."""

    fail_at: int = 0  # 0: downloads never fail
    fail_manifests: bool = False
    _staged: int = PrivateAttr(default=0)

    @contextmanager
    def staging_file(self) -> Iterator[Path]:
        self._staged += 1
        if self.fail_at and self._staged == self.fail_at:
            yield Path("/dev/full")  # never unlinked: it is the device, not a scratch file
            return
        with super().staging_file() as path:
            yield path

    def put_bytes(self, key: str, payload: bytes) -> None:
        if self.fail_manifests and key.startswith("toast/_manifests/"):
            raise OSError(errno.ENOSPC, "No space left on device (injected)", key)
        super().put_bytes(key, payload)


def test_disk_full_while_landing_records_nothing_partial_and_the_rerun_completes(
    make_sftp_server, exports: Path, tmp_path: Path
) -> None:
    _, settings = make_sftp_server(exports)
    resources = pipeline_resources(settings, tmp_path)
    lake_root = tmp_path / "lake"
    dates = DATES[:2]
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(LAND_AND_LOAD, {**resources, "lake": DiskFullLake(root=str(lake_root), fail_at=5)}, dates, instance)
    assert not result.success
    failure = "\n".join(run_messages(instance, result.run_id))
    # The operator is told it is the lake's disk, which file, location and date, and that it is safe to re-run.
    assert "No space left on device" in failure and "lake" in failure
    assert "location " in failure and "business date " in failure and ".csv" in failure
    # Whatever manifests exist name only files whose lake bytes are the source's, complete.
    lake = LocalLakeResource(root=str(lake_root))
    recorded = 0
    for business_date in dates:
        for location in sorted(p.name for p in exports.iterdir() if p.name.isdigit()):
            manifest = read_manifest(lake, business_date, location)
            for landed in (manifest.files.values() if manifest else []):
                assert lake.sha256(landed.key) == landed.sha256 == hashlib.sha256(
                    (exports / location / business_date.strftime("%Y%m%d") / landed.file_name).read_bytes()
                ).hexdigest()
                recorded += 1
    assert recorded < len(source_counts(exports, dates)), "the failure happened before everything was landed"
    assert not (tmp_path / "toast.duckdb").exists() or sum(warehouse_counts(tmp_path / "toast.duckdb").values()) == 0

    rerun = materialize(LAND_AND_LOAD, resources, dates, instance)
    assert rerun.success
    assert_nothing_lost_or_duplicated(exports, tmp_path / "toast.duckdb", dates)


def test_a_failed_manifest_write_keeps_the_date_as_it_was_until_the_rerun(
    make_sftp_server, exports: Path, tmp_path: Path
) -> None:
    """A corrected file is copied into the lake but its manifest cannot be written: the new
    bytes are not treated as landed. A raw load meanwhile refuses to load them against the old
    manifest, the date keeps its old rows, and the re-run lands and loads the correction."""
    _, settings = make_sftp_server(exports)
    resources = pipeline_resources(settings, tmp_path)
    db, lake_root = tmp_path / "toast.duckdb", tmp_path / "lake"
    business_date = DATES[0]
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(LAND_AND_LOAD, resources, [business_date], instance).success
    before = date_fingerprint(db, business_date)

    location = sorted(p.name for p in exports.iterdir() if p.name.isdigit())[0]
    path = exports / location / business_date.strftime("%Y%m%d") / "OrderDetails.csv"
    _correct_guests(path)
    failing = {**resources, "lake": DiskFullLake(root=str(lake_root), fail_manifests=True)}
    result = materialize(LAND_AND_LOAD, failing, [business_date], instance)
    assert not result.success
    failure = "\n".join(run_messages(instance, result.run_id))
    assert "No space left on device" in failure and "manifest" in failure
    assert date_fingerprint(db, business_date) == before

    # Someone re-runs only the raw load: it must not load bytes its manifest does not describe.
    raw_only = materialize([toast_raw], resources, [business_date], instance)
    assert not raw_only.success
    refusal = "\n".join(run_messages(instance, raw_only.run_id))
    assert "OrderDetails.csv" in refusal and "manifest" in refusal and "land" in refusal, refusal[-2000:]
    assert date_fingerprint(db, business_date) == before

    assert materialize(LAND_AND_LOAD, resources, [business_date], instance).success
    assert_nothing_lost_or_duplicated(exports, db, [business_date])
    assert date_fingerprint(db, business_date)["order_details"] != before["order_details"]


# ---------------------------------------------------------------------------------------------
# The warehouse failing inside a date's replacement
# ---------------------------------------------------------------------------------------------


class FailingMidReplacementWarehouse(DuckDBWarehouseResource):
    """The DuckDB warehouse with an injected failure inside the replacement transaction: the
    contract validator of the `fail_on`-th entity raises after that entity's rows for the
    dates were deleted and the new rows inserted (earlier entities are already replaced)."""

    fail_on: int = 3

    def replace_raw_partitions(self, entities, dates, files, validator=None):  # type: ignore[no-untyped-def]
        return super().replace_raw_partitions(entities, dates, files, _FailingChecks(validator, self.fail_on))


class _FailingChecks:
    """The given contract checks, raising instead when the `fail_on`-th entity is checked."""

    def __init__(self, validator, fail_on: int) -> None:  # type: ignore[no-untyped-def]
        self.validator, self.fail_on, self.seen = validator, fail_on, []

    def columns(self, toast_file):  # type: ignore[no-untyped-def]
        return self.validator.columns(toast_file)

    def __call__(self, toast_file, frame, *, keys_repeat=True):  # type: ignore[no-untyped-def]
        self.seen.append(toast_file.entity)
        if len(self.seen) == self.fail_on:
            raise RuntimeError(f"injected warehouse failure while validating {toast_file.entity}")
        return self.validator(toast_file, frame, keys_repeat=keys_repeat)


def test_a_warehouse_failure_mid_replacement_keeps_the_old_rows_never_a_mix(
    make_sftp_server, exports: Path, tmp_path: Path
) -> None:
    _, settings = make_sftp_server(exports)
    resources = pipeline_resources(settings, tmp_path)
    db = tmp_path / "toast.duckdb"
    dates = DATES[:2]
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(LAND_AND_LOAD, resources, dates, instance).success
    before = {d: date_fingerprint(db, d) for d in dates}

    # A corrected re-delivery of every file of the first date, then a load that fails half-way.
    for path in exports.glob(f"*/{dates[0].strftime('%Y%m%d')}/*.csv"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    location = sorted(p.name for p in exports.iterdir() if p.name.isdigit())[0]
    _correct_guests(exports / location / dates[0].strftime("%Y%m%d") / "OrderDetails.csv")
    failing = {**resources, "warehouse": FailingMidReplacementWarehouse(database=str(db))}
    result = materialize(LAND_AND_LOAD, failing, [dates[0]], instance)
    assert not result.success
    failure = "\n".join(run_messages(instance, result.run_id))
    assert "injected warehouse failure" in failure
    # The operator reads what failed, for which dates, and that the old rows are still there.
    assert dates[0].isoformat() in failure and "rolled back" in failure and str(db) in failure, failure[-2000:]
    assert {d: date_fingerprint(db, d) for d in dates} == before, "the date holds exactly its old rows"

    assert materialize([toast_raw], resources, [dates[0]], instance).success
    assert_nothing_lost_or_duplicated(exports, db, dates)
    after = date_fingerprint(db, dates[0])
    assert after["order_details"] != before[dates[0]]["order_details"]
    assert date_fingerprint(db, dates[1]) == before[dates[1]]


# ---------------------------------------------------------------------------------------------
# A corrected re-delivery, through to the marts
# ---------------------------------------------------------------------------------------------


def _correct_guests(path: Path) -> None:
    """Toast re-delivers the file with corrected guest counts (+1 on every order), later mtime."""
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    column = [h.strip() for h in rows[0]].index("# of Guests")
    for row in rows[1:]:
        if row:
            row[column] = str(int(row[column] or 0) + 1)
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8"))
    info = path.stat()
    os.utime(path, (info.st_atime, info.st_mtime + 3600))


def expected_guests(path: Path) -> int:
    """Guests of the orders not voided, as the daily sales mart defines them, from the file."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return sum(int(r["# of Guests"] or 0) for r in csv.DictReader(handle) if (r["Voided"] or "").strip().lower() != "true")


def test_a_corrected_redelivery_replaces_the_date_everywhere_and_the_lake_keeps_both(
    make_sftp_server, exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toast_assets.dbt.assets import toast_dbt_assets
    from toast_assets.dbt.resources import dbt_resource

    _, settings = make_sftp_server(exports)
    db = tmp_path / "toast.duckdb"
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(db))  # dbt's profile names the same file
    resources = {**pipeline_resources(settings, tmp_path), "dbt": dbt_resource()}
    everything = [*LAND_AND_LOAD, toast_dbt_assets]
    # Every model; the dbt tests are left to tests/test_dbt_marts.py (here they would only add a minute).
    selection = dg.AssetSelection.all() - dg.AssetSelection.checks_for_assets(toast_dbt_assets)
    dates = DATES[:2]
    locations = sorted(p.name for p in exports.iterdir() if p.name.isdigit())
    instance = dg.DagsterInstance.ephemeral()
    first = materialize(everything, resources, dates, instance, selection)
    assert first.success, "\n".join(m for m in run_messages(instance, first.run_id) if "rror" in m)[-6000:]

    def guests() -> dict[tuple[str, date], int]:
        with duckdb.connect(str(db), read_only=True) as conn:
            rows = conn.execute("SELECT location_id, business_date, guests_count FROM toast_marts.daily_sales_summary").fetchall()
        return {(loc, day): n for loc, day, n in rows}

    folder = lambda loc, day: exports / loc / day.strftime("%Y%m%d")  # noqa: E731
    assert guests() == {(loc, d): expected_guests(folder(loc, d) / "OrderDetails.csv") for loc in locations for d in dates}
    path = folder(locations[0], dates[1]) / "OrderDetails.csv"
    original = path.read_bytes()
    other_date = date_fingerprint(db, dates[0])

    _correct_guests(path)
    # The arrival sensor asks for the corrected date alone.
    assert materialize(everything, resources, [dates[1]], instance, selection).success
    expected = {(loc, d): expected_guests(folder(loc, d) / "OrderDetails.csv") for loc in locations for d in dates}
    assert guests() == expected
    assert expected[(locations[0], dates[1])] > expected_guests_from_bytes(original)
    assert date_fingerprint(db, dates[0]) == other_date
    assert_nothing_lost_or_duplicated(exports, db, dates)

    # The lake holds the correction under the key and the first delivery as a version.
    lake = tmp_path / "lake"
    key = f"toast/order_details/business_date={dates[1].isoformat()}/location={locations[0]}/OrderDetails.csv"
    assert (lake / key).read_bytes() == path.read_bytes()
    versions = [p.read_bytes() for p in (lake / "_versions" / key).iterdir()]
    assert versions == [original]


def expected_guests_from_bytes(payload: bytes) -> int:
    text = payload.decode("utf-8-sig")
    return sum(int(r["# of Guests"] or 0) for r in csv.DictReader(io.StringIO(text, newline="")) if r["Voided"].strip().lower() != "true")


# ---------------------------------------------------------------------------------------------
# A location that stops delivering for days, then comes back with a backlog
# ---------------------------------------------------------------------------------------------


def test_a_location_gap_then_backlog_is_caught_up_exactly_once(
    make_sftp_server, generated: Path, tmp_path: Path
) -> None:
    locations = sorted(p.name for p in generated.iterdir() if p.name.isdigit())
    steady, gappy = locations
    served = tmp_path / "served"
    served.mkdir()

    def deliver(location: str, day: date) -> None:
        folder = day.strftime("%Y%m%d")
        shutil.copytree(generated / location / folder, served / location / folder, copy_function=shutil.copyfile)

    # Days 1-3: the steady location delivers every night; the other one only on day 1.
    for day in DATES[:3]:
        deliver(steady, day)
    deliver(gappy, DATES[0])
    _, settings = make_sftp_server(served)
    resources = pipeline_resources(settings, tmp_path, export_ids=locations)
    db = tmp_path / "toast.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    for day in DATES[:3]:  # the nightly runs
        result = materialize(LAND_AND_LOAD, resources, [day], instance)
        assert result.success
        if day != DATES[0]:
            warnings = [m for m in run_messages(instance, result.run_id) if "no export folder yet" in m]
            assert warnings and gappy in warnings[0] and day.isoformat() in warnings[0], warnings
    assert_nothing_lost_or_duplicated(served, db, DATES[:3])
    steady_rows = {d: location_rows(db, steady, d) for d in DATES[1:3]}

    # The arrival sensor has seen the gap days run without the location.
    config = ArrivalConfig(interval_seconds=60, lookback_days=10, time_budget_seconds=30, judge=ArrivalSettings(settle_seconds=0, cutoff_seconds=0))
    sensor_resources = {"toast_sftp": resources["toast_sftp"], "lake": resources["lake"]}
    first = evaluate_arrivals(dg.build_sensor_context(resources=sensor_resources), **sensor_resources, config=config)
    cursor = first.cursor

    # The location comes back with its backlog (days 2-3) and day 4 arrives for both.
    for day in DATES[1:]:
        deliver(gappy, day)
    deliver(steady, DATES[3])
    tick = evaluate_arrivals(dg.build_sensor_context(cursor=cursor, resources=sensor_resources), **sensor_resources, config=config)
    requested = sorted(r.partition_key for r in tick.run_requests or [])
    assert requested == [d.isoformat() for d in DATES[1:]], requested

    # The backlog runs as the sensor asked (one run per date), and once more by accident.
    for key in requested + requested[:1]:
        assert materialize(LAND_AND_LOAD, resources, [date.fromisoformat(key)], instance).success
    assert_nothing_lost_or_duplicated(served, db, DATES)
    with duckdb.connect(str(db), read_only=True) as conn:
        per_date = dict(conn.execute("SELECT business_date, count(DISTINCT location_id) FROM toast_raw.file_manifest GROUP BY 1").fetchall())
    assert per_date == {d: 2 for d in DATES}
    # The steady location's rows of the gap days were replaced by identical rows, not doubled.
    assert {d: location_rows(db, steady, d) for d in DATES[1:3]} == steady_rows


def location_rows(db: Path, location: str, business_date: date) -> str:
    """A digest of one location's raw rows of one date, load time excluded."""
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = [
            conn.execute(
                f"SELECT * EXCLUDE (_loaded_at) FROM toast_raw.{f.entity} WHERE _location_id = ? AND _business_date = ? "
                "ORDER BY _source_file, _row_number",
                [location, business_date],
            ).fetchall()
            for f in TOAST_FILES
        ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()
