"""A run over a range of business dates and what it leaves in Dagster's event log storage.

Like the platform's daily job, two daily-partitioned assets with a single-run backfill policy
and an asset check: one run over N dates records each asset's materialization once per date,
its planned materialization once per date before it starts, the check's planned execution
once per date, and the check's result. `stored_state` reads back everything a storage keeps of that,
through Dagster's own read API, with run ids renamed in order so that two instances (Dagster's
stock storage and ours) can be compared for equality.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from connection_count import count_sqlalchemy_events

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
ORDERS, SALES = dg.AssetKey("range_orders"), dg.AssetKey("range_sales")
CHECK = dg.AssetCheckKey(ORDERS, "range_orders_positive")


@dg.asset(
    key=ORDERS,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(CHECK.name, asset=ORDERS)],
)
def range_orders(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    dates = context.partition_keys
    return dg.MaterializeResult(
        metadata={"dates": len(dates)},
        tags={"toast/first_date": dates[0]},
        check_results=[dg.AssetCheckResult(check_name=CHECK.name, passed=True, metadata={"dates": len(dates)})],
    )


@dg.asset(key=SALES, partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run(), deps=[ORDERS])
def range_sales(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dates": len(context.partition_keys)})


range_job = dg.define_asset_job("range_job", selection=[ORDERS, SALES], partitions_def=DAILY)
RANGE_JOB = dg.Definitions(assets=[range_orders, range_sales], jobs=[range_job]).resolve_job_def("range_job")


def run_range(instance: dg.DagsterInstance, start: str, end: str) -> str:
    result = RANGE_JOB.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )
    assert result.success
    return result.run_id


def count_writes() -> AbstractContextManager[list[int]]:
    """Yields a one-item list holding the number of INSERT and UPDATE statements sent to any
    database so far (a multi-row insert or an executemany counts once)."""

    def is_write(conn: object, cursor: object, statement: str, *args: object) -> bool:
        return statement.lstrip()[:6].upper() in ("INSERT", "UPDATE")

    return count_sqlalchemy_events(sa.engine.Engine, "before_cursor_execute", is_write)


def stored_state(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, object]:
    """Everything the event log storage keeps of these runs, with run ids as run0, run1, ..."""
    name = {run_id: f"run{n}" for n, run_id in enumerate(run_ids)}
    state: dict[str, object] = {}
    for run_id in run_ids:
        state[f"event log of {name[run_id]}"] = [
            (
                event.dagster_event_type.value if event.dagster_event_type else event.user_message,
                event.dagster_event.asset_key.to_user_string()
                if event.dagster_event and event.dagster_event.asset_key
                else None,
                event.dagster_event.partition if event.dagster_event else None,
            )
            for event in instance.all_logs(run_id)
        ]
    for key in (ORDERS, SALES):
        label = key.to_user_string()
        records = instance.fetch_materializations(key, limit=10_000).records
        state[f"{label} materializations"] = sorted(
            (
                name[r.run_id],
                r.partition_key,
                r.asset_materialization.metadata["dates"].value,
                sorted(r.asset_materialization.tags or {}),
            )
            for r in records
        )
        state[f"{label} materialized dates"] = sorted(instance.get_materialized_partitions(key))
        (record,) = instance.get_asset_records([key])
        entry = record.asset_entry
        latest = max(records, key=lambda r: r.storage_id)
        assert entry.last_materialization_record is not None
        state[f"{label} asset row"] = (
            name[entry.last_run_id],
            entry.last_materialization_record.storage_id == latest.storage_id,
            entry.last_materialization_record.partition_key,
        )
        # The tags Dagster indexes (the data version), per materialization: their names (values
        # are hashes of run-specific provenance).
        state[f"{label} indexed tags"] = sorted(
            (name[r.run_id], r.partition_key, tuple(sorted(tag for tags in indexed for tag in tags)))
            for r in records
            for indexed in [instance.event_log_storage.get_event_tags_for_asset(key, filter_event_id=r.storage_id)]
        )
        state[f"{label} planned runs by date"] = {
            date: name[info.run_id]
            for date in DAILY.get_partition_keys_in_range(dg.PartitionKeyRange("2026-01-01", "2026-01-31"))
            if (info := instance.event_log_storage.get_latest_planned_materialization_info(key, date)) is not None
        }
    state["check executions"] = sorted(
        (name[r.run_id], r.status.value, r.partition, r.event.dagster_event_type.value if r.event else None)
        for r in instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=10_000)
    )
    return state


def range_runs(home: Path) -> tuple[dict[str, object], int, int]:
    """Two overlapping range runs (5 dates, then 29): what is stored, and the writes (INSERT
    and UPDATE statements) each run sent."""
    with dg.DagsterInstance.from_config(str(home)) as instance, count_writes() as written:
        short = run_range(instance, "2026-01-01", "2026-01-05")
        after_short = written[0]
        long = run_range(instance, "2026-01-03", "2026-01-31")
        return stored_state(instance, [short, long]), after_short, written[0] - after_short


@contextmanager
def first_batch_fails(storage_class: type) -> Iterator[list[int]]:
    """The first batch of several asset events fails after its event rows were inserted (as a
    full disk or a lost server would fail it); yields a one-item list counting such failures."""
    original = storage_class._store_asset_event_tags
    failed = [0]

    def failing(self: object, conn: object, events: list, event_ids: list) -> None:
        if len(events) > 1 and not failed[0]:
            failed[0] += 1
            raise OSError("the batch write failed")
        original(self, conn, events, event_ids)

    storage_class._store_asset_event_tags = failing
    try:
        yield failed
    finally:
        storage_class._store_asset_event_tags = original


@contextmanager
def ids_not_where_expected(storage_class: type) -> Iterator[list[int]]:
    """Every multi-row insert of a batch's rows hears from `last_insert_rowid()` one past the
    row it inserted, as if another writer's row sat among the batch's: the range the storage
    then counts holds one row fewer than it inserted. A stand-in for what SQLite's write lock
    prevents, so it cannot be provoked for real; yields a one-item list counting such answers."""
    original = storage_class._insert_event_rows
    shifted = [0]

    def shifting(self: object, conn: object, rows: list) -> list[int]:
        real = conn.exec_driver_sql

        def exec_driver_sql(statement: str, *args: object) -> object:
            result = real(statement, *args)
            if statement == "SELECT last_insert_rowid()":
                shifted[0] += 1
                return real("SELECT ?", (result.scalar_one() + 1,))
            return result

        conn.exec_driver_sql = exec_driver_sql
        try:
            return original(self, conn, rows)
        finally:
            del conn.exec_driver_sql

    storage_class._insert_event_rows = shifting
    try:
        yield shifted
    finally:
        storage_class._insert_event_rows = original
