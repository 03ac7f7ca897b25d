"""Dagster event log storages that keep their database connection open between events and
write a range run's asset events in batches.

A daily run writes about 530 events. Dagster's own SQLite and PostgreSQL event log storages
open a new connection for every event (SQLAlchemy's NullPool, so that idle processes hold
none): on SQLite a new engine, file open and close per event; on PostgreSQL a new TCP
connection and authentication per event. Measured on this project's daily job for a date
without files, that was 12 s of a run's 22 s on SQLite and 17 s of 27 s on PostgreSQL;
with one kept connection, 5 s and 6 s (README, "Performance"). The classes below change
only how connections are held: one kept per process (per SQLite database file). The
webserver already does this for PostgreSQL (`optimize_for_webserver`); these do it for the
run workers and the daemon too.

A run over a range of business dates records each asset's materialization once per date,
and before it starts each asset's planned materialization and each check's planned
execution once per date: 30 dates of the daily job are 2,850 events, written one by one in
five statements over two transactions each. Dagster hands such events to the storage in
batches when its event batch size is set (`BatchedEventsInstance` sets it); the storages
below write a batch in one insert per table and one transaction per database, leaving the
same rows (`AssetEventBatches`): on PostgreSQL a multi-row insert, on SQLite an executemany
(compiling SQLAlchemy's multi-row insert cost more than SQLite's writing it). Measured on
30 dates of one location: the run's time outside the assets' code 27 s -> 8 s.

A step also writes events nothing reads back while the step runs: its outputs, its check
results and its log messages (the daily job's dbt step, about 300 of a run's 530). Each was
its own write of three to five statements; they are now held for up to a second
(`EVENT_WRITE_DELAY_SECONDS`) and written together, in order, before any other event of the
process, before any read of a run's events or check results, when the second is up, and at
exit (`DeferredStepEvents`).

Both also hand a run's failure to Dagster's automatic re-execution only once the run is
recorded as failed (`SettledRunFailures`): read in between, the daemon would never retry it.

The embedded default's `dagster.yaml` names `PooledSqliteInstance` (a `BatchedEventsInstance`
whose default storage is the SQLite one, in the instance's own folder); production's
`deploy/dagster.yaml` names `BatchedEventsInstance` and `PooledPostgresEventLogStorage`.
"""

import atexit
import fcntl
import itertools
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa
import yaml
from dagster import DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# SQLite: the index database plus the run databases most recently written or read. A run
# writes its own file and the index; the webserver and the daemon read many runs' files,
# so older engines are closed instead of accumulating.
KEPT_SQLITE_DATABASES = 4
SQLITE_MAX_OVERFLOW = 4
# In the storage's folder: held while a process opens (and on first use creates) the databases.
STORAGE_LOCK_FILE = ".storage.lock"
# PostgreSQL: one connection kept; more open only while used at the same time, then close.
PG_POOL_SIZE = 1
PG_MAX_OVERFLOW = 8
PG_POOL_RECYCLE_SECONDS = 3600
# Events of one batch Dagster buffers before writing (DAGSTER_EVENT_BATCH_SIZE overrides):
# a range run's materializations of one asset, or its planned events, in one write each.
EVENT_BATCH_SIZE = 1000
# Rows per insert: a multi-row insert binds 7 values a row, well inside SQLite's 32,766.
INSERT_CHUNK_ROWS = 500
# Events written together; anything else in a batch is written on its own, in order.
ASSET_EVENT_TYPES = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_OBSERVATION,
    }
)
CHECK_PLANNED = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
CHECK_EVALUATION = DagsterEventType.ASSET_CHECK_EVALUATION
# A step's events that nothing reads back while the step runs (Dagster keeps what it needs of
# them in memory): held and written together. Materializations are not: a check result
# looks up its asset's latest one as it is logged.
DEFERRED_EVENT_TYPES = frozenset(
    {
        DagsterEventType.STEP_OUTPUT,
        DagsterEventType.STEP_INPUT,
        DagsterEventType.LOADED_INPUT,
        DagsterEventType.HANDLED_OUTPUT,
        CHECK_EVALUATION,
    }
)
# How long a held event may wait for the next write (TOAST_EVENT_WRITE_DELAY_SECONDS
# overrides; 0 writes every event as it comes): what the UI may lag behind a running step.
EVENT_WRITE_DELAY_SECONDS = 1.0
# Reads that may ask for held events: they are written first.
READS_OF_STEP_EVENTS = (
    "get_logs_for_run",
    "get_records_for_run",
    "get_stats_for_run",
    "get_step_stats_for_run",
    "get_event_records",
    "get_logs_for_all_runs_by_log_id",
    "get_asset_check_summary_records",
    "get_asset_check_execution_history",
    "get_latest_asset_check_execution_by_key",
    "get_asset_check_partition_info",
    "get_checkpointed_asset_check_state",
    "get_asset_check_state",
)
# How long a run's failure event may wait for its run to be recorded as failed before a read
# for automatic re-execution takes it anyway (its writer died in between).
RUN_FAILURE_SETTLE_SECONDS = 60.0


