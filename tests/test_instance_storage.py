"""The embedded default's event log storage (dagster.yaml): Dagster's SQLite layout, with
each database's connection kept open between a run's events and a range run's asset events
written in batches (toast_assets/lib/instance_storage.py).

Real SQLite files under a temporary DAGSTER_HOME. The tests run a job logging a chosen
number of messages and count the database connections opened, or run a job over ranges of
business dates and compare what is stored and the writes sent, against Dagster's
stock storage on the same job.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg
import pytest
import step_run
import yaml
from connection_count import chatty_job, chatty_run_config, run_counting_connections
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from range_run import count_writes, first_batch_fails, ids_not_where_expected, range_runs
from run_failure_race import ReexecutionReader, handed_after_a_read_in_between, started_run

from toast_assets.lib.instance_storage import (
    EVENT_WRITE_DELAY_SECONDS,
    KEPT_SQLITE_DATABASES,
    RUN_FAILURE_SETTLE_SECONDS,
    PooledSqliteEventLogStorage,
    PooledSqliteInstance,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FEW, MANY = 10, 110  # messages logged by the two runs compared


def _home(tmp_path: Path, name: str, project_config: bool) -> Path:
    home = tmp_path / name
    home.mkdir()
    if project_config:
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    else:  # Dagster's default instance: its stock SQLite storages in the same places
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


def _connections_per_run(home: Path, monkeypatch: pytest.MonkeyPatch, messages: int) -> tuple[int, int, str]:
    """run_counting_connections with DAGSTER_HOME at `home`, as the embedded default runs."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return run_counting_connections(home, messages)


def test_the_embedded_default_opens_connections_per_run_not_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    stock_few, stock_events_few, _ = _connections_per_run(stock, monkeypatch, FEW)
    stock_many, stock_events_many, _ = _connections_per_run(stock, monkeypatch, MANY)
    few, events_few, _ = _connections_per_run(project, monkeypatch, FEW)
    many, events_many, run_id = _connections_per_run(project, monkeypatch, MANY)

    # The same events are stored: the messages plus the run's and the step's own.
    assert (events_few, events_many) == (stock_events_few, stock_events_many)
    assert events_many - events_few == MANY - FEW
    # Dagster's stock storage opens a connection for every event; ours does not open more
    # for a hundred more events (the run storage's few per run remain).
    assert stock_many - stock_few >= 0.9 * (MANY - FEW)
    assert many - few <= 1, (few, many)
    assert many < stock_many / 3, (many, stock_many)

    # Where Dagster's default instance keeps them: an existing home keeps its history, and a
    # fresh instance (another process, the webserver) reads the run from those files.
    assert (project / "history" / "runs" / f"{run_id}.db").exists()
    with dg.DagsterInstance.from_config(str(project)) as reader:
        assert isinstance(reader.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(reader.event_log_storage, SqliteEventLogStorage)  # Dagster's own tools still apply
        messages = [e.user_message for e in reader.all_logs(run_id) if not e.is_dagster_event]
        assert messages == [f"message {n}" for n in range(MANY)]


def test_a_reader_of_many_runs_keeps_a_bounded_number_of_databases_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webserver and the daemon read many runs' databases: the least recent are closed."""
    home = _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_ids = [
            chatty_job.execute_in_process(run_config=chatty_run_config(FEW), instance=instance).run_id
            for _ in range(KEPT_SQLITE_DATABASES + 3)
        ]
        for run_id in run_ids:
            assert len(instance.all_logs(run_id)) > FEW
        open_databases = list(instance.event_log_storage._engines)
        assert len(open_databases) == KEPT_SQLITE_DATABASES + 1  # + the index database
        assert open_databases[-KEPT_SQLITE_DATABASES:] == run_ids[-KEPT_SQLITE_DATABASES:]


def test_the_storage_lives_in_the_instance_folder_whatever_dagster_home_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DagsterInstance.from_config(folder) (tests, scripts, `dagster instance` tooling) uses
    that folder, as Dagster's default instance does, even with DAGSTER_HOME set elsewhere."""
    home, elsewhere = _home(tmp_path, "project", True), tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(elsewhere))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance, PooledSqliteInstance)
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        run_id = chatty_job.execute_in_process(run_config=chatty_run_config(FEW), instance=instance).run_id
    assert (home / "history" / "runs" / f"{run_id}.db").exists()
    assert (home / "history" / "runs.db").exists() and (home / "schedules" / "schedules.db").exists()
    assert not list(elsewhere.rglob("*.db")), "no Dagster database under DAGSTER_HOME"


