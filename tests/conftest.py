"""Shared test setup: quiet dbt, no GCE metadata probing, and the SFTP fixtures."""

import os

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# google-auth skips the metadata-server probe only for the exact lowercase value "true".
if os.environ.get("NO_GCE_CHECK", "true").lower() == "true":
    os.environ["NO_GCE_CHECK"] = "true"
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

pytest_plugins = ["sftp_fixtures", "gcs_emulator", "bq_emulator"]
