"""Production logs as JSON lines: one object per message, with run, business date and location.

Dagster keeps every run's log in its own event log; a log platform (Cloud Logging, Loki,
Datadog) wants one line per message with fields it can filter on. `JsonLinesHandler` is a
Python logging handler that the instance attaches to every run through `dagster.yaml`:

    python_logs:
      managed_python_loggers: [toast_assets]
      dagster_handler_config:
        handlers:
          toast_json_lines:
            class: toast_assets.lib.logging.JsonLinesHandler
            level: INFO

Each line carries `ts`, `level`, `logger`, `message`, and when known `run_id`, `job`, `step`,
`event` (Dagster event type), `business_date` (single-date runs) or `business_date_start` /
`business_date_end` (ranges), and `location` / `locations`. Dates come from the run's
partition tags; locations from an `extra={"location": ...}` on the call or, failing that,
from the message text ("location 185129"), which every message of this code base names.

    TOAST_LOG_FILE      where the lines go: a file path, or `-` for standard error (containers).
                        Default: $DAGSTER_HOME/logs/toast.jsonl, standard error without DAGSTER_HOME.
    TOAST_LOG_MAX_MB    size at which the file is rotated (default 100): toast.jsonl becomes
                        toast.jsonl.1, the older ones move up by one.
    TOAST_LOG_BACKUPS   rotated files kept (default 5, at least 1); the oldest is dropped.

Run processes append to the same file at the same time, so the process that finds it full
rotates it under a lock file beside it (`toast.jsonl.lock`) and the others see that it
already has. A line written while the file is renamed lands in the renamed file: no
line is lost to a rotation, only to the retention the two settings choose.
"""

import fcntl
import json
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from toast_assets.settings import number_setting

ENV_LOG_FILE = "TOAST_LOG_FILE"
ENV_LOG_MAX_MB = "TOAST_LOG_MAX_MB"
ENV_LOG_BACKUPS = "TOAST_LOG_BACKUPS"
DEFAULT_LOG_MAX_MB = 100
DEFAULT_LOG_BACKUPS = 5
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

_LOCATIONS = re.compile(r"\blocation(?:s|\(s\))?\s+(\d+(?:\s*,\s*\d+)*)")
_BUSINESS_DATE = re.compile(r"\bbusiness date(?:\(s\)|s)?\s+(\d{4}-\d{2}-\d{2})")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "dagster_meta"}


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON object for one log record (pure, so it is tested without a handler)."""
    meta: Mapping[str, Any] = getattr(record, "dagster_meta", None) or {}
    message = meta.get("orig_message") or record.getMessage()
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": message,
    }
    if meta.get("run_id"):
        fields["run_id"] = meta["run_id"]
    if meta.get("job_name"):
        fields["job"] = meta["job_name"]
    if meta.get("step_key"):
        fields["step"] = meta["step_key"]
    event = meta.get("dagster_event")
    if event is not None:
        fields["event"] = getattr(event, "event_type_value", None)

    tags: Mapping[str, str] = meta.get("job_tags") or {}
    extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
    if _DATE.match(str(extra.get("business_date", ""))):
        fields["business_date"] = str(extra.pop("business_date"))
    elif _DATE.match(tags.get(PARTITION_TAG, "")):
        fields["business_date"] = tags[PARTITION_TAG]
    elif tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG):
        fields["business_date_start"], fields["business_date_end"] = tags[RANGE_START_TAG], tags[RANGE_END_TAG]
        if tags[RANGE_START_TAG] == tags[RANGE_END_TAG]:
            fields["business_date"] = tags[RANGE_START_TAG]
    elif match := _BUSINESS_DATE.search(message):
        fields["business_date"] = match.group(1)

    if extra.get("location") is not None:
        fields["location"] = str(extra.pop("location"))
    elif match := _LOCATIONS.search(message):
        found = [x.strip() for x in match.group(1).split(",")]
        if len(found) == 1:
            fields["location"] = found[0]
        else:
            fields["locations"] = found
    for key, value in extra.items():
        fields.setdefault(key, _scalar(value))
    if record.exc_info and record.exc_info[0] is not None:
        fields["error"] = "".join(traceback.format_exception(*record.exc_info)).strip()
    return fields


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), ensure_ascii=False, default=str)


def default_destination(env: Mapping[str, str] | None = None) -> str:
    """`TOAST_LOG_FILE`, else `$DAGSTER_HOME/logs/toast.jsonl`, else `-` (standard error)."""
    env = os.environ if env is None else env
    chosen = (env.get(ENV_LOG_FILE) or "").strip()
    if chosen:
        return chosen
    home = (env.get("DAGSTER_HOME") or "").strip()
    return str(Path(home) / "logs" / "toast.jsonl") if home else "-"


def rotation_settings(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(bytes at which the file rotates, rotated files kept), from the environment."""
    env = os.environ if env is None else env
    max_mb = number_setting(env, ENV_LOG_MAX_MB, DEFAULT_LOG_MAX_MB, int)
    return int(max_mb) * 1024 * 1024, int(number_setting(env, ENV_LOG_BACKUPS, DEFAULT_LOG_BACKUPS, int))


class JsonLinesHandler(logging.Handler):
    """Appends one JSON line per record to a file (or standard error with `-`), rotating the
    file when it reaches `max_bytes` and keeping `backups` rotated files.

    The file is opened per line: several run processes append to it at once, and Dagster
    rebuilds its handlers for every run, so no handle is kept open between records.
    """

    def __init__(
        self, path: str | None = None, level: int | str = logging.NOTSET, max_bytes: int | None = None, backups: int | None = None
    ) -> None:
        super().__init__(level)
        self.path = path or default_destination()
        if max_bytes is None or backups is None:  # the environment's, read only when needed
            default_max, default_backups = rotation_settings()
            max_bytes, backups = max_bytes or default_max, backups or default_backups
        self.max_bytes, self.backups = max_bytes, max(1, backups)
        self.setFormatter(JsonLinesFormatter())
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            with self._write_lock:
                if self.path == "-":
                    sys.stderr.write(line)
                    sys.stderr.flush()
                    return
                target = Path(self.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                if _size(target) >= self.max_bytes:
                    self._rotate(target)
                with target.open("a", encoding="utf-8") as handle:
                    handle.write(line)
        except Exception:  # noqa: BLE001 - logging must never break a run; logging reports it itself
            self.handleError(record)

    def _rotate(self, target: Path) -> None:
        """toast.jsonl -> toast.jsonl.1 -> … -> toast.jsonl.<backups>, the last one dropped; under
        the lock file, and only if no other process rotated it since this one looked."""
        with open(f"{target}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if _size(target) < self.max_bytes:
                    return
                for number in range(self.backups - 1, 0, -1):
                    older = Path(f"{target}.{number}")
                    if older.exists():
                        os.replace(older, f"{target}.{number + 1}")
                os.replace(target, f"{target}.1")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