# Imports Dagster once, then forks OPENERS processes per folder that open the same new
# instance folder at the same moment (as the webserver and the daemon do on a fresh
# DAGSTER_HOME) and read its runs and schedules; prints one exit status per process.
_OPEN_TOGETHER = """
import os, sys, time
import dagster as dg
import toast_assets.lib.instance_storage

folders, openers = sys.argv[2:], int(sys.argv[1])
for folder in folders:
    start = time.time() + 0.5
    children = []
    for _ in range(openers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                while time.time() < start:
                    pass
                with dg.DagsterInstance.from_config(folder) as instance:
                    instance.get_runs()
                    instance.all_instigator_state()
                code = 0
            except BaseException as error:
                print(f"{folder}: {type(error).__name__}: {error}", file=sys.stderr)
            finally:
                os._exit(code)
        children.append(pid)
    print(" ".join(str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])) for pid in children))
"""


def test_processes_opening_a_new_instance_folder_together_all_start(tmp_path: Path) -> None:
    """The webserver and the daemon started together on a new DAGSTER_HOME: Dagster's SQLite
    storage creates and stamps its databases without a lock, so one of them could fail to
    start (the schedule database stamped twice, or a table created twice); ours take turns."""
    folders = [_home(tmp_path, f"new{n}", True) for n in range(4)]
    openers = 3
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_TOGETHER, str(openers), *map(str, folders)],
        capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"] * (openers * len(folders)), result.stderr
    for folder in folders:
        with sqlite3.connect(folder / "schedules" / "schedules.db") as schedules:
            assert len(schedules.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
        with sqlite3.connect(folder / "history" / "runs.db") as runs:
            assert len(runs.execute("SELECT version_num FROM alembic_version").fetchall()) == 1


def test_a_range_run_stores_what_dagster_stores_in_writes_per_run_not_per_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run over a range of business dates writes one materialization and one planned event
    per asset and date, and a planned check execution per date. Written in batches, the event
    log, the asset rows, the indexed tags and the check executions are those of Dagster's
    stock storage, and 24 more dates cost no more writes."""
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(stock))
    stock_state, stock_short, stock_long = range_runs(stock)
    monkeypatch.setenv("DAGSTER_HOME", str(project))
    state, short, long = range_runs(project)

    assert state == stock_state
    every_date = [f"2026-01-{day:02d}" for day in range(1, 32)]
    assert state["range_orders materialized dates"] == every_date
    assert state["range_sales asset row"] == ("run1", True, "2026-01-31")
    assert state["range_orders planned runs by date"] == {d: "run0" if d < "2026-01-03" else "run1" for d in every_date}
    assert len(state["check executions"]) == 5 + 29 + 2  # planned per date, one result per run
    # Dagster's storage writes per event (2 assets x 2 events x 24 dates, at least twice each);
    # ours per batch.
    assert stock_long - stock_short >= 24 * 2 * 2 * 2, (stock_short, stock_long)
    assert long - short <= 2, (short, long)


def _range_runs_stock_and_under(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Callable[[type], AbstractContextManager[list[int]]]
) -> tuple[dict, dict, list[int]]:
    """The range runs' stored state with Dagster's stock storage, the same with the project's
    storage while `fault` is in place, and the fault's count."""
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(stock))
    stock_state, _, _ = range_runs(stock)
    monkeypatch.setenv("DAGSTER_HOME", str(project))
    with fault(PooledSqliteEventLogStorage) as count:
        state, _, _ = range_runs(project)
    return stock_state, state, count