class AssetEventBatches(SqlEventLogStorage):
    """`store_event_batch` for Dagster's SQL event log storages: consecutive events of one run
    in one insert per table and one transaction per database. Dagster's own writes
    event by event (SQLite), or batches only materializations (PostgreSQL), and serializes a
    planned check once per business date of the run.

    The rows are the ones writing the events one by one leaves: the event log, the asset
    event tags, the asset table (written once per asset and column instead of once per
    event), the planned check executions (one per check and date) and the check results
    recorded on them. A batch is all or nothing: when it fails, its events are stored one by
    one, and each is stored once."""

    def store_event_batch(self, events: list[EventLogEntry]) -> None:  # ty: ignore[invalid-method-override]
        group: list[EventLogEntry] = []
        for event in events:
            if group and (not _batched(event) or event.run_id != group[0].run_id):
                self._store_batched(group)
                group = []
            if _batched(event):
                group.append(event)
            else:
                self._store_one(event)
        self._store_batched(group)

    def _store_one(self, event: EventLogEntry) -> None:
        """Dagster's own write of one event."""
        super().store_event(event)

    def _store_batched(self, events: list[EventLogEntry]) -> None:
        if len(events) < 2:
            for event in events:
                self._store_one(event)
            return
        run_id = events[0].run_id
        rows = [self._event_to_row(event) for event in events]
        run_row_ids = self._store_run_rows(run_id, rows)
        indexed = [(e, r) for e, r in zip(events, rows) if self._indexed(e)]
        checks_stored = any(e.dagster_event_type in ASSET_CHECK_EVENTS for e, _ in indexed) and self._has_check_table()
        try:
            if indexed:
                with self._batch_transaction() as conn:
                    for start in range(0, len(indexed), INSERT_CHUNK_ROWS):
                        self._store_index_rows(conn, indexed[start : start + INSERT_CHUNK_ROWS], checks_stored)
        except Exception:
            # A failed batch leaves nothing stored: its events are then stored one by one, each once.
            self._remove_run_rows(run_id, run_row_ids)
            raise

    def _store_index_rows(
        self, conn: sa.Connection, chunk: list[tuple[EventLogEntry, dict[str, Any]]], checks_stored: bool
    ) -> None:
        event_ids = self._insert_event_rows(conn, [row for _, row in chunk])
        if len(event_ids) != len(chunk) or None in event_ids:
            raise RuntimeError(f"stored {len(event_ids)} of {len(chunk)} events of run {chunk[0][0].run_id}")
        stored = [(event, row, event_id) for (event, row), event_id in zip(chunk, event_ids)]
        assets = [(e, i) for e, _, i in stored if e.dagster_event_type in ASSET_EVENT_TYPES]
        if assets:
            self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
            for index in _asset_table_writes([e for e, _ in assets]):
                self._store_asset_event(conn, *assets[index])
        if not checks_stored:
            return
        planned = [p for p in stored if p[0].dagster_event_type == CHECK_PLANNED]
        if planned:
            conn.execute(AssetCheckExecutionsTable.insert(), [v for p in planned for v in self._planned_check_rows(*p)])
        for evaluation in stored:
            if evaluation[0].dagster_event_type == CHECK_EVALUATION:
                self._record_check_evaluation(conn, *evaluation)

    def _insert_event_rows(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
        """The rows into the event log table in one statement; their ids, in the rows' order.

        A multi-row INSERT … RETURNING (an executemany with RETURNING goes row by row): its
        ids ascend in the rows' order, and come back in any order."""
        insert = SqlEventLogStorageTable.insert().values(rows).returning(SqlEventLogStorageTable.c.id)
        return sorted(r[0] for r in conn.execute(insert).fetchall())

    def _has_check_table(self) -> bool:
        """`supports_asset_checks`, a schema lookup Dagster repeats per check event, done until it
        finds the table (a migration only adds it)."""
        if not getattr(self, "_check_table_found", False):
            self._check_table_found = self.supports_asset_checks
        return self._check_table_found

    def _indexed(self, event: EventLogEntry) -> bool:
        """Whether the event goes to the table `_store_index_rows` writes: where the run's
        events have a database of their own (SQLite), only the events mirrored across runs."""
        return True

    def _batch_transaction(self) -> AbstractContextManager[sa.Connection]:
        """One transaction on the index for the whole batch."""
        return self.index_transaction()

    def _store_run_rows(self, run_id: str, rows: list[dict[str, Any]]) -> list[int]:
        """Where the event log keeps a run's events apart from the index (SQLite), they go
        there first; returns their ids there."""
        return []

    def _remove_run_rows(self, run_id: str, ids: list[int]) -> None:
        """Takes back what `_store_run_rows` stored."""

    def _planned_check_rows(self, event: EventLogEntry, row: dict[str, Any], event_id: int) -> list[dict[str, Any]]:
        """As Dagster's `_store_asset_check_evaluation_planned`: one execution per business date
        the run checks (or one without a date), the event serialized once instead of per date."""
        planned = event.get_dagster_event().event_specific_data
        partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]  # ty: ignore[possibly-missing-attribute]
        common = {
            "asset_key": planned.asset_key.to_string(),  # ty: ignore[possibly-missing-attribute]
            "check_name": planned.check_name,  # ty: ignore[possibly-missing-attribute]
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": row["event"],
            "evaluation_event_timestamp": row["timestamp"],
            "evaluation_event_storage_id": event_id,
        }
        return [{**common, "partition": partition} for partition in partitions]

    def _record_check_evaluation(self, conn: sa.Connection, event: EventLogEntry, row: dict[str, Any], event_id: int) -> None:
        """As Dagster's `store_asset_check_event` for a check result: recorded on the run's
        planned execution of that check and date, or as an execution of its own when none was
        planned; the event serialized once instead of twice."""
        evaluation = event.get_dagster_event().event_specific_data
        table = AssetCheckExecutionsTable
        target = evaluation.target_materialization_data  # ty: ignore[possibly-missing-attribute]
        values = {
            "execution_status": (
                AssetCheckExecutionRecordStatus.SUCCEEDED.value
                if evaluation.passed  # ty: ignore[possibly-missing-attribute]
                else AssetCheckExecutionRecordStatus.FAILED.value
            ),
            "evaluation_event": row["event"],
            "evaluation_event_timestamp": row["timestamp"],
            "evaluation_event_storage_id": event_id,
            "materialization_event_storage_id": target.storage_id if target else None,
            "partition": evaluation.partition,  # ty: ignore[possibly-missing-attribute]
        }
        key = {
            "asset_key": evaluation.asset_key.to_string(),  # ty: ignore[possibly-missing-attribute]
            "check_name": evaluation.check_name,  # ty: ignore[possibly-missing-attribute]
            "run_id": event.run_id,
        }
        if event.run_id:
            where = sa.and_(
                *(table.c[column] == value for column, value in key.items()),
                self._get_asset_check_partition_filter_clause(PartitionKeyFilter(key=evaluation.partition)),  # ty: ignore[possibly-missing-attribute]
            )
            updated = conn.execute(table.update().where(where).values(**values)).rowcount
            if updated > 1:
                raise RuntimeError(
                    f"check result {evaluation.asset_check_key} matched {updated} planned executions of run {event.run_id}"  # ty: ignore[possibly-missing-attribute]
                )
            if updated == 1:
                return
        conn.execute(table.insert().values(**key, **values))


