"""Runs pass the business-date window to dbt as environment variables and keep dbt's parse
state between runs, per profile, so a run with another window parses only what changed.

Real dbt processes on DuckDB files; the parse state goes to a temporary DBT_TARGET_PATH so
the checkout's own `dbt_project/target/` is left alone.
"""

import os
from pathlib import Path

import pytest

from toast_assets.dbt.partition_vars import partition_window_env
from toast_assets.dbt.resources import PARTIAL_PARSE_FILE, dbt_resource


def _compile(day: str) -> tuple[str, list[str]]:
    """`dbt compile` of one mart for one business date: its compiled SQL and dbt's event names."""
    dbt = dbt_resource()
    invocation = dbt.cli_with_env(
        ["compile", "--select", "daily_sales_summary", "--log-level", "debug"],
        partition_window_env({"start_date": day, "end_date": day}),
        raise_on_error=True,
    )
    events = [e.raw_event["info"]["name"] for e in invocation.stream_raw_events()]
    invocation.wait()
    compiled = next(Path(invocation.target_path).rglob("daily_sales_summary.sql")).read_text()
    dbt.keep_parse_state(invocation)
    assert not Path(invocation.target_path).exists(), "a finished run's artifacts are removed"
    return compiled, events


def test_a_new_window_reuses_the_parse_state_of_its_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    monkeypatch.delenv("TOAST_DBT_START_DATE", raising=False)
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "one.duckdb"))

    first, first_events = _compile("2025-03-03")
    assert "date '2025-03-03'" in first and "date '2025-03-04'" not in first
    assert "PartialParsingEnabled" not in first_events, "no parse state yet: a full parse"
    assert len(list((target / "parse_state").glob(f"*/{PARTIAL_PARSE_FILE}"))) == 1

    # Another profile (another warehouse file) in between keeps its own state.
    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "two.duckdb"))
    _, other_events = _compile("2025-03-03")
    assert "PartialParsingEnabled" not in other_events, "a new profile parses in full"
    assert len(list((target / "parse_state").glob(f"*/{PARTIAL_PARSE_FILE}"))) == 2

    monkeypatch.setenv("TOAST_DUCKDB_PATH", str(tmp_path / "one.duckdb"))
    second, second_events = _compile("2025-03-04")
    assert "date '2025-03-04'" in second and "date '2025-03-03'" not in second, "the re-parsed mart has the new window"
    assert "UnableToPartialParse" not in second_events, "the profile's kept state is used"
    assert "PartialParsingEnabled" in second_events, sorted(set(second_events))
    assert "TOAST_DBT_START_DATE" not in os.environ, "the window is set for the dbt process only"
