"""Dagster's automatic re-execution reading a run's failure at every point of the instance's
writes of it.

`instance.report_run_failed` stores the failure event, then records the run as failed, then
tags whether it will be retried. `ReexecutionReader` is the daemon's own event log consumer
(`EventLogConsumerDaemon.run_iteration`, its cursors kept in the instance as the daemon keeps
them) whose handler records, for every run it is handed, the run's status and Dagster's own
`should_retry` answer, instead of launching the retry (which needs a code location).
`fail_with_a_read_in_between` makes the consumer read between the first two writes: the
instance's run storage is wrapped so that the read happens just before it records the
failure. That wrapper is the only thing replaced; every write and read is the real one.
"""

import uuid
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunRecord
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import should_retry
from dagster._daemon.auto_run_reexecution.event_log_consumer import EventLogConsumerDaemon


class ReexecutionReader(EventLogConsumerDaemon):
    def __init__(self, instance: dg.DagsterInstance) -> None:
        super().__init__()
        self.context = SimpleNamespace(instance=instance)
        self.handed: list[tuple[str, str, bool]] = []  # run id, its status, will it be retried
        self.read()  # the first read sets the cursors at the top, as the daemon's first tick

    @property
    def handle_updated_runs_fns(self) -> Sequence[Any]:
        def record(context: Any, records: Sequence[RunRecord], logger: Any) -> Iterator[None]:
            for record in records:
                run = record.dagster_run
                self.handed.append((run.run_id, run.status.value, should_retry(run, context.instance)))
            yield

        return [record]

    def read(self) -> None:
        """One tick of the daemon's consumer."""
        list(self.run_iteration(self.context))  # ty: ignore[invalid-argument-type]


def started_run(instance: dg.DagsterInstance) -> DagsterRun:
    return instance.add_run(DagsterRun(job_name="daily", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED))


def fail_with_a_read_in_between(instance: dg.DagsterInstance, reader: ReexecutionReader, run: DagsterRun) -> None:
    """Fails `run` as run monitoring does for a lost worker, with one read of the consumer
    after the failure event is stored and before the run is recorded as failed."""
    storage = instance._run_storage  # the one seam between the instance's writes
    record = storage.handle_run_event

    def read_first(run_id: str, event: dg.DagsterEvent, *args: Any, **kwargs: Any) -> None:
        if event.event_type == dg.DagsterEventType.RUN_FAILURE:
            reader.read()
        record(run_id, event, *args, **kwargs)

    storage.handle_run_event = read_first  # ty: ignore[invalid-assignment]
    try:
        instance.report_run_failed(run, "the run worker was lost")
    finally:
        storage.handle_run_event = record  # ty: ignore[invalid-assignment]


def handed_after_a_read_in_between(instance: dg.DagsterInstance) -> tuple[str, list[tuple[str, str, bool]]]:
    """A run failed with a read in between, then one more read: what the consumer was handed."""
    reader = ReexecutionReader(instance)
    run = started_run(instance)
    fail_with_a_read_in_between(instance, reader, run)
    reader.read()
    failed = instance.get_run_by_id(run.run_id)
    assert failed is not None and failed.status == DagsterRunStatus.FAILURE
    assert failed.tags.get("dagster/will_retry") == "true", failed.tags  # the instance means to retry it
    return run.run_id, reader.handed
