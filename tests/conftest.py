"""Shared test setup: quiet dbt, no GCE metadata probing, and the SFTP fixtures."""

import os

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("NO_GCE_CHECK", "True")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

pytest_plugins = ["sftp_fixtures"]
