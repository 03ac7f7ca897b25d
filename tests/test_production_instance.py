"""The production Dagster instance (deploy/dagster.yaml) against a real PostgreSQL server.

What a team relies on once Dagster's state lives in Postgres (Cloud SQL) instead of SQLite:
the instance loads from the deploy file with its connection taken from `DAGSTER_PG_*`, a
partitioned run of the real landing and raw assets is recorded there (run, events, partition
status, check results) and is visible to any other process reading the same database, and
the daemon's sensor ticks and queued runs go through that instance with the configured
concurrency limits.

GCS is not reachable here, so every test loads deploy/dagster.yaml **without its
`compute_logs` block** (steps then keep their logs on local disk); tests/test_deploy.py checks
that block against GCSComputeLogManager's config schema instead.

This module is also the code location the daemon loads in the sensor test (`probe_definitions`):
the daemon's code server and every launched run import it afresh. Its top-level imports are
kept free of pandas, Pandera and DuckDB (imported inside the test that needs them) so each of
those processes starts in seconds.
"""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
import step_run
import yaml
from connection_count import run_counting_connections
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.dagster_run import RunsFilter
from dagster._core.storage.tags import PARTITION_NAME_TAG, SENSOR_NAME_TAG
from dagster._utils.tags import TagConcurrencyLimitsCounter
from postgres import PostgresServer, postgres_server  # noqa: F401  (session fixture)
from range_run import first_batch_fails, range_runs
from run_failure_race import handed_after_a_read_in_between
from sftp_fixtures import SftpServerFactory

from toast_assets.demo.generator import GenerationSummary, generate
from toast_assets.landing.assets import toast_landing
from toast_assets.landing.lake import LocalLakeResource
from toast_assets.landing.landing import read_manifest
from toast_assets.partitions import DAILY_PARTITIONS
from toast_assets.settings import load_config
from toast_assets.sftp.assets import toast_sftp_files
from toast_assets.sftp.resources import ToastSftpResource

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_INSTANCE = REPO_ROOT / "deploy" / "dagster.yaml"
# The tag warehouse-writing runs carry; deploy/dagster.yaml caps how many run at once.
WAREHOUSE_TAG = {"toast/warehouse": "write"}
ARRIVAL_SENSOR = "toast_arrival_probe"
PROBE_JOB = "toast_land"
DAEMON_TIMEOUT_SECONDS = 150.0


def production_instance_yaml() -> dict:
    """deploy/dagster.yaml as the instance will read it here: without the GCS compute logs."""
    config = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    assert "compute_logs" in config, "deploy/dagster.yaml should send compute logs to GCS"
    del config["compute_logs"]
    return config


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[str]:  # noqa: F811
    """An empty database per test: each test meets an instance nobody has used."""
    name = postgres_server.create_database()
    yield name
    postgres_server.drop_database(name)


