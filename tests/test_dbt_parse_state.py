"""Runs pass the business-date window to dbt as environment variables and keep dbt's parse
state between runs, per profile, so a run with another window parses nothing again.

A failed run's folder is kept for inspection, then removed after RUN_FOLDER_RETENTION_DAYS.

Real dbt processes on DuckDB files, with dbt's default target folder (`dbt_project/target/`,
where the state of each test's own DuckDB paths gets its own folder).
"""

import os
import time
from pathlib import Path

import pytest

from toast_assets.dbt.partition_vars import partition_window_env
from toast_assets.dbt.project import DBT_PROJECT_DIR
from toast_assets.dbt.resources import RUN_FOLDER_RETENTION_DAYS, dbt_resource


def _compile(day: str) -> tuple[str, list[str], Path]:
    """`dbt compile` of one mart for one business date: its compiled SQL, dbt's event names and
    the parse state kept for the profile."""
    dbt = dbt_resource()
    invocation = dbt.cli_with_env(
        ["compile", "--select", "daily_sales_summary", "--log-level", "debug"],
        partition_window_env({"start_date": day, "end_date": day}),
        raise_on_error=True,
    )
    events = [e.raw_event["info"]["name"] for e in invocation.stream_raw_events()]
    invocation.wait()
    run_folder = Path(invocation.target_path)
    assert run_folder.is_relative_to(DBT_PROJECT_DIR / "target"), run_folder
    compiled = next(run_folder.rglob("daily_sales_summary.sql")).read_text()
    dbt.keep_parse_state(invocation)
    assert not run_folder.exists(), "a finished run's artifacts are removed"
    kept = dbt._parse_state_path()
    assert kept.is_relative_to(DBT_PROJECT_DIR / "target" / "parse_state") and kept.stat().st_size > 0
    return compiled, events, kept


def test_a_new_window_reuses_the_parse_state_of_its_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    monkeypatch.delenv("TOAST_DBT_START_DATE", raising=False)
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "one.duckdb"))

    first, first_events, one = _compile("2025-03-03")
    assert "date '2025-03-03'" in first and "date '2025-03-04'" not in first
    assert "PartialParsingEnabled" not in first_events, "a new profile parses in full"

    # Another profile (another warehouse file) in between keeps its own state.
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "two.duckdb"))
    _, other_events, two = _compile("2025-03-03")
    assert "PartialParsingEnabled" not in other_events, "a new profile parses in full"
    assert two != one and one.exists(), "each profile keeps its own state"

    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "one.duckdb"))
    second, second_events, again = _compile("2025-03-04")
    assert again == one
    assert "date '2025-03-04'" in second and "date '2025-03-03'" not in second, "the compiled mart has the new window"
    assert "UnableToPartialParse" not in second_events, "the profile's kept state is used"
    assert "PartialParsingEnabled" in second_events, sorted(set(second_events))
    # dbt reads the window only when it runs a node (macros/window.sql): a new window leaves
    # every file of the kept parse state valid, and nothing is parsed again.
    assert "PartialParsingSkipParsing" in second_events, sorted(set(second_events))
    assert "PartialParsingFile" not in second_events
    assert "TOAST_DBT_START_DATE" not in os.environ, "the window is set for the dbt process only"


def test_a_failed_runs_folder_is_kept_for_inspection_then_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed dbt run keeps its folder (dbt.log with its statements); a later invocation
    removes the folders of runs older than the retention, and nothing else."""
    target = tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    dbt = dbt_resource()

    def failed_run() -> Path:
        invocation = dbt.cli_with_env(["run-operation", "no_such_macro"], {}, raise_on_error=False)
        invocation.wait()
        assert not invocation.is_successful()
        folder = Path(invocation.target_path)
        assert folder.parent == target and (folder / "dbt.log").is_file(), "a failed run keeps its folder"
        return folder

    expired, recent = failed_run(), failed_run()
    unrelated = target / "notes"  # old, but not named as a run's folder
    unrelated.mkdir()
    (unrelated / "keep.txt").write_text("an operator's file")
    day = 86400
    for folder, age_days in ((expired, RUN_FOLDER_RETENTION_DAYS + 1), (recent, RUN_FOLDER_RETENTION_DAYS - 1), (unrelated, 400)):
        stamp = time.time() - age_days * day
        os.utime(folder, (stamp, stamp))

    latest = failed_run()
    # dbt's text log, as dbt writes it by hand, not the JSON dagster-dbt has dbt print.
    log = (latest / "dbt.log").read_text()
    assert "[info ] [MainThread]: Running with dbt=" in log and "no_such_macro" in log, log[:500]
    assert not log.lstrip().startswith("{"), log[:500]
    assert not expired.exists(), "a failed run's folder older than the retention is removed"
    assert recent.exists() and (recent / "dbt.log").is_file(), "a failed run within the retention is kept"
    assert (unrelated / "keep.txt").read_text() == "an operator's file"
    assert latest.exists()
