"""Structured JSON log lines: the fields a log platform filters on, from a real Dagster run."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
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


def _numbered_lines(paths: list[Path]) -> list[tuple[int, int]]:
    """(writer, number) of every line in these files."""
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            writer, number = json.loads(line)["message"].split(":")
            found.append((int(writer), int(number)))
    return found


def test_the_file_rotates_at_its_size_and_keeps_the_newest_backups(tmp_path: Path) -> None:
    log_file = tmp_path / "toast.jsonl"
    handler = JsonLinesHandler(str(log_file), max_bytes=2_000, backups=2)
    for number in range(200):
        handler.emit(_record(f"0:{number}"))
    files = sorted(tmp_path.glob("toast.jsonl*"))
    assert [f.name for f in files] == ["toast.jsonl", "toast.jsonl.1", "toast.jsonl.2", "toast.jsonl.lock"]
    kept = [log_file, Path(f"{log_file}.2"), Path(f"{log_file}.1")]
    line_size = len(log_file.read_text().splitlines()[0]) + 1
    for path in kept[1:]:
        assert 2_000 <= path.stat().st_size < 2_000 + line_size  # rotated once full, not before
    # The newest lines, in order and without a gap; the oldest are gone with the third file.
    numbers = sorted(number for _, number in _numbered_lines(kept))
    assert numbers == list(range(numbers[0], 200)) and numbers[0] > 0


def test_processes_writing_at_once_lose_no_line_to_rotation(tmp_path: Path) -> None:
    """Four processes append to one file that rotates every few dozen lines; every line of
    every process is in exactly one of the files afterwards."""
    log_file = tmp_path / "toast.jsonl"
    writers, lines = 4, 400
    script = (
        "import logging, sys\n"
        "from toast_assets.lib.logging import JsonLinesHandler\n"
        f"handler = JsonLinesHandler({str(log_file)!r}, max_bytes=8_000, backups=1000)\n"
        f"for number in range({lines}):\n"
        "    handler.emit(logging.makeLogRecord({'name': 'dagster', 'levelno': 20, 'levelname': 'INFO', 'msg': f'{sys.argv[1]}:{number}'}))\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", script, str(w)], cwd=PROJECT_ROOT) for w in range(writers)]
    assert [p.wait(timeout=120) for p in processes] == [0] * writers
    rotated = [p for p in tmp_path.glob("toast.jsonl*") if not p.name.endswith(".lock")]
    assert len(rotated) > 10, "the test must rotate many times while the writers run"
    found = _numbered_lines(rotated)
    assert sorted(found) == [(w, n) for w in range(writers) for n in range(lines)]


def test_rotation_settings_come_from_the_environment_and_bad_ones_are_named() -> None:
    from toast_assets.lib.logging import rotation_settings

    assert rotation_settings({}) == (100 * 1024 * 1024, 5)
    assert rotation_settings({"TOAST_LOG_MAX_MB": "20", "TOAST_LOG_BACKUPS": "3"}) == (20 * 1024 * 1024, 3)
    for name, value in (("TOAST_LOG_MAX_MB", "0"), ("TOAST_LOG_MAX_MB", "1GB"), ("TOAST_LOG_BACKUPS", "0")):
        with pytest.raises(ValueError, match=f"{name}='{value}'"):
            rotation_settings({name: value})
