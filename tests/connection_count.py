"""Counting the database connections a Dagster instance opens while a run writes its events.

Every SQLAlchemy pool reports each new DBAPI connection it opens (the `connect` pool event),
whichever storage made the engine, so the count covers the run, event log and schedule
storages alike. `chatty_job` writes a chosen number of events: one op logging as many
messages as its config says, plus the run's and the step's own events. Connections that do
not grow with the messages are per run, not per event.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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
def count_sqlalchemy_events(
    target: type, identifier: str, counted: Callable[..., bool] = lambda *args: True
) -> Iterator[list[int]]:
    """Yields a one-item list holding how many times SQLAlchemy has fired `identifier` on any
    `target` (every pool, every engine) so far, counting those `counted(*event args)` accepts."""
    fired = [0]

    def on_event(*args: object) -> None:
        if counted(*args):
            fired[0] += 1

    sa.event.listen(target, identifier, on_event)
    try:
        yield fired
    finally:
        sa.event.remove(target, identifier, on_event)


def count_new_connections() -> AbstractContextManager[list[int]]:
    """Yields a one-item list holding the number of database connections opened so far."""
    return count_sqlalchemy_events(sa.pool.Pool, "connect")


def run_counting_connections(home: Path, messages: int) -> tuple[int, int, str]:
    """Runs chatty_job on the instance configured in `home`: (connections opened, events
    stored, run id)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with count_new_connections() as opened:
            result = chatty_job.execute_in_process(run_config=chatty_run_config(messages), instance=instance)
        assert result.success
        return opened[0], len(instance.all_logs(result.run_id)), result.run_id