@pytest.fixture
def dagster_home(
    postgres_server: PostgresServer,  # noqa: F811
    pg_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A DAGSTER_HOME holding the production instance config, connected through DAGSTER_PG_*."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(production_instance_yaml(), sort_keys=False))
    for name, value in postgres_server.dagster_env(pg_database).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def stock_postgres_home(
    dagster_home: Path, postgres_server: PostgresServer, tmp_path: Path  # noqa: F811
) -> Iterator[Path]:
    """A DAGSTER_HOME with dagster-postgres' own storage (`storage: postgres`) on another
    empty database of the same server, what the production instance is compared with;
    connected through the same DAGSTER_PG_* settings."""
    home = tmp_path / "stock_home"
    home.mkdir()
    database = postgres_server.create_database()
    postgres_db = {**production_instance_yaml()["run_storage"]["config"]["postgres_db"], "db_name": database}
    (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": {"postgres": {"postgres_db": postgres_db}}}))
    yield home
    postgres_server.drop_database(database)


@pytest.fixture
def production_instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        yield instance


@pytest.fixture
def exports(tmp_path: Path) -> tuple[Path, GenerationSummary]:
    """One business date of generated Toast exports for one location: small, so the test
    time goes to what is tested (the instance), not to the raw load."""
    root = tmp_path / "toast_exports"
    return root, generate(root, date(2026, 3, 2), date(2026, 3, 2), locations=1, seed=3)


def _pg_rows(server: PostgresServer, database: str, query: str, *params: object) -> list[tuple]:
    """Read Dagster's tables straight from Postgres, bypassing the instance's own caches."""
    conn = server.connect(database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------------------- configuration


def test_instance_uses_postgres_and_the_run_queue_limits(production_instance: dg.DagsterInstance) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    instance = production_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert not instance.run_retries_retry_on_asset_or_op_failure
    assert instance.run_monitoring_enabled

    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    configured = yaml.safe_load(DEPLOY_INSTANCE.read_text())["run_coordinator"]["config"]
    assert queue.max_concurrent_runs == configured["max_concurrent_runs"]
    assert list(queue.tag_concurrency_limits) == configured["tag_concurrency_limits"]

    # What the limits mean for queued runs, decided by Dagster's own counter: a second run for
    # a business date that is already running waits, and warehouse writers wait for each other.
    def run(tags: dict[str, str]) -> SimpleNamespace:
        return SimpleNamespace(tags=tags)

    in_progress = [run({PARTITION_NAME_TAG: "2026-03-02"})]
    counter = TagConcurrencyLimitsCounter(list(queue.tag_concurrency_limits), in_progress)  # type: ignore[arg-type]
    assert counter.is_blocked(run({PARTITION_NAME_TAG: "2026-03-02"}))  # type: ignore[arg-type]
    assert not counter.is_blocked(run({PARTITION_NAME_TAG: "2026-03-03"}))  # type: ignore[arg-type]
    writer = [run({PARTITION_NAME_TAG: "2026-03-02", **WAREHOUSE_TAG})]
    counter = TagConcurrencyLimitsCounter(list(queue.tag_concurrency_limits), writer)  # type: ignore[arg-type]
    assert counter.is_blocked(run({PARTITION_NAME_TAG: "2026-03-03", **WAREHOUSE_TAG}))  # type: ignore[arg-type]


def test_the_event_log_keeps_its_connection_instead_of_one_per_event(
    dagster_home: Path, stock_postgres_home: Path
) -> None:
    """dagster-postgres' own event log storage opens a connection (TCP, SCRAM login) for every
    event; deploy/dagster.yaml's keeps one. Counted on a job logging 10 and then 110 messages,
    against dagster-postgres' own storage (stock_postgres_home)."""
    from toast_assets.lib.instance_storage import PooledPostgresEventLogStorage

    stock_few, stock_events_few, _ = run_counting_connections(stock_postgres_home, 10)
    stock_many, stock_events_many, _ = run_counting_connections(stock_postgres_home, 110)
    few, events_few, _ = run_counting_connections(dagster_home, 10)
    many, events_many, _ = run_counting_connections(dagster_home, 110)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)

    assert (events_few, events_many) == (stock_events_few, stock_events_many)
    assert stock_many - stock_few >= 90, (stock_few, stock_many)  # one per event
    assert many - few <= 1, (few, many)  # none per event
    assert many < stock_many / 3, (many, stock_many)


def test_a_run_failure_read_before_the_run_is_recorded_failed_is_still_retried_on_postgres(
    dagster_home: Path, stock_postgres_home: Path
) -> None:
    """The daemon's automatic re-execution reads a lost worker's run failure between the
    instance's storing of the event and its recording of the run as failed
    (run_failure_race). dagster-postgres' own storage hands the run over still STARTED, not
    to be retried, and the failure is never read again; deploy/dagster.yaml's holds the read
    back until the run is recorded, and hands over the failed run, to be retried, once."""
    stock_config = yaml.safe_load((stock_postgres_home / "dagster.yaml").read_text())
    stock_config["run_retries"] = production_instance_yaml()["run_retries"]
    (stock_postgres_home / "dagster.yaml").write_text(yaml.safe_dump(stock_config))
    with dg.DagsterInstance.from_config(str(stock_postgres_home)) as stock:
        run_id, handed = handed_after_a_read_in_between(stock)
    assert handed == [(run_id, "STARTED", False)], handed  # the race dagster-postgres loses

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id, handed = handed_after_a_read_in_between(instance)
    assert handed == [(run_id, "FAILURE", True)], handed


def test_a_range_run_stores_what_dagster_postgres_stores_in_writes_per_run_not_per_date(
    dagster_home: Path, stock_postgres_home: Path
) -> None:
    """A run over a range of business dates, written in batches by deploy/dagster.yaml's
    instance: the same event log, asset rows, indexed tags and check executions as
    dagster-postgres' own storage (stock_postgres_home), and 24 more dates cost no more writes. The first batch fails after inserting its
    rows: it is rolled back, and Dagster stores its events one by one, each once."""
    from toast_assets.lib.instance_storage import BatchedEventsInstance, PooledPostgresEventLogStorage

    stock_state, stock_short, stock_long = range_runs(stock_postgres_home)
    with first_batch_fails(PooledPostgresEventLogStorage) as failed:
        state, short, long = range_runs(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance, BatchedEventsInstance)

    assert failed == [1]
    assert state == stock_state
    assert state["range_orders materialized dates"] == [f"2026-01-{day:02d}" for day in range(1, 32)]
    assert state["range_sales asset row"] == ("run1", True, "2026-01-31")
    assert stock_long - stock_short >= 24 * 2 * 2, (stock_short, stock_long)  # planned events, one by one
    assert long - short <= 2, (short, long)


def test_a_steps_held_outputs_checks_and_messages_are_stored_as_dagster_postgres_stores_them(
    dagster_home: Path, stock_postgres_home: Path
) -> None:
    """A step like the dbt step, whose messages, outputs and check results deploy/dagster.yaml's
    instance holds and writes together: the same event log (in storage order), materializations
    and check executions, with the events their ids point at, as dagster-postgres' own storage;
    a read inside the step sees everything the step logged before it."""
    states = {}
    for label, home in (("stock", stock_postgres_home), ("project", dagster_home)):
        with dg.DagsterInstance.from_config(str(home)) as instance:
            states[label] = step_run.stored_state(instance, [step_run.run_step_job(instance)])
    assert states["project"] == states["stock"]
    sales = dict(states["project"]["step_sales materializations"][0][2])
    assert sales == {"messages seen": step_run.MESSAGES + 1, "last seen": "ASSET_CHECK_EVALUATION"}
    assert len(states["project"]["check executions"]) == 2 * len(step_run.CHECKS)


# ---------------------------------------------------------------------------- a partitioned run


def test_partitioned_run_is_recorded_in_postgres(
    production_instance: dg.DagsterInstance,
    dagster_home: Path,
    postgres_server: PostgresServer,  # noqa: F811
    pg_database: str,
    exports: tuple[Path, GenerationSummary],
    make_sftp_server: SftpServerFactory,
    tmp_path: Path,
) -> None:
    # Heavy imports (pandas, Pandera, DuckDB) stay here: see the module docstring.
    from pipeline_resources import pipeline_resources

    from toast_assets.raw.assets import toast_raw

    root, summary = exports
    _, settings = make_sftp_server(root)
    business_date = summary.dates[0].isoformat()

    result = dg.materialize(
        [*toast_sftp_files, toast_landing, toast_raw],
        partition_key=business_date,
        resources=pipeline_resources(settings, tmp_path),
        instance=production_instance,
        tags=WAREHOUSE_TAG,
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)

    # The run and its events are rows in Postgres, not in a SQLite file under DAGSTER_HOME.
    assert not list(dagster_home.rglob("*.db"))
    (run_row,) = _pg_rows(postgres_server, pg_database, "SELECT run_id, status FROM runs")
    assert run_row == (result.run_id, "SUCCESS")
    events = dict(
        _pg_rows(
            postgres_server,
            pg_database,
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1",
            result.run_id,
        )
    )
    raw_assets = len(toast_raw.keys)
    assert events["ASSET_MATERIALIZATION"] == len(toast_landing.keys) + raw_assets
    assert events["ASSET_CHECK_EVALUATION"] == len(checks)
    tags = dict(_pg_rows(postgres_server, pg_database, "SELECT key, value FROM run_tags WHERE run_id = %s", result.run_id))
    assert tags[PARTITION_NAME_TAG] == business_date and tags["toast/warehouse"] == "write"

    # Another process (the webserver, the daemon) opening the same instance sees it all.
    with dg.DagsterInstance.from_config(str(dagster_home)) as other:
        record = other.get_run_record_by_id(result.run_id)
        assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert other.get_materialized_partitions(dg.AssetKey(["toast_raw", "order_details"])) == {business_date}
        landing = other.get_latest_materialization_event(dg.AssetKey(["toast_landing", "order_details"]))
        assert landing is not None and landing.asset_materialization.partition == business_date


# ---------------------------------------------------------------------------- the daemon: sensor tick and run queue


@dg.definitions
def probe_definitions() -> dg.Definitions:
    """A code location the daemon loads in the sensor test: the real landing asset with the
    SFTP login and lake taken from the TOAST_* settings, plus a small arrival sensor. (The raw
    load is left out to keep the test short; the partitioned-run test above covers it.)

    The sensor lists the SFTP tree and requests one run per business date whose files it has
    not seen in this form, with a run key, keeping what it saw in a JSON cursor; a repeated
    tick with nothing new requests nothing.
    """
    job = dg.define_asset_job(
        PROBE_JOB,
        selection=dg.AssetSelection.groups("toast_landing"),
        partitions_def=DAILY_PARTITIONS,
    )

    @dg.sensor(
        name=ARRIVAL_SENSOR,
        job=job,
        minimum_interval_seconds=1,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def arrival(context: dg.SensorEvaluationContext, toast_sftp: ToastSftpResource) -> dg.SensorResult:
        seen: dict[str, str] = json.loads(context.cursor or "{}")
        with toast_sftp.open() as client:
            files = client.list_tree()
        by_date: dict[str, list[str]] = defaultdict(list)
        for remote in files:
            by_date[remote.business_date.isoformat()].append(f"{remote.path}:{remote.size}:{remote.mtime}")
        requests = []
        for day, entries in sorted(by_date.items()):
            version = hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]
            if seen.get(day) != version:
                requests.append(dg.RunRequest(run_key=f"{day}:{version}", partition_key=day))
                seen[day] = version
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    config = load_config()
    # The two resources landing needs, as toast_assets.resources builds them; that module also
    # builds the DuckDB warehouse, whose pandas import would slow every launched run.
    resources = {
        "toast_sftp": ToastSftpResource(
            host=config.sftp.host,
            port=config.sftp.port,
            username=config.sftp.username,
            private_key_path=config.sftp.private_key_path,
            known_hosts_path=config.sftp.known_hosts_path,
            host_key_fingerprint=config.sftp.host_key_fingerprint,
            root=config.sftp.root,
            export_ids=list(config.export_ids),
        ),
        "lake": LocalLakeResource(root=config.lake_url),
    }
    return dg.Definitions(
        assets=[*toast_sftp_files, toast_landing],
        jobs=[job],
        sensors=[arrival],
        resources=resources,
        executor=dg.in_process_executor,
    )


def _stop_daemon(process: subprocess.Popen[bytes]) -> None:
    """Stop the daemon and what it started (code server, run workers): its own process group,
    which it leads because it was started in a new session."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # the daemon and everything it started are already gone
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_daemon_sensor_tick_queues_and_launches_a_run_through_postgres(
    production_instance: dg.DagsterInstance,
    dagster_home: Path,
    exports: tuple[Path, GenerationSummary],
    make_sftp_server: SftpServerFactory,
    tmp_path: Path,
) -> None:
    """`dagster-daemon run` against the production instance, as in production: the sensor
    ticks, its run request goes through the queue, the run is launched and finishes, the
    next tick finds nothing new; ticks, cursor, runs and events all live in Postgres.

    One business date keeps it to one launched run: each launch costs a fresh Python process
    importing the code location. The queue limits themselves are tested above."""
    root, summary = exports
    dates = summary.dates
    _, settings = make_sftp_server(root)
    lake, warehouse = tmp_path / "lake", tmp_path / "toast.duckdb"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOAST_")},
        "TOAST_SFTP_HOST": settings.host,
        "TOAST_SFTP_PORT": str(settings.port),
        "TOAST_SFTP_USERNAME": settings.username,
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(settings.private_key_path),
        "TOAST_SFTP_KNOWN_HOSTS": str(settings.known_hosts_path),
        "TOAST_LAKE_URL": str(lake),
        "TOAST_DUCKDB_PATH": str(warehouse),
        "DAGSTER_HOME": str(dagster_home),
    }
    log_path = tmp_path / "daemon.log"
    command = [
        str(Path(sys.executable).with_name("dagster-daemon")), "run",
        "-f", __file__, "-a", "probe_definitions", "-d", str(Path(__file__).parent),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def daemon_log() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])

    instance = production_instance
    by_sensor = RunsFilter(tags={SENSOR_NAME_TAG: ARRIVAL_SENSOR})
    try:
        deadline = time.monotonic() + DAEMON_TIMEOUT_SECONDS
        while True:
            runs = instance.get_runs(filters=by_sensor)
            if len(runs) == len(dates) and all(run.is_finished for run in runs):
                break
            assert daemon.poll() is None, f"dagster-daemon exited early:\n{daemon_log()}"
            assert time.monotonic() < deadline, (
                f"the sensor's runs did not finish in {DAEMON_TIMEOUT_SECONDS:g}s "
                f"({[(r.run_id[:8], r.status.value) for r in runs]}):\n{daemon_log()}"
            )
            time.sleep(0.5)

        # A later tick finds nothing new and requests nothing (the cursor is in Postgres).
        (state,) = [s for s in instance.all_instigator_state() if s.name == ARRIVAL_SENSOR]
        while True:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            if ticks and ticks[0].status == TickStatus.SKIPPED:
                break
            assert time.monotonic() < deadline + 30, f"no skipped tick after the runs:\n{daemon_log()}"
            time.sleep(0.5)
    finally:
        _stop_daemon(daemon)

    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), daemon_log()
    assert sorted(run.tags[PARTITION_NAME_TAG] for run in runs) == [d.isoformat() for d in dates]
    assert all(run.job_name == PROBE_JOB for run in runs)

    # The tick that requested them is recorded with their run ids; the cursor names the dates.
    requested = [tick for tick in ticks if tick.status == TickStatus.SUCCESS]
    assert {run_id for tick in requested for run_id in tick.run_ids} == {run.run_id for run in runs}
    state = instance.get_instigator_state(state.instigator_origin_id, state.selector_id)
    assert state is not None and state.instigator_data is not None
    assert set(json.loads(state.instigator_data.cursor or "{}")) == {d.isoformat() for d in dates}

    # The run worker (another process) wrote its events to Postgres, and really landed the
    # files of every location.
    materialization = instance.get_latest_materialization_event(dg.AssetKey(["toast_landing", "order_details"]))
    assert materialization is not None and materialization.run_id in {run.run_id for run in runs}
    landed = LocalLakeResource(root=str(lake))
    for business_date in dates:
        for export_id in summary.export_ids:
            manifest = read_manifest(landed, business_date, export_id)
            assert manifest is not None and manifest.files, (export_id, business_date)