def test_a_failed_batch_leaves_nothing_behind_and_dagster_stores_its_events_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch failing after its rows reached the run's database and the index is taken
    back from both; Dagster then stores its events one by one: the same rows as Dagster's
    stock storage, none twice."""
    stock_state, state, failed = _range_runs_stock_and_under(tmp_path, monkeypatch, first_batch_fails)
    assert failed == [1]
    assert state == stock_state


def test_a_batch_whose_ids_are_not_the_last_given_is_taken_back_and_stored_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's rows go to SQLite in one executemany, and their ids are taken to be the
    last ones SQLite gave. Were another row among them, the count over that range finds
    fewer rows than were inserted: each such batch fails instead of pointing the asset and
    check rows at the wrong events, and Dagster stores its events one by one, each once."""
    stock_state, state, shifted = _range_runs_stock_and_under(tmp_path, monkeypatch, ids_not_where_expected)
    assert shifted[0] >= 2  # the first batch of each run, at least
    assert state == stock_state


def test_an_event_batch_size_of_zero_writes_event_by_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DAGSTER_EVENT_BATCH_SIZE still decides when set: 0 is Dagster's one-by-one writing."""
    home = _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    _state, short, long = range_runs(home)
    assert long - short >= 24 * 2 * 2 * 2, (short, long)


def test_a_steps_outputs_checks_and_messages_are_stored_as_dagster_stores_them_in_fewer_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step like the dbt step: its messages, outputs and check results are held and written
    together, yet the event log (in storage order), the materializations and the check
    executions, with the events their ids point at, are those of Dagster's stock storage. A
    read inside the step sees what the step logged before it, and the next step sees every
    check result. Held events save a write each, and more."""
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    states, writes = {}, {}
    for label, home in (("stock", stock), ("project", project)):
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.from_config(str(home)) as instance, count_writes() as written:
            run_ids = [step_run.run_step_job(instance), step_run.run_step_job(instance)]
            writes[label] = written[0]
            states[label] = step_run.stored_state(instance, run_ids)

    assert states["project"] == states["stock"]
    state = states["project"]
    sales = dict(state["step_sales materializations"][0][2])
    assert sales == {"messages seen": step_run.MESSAGES + 1, "last seen": "ASSET_CHECK_EVALUATION"}
    assert state["step_report materializations"][0][2] == [("check results seen", 3)]
    statuses = [(run, check, partition, status) for run, _asset, check, partition, status, *_ in state["check executions"]]
    # As Dagster records them: each planned execution for the date, and each result as an
    # execution of its own (the step's results name no date).
    assert statuses == [
        (run, check, partition, status)
        for run in ("run0", "run1")
        for check, result in (("not_null", "SUCCEEDED"), ("unique", "FAILED"), ("positive", "SUCCEEDED"))
        for partition, status in (("2026-01-05", "PLANNED"), (None, result))
    ]
    for *_, evaluation, target in state["check executions"]:
        if evaluation[0] == "ASSET_CHECK_EVALUATION_PLANNED":
            continue
        assert evaluation[0] == "ASSET_CHECK_EVALUATION"
        assert target[0][0] == "ASSET_MATERIALIZATION" and target[1], target  # this run's materialization
    # Dagster's storage writes each of a run's 21 messages on its own, ours with the events around them.
    assert writes["stock"] - writes["project"] >= 2 * (step_run.MESSAGES + 1), writes


def test_a_running_steps_held_events_reach_other_readers_within_the_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI reads a running step's messages from another process: a held message is written
    once it has waited the delay, though the step logs nothing more and has not finished."""
    home = _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    released = threading.Event()
    step_run.pause_after_first_message[0] = lambda: released.wait(60)
    try:
        thread, run_ids = step_run.run_in_background(home)
        seen: list[str] = []
        with dg.DagsterInstance.from_config(str(home)) as reader:
            deadline = time.monotonic() + 30 * EVENT_WRITE_DELAY_SECONDS
            while not seen and time.monotonic() < deadline:
                for run in reader.get_runs():
                    seen = [e.user_message for e in reader.all_logs(run.run_id) if e.user_message == "message 0"]
                time.sleep(0.1)
            assert not released.is_set() and thread.is_alive()  # the step is still waiting
        assert seen == ["message 0"]
    finally:
        released.set()
        step_run.pause_after_first_message[0] = None
    thread.join(60)
    assert run_ids, f"the run did not finish:\n{step_run.thread_stacks() if thread.is_alive() else 'its thread ended first'}"


