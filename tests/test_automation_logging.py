"""Structured JSON log lines: the fields a log platform filters on, from a real Dagster run."""

import json
import logging
from pathlib import Path

import dagster as dg
import yaml

from toast_assets.lib.logging import JsonLinesHandler, default_destination, record_fields
from toast_assets.settings import PROJECT_ROOT


def _record(message: str, meta: dict | None = None, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "dagster", "levelno": logging.INFO, "levelname": "INFO", "msg": message, **extra})
    if meta is not None:
        record.dagster_meta = meta
    return record


def test_fields_of_a_single_date_run() -> None:
    meta = {
        "run_id": "r-1", "job_name": "toast_daily", "step_key": "toast_landing", "orig_message": "landed 9 file(s) for location 185129",
        "job_tags": {"dagster/partition": "2026-10-02"}, "dagster_event": None,
    }
    fields = record_fields(_record("toast_daily - r-1 - landed 9 file(s) for location 185129", meta))
    assert fields["message"] == "landed 9 file(s) for location 185129"
    assert {k: fields[k] for k in ("level", "run_id", "job", "step", "business_date", "location")} == {
        "level": "INFO", "run_id": "r-1", "job": "toast_daily", "step": "toast_landing", "business_date": "2026-10-02", "location": "185129",
    }
    assert fields["ts"].endswith("+00:00")


def test_fields_of_a_range_run_and_of_plain_python_logs() -> None:
    meta = {"run_id": "r-2", "orig_message": "no export folder yet for location(s) 185129, 185130",
            "job_tags": {"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-07"}}
    fields = record_fields(_record("x", meta))
    assert (fields["business_date_start"], fields["business_date_end"]) == ("2026-10-01", "2026-10-07")
    assert fields["locations"] == ["185129", "185130"] and "business_date" not in fields

    plain = record_fields(_record("rejected OrderDetails.csv for business date 2026-10-03", location="185131", attempt=2))
    assert plain["business_date"] == "2026-10-03" and plain["location"] == "185131" and plain["attempt"] == 2
    assert "run_id" not in plain


def test_destination_follows_the_environment() -> None:
    assert default_destination({"TOAST_LOG_FILE": "-"}) == "-"
    assert default_destination({"DAGSTER_HOME": "/srv/dagster"}) == "/srv/dagster/logs/toast.jsonl"
    assert default_destination({}) == "-"


def test_a_run_writes_json_lines_through_the_instance_config(tmp_path: Path) -> None:
    log_file = tmp_path / "toast.jsonl"
    # The project's own python_logs block, pointed at a file of this test.
    python_logs = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["python_logs"]
    handler = python_logs["dagster_handler_config"]["handlers"]["toast_json_lines"]
    assert handler["class"] == f"{JsonLinesHandler.__module__}.{JsonLinesHandler.__name__}"
    handler["path"] = str(log_file)

    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"))
    def landed(context: dg.AssetExecutionContext) -> None:
        context.log.info("landed 9 new or changed file(s) for location 185129")
        logging.getLogger("toast_assets.sftp.client").info("connected to SFTP 127.0.0.1:2222 as demo")

    with dg.instance_for_test(overrides={"python_logs": python_logs}) as instance:
        result = dg.materialize([landed], partition_key="2026-10-02", instance=instance)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    mine = next(line for line in lines if line["message"].startswith("landed 9"))
    assert mine["run_id"] == result.run_id and mine["business_date"] == "2026-10-02" and mine["location"] == "185129"
    assert mine["step"] == "landed" and mine["level"] == "INFO"
    client = next(line for line in lines if line["message"].startswith("connected to SFTP"))
    assert client["run_id"] == result.run_id and client["logger"] == "toast_assets.sftp.client"
