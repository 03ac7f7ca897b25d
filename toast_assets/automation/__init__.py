"""What runs the pipeline unattended: the arrival sensor, the daily schedule, the alerts, and
how backfills are cut into runs. `definitions.py` wires these into the code location."""

from toast_assets.automation.backfills import backfill_chunk_days, with_backfill_chunks
from toast_assets.automation.schedules import toast_daily_schedule
from toast_assets.automation.sensors import ALERT_SENSORS, toast_arrival_sensor

AUTOMATION_SENSORS = [toast_arrival_sensor, *ALERT_SENSORS]
AUTOMATION_SCHEDULES = [toast_daily_schedule]

__all__ = [
    "AUTOMATION_SCHEDULES",
    "AUTOMATION_SENSORS",
    "backfill_chunk_days",
    "with_backfill_chunks",
]