def test_held_events_that_fail_to_be_written_together_are_stored_one_by_one_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing a step's held events together fails after their rows reached the run's
    database: that write is taken back, and they are stored one by one, each once."""
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(stock))
    with dg.DagsterInstance.from_config(str(stock)) as instance:
        stock_state = step_run.stored_state(instance, [step_run.run_step_job(instance)])
    original = PooledSqliteEventLogStorage._store_index_rows
    failed = []

    def failing(self: PooledSqliteEventLogStorage, conn: object, chunk: list, checks_stored: bool) -> None:
        original(self, conn, chunk, checks_stored)  # rows written, then the write fails
        if not failed and any(e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION for e, _ in chunk):
            failed.append(len(chunk))
            raise OSError("the batch write failed")

    monkeypatch.setattr(PooledSqliteEventLogStorage, "_store_index_rows", failing)
    monkeypatch.setenv("DAGSTER_HOME", str(project))
    with dg.DagsterInstance.from_config(str(project)) as instance:
        state = step_run.stored_state(instance, [step_run.run_step_job(instance)])
    assert failed
    assert state == stock_state


def test_a_write_delay_of_zero_stores_every_event_as_it_comes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TOAST_EVENT_WRITE_DELAY_SECONDS=0 holds nothing: as many writes as Dagster's stock storage."""
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    writes = {}
    for label, home in (("stock", stock), ("project", project)):
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("TOAST_EVENT_WRITE_DELAY_SECONDS", "0")
        with dg.DagsterInstance.from_config(str(home)) as instance, count_writes() as written:
            step_run.run_step_job(instance)
            writes[label] = written[0]
    # Only the planned events (one batch) are written together.
    assert writes["project"] >= writes["stock"] - 2 * (len(step_run.CHECKS) + 3), writes


@pytest.mark.parametrize("setting", ["soon", "-1", "600"])
def test_a_bad_write_delay_stops_the_instance_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    home = _home(tmp_path, "project", True)
    monkeypatch.setenv("TOAST_EVENT_WRITE_DELAY_SECONDS", setting)
    """The delay is read when the instance opens its event log: a bad one is an error naming
    it, not a silent default."""
    with pytest.raises(ValueError, match=f"TOAST_EVENT_WRITE_DELAY_SECONDS='{setting}'"):
        dg.DagsterInstance.from_config(str(home)).dispose()


def test_held_events_a_timer_fails_to_write_wait_for_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timer's write of a paused step's first message fails (the database is briefly
    unavailable): nobody would see that error, so the message is kept and written with the
    step's next events, once, in its place."""
    stock, project = _home(tmp_path, "stock", False), _home(tmp_path, "project", True)
    monkeypatch.setenv("DAGSTER_HOME", str(stock))
    with dg.DagsterInstance.from_config(str(stock)) as instance:
        stock_state = step_run.stored_state(instance, [step_run.run_step_job(instance)])

    failed_in_timer: list[str] = []
    original = PooledSqliteEventLogStorage._store_one

    def failing_in_timer(self: PooledSqliteEventLogStorage, event: dg.EventLogEntry) -> None:
        if threading.current_thread() is not threading.main_thread() and len(failed_in_timer) < 2:
            failed_in_timer.append(event.user_message)  # the write together, then one by one
            raise OSError("database is locked")
        original(self, event)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "_store_one", failing_in_timer)
    monkeypatch.setenv("DAGSTER_HOME", str(project))
    step_run.pause_after_first_message[0] = lambda: time.sleep(3 * EVENT_WRITE_DELAY_SECONDS)
    try:
        with dg.DagsterInstance.from_config(str(project)) as instance:
            state = step_run.stored_state(instance, [step_run.run_step_job(instance)])
    finally:
        step_run.pause_after_first_message[0] = None
    assert failed_in_timer == ["message 0", "message 0"]  # the timer fired while the step was paused
    assert state == stock_state


