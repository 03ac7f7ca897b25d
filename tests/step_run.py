"""A step like the daily job's dbt step, and what its run leaves in Dagster's event log storage.

One daily-partitioned multi-asset step logs messages, materializes two assets and reports
three asset checks on them (one failing), as the dbt step reports a model and then its
tests; in between it reads its own run's events back, as any step may. A second step
downstream reads the run's check results. `stored_state` reads back everything the storage
keeps of such runs (the event log in storage order, the check executions and what their
stored ids point at) so that Dagster's stock storage and ours can be compared for equality.
"""

import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._serdes import deserialize_value

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
ORDERS, SALES, REPORT = dg.AssetKey("step_orders"), dg.AssetKey("step_sales"), dg.AssetKey("step_report")
CHECKS = (
    dg.AssetCheckKey(ORDERS, "not_null"),
    dg.AssetCheckKey(ORDERS, "unique"),
    dg.AssetCheckKey(SALES, "positive"),
)
MESSAGES = 20  # logged by the step before its first materialization

# Set by a test to hold the step after its first message until it returns (None: no pause).
pause_after_first_message: list[Callable[[], None] | None] = [None]


@dg.multi_asset(
    specs=[dg.AssetSpec(ORDERS), dg.AssetSpec(SALES, deps=[ORDERS])],
    check_specs=[dg.AssetCheckSpec(key.name, asset=key.asset_key) for key in CHECKS],
    partitions_def=DAILY,
)
def step_models(context: dg.AssetExecutionContext):
    context.log.info("message 0")
    if pause_after_first_message[0] is not None:
        pause_after_first_message[0]()
    for n in range(1, MESSAGES):
        context.log.info(f"message {n}")
    yield dg.MaterializeResult(asset_key=ORDERS, metadata={"rows": 3})
    yield dg.AssetCheckResult(asset_key=ORDERS, check_name="not_null", passed=True)
    context.log.info("between the checks")
    yield dg.AssetCheckResult(
        asset_key=ORDERS, check_name="unique", passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"duplicates": 2}
    )
    # What this step's own run holds so far, read back while the step runs.
    seen = [r.event_log_entry for r in context.instance.get_records_for_run(context.run_id).records]
    yield dg.MaterializeResult(
        asset_key=SALES,
        metadata={
            "messages seen": sum(not e.is_dagster_event for e in seen),
            "last seen": seen[-1].dagster_event_type.value if seen[-1].dagster_event_type else "message",
        },
    )
    yield dg.AssetCheckResult(asset_key=SALES, check_name="positive", passed=True)


@dg.asset(key=REPORT, deps=[SALES], partitions_def=DAILY)
def step_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    records = context.instance.get_records_for_run(context.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return dg.MaterializeResult(metadata={"check results seen": len(records.records)})


step_job = dg.define_asset_job("step_job", selection=[ORDERS, SALES, REPORT], partitions_def=DAILY)
STEP_JOB = dg.Definitions(assets=[step_models, step_report], jobs=[step_job]).resolve_job_def("step_job")


def run_step_job(instance: dg.DagsterInstance, date: str = "2026-01-05") -> str:
    result = STEP_JOB.execute_in_process(instance=instance, partition_key=date)
    assert result.success
    return result.run_id


def run_in_background(home: Path) -> tuple[threading.Thread, list[str]]:
    """The step job run in a thread on its own instance of `home`; the list gets its run id."""
    run_ids: list[str] = []

    def target() -> None:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            run_ids.append(run_step_job(instance))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, run_ids


def thread_stacks() -> str:
    """Every thread's stack in this process, for a run that did not finish in time."""
    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(
        f"--- thread {names.get(ident, ident)}:\n{''.join(traceback.format_stack(frame))}"
        for ident, frame in sys._current_frames().items()
    )


def _describe(entry: dg.EventLogEntry) -> tuple:
    event = entry.dagster_event
    if event is None:
        return ("message", entry.step_key, entry.user_message)
    data = event.event_specific_data
    check_name = getattr(data, "check_name", None)
    return (event.event_type_value, event.step_key, event.asset_key.to_user_string() if event.asset_key else None, check_name)


def stored_state(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, object]:
    """The runs' event logs in storage order, their materializations' metadata, and each check
    execution row with the events its stored ids point at; run ids renamed run0, run1, ..."""
    name = {run_id: f"run{n}" for n, run_id in enumerate(run_ids)}
    state: dict[str, object] = {}
    for run_id in run_ids:
        state[f"event log of {name[run_id]}"] = [_describe(e) for e in instance.all_logs(run_id)]
    for key in (ORDERS, SALES, REPORT):
        records = instance.fetch_materializations(key, limit=100).records
        state[f"{key.to_user_string()} materializations"] = sorted(
            (name[r.run_id], r.partition_key, sorted((k, v.value) for k, v in r.asset_materialization.metadata.items()))
            for r in records
        )
    executions = AssetCheckExecutionsTable
    storage = instance.event_log_storage
    with storage.index_connection() as conn:  # ty: ignore[unresolved-attribute]
        rows = conn.execute(
            sa.select(
                executions.c.run_id,
                executions.c.asset_key,
                executions.c.check_name,
                executions.c.partition,
                executions.c.execution_status,
                executions.c.evaluation_event_storage_id,
                executions.c.materialization_event_storage_id,
            )
        ).fetchall()
        ids = {i for row in rows for i in row[5:] if i is not None}
        events = {
            i: deserialize_value(text, dg.EventLogEntry)
            for i, text in conn.execute(
                sa.select(SqlEventLogStorageTable.c.id, SqlEventLogStorageTable.c.event).where(
                    SqlEventLogStorageTable.c.id.in_(ids)
                )
            )
        }
    state["check executions"] = sorted(
        [
            (
                name[run_id],
                dg.AssetKey.from_db_string(asset_key).to_user_string(),  # ty: ignore[possibly-missing-attribute]
                check_name,
                partition,
                status,
                _describe(events[evaluation_id]) if evaluation_id is not None else None,
                (_describe(events[target]), events[target].run_id == run_id) if target is not None else None,
            )
            for run_id, asset_key, check_name, partition, status, evaluation_id, target in rows
        ],
        key=repr,
    )
    return state
