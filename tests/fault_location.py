"""The code location `dagster-daemon` loads in tests/test_faults_daemon.py.

The real landing and raw load, with the resources the platform builds from the `TOAST_*`
settings, in a `toast_daily` job carrying the platform's warehouse tag, plus one sensor that
turns request files the test drops into a folder (`TOAST_FAULT_REQUESTS`) into run requests:
`{"date": "YYYY-MM-DD", "copies": 2}` asks for two runs of one business date in the same tick,
as an arrival sensor and a person pressing Materialize might.

The dbt models are left out so that every run the daemon launches starts in seconds: the
faults under test are in landing, in the raw load and in Dagster's own queue and monitoring.
"""

import json
import os
from pathlib import Path

import dagster as dg

from toast_assets.landing.assets import toast_landing
from toast_assets.partitions import DAILY_PARTITIONS
from toast_assets.raw.assets import toast_raw
from toast_assets.raw.warehouse import WAREHOUSE_WRITE_TAGS
from toast_assets.resources import build_resources
from toast_assets.settings import load_config
from toast_assets.sftp.assets import toast_sftp_files

REQUESTS_ENV = "TOAST_FAULT_REQUESTS"
JOB_NAME = "toast_daily"
SENSOR_NAME = "fault_requests"


@dg.definitions
def fault_definitions() -> dg.Definitions:
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.assets(toast_landing, toast_raw),
        partitions_def=DAILY_PARTITIONS,
        tags=WAREHOUSE_WRITE_TAGS,
    )
    folder = Path(os.environ[REQUESTS_ENV])

    @dg.sensor(name=SENSOR_NAME, job=job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
    def requests(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        done = set(json.loads(context.cursor or "[]"))
        wanted = []
        for path in sorted(folder.glob("*.json")):
            if path.stem in done:
                continue
            body = json.loads(path.read_text())
            wanted += [dg.RunRequest(run_key=f"{path.stem}:{n}", partition_key=body["date"]) for n in range(body.get("copies", 1))]
            done.add(path.stem)
        return dg.SensorResult(run_requests=wanted, cursor=json.dumps(sorted(done)))

    return dg.Definitions(
        assets=[*toast_sftp_files, toast_landing, toast_raw],
        jobs=[job],
        sensors=[requests],
        resources=build_resources(load_config()),
        executor=dg.in_process_executor,
    )