def test_events_held_when_the_process_exits_are_written(tmp_path: Path) -> None:
    """A process that exits normally while holding a step's message (the delay far from up)
    writes it on its way out."""
    home = _home(tmp_path, "project", True)
    child = f"""
import logging, time
import dagster as dg
from dagster._core.events.log import EventLogEntry
instance = dg.DagsterInstance.from_config({str(home)!r})
entry = EventLogEntry(error_info=None, level=logging.INFO, user_message="held at exit", run_id="run-at-exit",
                      timestamp=time.time(), step_key="a_step", job_name="a_job", dagster_event=None)
instance.event_log_storage.store_event(entry)
assert instance.event_log_storage._held, "the message should be held"
"""
    env = {**os.environ, "DAGSTER_HOME": str(home), "TOAST_EVENT_WRITE_DELAY_SECONDS": "60"}
    result = subprocess.run([sys.executable, "-c", child], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with dg.DagsterInstance.from_config(str(home)) as reader:
        assert [e.user_message for e in reader.all_logs("run-at-exit")] == ["held at exit"]


def _retrying_stock_home(tmp_path: Path) -> Path:
    """Dagster's default instance with the project's run retries."""
    home = _home(tmp_path, "stock", False)
    retries = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["run_retries"]
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}, "run_retries": retries}))
    return home


def test_a_run_failure_read_before_the_run_is_recorded_failed_is_still_retried(tmp_path: Path) -> None:
    """The daemon's automatic re-execution reads a lost worker's run failure after the
    instance stored the event and before it recorded the run as failed (run_failure_race).
    With Dagster's stock storage the daemon is handed the run still STARTED, answers that it
    will not be retried, and never reads the failure again, while the run ends up failed and
    tagged to be retried. With the embedded default's storage the read stops before that
    failure, and the next read hands over the failed run, to be retried, once."""
    with dg.DagsterInstance.from_config(str(_retrying_stock_home(tmp_path))) as stock:
        run_id, handed = handed_after_a_read_in_between(stock)
    assert handed == [(run_id, "STARTED", False)], handed  # the race Dagster loses

    with dg.DagsterInstance.from_config(str(_home(tmp_path, "project", True))) as instance:
        run_id, handed = handed_after_a_read_in_between(instance)
    assert handed == [(run_id, "FAILURE", True)], handed


def test_a_run_failure_whose_run_is_never_recorded_waits_then_is_handed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure event whose writer died before recording the run: the reads hold it, and the
    failures after it, until it is RUN_FAILURE_SETTLE_SECONDS old; then both are handed over,
    each once, as Dagster hands them over at once."""
    with dg.DagsterInstance.from_config(str(_home(tmp_path, "project", True))) as instance:
        reader = ReexecutionReader(instance)
        orphan, later = started_run(instance), started_run(instance)
        failure = dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_FAILURE.value, job_name="daily", message="lost")
        entry = EventLogEntry(
            error_info=None, level=40, user_message="lost", run_id=orphan.run_id, timestamp=time.time(),
            job_name="daily", dagster_event=failure,
        )  # fmt: skip
        instance.event_log_storage.store_event(entry)  # and nothing more: the run is still STARTED
        instance.report_run_failed(later, "the run worker was lost")

        reader.read()
        reader.read()
        assert reader.handed == [], "held behind the orphaned failure"

        assert RUN_FAILURE_SETTLE_SECONDS >= 30  # a writer's next statement, even on a loaded machine
        monkeypatch.setattr("toast_assets.lib.instance_storage.RUN_FAILURE_SETTLE_SECONDS", 0.0)
        reader.read()
        reader.read()
        assert sorted(reader.handed) == sorted([(orphan.run_id, "STARTED", False), (later.run_id, "FAILURE", True)])