class DeferredStepEvents(AssetEventBatches):
    """Holds a step's events that nothing reads back while it runs (`DEFERRED_EVENT_TYPES`
    and log messages) and writes them together with `AssetEventBatches`, in the order they
    came: before the process stores any other event, before a read that may ask for them
    (`READS_OF_STEP_EVENTS`), once the oldest has waited EVENT_WRITE_DELAY_SECONDS (also
    when no event follows), when EVENT_BATCH_SIZE are held, and at exit. A run worker killed
    outright loses at most that second of its running step's outputs, checks and messages; the
    run is failed either way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held: list[EventLogEntry] = []
        self._held_since = 0.0
        self._held_pid = os.getpid()
        self._held_lock = threading.RLock()
        self._held_delay = _write_delay(os.getenv("TOAST_EVENT_WRITE_DELAY_SECONDS"))
        self._held_limit = max(event_batch_size(), 1)
        self._held_timer: threading.Timer | None = None
        _HOLDING_STORAGES.add(self)
        super().__init__(*args, **kwargs)

    def _check_process(self) -> None:
        if self._held_pid != os.getpid():
            # A forked child starts empty: its parent writes what it held.
            self._held, self._held_timer = [], None
            self._held_lock = threading.RLock()
            self._held_pid = os.getpid()

    def store_event(self, event: EventLogEntry) -> None:
        self._check_process()
        if self._held_delay > 0 and _deferrable(event):
            with self._held_lock:
                if not self._held:
                    self._held_since = time.monotonic()
                    self._held_timer = threading.Timer(self._held_delay, self._write_held_on_time)
                    self._held_timer.daemon = True
                    self._held_timer.start()
                self._held.append(event)
                if len(self._held) < self._held_limit and time.monotonic() - self._held_since < self._held_delay:
                    return
                self._write_held()
            return
        with self._held_lock:
            self._write_held()
            self._store_one(event)

    def store_event_batch(self, events: list[EventLogEntry]) -> None:  # ty: ignore[invalid-method-override]
        self._check_process()
        with self._held_lock:
            self._write_held()
            super().store_event_batch(events)

    def write_held_events(self) -> None:
        """Writes the events held so far."""
        self._check_process()
        if self._held:
            with self._held_lock:
                self._write_held()

    def _write_held(self, keep_failed: bool = False) -> None:
        held, self._held = self._held, []
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        written = 0
        try:
            for _, run_events in itertools.groupby(held, key=lambda e: e.run_id):
                group = list(run_events)
                try:
                    self._store_batched(group)
                except Exception as error:  # noqa: BLE001 - as Dagster's batch writes: one by one instead
                    sys.stderr.write(
                        f"storing {len(group)} events of run {group[0].run_id} together failed ({error}); "
                        "storing them one by one\n"
                    )
                    for event in group:
                        self._store_one(event)
                        written += 1
                else:
                    written += len(group)
        except Exception:
            # The events after the one that failed wait for the next write. The failed one is
            # raised, as Dagster raises a failed write, unless a timer was writing: nobody would
            # see it, so it waits too, and the next write raises if it fails again.
            self._held[:0] = held[written if keep_failed else written + 1 :]
            raise

    def _write_held_on_time(self) -> None:
        self._check_process()
        try:
            with self._held_lock:
                self._write_held(keep_failed=True)
        except Exception as error:  # noqa: BLE001 - kept for the next write, which raises it
            sys.stderr.write(f"writing held events failed ({error}); the next write tries again\n")

    def dispose(self) -> None:
        self.write_held_events()
        super().dispose()


def event_batch_size() -> int:
    """Events written in one batch: DAGSTER_EVENT_BATCH_SIZE, else EVENT_BATCH_SIZE."""
    return int(os.getenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE)))


def _write_delay(setting: str | None) -> float:
    if setting is None or not setting.strip():
        return EVENT_WRITE_DELAY_SECONDS
    try:
        delay = float(setting)
    except ValueError:
        delay = -1.0
    if not 0 <= delay <= 60:
        raise ValueError(
            f"TOAST_EVENT_WRITE_DELAY_SECONDS={setting!r}: give the seconds a step's outputs, check results and "
            "messages may wait to be written together, from 0 (each at once) to 60"
        )
    return delay


# Every storage that may hold events, for the one exit hook (a code server opening an instance
# per sensor tick must not add a hook per tick).
_HOLDING_STORAGES: "weakref.WeakSet[DeferredStepEvents]" = weakref.WeakSet()


@atexit.register
def _write_held_at_exit() -> None:
    for storage in list(_HOLDING_STORAGES):
        storage.write_held_events()


def _reads_held_events(name: str) -> Any:
    def read(self: DeferredStepEvents, *args: Any, **kwargs: Any) -> Any:
        self.write_held_events()
        return getattr(super(DeferredStepEvents, self), name)(*args, **kwargs)

    read.__name__ = name
    return read


for _name in READS_OF_STEP_EVENTS:
    setattr(DeferredStepEvents, _name, _reads_held_events(_name))


def _deferrable(event: EventLogEntry) -> bool:
    if not event.run_id:
        return False
    dagster_event = event.dagster_event
    if dagster_event is None:
        return event.step_key is not None  # a step's log message
    return dagster_event.event_type in DEFERRED_EVENT_TYPES


def _batched(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    if dagster_event is None:
        return False
    return dagster_event.event_type == CHECK_PLANNED or (
        dagster_event.event_type in ASSET_EVENT_TYPES and dagster_event.asset_key is not None
    )


def _asset_table_writes(events: list[EventLogEntry]) -> list[int]:
    """The events (indexes, in order) whose asset-table writes leave each asset's row as
    writing every event would: a materialization sets the last materialization, it and a
    planned event the last run id, every asset event the last event timestamp. So per asset,
    its last materialization, its last materialization or planned event, and its last event."""
    last_materialization: dict[str, int] = {}
    last_run: dict[str, int] = {}
    last_event: dict[str, int] = {}
    for index, event in enumerate(events):
        dagster_event = event.get_dagster_event()
        key = dagster_event.asset_key.to_string()  # ty: ignore[possibly-missing-attribute]
        last_event[key] = index
        if dagster_event.is_step_materialization or dagster_event.is_asset_materialization_planned:
            last_run[key] = index
        if dagster_event.is_step_materialization:
            last_materialization[key] = index
    return sorted({*last_materialization.values(), *last_run.values(), *last_event.values()})


class SettledRunFailures(SqlEventLogStorage):
    """Run failures handed to Dagster's automatic re-execution only once their run is recorded
    as failed.

    The daemon's re-execution (its event log consumer) reads run failure events by storage
    id, asks each failed run whether it will be retried, and moves its cursor past what it
    read. The instance stores a run's failure event before it records the run as failed and
    tags whether it will be retried (`dagster/will_retry`). A read between the two finds the
    run still STARTED, decides it will not be retried, and never reads the event again: the
    run is left failed, tagged to be retried, and never retried. A run worker lost at night
    then leaves its business date unloaded.

    Here such a read stops before the first failure whose run is not yet recorded (failed,
    and tagged when run retries are on), so its cursor stays before it and the next read
    takes it up. A failure whose run is never recorded, because its writer died in between,
    is handed over once RUN_FAILURE_SETTLE_SECONDS old, as Dagster would have at once."""

    def get_logs_for_all_runs_by_log_id(  # ty: ignore[invalid-method-override]
        self,
        after_cursor: int = -1,
        dagster_event_type: DagsterEventType | set[DagsterEventType] | None = None,
        limit: int | None = None,
    ) -> Mapping[int, EventLogEntry]:
        found = super().get_logs_for_all_runs_by_log_id(after_cursor, dagster_event_type, limit)
        settled: dict[int, EventLogEntry] = {}
        for storage_id in sorted(found):
            if not self._run_failure_settled(found[storage_id]):
                break
            settled[storage_id] = found[storage_id]
        return settled

    def _run_failure_settled(self, entry: EventLogEntry) -> bool:
        if entry.dagster_event_type != DagsterEventType.RUN_FAILURE or not self.has_instance:
            return True
        if time.time() - entry.timestamp >= RUN_FAILURE_SETTLE_SECONDS:
            return True
        instance = self._instance
        run = instance.get_run_by_id(entry.run_id)  # ty: ignore[possibly-missing-attribute]
        if run is None:  # deleted: nothing to retry
            return True
        if run.status != DagsterRunStatus.FAILURE:
            return False
        return not instance.run_retries_enabled or WILL_RETRY_TAG in run.tags  # ty: ignore[possibly-missing-attribute]


class PooledSqliteEventLogStorage(SettledRunFailures, DeferredStepEvents, SqliteEventLogStorage):
    """Dagster's SQLite event log storage (one database per run plus an index database, in
    `base_dir`), with each database's connection kept open between events instead of
    reopened per event, and asset events and a step's outputs, check results and messages
    written in batches."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def _engine_for(self, shard: str) -> sa.Engine:
        if self._engines_pid != os.getpid():
            # A forked child must not use the parent's open connections.
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=sa.pool.QueuePool,
            pool_size=1,
            # Creating a database inspects it on a second connection; extra ones close after use.
            max_overflow=SQLITE_MAX_OVERFLOW,
            # Every use is under the storage's lock, but the lock's holder may be any thread.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        self._engines[shard] = engine
        while len(self._engines) > KEPT_SQLITE_DATABASES + 1:  # + the index database
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        # As Dagster's `_connect`: one user at a time, the database created on first use,
        # one transaction per use; only the engine outlives the call.
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _indexed(self, event: EventLogEntry) -> bool:
        # As Dagster's SQLite storage: the index mirrors asset and check events.
        return event.dagster_event_type in ASSET_EVENTS or event.dagster_event_type in ASSET_CHECK_EVENTS

    def _store_run_rows(self, run_id: str, rows: list[dict[str, Any]]) -> list[int]:
        # The run's own database holds every event; the index mirrors its asset and check events.
        with self.run_connection(run_id) as conn:
            return self._insert_event_rows(conn, rows)

    def _insert_event_rows(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
        """SQLite's executemany, values converted as SQLAlchemy converts them: compiling a
        multi-row INSERT cost more than writing it, about 1 ms a row (a year's run writes
        30,000). The ids are the last `len(rows)` given: SQLite numbers new rows past the
        largest id, and the transaction holds the database's write lock from its first
        insert to its commit. A count over that id range confirms it; otherwise the batch
        fails, and its events are stored one by one."""
        columns = list(rows[0])  # Dagster's `_event_to_row` gives every row the same keys
        table = SqlEventLogStorageTable
        processors = [table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for name in columns]
        values = [
            tuple(process(row[name]) if process else row[name] for name, process in zip(columns, processors)) for row in rows
        ]
        names = ", ".join(f'"{name}"' for name in columns)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})", values)
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        first = last - len(rows) + 1
        stored = conn.exec_driver_sql(f"SELECT count(*) FROM {table.name} WHERE id BETWEEN ? AND ?", (first, last)).scalar_one()
        if stored != len(rows):
            raise RuntimeError(f"ids of {len(rows)} stored events are not {first}..{last} ({stored} found there)")
        return list(range(first, last + 1))

    def _remove_run_rows(self, run_id: str, ids: list[int]) -> None:
        table = SqlEventLogStorageTable
        with self.run_connection(run_id) as conn:
            for start in range(0, len(ids), INSERT_CHUNK_ROWS):
                conn.execute(table.delete().where(table.c.id.in_(ids[start : start + INSERT_CHUNK_ROWS])))

    def dispose(self) -> None:
        super().dispose()  # writes what is held first
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class PooledPostgresEventLogStorage(SettledRunFailures, DeferredStepEvents, PostgresEventLogStorage):
    """dagster-postgres' event log storage with one connection kept open per process (plus
    short-lived extra ones while several threads write at once), checked before each use so
    a restarted database server costs a reconnect, not a failed run; asset events and a
    step's outputs, check results and messages written in batches.

    Config: exactly dagster-postgres' `postgres_db` / `postgres_url` settings.
    """

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        self._engine_pid = os.getpid()
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        unpooled = self._engine
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            pool_recycle=PG_POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
        )
        unpooled.dispose()

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        if self._engine_pid != os.getpid():
            # A forked child must not use the parent's open connection.
            self._engine.dispose(close=False)
            self._engine_pid = os.getpid()
        return super()._connect()

    @contextmanager
    def _batch_transaction(self) -> Iterator[sa.Connection]:
        # dagster-postgres' connections autocommit each statement (its "transactions" do not
        # reach the server); a batch is one real transaction, so a failed one leaves nothing.
        with self._connect() as conn:
            transactional = conn.execution_options(isolation_level="READ COMMITTED")
            with transactional.begin():
                yield transactional

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledPostgresEventLogStorage":
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


