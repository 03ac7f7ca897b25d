"""Counting the database connections a Dagster instance opens while a run writes its events.

Every SQLAlchemy pool reports each new DBAPI connection it opens (the `connect` pool event),
whichever storage made the engine, so the count covers the run, event log and schedule
storages alike. `chatty_job` writes a chosen number of events: one op logging as many
messages as its config says, plus the run's and the step's own events. Connections that do
not grow with the messages are per run, not per event.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa


class ChattyConfig(dg.Config):
    messages: int


@dg.op
def chatty(context: dg.OpExecutionContext, config: ChattyConfig) -> None:
    for n in range(config.messages):
        context.log.info(f"message {n}")


@dg.job
def chatty_job() -> None:
    chatty()


def chatty_run_config(messages: int) -> dict:
    return {"ops": {"chatty": {"config": {"messages": messages}}}}


@contextmanager
def count_new_connections() -> Iterator[list[int]]:
    """Yields a one-item list holding the number of database connections opened so far."""
    opened = [0]

    def on_connect(dbapi_connection: object, record: object) -> None:
        opened[0] += 1

    sa.event.listen(sa.pool.Pool, "connect", on_connect)
    try:
        yield opened
    finally:
        sa.event.remove(sa.pool.Pool, "connect", on_connect)


def run_counting_connections(home: Path, messages: int) -> tuple[int, int, str]:
    """Runs chatty_job on the instance configured in `home`: (connections opened, events
    stored, run id)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with count_new_connections() as opened:
            result = chatty_job.execute_in_process(run_config=chatty_run_config(messages), instance=instance)
        assert result.success
        return opened[0], len(instance.all_logs(result.run_id)), result.run_id
