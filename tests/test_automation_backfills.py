"""Backfills: one run per backfill by default, or chunks of TOAST_BACKFILL_CHUNK_DAYS dates;
and the automation is wired into the code location."""

import importlib
import os
from pathlib import Path

import dagster as dg
import pytest

from toast_assets.automation import backfill_chunk_days
from toast_assets.automation.sensors import automation_default_status
from toast_assets.settings import ConfigError


def load_definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> dg.Definitions:
    key, known_hosts = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    key.write_text("unused at load time")
    known_hosts.write_text("")
    for name in [n for n in os.environ if n.startswith("TOAST_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "TOAST_SFTP_HOST": "127.0.0.1",
        "TOAST_SFTP_USERNAME": "group",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(key),
        "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts),
        "TOAST_LAKE_URL": str(tmp_path / "lake"),
        "TOAST_DUCKDB_PATH": str(tmp_path / "toast.duckdb"),
        **extra,
    }.items():
        monkeypatch.setenv(name, value)
    import toast_assets.definitions as module

    # Only the assembly is reloaded: reloading the automation modules would swap the classes
    # other test modules imported.
    return importlib.reload(module).defs


def policies(defs: dg.Definitions) -> set[int | None]:
    graph = defs.get_repository_def().asset_graph
    return {
        graph.get(key).backfill_policy.max_partitions_per_run
        for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def is not None
    }


def test_chunk_days_setting() -> None:
    assert backfill_chunk_days({}) is None
    assert backfill_chunk_days({"TOAST_BACKFILL_CHUNK_DAYS": "30"}) == 30
    for bad in ("0", "-3", "a week", "1.5"):
        with pytest.raises(ConfigError, match="TOAST_BACKFILL_CHUNK_DAYS"):
            backfill_chunk_days({"TOAST_BACKFILL_CHUNK_DAYS": bad})


def test_backfills_are_one_run_unless_chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert policies(load_definitions(tmp_path, monkeypatch)) == {None}
    chunked = load_definitions(tmp_path, monkeypatch, TOAST_BACKFILL_CHUNK_DAYS="2")
    assert policies(chunked) == {2}
    assert chunked.get_repository_def().get_job("toast_daily")
    load_definitions(tmp_path, monkeypatch)  # leave the module as other tests expect it


def test_automation_is_wired_into_the_code_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defs = load_definitions(tmp_path, monkeypatch)
    repository = defs.get_repository_def()
    switched_on = dg.DefaultSensorStatus.RUNNING if automation_default_status() else dg.DefaultSensorStatus.STOPPED
    arrival = repository.get_sensor_def("toast_arrival_sensor")
    assert arrival.job_name == "toast_daily" and arrival.default_status == switched_on
    assert repository.get_sensor_def("toast_run_failure_alert").default_status == dg.DefaultSensorStatus.RUNNING
    assert repository.get_sensor_def("toast_quality_digest").default_status == dg.DefaultSensorStatus.RUNNING
    assert repository.get_sensor_def("toast_lost_retry_alert").default_status == dg.DefaultSensorStatus.RUNNING
    schedule = repository.get_schedule_def("toast_daily_schedule")
    assert schedule.job_name == "toast_daily" and schedule.default_status.value == switched_on.value
    assert {"notifier", "toast_sftp", "lake"} <= set(defs.resources)


def test_automation_default_status_setting() -> None:
    assert automation_default_status({}) is True
    assert automation_default_status({"TOAST_AUTOMATION_DEFAULT_STATUS": "Stopped"}) is False
    with pytest.raises(ConfigError, match="TOAST_AUTOMATION_DEFAULT_STATUS"):
        automation_default_status({"TOAST_AUTOMATION_DEFAULT_STATUS": "paused"})