@contextmanager
def _exclusive(lock_path: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if missing) across processes."""
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, event log, schedules under one folder, laid out as by
    default) with the event log's connections kept open (`PooledSqliteEventLogStorage`)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # Opening the storage creates its databases and stamps their schema version when they
        # are missing. Dagster does that without a lock, so the webserver and the daemon
        # started together on a new DAGSTER_HOME can both stamp the schedule database
        # ("alembic_version has more than one head") or both create a table, and one of them
        # fails to start. Processes opening the same folder take turns here; later opens find
        # the databases made and only read their version.
        with _exclusive(os.path.join(base_dir, STORAGE_LOCK_FILE)):
            # Dagster's own constructor builds its event log storage first (it creates the
            # index database if missing, and opens nothing after that); it is replaced, unused.
            super().__init__(base_dir, inst_data=inst_data)
            self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledSqliteStorage":
        return cls.from_local(inst_data=inst_data, **config_value)


class BatchedEventsInstance(DagsterInstance):
    """Dagster's instance, handing a range run's asset events to the event log storage in
    batches of up to EVENT_BATCH_SIZE (Dagster's default is one by one):
    `DAGSTER_EVENT_BATCH_SIZE` still decides when set, and 0 turns batching off.
    Production's `instance_class` (deploy/dagster.yaml)."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        return InstanceRef.config_defaults(base_dir)

    def _get_event_batch_size(self) -> int:
        return event_batch_size()


class PooledSqliteInstance(BatchedEventsInstance):
    """The embedded default's instance (`instance_class` in dagster.yaml): `BatchedEventsInstance`,
    whose default storage is `PooledSqliteStorage` in the instance's folder instead of Dagster's
    SQLite storage. Only defaults change: a `storage:` block in dagster.yaml still wins.

    The storage's folder has to be the instance's (DagsterInstance.from_config(folder) as well
    as $DAGSTER_HOME), and only the instance's defaults are given that folder.
    """

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        module = __name__
        defaults["storage"] = ConfigurableClassData(module, "PooledSqliteStorage", yaml.dump({"base_dir": base_dir}))
        events = yaml.dump({"base_dir": _event_logs_directory(base_dir)})
        defaults["event_log_storage"] = ConfigurableClassData(module, "PooledSqliteEventLogStorage", events)
        return defaults
